"""The prompts and resources the gateway aggregates: what the healthy agents it selects offer.

Pure. Each prompt name, resource URI and URI template is listed once, as the first agent (in
name order) describes it, with every agent that offers it, in that order: a request goes to
the first that can be reached.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from mesh_registry.model import Agent, Phase, Prompt, Resource, ResourceTemplate
from mesh_registry.uri_templates import fits

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Offered(Generic[T]):
    """One prompt, resource or template, as its first offerer describes it, and who offers it."""

    item: T
    agents: tuple[Agent, ...]


@dataclass(frozen=True, slots=True)
class Offerings:
    """Everything offered, by prompt name, resource URI and URI template."""

    prompts: dict[str, Offered[Prompt]] = field(default_factory=dict)
    resources: dict[str, Offered[Resource]] = field(default_factory=dict)
    templates: dict[str, Offered[ResourceTemplate]] = field(default_factory=dict)

    @classmethod
    def of(cls, agents: Iterable[Agent]) -> Offerings:
        """What the healthy ``agents`` offer."""
        healthy = sorted(
            (a for a in agents if a.status.phase is Phase.HEALTHY), key=lambda a: a.key
        )
        return cls(
            _collect(healthy, lambda a: [(p.name, p) for p in a.spec.prompts]),
            _collect(healthy, lambda a: [(r.uri, r) for r in a.spec.resources]),
            _collect(healthy, lambda a: [(t.uri_template, t) for t in a.spec.resource_templates]),
        )

    def readers(self, uri: str) -> tuple[Agent, ...]:
        """The agents that serve ``uri``: a resource's, else those of the templates it fits."""
        fixed = self.resources.get(uri)
        if fixed is not None:
            return fixed.agents
        found = {
            agent.key: agent
            for template, offered in self.templates.items()
            if fits(template, uri)
            for agent in offered.agents
        }
        return tuple(found[key] for key in sorted(found))  # in name order, as elsewhere

    def listings(self) -> tuple[object, object, object]:
        """What clients' lists show (prompts, resources, templates): a change is a list change."""
        return (
            [o.item for o in self.prompts.values()],
            [o.item for o in self.resources.values()],
            [o.item for o in self.templates.values()],
        )


def _collect(
    agents: list[Agent], items: Callable[[Agent], list[tuple[str, T]]]
) -> dict[str, Offered[T]]:
    described: dict[str, T] = {}
    offering: dict[str, list[Agent]] = {}
    for agent in agents:
        for key, item in items(agent):
            described.setdefault(key, item)
            offering.setdefault(key, []).append(agent)
    return {key: Offered(described[key], tuple(offering[key])) for key in sorted(described)}
