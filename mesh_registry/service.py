"""The registry service: every operation of the API, with no transport in sight.

REST, SSE, MCP and the command line are thin adapters over :class:`Registry`: they parse, call
one method, and map the typed errors of :mod:`mesh_registry.errors` to their own form.

Layers, from the bottom: the store (durable, versioned), the watch cache (all objects in memory,
fed by the store's commits), the hub (fans changes out to watchers) and the health monitor
(leases and phase deadlines), whose transitions the status writer writes. Writes go to the store
with compare-and-swap on the revision the cache holds, retried when another write got there
first (Kubernetes' GuaranteedUpdate); a :class:`WriteGuard` checks each attempt.

Several registry processes may share one store (replicas on PostgreSQL). Each serves every
request from its own cache; a read that must see every acknowledged write first catches the
cache up with the store (:meth:`Registry.fresh`, nothing to do for SQLite). One of them, the
leader, decides health deadlines (``leadership.py``).

What the service reads from clients is checked in ``incoming.py``; what a write makes of a
record is decided in ``records.py``.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import suppress
from dataclasses import dataclass
from typing import NamedTuple, Protocol

from mesh_registry.cache import (
    ContinueFromTheFuture,
    InvalidContinueToken,
    ObjectChange,
    WatchCache,
)
from mesh_registry.clock import Clock, SystemClock
from mesh_registry.codec import encode, with_revision
from mesh_registry.config import RegistryConfig
from mesh_registry.discovery import Match
from mesh_registry.errors import AlreadyExists, BadRequest, Conflict, Gone, NotFound, Unavailable
from mesh_registry.health import HealthMonitor
from mesh_registry.incoming import (
    AgentInput,
    incoming,
    not_found,
    parse_revision,
    precondition_revision,
)
from mesh_registry.listing import Listing
from mesh_registry.maintenance import Maintenance
from mesh_registry.memory import collector_paused
from mesh_registry.model import (
    Agent,
    AgentList,
    EventType,
    ObjectKey,
    Phase,
)
from mesh_registry.query import MAX_LIST_LIMIT, AgentQuery
from mesh_registry.records import (
    STALE,
    check_preconditions,
    created,
    replaced,
    timestamp,
    with_heartbeat,
)
from mesh_registry.status import StatusWriter
from mesh_registry.store import (
    Compacted,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    Snapshot,
    Store,
    StoreStats,
    StoreUnavailable,
    Unreadable,
    open_store,
    redacted,
)
from mesh_registry.watch import Hub, QueueLimit, WatchStream, check_resumable

log = logging.getLogger(__name__)


class Renewal(NamedTuple):
    """What a heartbeat leaves: the agent's phase after it and its record's revision."""

    phase: Phase
    revision: int


class WriteGuard(Protocol):
    """What a write must satisfy beyond the API's rules (authorization, say), checked inside
    the write's compare-and-swap loop, on the object as stored at each attempt."""

    def check(self, current: Agent) -> None:
        """Raise to refuse a write to ``current``, the object as stored."""

    def prepare(self, incoming: Agent, current: Agent | None) -> Agent:
        """The object to write for ``incoming``, given ``current`` (``None``: none yet)."""


class _Open:
    """No guard: every write as asked."""

    def check(self, current: Agent) -> None:
        return None

    def prepare(self, incoming: Agent, current: Agent | None) -> Agent:
        return incoming


OPEN: WriteGuard = _Open()


@dataclass(frozen=True, slots=True)
class Registration:
    """What a create-or-replace did: the stored agent, and whether it was created."""

    agent: Agent
    created: bool


@dataclass(frozen=True, slots=True)
class RegistryStats:
    """A point-in-time view for metrics and readiness."""

    revision: int
    compacted_revision: int
    agents: int
    phases: dict[Phase, int]
    watchers: int
    heartbeats: int
    self_preservation: bool
    store: StoreStats
    events_delivered: int  # watch events queued for watchers
    watchers_dropped: int  # watchers ended for falling behind, or for taking no data
    damaged: str | None  # why the store's data cannot be trusted, if it cannot
    unavailable: str | None  # why the store cannot be reached now, if it cannot
    leading: bool  # whether this process decides health deadlines


class Registry:
    """The registry: register, heartbeat, discover, watch. Use ``async with``."""

    def __init__(
        self,
        config: RegistryConfig | None = None,
        *,
        clock: Clock | None = None,
        store: Store | None = None,
    ) -> None:
        self.config = config or RegistryConfig()
        self._clock = clock or SystemClock()
        self._store: Store = store or open_store(
            self.config.database,
            synchronous=self.config.synchronous,
            retention=self.config.retention,
            max_batch=self.config.max_batch,
            pool_size=self.config.pool_size,
            clock=self._clock,
        )
        self._leadership = self._store.leader_election(self.config.leader_lease)
        self._cache = WatchCache(self._store)
        self._store.set_reset_listener(self._reset)
        self._hub = Hub()
        self._health = HealthMonitor(self._clock, self.config.health, self._health_changed)
        self._status = StatusWriter(self._store, self._cache, self._health)
        self._maintenance = Maintenance(self.config, self._store, self._health)
        self._cache.add_listener(self._hub.publish_soon)
        self._cache.add_listener(self._observe)
        self._ready = False
        self._stopping = False
        self._background: asyncio.Task[None] | None = None
        self.quarantined = 0  # records set aside at start: they could not be read
        self.call_token_key = b""  # shared by every process of the store, from start

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, load every object, take over the leases. Raise ``Unavailable``.

        A record that cannot be read back is set aside (see :meth:`Store.quarantine`) and
        reported; the others are served. Whatever fails, the store is closed again.
        """
        try:
            snapshot = await self._store.open()
        except StoreUnavailable as error:
            raise Unavailable(str(error)) from error
        try:
            with collector_paused():
                unreadable = self._cache.load(snapshot)
                # In the same step: with replicas, changes may arrive from the next await on.
                self._health.start(self._cache.objects(), snapshot.leases)
            await self._quarantine(unreadable)
            self.call_token_key = await self._store.secret("call-token-key")
            await self._leadership.start(self._leadership_changed)
        except BaseException as error:
            await self._leadership.stop()
            await self._store.close()
            if isinstance(error, StoreUnavailable):
                raise Unavailable(str(error)) from error
            raise
        self._background = asyncio.create_task(self._maintenance.run(), name="registry-maintenance")
        self._status.running = self._ready = True
        log.info(
            "registry started: %d agents, revision %d, database %s",
            len(self._cache),
            self._cache.revision,
            redacted(self.config.database),
        )

    async def _quarantine(self, unreadable: list[Unreadable]) -> None:
        if not unreadable:
            return
        for bad in unreadable:
            log.error(
                "record %s at revision %d cannot be read (%s): set aside in the quarantine"
                " table, not served",
                bad.record.key,
                bad.record.revision,
                bad.reason,
            )
        self._cache.skip_to(await self._store.quarantine(unreadable))
        self.quarantined += len(unreadable)
        log.error(
            "%d records quarantined; the history is compacted: every watcher lists again",
            len(unreadable),
        )

    async def stop(self) -> None:
        """End watches, finish pending status writes, checkpoint leases, close the store."""
        if not self._ready:
            return
        self._status.running = self._ready = False
        self._hub.close_all()
        await self._leadership.stop()  # handed over at once, not after a lease
        self._health.stop()
        if self._background is not None:
            self._background.cancel()
            with suppress(asyncio.CancelledError):
                await self._background
        await self.status_written()
        await self.checkpoint_leases()
        await self._store.close()
        log.info("registry stopped at revision %d", self._cache.revision)

    async def __aenter__(self) -> Registry:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def ready(self) -> bool:
        """Open, loaded and serving (false from the start of a shutdown, once the store
        reports its data damaged, and while its database cannot be reached)."""
        store = self._store
        return (
            self._ready
            and not self._stopping
            and store.damaged is None
            and store.unavailable is None
        )

    def begin_shutdown(self) -> None:
        """Stop taking watches and end the open ones; requests in flight still complete.

        Called as soon as a shutdown starts, so that watch streams close cleanly instead of
        holding the HTTP server's graceful drain open until its timeout.
        """
        self._stopping = True
        self._hub.close_all()

    @property
    def self_preservation(self) -> bool:
        return self._health.self_preservation

    @property
    def revision(self) -> int:
        return self._cache.revision

    def stats(self) -> RegistryStats:
        return RegistryStats(
            revision=self._cache.revision,
            compacted_revision=self._store.compacted_revision,
            agents=len(self._cache),
            phases=self._health.counts(),
            watchers=len(self._hub),
            heartbeats=self._health.heartbeats,
            self_preservation=self._health.self_preservation,
            store=self._store.stats.snapshot(),
            events_delivered=self._hub.delivered,
            watchers_dropped=self._hub.dropped,
            damaged=self._store.damaged,
            unavailable=self._store.unavailable,
            leading=self._leadership.term is not None,
        )

    async def fresh(self) -> None:
        """Catch up with every change committed anywhere (by other replicas too) until now:
        a read after it sees every write acknowledged before it."""
        try:
            await self._store.sync()
        except StoreUnavailable as error:
            raise Unavailable(str(error)) from error

    # -- writes ----------------------------------------------------------------------------

    def incoming(self, agent: AgentInput, namespace: str | None, name: str | None = None) -> Agent:
        """A client's object, validated and reconciled with its path (see ``incoming.py``)."""
        return incoming(agent, namespace, name)

    async def create(
        self,
        agent: AgentInput,
        *,
        namespace: str | None = None,
        guard: WriteGuard | None = None,
    ) -> Agent:
        """Register a new agent; ``AlreadyExists`` if the name is taken."""
        prepared = (guard or OPEN).prepare(incoming(agent, namespace), None)
        new = created(prepared, timestamp(self._clock.now()))
        try:
            return await self._create(new)
        except KeyExists:
            raise AlreadyExists.agent(new.key) from None

    async def register(
        self,
        agent: AgentInput,
        *,
        namespace: str | None = None,
        name: str | None = None,
        guard: WriteGuard | None = None,
    ) -> Registration:
        """Create or replace (HTTP PUT). With ``metadata.resourceVersion`` set, replace only that
        version: ``Conflict`` if the stored one is newer, ``NotFound`` if there is none.

        A replace that changes nothing writes nothing and returns the stored object. ``guard``
        checks the stored object and prepares the one written, inside the compare-and-swap
        loop: what it checked is exactly what is replaced.
        """
        guard = guard or OPEN
        asked = incoming(agent, namespace, name)
        key = asked.key
        expected = asked.metadata.resource_version
        while True:
            current = self._cache.get(key)
            if current is not None:
                guard.check(current)
            prepared = guard.prepare(asked, current)
            if current is None:
                if expected is not None:
                    raise NotFound(
                        f'agent "{key}" not found (the request expected resourceVersion {expected})'
                    )
                try:
                    new = created(prepared, timestamp(self._clock.now()))
                    return Registration(await self._create(new), True)
                except KeyExists:
                    await self.fresh()  # created meanwhile: replace it on the next attempt
                    continue
            check_preconditions(current, expected, asked.metadata.uid)
            replacement = replaced(current, prepared)
            if replacement is None:
                return Registration(self._live(current), False)
            try:
                return Registration(await self._update(replacement, current.revision), False)
            except RevisionMismatch:
                if expected is not None:
                    raise Conflict.agent(key, STALE) from None
            except KeyNotFound:
                if expected is not None:
                    raise NotFound.agent(key) from None
            await self.fresh()  # another write got there first: see it, then try again

    async def unregister(
        self,
        namespace: str,
        name: str,
        *,
        resource_version: str | None = None,
        uid: str | None = None,
        guard: WriteGuard | None = None,
    ) -> Agent:
        """Delete an agent at once; return its last state. Optional preconditions on the
        version and uid answer ``Conflict`` when they do not hold; ``guard`` checks the
        stored object inside the compare-and-swap loop."""
        guard = guard or OPEN
        key = ObjectKey(namespace, name)
        resource_version = precondition_revision(resource_version, "preconditions.resourceVersion")
        await self.fresh()
        while True:
            current = self._require(key)
            guard.check(current)
            check_preconditions(current, resource_version, uid)
            try:
                change = await self._store.delete(key, current.revision)
            except RevisionMismatch:
                if resource_version is not None:
                    raise Conflict.agent(key, STALE) from None
                await self.fresh()
                continue
            except KeyNotFound:
                raise NotFound.agent(key) from None
            except StoreUnavailable as error:
                raise Unavailable(str(error)) from error
            log.info("unregistered %s at revision %d", key, change.revision)
            return with_revision(current, change.revision)

    async def renew(self, namespace: str, name: str) -> Renewal:
        """Renew an agent's lease. Writes only when its phase changes (then after the commit).

        ``NotFound`` for an unknown agent: the agent should register again.
        """
        key = ObjectKey(namespace, name)
        current = self._cache.get(key)
        if current is None and self._store.replicated:
            await self.fresh()  # registered through another replica a moment ago?
            current = self._cache.get(key)
        phase = self._health.heartbeat(key) if current is not None else None
        if current is None or phase is None:
            raise not_found(key)
        if self._health.pending(key) is None:
            return Renewal(phase, current.revision)
        written = await self._status.settle(key)
        if written is None:
            raise not_found(key)
        return Renewal(written.status.phase, written.revision)

    # -- reads -----------------------------------------------------------------------------

    async def get(self, namespace: str, name: str) -> Agent:
        await self.fresh()
        return self._live(self._require(ObjectKey(namespace, name)))

    def find(self, key: ObjectKey) -> Agent | None:
        """The stored record, or ``None``: for checks, without the live heartbeat time."""
        return self._cache.get(key)

    async def list_agents(
        self, query: AgentQuery | None = None, *, scope: frozenset[str] | None = None
    ) -> AgentList:
        """Agents that match ``query``, by namespace and name; ``capabilities`` matches agents
        providing any of them. Pages (``limit``, and the ``continue`` token of the previous
        page) all reflect the first page's revision. ``scope``: the namespaces the asker may
        see (``None``: all)."""
        return (await self.list_records(query, scope=scope)).as_list()

    async def list_records(
        self, query: AgentQuery | None = None, *, scope: frozenset[str] | None = None
    ) -> Listing:
        """:meth:`list_agents`, with the records and their heartbeat times apart."""
        query = query or AgentQuery()
        compiled = query.compile(Match.ANY, scope=scope, max_limit=MAX_LIST_LIMIT)
        await self.fresh()
        try:
            page = await self._cache.page(compiled, query.limit, query.continue_token)
        except InvalidContinueToken as error:
            raise BadRequest(f"continue: {error}") from None
        except ContinueFromTheFuture as error:
            raise Gone(f"continue: {error}; start the list again") from None
        except Compacted:
            raise Gone(
                "continue: the list's revision has been compacted; start the list again"
            ) from None
        except StoreUnavailable as error:
            raise Unavailable(str(error)) from error
        return self._listing(page.revision, page.items, page.continue_token)

    async def discover(
        self, query: AgentQuery, *, scope: frozenset[str] | None = None
    ) -> list[Agent]:
        """Agents providing **all** of the query's capabilities, best first (docs/design.md,
        "Discovery"): tag score, then highest version, then name. Only healthy agents unless
        the query names phases."""
        return (await self.discover_records(query, scope=scope)).agents()

    async def discover_records(
        self, query: AgentQuery, *, scope: frozenset[str] | None = None
    ) -> Listing:
        """:meth:`discover`, with the records and their heartbeat times apart, as of the
        registry's revision."""
        compiled = query.compile(Match.ALL, scope=scope, default_phases=(Phase.HEALTHY,))
        await self.fresh()
        found = self._cache.candidates(compiled, in_key_order=False)  # rank() sorts them
        ranked = found.rest.rank(found.objects)  # and filters them
        return self._listing(self.revision, ranked[: query.limit])

    async def watch(
        self,
        query: AgentQuery | None = None,
        *,
        since: str | int | None = None,
        scope: frozenset[str] | None = None,
    ) -> WatchStream:
        """A stream of changes to matching agents (docs/design.md, "Watches").

        Without ``since`` (or with "0"), the current matching agents as ADDED, then a BOOKMARK;
        with a revision, every matching change after it. A revision that has left the history
        is ``Gone``; one that leaves it while the stream catches up gives an ERROR event (410)
        and the end of the stream.
        """
        compiled = (query or AgentQuery()).compile(Match.ANY, scope=scope)
        resume = parse_revision(since)
        if not self.ready:
            raise Unavailable("the registry is not serving watches (starting or stopping)")
        # Resumed on another replica than the last stream's: from the revision it reached.
        await self.fresh()
        if resume is not None:
            # Refused before the stream starts, so that the client sees an HTTP 410 (on which
            # browsers' EventSource stops) rather than an ERROR event it reconnects after.
            check_resumable(resume, self._cache.revision, self._store.compacted_revision)
        return WatchStream(
            self._cache,
            self._hub,
            compiled,
            resume,
            bookmark_interval=self.config.bookmark_interval,
            queue_limit=QueueLimit(self.config.watch_queue_limit, self.config.watch_queue_bytes),
        )

    async def status_written(self) -> None:
        """Wait until the phase changes that deadlines made are written."""
        await self._status.drain()

    async def checkpoint_leases(self) -> None:
        """Save the heartbeat times not saved yet (done periodically, and at stop)."""
        await self._maintenance.checkpoint()

    # -- internals -------------------------------------------------------------------------

    def _leadership_changed(self, term: int | None) -> None:
        if term is None:
            self._status.fence_term = None
            self._health.follow(self._cache.get)
            return
        self._status.fence_term = term if self._leadership.fencing else None
        self._health.lead()

    def _reset(self, snapshot: Snapshot) -> None:
        """The store skipped changes it could no longer read: take its whole state. Every
        watcher ends (it lists again: its revision has left the history)."""
        removed, current = self._cache.reset(snapshot)
        self._hub.close_all()
        for key in removed:
            self._health.observe(key, None)
        for agent in current:
            self._health.observe(agent.key, agent)

    def _observe(self, change: ObjectChange) -> None:
        deleted = change.type is EventType.DELETED
        self._health.observe(change.object.key, None if deleted else change.object)

    def _health_changed(self, key: ObjectKey) -> None:
        self._status.changed(key)

    async def _create(self, agent: Agent) -> Agent:
        try:
            change = await self._store.create(agent.key, encode(agent), payload=agent)
        except StoreUnavailable as error:
            raise Unavailable(str(error)) from error
        return self._live(with_revision(agent, change.revision))

    async def _update(self, agent: Agent, expected_revision: int) -> Agent:
        try:
            change = await self._store.update(
                agent.key, encode(agent), expected_revision, payload=agent
            )
        except StoreUnavailable as error:
            raise Unavailable(str(error)) from error
        # What we committed, not what the cache holds now: a later write may already be there.
        return self._live(with_revision(agent, change.revision))

    def _require(self, key: ObjectKey) -> Agent:
        agent = self._cache.get(key)
        if agent is None:
            raise not_found(key)
        return agent

    def _listing(
        self, revision: int, records: list[Agent], continue_token: str | None = None
    ) -> Listing:
        last_heartbeat = self._health.last_heartbeat
        beats = [last_heartbeat(record.key) for record in records]
        return Listing(revision, records, beats, continue_token)

    def _live(self, agent: Agent) -> Agent:
        """``agent`` with the lease's last heartbeat time, which is not versioned."""
        return with_heartbeat(agent, self._health.last_heartbeat(agent.key))
