"""From the agents a watch reports to ready-to-call dependencies, for each tool call.

For every dependency, the healthy providers that satisfy it are kept ranked as the registry
ranks them (docs/design.md, "Discovery"). A call gets the best provider; calls rotate among
the providers that share the best rank; the others follow in rank order for failover. The
ranking is recomputed only when what it depends on changes: an update that leaves every
provider as it was keeps the same provider objects (and their connections).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from mesh_agent.calltokens import requires_token
from mesh_agent.dependency import Dependency
from mesh_agent.providers import ChannelPool, Provider
from mesh_registry.discovery import Query
from mesh_registry.model import Agent, DependencySpec


@dataclass(slots=True)
class _Choices:
    """The ranked providers of one dependency."""

    query: Query
    providers: list[Provider] = field(default_factory=list)
    best: int = 0  # how many providers share the best rank
    turn: itertools.count[int] = field(default_factory=itertools.count)
    signature: tuple[object, ...] = ()


class Resolver:
    """Ranked providers for each dependency, kept current by :meth:`update`."""

    def __init__(
        self, dependencies: Sequence[DependencySpec], namespace: str | None, pool: ChannelPool
    ) -> None:
        self._pool = pool
        self._choices = {
            dependency: _Choices(Query.for_dependency(dependency, namespace))
            for dependency in dependencies
        }
        self.synced = asyncio.Event()  # set once the first full state has arrived

    @property
    def capabilities(self) -> set[str]:
        return {dependency.capability for dependency in self._choices}

    def update(self, agents: Iterable[Agent]) -> None:
        """Take the current set of agents (every provider of any dependency)."""
        everyone = list(agents)
        previous = {p.agent.key: p for c in self._choices.values() for p in c.providers}
        for dependency, choices in self._choices.items():
            ranked = choices.query.ranked(everyone)
            signature = tuple((key, _identity(agent, dependency)) for key, agent in ranked)
            if signature == choices.signature:
                for provider, (_, agent) in zip(choices.providers, ranked, strict=True):
                    provider.agent = agent  # the same provider: keep it, with the newest record
                continue
            choices.signature = signature
            choices.providers = [
                self._provider(agent, dependency, previous.get(agent.key)) for _, agent in ranked
            ]
            top = ranked[0][0] if ranked else None
            choices.best = sum(1 for key, _ in ranked if key == top)
        self.synced.set()

    def dependency(
        self, dependency: DependencySpec, loop: asyncio.AbstractEventLoop | None = None
    ) -> Dependency | None:
        """Providers for one call, best first, or ``None`` when there is none."""
        choices = self._choices[dependency]
        if not choices.providers:
            return None
        start = next(choices.turn) % choices.best
        best = choices.providers[: choices.best]
        rotated = best[start:] + best[:start] + choices.providers[choices.best :]
        return Dependency(dependency.capability, rotated, loop)

    def endpoints(self) -> set[str]:
        return {p.agent.spec.endpoint for c in self._choices.values() for p in c.providers}

    def providers(self, dependency: DependencySpec) -> list[Agent]:
        return [p.agent for p in self._choices[dependency].providers]

    def _provider(
        self, agent: Agent, dependency: DependencySpec, previous: Provider | None
    ) -> Provider:
        capability = agent.spec.capability(dependency.capability)
        assert capability is not None, "ranked agents provide the capability"
        if (
            previous is not None
            and previous.capability == capability
            and previous.agent.spec.endpoint == agent.spec.endpoint
            and requires_token(previous.agent) == requires_token(agent)
        ):
            previous.agent = agent
            return previous
        audience = agent.key if requires_token(agent) else None
        return Provider(agent, capability, self._pool.channel(agent.spec.endpoint, audience))


def _identity(agent: Agent, dependency: DependencySpec) -> tuple[object, ...]:
    capability = agent.spec.capability(dependency.capability)
    return (agent.metadata.uid, agent.spec.endpoint, capability, requires_token(agent))
