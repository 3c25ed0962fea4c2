"""What the gateway exposes: one tool per capability of the healthy agents it selects.

Pure: agents (as ranked by the provider set) in, tool definitions out. A capability whose
providers describe it differently is exposed as its best-ranked provider describes it.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mesh_registry.model import Agent, Phase
from mesh_registry.selector import Selector, parse_selector

# A tool's input must be an object: what an agent that declared no schema accepts.
ANY_OBJECT: Mapping[str, Any] = {"type": "object"}


@dataclass(frozen=True, slots=True)
class ExposedTool:
    """A capability as a tool of the gateway, described by its best-ranked provider."""

    name: str
    description: str
    input_schema: Mapping[str, Any]
    output_schema: Mapping[str, Any] | None
    providers: tuple[Agent, ...]  # best first

    @property
    def listing(self) -> tuple[object, ...]:
        """What a client's tool list shows of it: a change here is a list change."""
        return (self.name, self.description, self.input_schema, self.output_schema)


@dataclass(frozen=True, slots=True)
class Selection:
    """The capabilities the gateway exposes: those matching any of ``globs`` (none: all)."""

    globs: tuple[str, ...] = ()

    def admits(self, capability: str) -> bool:
        return not self.globs or any(fnmatch.fnmatchcase(capability, g) for g in self.globs)

    def capabilities(self, agents: Iterable[Agent]) -> set[str]:
        """The admitted capabilities of the healthy ``agents``."""
        return {
            capability.name
            for agent in agents
            if agent.status.phase is Phase.HEALTHY
            for capability in agent.spec.capabilities
            if self.admits(capability.name)
        }


def catalogue(
    capabilities: Iterable[str], providers: Callable[[str], Sequence[Agent]]
) -> dict[str, ExposedTool]:
    """The tools for ``capabilities``, each described by the first of its ``providers``
    (best first); a capability with no provider now is left out."""
    tools = {}
    for name in sorted(capabilities):
        ranked = tuple(providers(name))
        if not ranked:
            continue
        capability = ranked[0].spec.capability(name)
        assert capability is not None, "a provider provides its capability"
        tools[name] = ExposedTool(
            name=name,
            description=capability.description,
            input_schema=capability.input_schema or ANY_OBJECT,
            output_schema=capability.output_schema,
            providers=ranked,
        )
    return tools


def listing(tools: Mapping[str, ExposedTool]) -> list[tuple[object, ...]]:
    """What a client's tool list shows of ``tools``, comparable between two catalogues."""
    return [tool.listing for tool in tools.values()]


def search(
    tools: Mapping[str, ExposedTool],
    *,
    namespace: str | None = None,
    selector: str = "",
    query: str = "",
) -> list[ExposedTool]:
    """The tools with a provider in ``namespace`` matching ``selector``, whose name or
    description contains every word of ``query`` (any case)."""
    matcher: Selector = parse_selector(selector)
    words = query.lower().split()
    found = []
    for tool in tools.values():
        text = f"{tool.name} {tool.description}".lower()
        if not all(word in text for word in words):
            continue
        if any(_provides(agent, namespace, matcher) for agent in tool.providers):
            found.append(tool)
    return found


def _provides(agent: Agent, namespace: str | None, selector: Selector) -> bool:
    if namespace is not None and agent.metadata.namespace != namespace:
        return False
    return selector.matches(agent.metadata.labels)
