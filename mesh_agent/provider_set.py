"""The providers of some dependencies, ready to call: one place for choosing a provider.

One watch keeps the records of every agent that provides the capabilities (``informer.py``);
for each dependency the healthy providers that satisfy it are ranked as the registry ranks
them (docs/design.md, "Discovery"). A call gets the best provider; calls rotate among the
providers that share the best rank; the others follow in rank order for failover. A provider
that could not be reached is suspected for a while and tried last. When no provider of an
optional dependency answered its last try, the dependency is ``None``, so that the caller's
own fallback runs, until a background check finds one back (a required dependency keeps its
providers, and fails clearly if none answers).
Connections come from one pool (``providers.ChannelPool``), with call tokens where a provider
requires them, and close when no provider uses them any more.

``MeshAgent`` (its dependencies), ``MeshClient`` (what a program asks for) and the gateway
(every capability it exposes) all choose providers here.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from mesh_agent.calltokens import CallTokenCache, requires_token
from mesh_agent.dependency import Dependency
from mesh_agent.informer import Informer
from mesh_agent.mcp_http import McpHttpClient
from mesh_agent.providers import ChannelPool, Provider
from mesh_registry.client import RegistryClient
from mesh_registry.discovery import Query
from mesh_registry.model import Agent, DependencySpec, ObjectKey
from mesh_registry.waiting import wait_set


@dataclass(slots=True)
class _Choices:
    """The ranked providers of one dependency."""

    query: Query
    providers: list[Provider] = field(default_factory=list)
    best: int = 0  # how many providers share the best rank
    turn: itertools.count[int] = field(default_factory=itertools.count)
    signature: tuple[object, ...] = ()


class ProviderSet:
    """The providers of ``dependencies``, kept current by one watch of ``registry`` on their
    capabilities in ``namespace``. Use ``async with``, or :meth:`start` and :meth:`aclose`."""

    def __init__(
        self,
        registry: RegistryClient,
        namespace: str | None,
        dependencies: Iterable[DependencySpec] = (),
        tokens: CallTokenCache | None = None,
    ) -> None:
        self._registry = registry
        self._namespace = namespace
        self._pool = ChannelPool(tokens)
        self._choices: dict[DependencySpec, _Choices] = {}
        self._agents: dict[str, list[Agent]] = {}  # by capability they provide
        self._reachable: set[str] = set()  # the endpoints of every agent of the last update
        for dependency in dependencies:
            self._choices[dependency] = self._new_choices(dependency)
        self._task: asyncio.Task[None] | None = None
        self._started = False
        self._known: frozenset[str] = frozenset()  # capabilities the current state covers
        self._changed = asyncio.Event()  # set, and replaced, at each update
        self._rechecks: dict[int, asyncio.Task[None]] = {}

    @property
    def capabilities(self) -> set[str]:
        return {dependency.capability for dependency in self._choices}

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Start following the registry, in the background."""
        self._started = True
        self._follow()

    async def aclose(self) -> None:
        """Stop following the registry, and close every connection."""
        self._started = False
        await self._stop_following()
        rechecks = list(self._rechecks.values())
        for task in rechecks:
            task.cancel()
        await asyncio.gather(*rechecks, return_exceptions=True)
        await self._pool.aclose()

    async def __aenter__(self) -> ProviderSet:
        self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def known(self, dependency: DependencySpec) -> bool:
        """Whether the providers of ``dependency`` are known (its first full state came)."""
        return dependency.capability in self._known

    async def ready(self, dependency: DependencySpec, within: float) -> bool:
        """Wait up to ``within`` seconds for the providers of ``dependency`` to be known;
        return whether they are (late is no error: a call then finds what is known)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while not self.known(dependency):
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await wait_set(self._changed, remaining)
        return True

    async def add(self, dependency: DependencySpec) -> None:
        """Choose providers for ``dependency`` too. A new capability is followed at once: the
        watch starts over with it (what is known of the others stays in use meanwhile)."""
        if dependency in self._choices:
            return
        new_capability = dependency.capability not in self.capabilities
        self._choices[dependency] = choices = self._new_choices(dependency)
        if not new_capability:
            self._rank(dependency, choices, self._held())
            return
        if self._started:
            await self._stop_following()
            self._follow()

    def replace(self, dependencies: Iterable[DependencySpec]) -> None:
        """Choose providers for exactly ``dependencies`` from now on, ranked at the next
        :meth:`update`: for a set its owner feeds (the gateway), which does not :meth:`start`."""
        wanted = set(dependencies)
        for dependency in self._choices.keys() - wanted:
            del self._choices[dependency]
        for dependency in wanted - self._choices.keys():
            self._choices[dependency] = self._new_choices(dependency)

    # -- choosing --------------------------------------------------------------------------

    def dependency(
        self, dependency: DependencySpec, loop: asyncio.AbstractEventLoop | None = None
    ) -> Dependency | None:
        """Providers of ``dependency`` for one call, best first; ``None`` when there is none,
        or when the dependency is optional and no provider answered its last try.

        Such an optional dependency is ``None`` until a provider is back: each of them is
        checked in the background once its suspicion ends, rather than on a caller's call."""
        choices = self._choices[dependency]
        if not choices.providers:
            return None
        if not dependency.required and all(p.failed for p in choices.providers):
            self._recheck(choices.providers)
            return None
        start = next(choices.turn) % choices.best
        best = choices.providers[: choices.best]
        rotated = best[start:] + best[:start] + choices.providers[choices.best :]
        return Dependency(dependency.capability, rotated, loop)

    def providers(self, dependency: DependencySpec) -> list[Agent]:
        """The records of the providers of ``dependency`` now, best first."""
        return [p.agent for p in self._choices[dependency].providers]

    # -- keeping current -------------------------------------------------------------------

    @property
    def connections(self) -> int:
        """How many provider connections are open."""
        return len(self._pool)

    def update(self, agents: Iterable[Agent], covering: Iterable[str] | None = None) -> None:
        """Take the current set of agents: every provider of the ``covering`` capabilities
        (default: all of this set's)."""
        agents = list(agents)
        by_capability: dict[str, list[Agent]] = {}
        for agent in agents:
            for name in {capability.name for capability in agent.spec.capabilities}:
                by_capability.setdefault(name, []).append(agent)
        self._agents = by_capability
        self._reachable = {agent.spec.endpoint for agent in agents}
        self._known = frozenset(self.capabilities if covering is None else covering)
        # Dependencies on one capability share each provider: what one call learns (that it
        # could not be reached) the others know too.
        previous = self._held()
        for dependency, choices in self._choices.items():
            self._rank(dependency, choices, previous)
        self._changed.set()
        self._changed = asyncio.Event()
        with contextlib.suppress(RuntimeError):  # no running loop: nothing was opened
            asyncio.get_running_loop().create_task(self.prune())

    async def prune(self) -> None:
        """Close the connections of providers that left."""
        await self._pool.keep_only(self._endpoints() | self._reachable)

    def reach(self, agent: Agent) -> McpHttpClient:
        """A connection to ``agent`` for requests besides tool calls (prompts, resources),
        from the same pool, with call tokens if it requires them; kept while the agent is one
        of those :meth:`update` was given."""
        audience = agent.key if requires_token(agent) else None
        return self._pool.channel(agent.spec.endpoint, audience)

    def _new_choices(self, dependency: DependencySpec) -> _Choices:
        return _Choices(Query.for_dependency(dependency, self._namespace))

    def _follow(self) -> None:
        if not self._choices:
            self._known = frozenset()
            return
        capabilities = self.capabilities
        informer = Informer(
            self._registry,
            self._namespace,
            capabilities,
            lambda agents: self.update(agents.values(), capabilities),
        )
        self._task = asyncio.create_task(informer.run(), name="mesh-providers")

    async def _stop_following(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _rank(
        self,
        dependency: DependencySpec,
        choices: _Choices,
        previous: dict[tuple[ObjectKey, str], Provider],
    ) -> None:
        ranked = choices.query.ranked(self._agents.get(dependency.capability, ()))
        signature = tuple((key, _identity(agent, dependency)) for key, agent in ranked)
        if signature == choices.signature:
            for provider, (_, agent) in zip(choices.providers, ranked, strict=True):
                provider.agent = agent  # the same provider: keep it, with the newest record
            return
        choices.signature = signature
        choices.providers = []
        for _, agent in ranked:
            held = (agent.key, dependency.capability)
            provider = previous[held] = self._provider(agent, dependency, previous.get(held))
            choices.providers.append(provider)
        top = ranked[0][0] if ranked else None
        choices.best = sum(1 for key, _ in ranked if key == top)

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

    def _held(self) -> dict[tuple[ObjectKey, str], Provider]:
        """Every provider now, by agent and capability."""
        return {
            (p.agent.key, p.capability.name): p for c in self._choices.values() for p in c.providers
        }

    def _endpoints(self) -> set[str]:
        return {p.agent.spec.endpoint for c in self._choices.values() for p in c.providers}

    def _recheck(self, providers: Iterable[Provider]) -> None:
        """Check, in the background, the providers whose suspicion ended."""
        now = time.monotonic()
        for provider in providers:
            if provider.suspect_until <= now and id(provider) not in self._rechecks:
                task = asyncio.get_running_loop().create_task(self._check(provider))
                self._rechecks[id(provider)] = task

    async def _check(self, provider: Provider) -> None:
        try:
            if await provider.channel.reachable():
                provider.reached()
            else:
                provider.unreachable()
        finally:
            self._rechecks.pop(id(provider), None)


def _identity(agent: Agent, dependency: DependencySpec) -> tuple[object, ...]:
    capability = agent.spec.capability(dependency.capability)
    return (agent.metadata.uid, agent.spec.endpoint, capability, requires_token(agent))
