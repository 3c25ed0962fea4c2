"""The registry service: every operation of the API, with no transport in sight.

REST, SSE, MCP and the command line are thin adapters over :class:`Registry`: they parse, call
one method, and map the typed errors of :mod:`mesh_registry.errors` to their own form.

Layers, from the bottom: the store (durable, versioned), the watch cache (all objects in memory,
fed by the store's commits), the hub (fans changes out to watchers) and the health monitor
(leases and phase deadlines). Writes go to the store with compare-and-swap on the revision the
cache holds, retried when another write got there first (Kubernetes' GuaranteedUpdate).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import ValidationError

from mesh_registry import validation
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
from mesh_registry.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    Unavailable,
)
from mesh_registry.health import HealthMonitor, Transition
from mesh_registry.locks import KeyedLocks
from mesh_registry.memory import collector_paused
from mesh_registry.model import (
    Agent,
    AgentList,
    AgentStatus,
    EventType,
    HeartbeatResponse,
    ListMeta,
    ObjectKey,
    Phase,
    WatchEvent,
    field_errors,
    parse_agent,
)
from mesh_registry.query import MAX_LIST_LIMIT, AgentQuery
from mesh_registry.store import (
    Compacted,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    SQLiteStore,
    Store,
    StoreStats,
    StoreUnavailable,
    Unreadable,
)
from mesh_registry.watch import Hub, check_resumable, stream

log = logging.getLogger(__name__)

# Writes compare-and-swap on the revision the cache holds. One that loses a race is retried on
# the fresh state, as Kubernetes' GuaranteedUpdate does: every lost race means another write
# won, so the retries end. A status write that fails on storage is retried after this delay.
_STATUS_RETRY_SECONDS = 1.0

AgentInput = Agent | Mapping[str, Any]


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
    watchers_dropped: int  # watchers ended for falling behind
    damaged: str | None  # why the store's data cannot be trusted, if it cannot


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
        self._store: Store = store or SQLiteStore(
            self.config.database,
            synchronous=self.config.synchronous,
            retention=self.config.retention,
            max_batch=self.config.max_batch,
            clock=self._clock,
        )
        self._cache = WatchCache(self._store)
        self._hub = Hub()
        self._health = HealthMonitor(self._clock, self.config.health, self._on_health_change)
        self._cache.add_listener(self._hub.publish)
        self._cache.add_listener(self._observe)
        self._ready = False
        self._stopping = False
        self._maintenance: asyncio.Task[None] | None = None
        self._status_tasks: set[asyncio.Task[None]] = set()
        self._syncing: set[ObjectKey] = set()
        self._status_locks: KeyedLocks[ObjectKey] = KeyedLocks()
        self.quarantined = 0  # records set aside at start: they could not be read

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
            await self._quarantine(unreadable)
            with collector_paused():
                self._health.start(self._cache.objects(), snapshot.leases)
        except BaseException as error:
            await self._store.close()
            if isinstance(error, StoreUnavailable):
                raise Unavailable(str(error)) from error
            raise
        self._maintenance = asyncio.create_task(self._maintain(), name="registry-maintenance")
        self._ready = True
        log.info(
            "registry started: %d agents, revision %d, database %s",
            len(self._cache),
            self._cache.revision,
            self.config.database,
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
        self._ready = False
        self._hub.close_all()
        self._health.stop()
        if self._maintenance is not None:
            self._maintenance.cancel()
            with suppress(asyncio.CancelledError):
                await self._maintenance
        if self._status_tasks:
            await asyncio.gather(*self._status_tasks, return_exceptions=True)
        await self._checkpoint_leases()
        await self._store.close()
        log.info("registry stopped at revision %d", self._cache.revision)

    async def __aenter__(self) -> Registry:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def ready(self) -> bool:
        """Open, loaded and serving (false from the start of a shutdown, and once the store
        reports its data damaged)."""
        return self._ready and not self._stopping and self._store.damaged is None

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
        )

    # -- writes ----------------------------------------------------------------------------

    async def create(
        self,
        agent: AgentInput,
        *,
        namespace: str | None = None,
        guard: WriteGuard | None = None,
    ) -> Agent:
        """Register a new agent; ``AlreadyExists`` if the name is taken."""
        incoming = self.incoming(agent, namespace)
        prepared = (guard or OPEN).prepare(incoming, None)
        created = self._new_object(prepared)
        try:
            return await self._create(created)
        except KeyExists:
            raise AlreadyExists.agent(created.key) from None

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
        incoming = self.incoming(agent, namespace, name)
        key = incoming.key
        expected = incoming.metadata.resource_version
        while True:
            current = self._cache.get(key)
            if current is not None:
                guard.check(current)
            prepared = guard.prepare(incoming, current)
            if current is None:
                if expected is not None:
                    raise NotFound(
                        f'agent "{key}" not found (the request expected resourceVersion {expected})'
                    )
                try:
                    return Registration(await self._create(self._new_object(prepared)), True)
                except KeyExists:
                    continue  # created meanwhile: replace it on the next attempt
            self._check_preconditions(current, expected, incoming.metadata.uid)
            replacement = self._replacement(current, prepared)
            if replacement is None:
                return Registration(self._live(current), False)
            try:
                return Registration(await self._update(replacement, current.revision), False)
            except RevisionMismatch:
                if expected is not None:
                    raise Conflict.agent(key, _STALE) from None
            except KeyNotFound:
                if expected is not None:
                    raise NotFound.agent(key) from None

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
        while True:
            current = self._require(key)
            guard.check(current)
            self._check_preconditions(current, resource_version, uid)
            try:
                change = await self._store.delete(key, current.revision)
            except RevisionMismatch:
                if resource_version is not None:
                    raise Conflict.agent(key, _STALE) from None
                continue
            except KeyNotFound:
                raise NotFound.agent(key) from None
            except StoreUnavailable as error:
                raise Unavailable(str(error)) from error
            log.info("unregistered %s at revision %d", key, change.revision)
            return with_revision(current, change.revision)

    async def heartbeat(self, namespace: str, name: str) -> HeartbeatResponse:
        """Renew an agent's lease. Writes only when its phase changes (then after the commit).

        ``NotFound`` for an unknown agent: the agent should register again.
        """
        key = ObjectKey(namespace, name)
        current = self._cache.get(key)
        lease = self._health.heartbeat(key) if current is not None else None
        if current is None or lease is None:
            raise not_found(key)
        if not lease.unwritten:
            return HeartbeatResponse(phase=lease.phase, resource_version=str(current.revision))
        written = await self._write_transitions(key)
        if written is None:
            raise not_found(key)
        return HeartbeatResponse(phase=written.status.phase, resource_version=str(written.revision))

    # -- reads -----------------------------------------------------------------------------

    def get(self, namespace: str, name: str) -> Agent:
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
        query = query or AgentQuery()
        compiled = query.compile(Match.ANY, scope=scope, max_limit=MAX_LIST_LIMIT)
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
        return AgentList(
            metadata=ListMeta(resource_version=str(page.revision), continue_=page.continue_token),
            items=[self._live(agent) for agent in page.items],
        )

    def discover(self, query: AgentQuery, *, scope: frozenset[str] | None = None) -> list[Agent]:
        """Agents providing **all** of the query's capabilities, best first (DESIGN §6): tag
        score, then highest version, then name. Only healthy agents unless the query names
        phases."""
        compiled = query.compile(Match.ALL, scope=scope, default_phases=(Phase.HEALTHY,))
        ranked = compiled.rank(self._cache.candidates(compiled))  # rank() filters too
        return [self._live(agent) for agent in ranked[: query.limit]]

    def watch(
        self,
        query: AgentQuery | None = None,
        *,
        since: str | int | None = None,
        scope: frozenset[str] | None = None,
    ) -> AsyncIterator[WatchEvent]:
        """A stream of changes to matching agents (DESIGN §7).

        Without ``since`` (or with "0"), the current matching agents as ADDED, then a BOOKMARK;
        with a revision, every matching change after it. A revision that has left the history
        is ``Gone``; one that leaves it while the stream catches up gives an ERROR event (410)
        and the end of the stream.
        """
        compiled = (query or AgentQuery()).compile(Match.ANY, scope=scope)
        resume = parse_revision(since)
        if not self.ready:
            raise Unavailable("the registry is not serving watches (starting or stopping)")
        if resume is not None:
            # Refused before the stream starts, so that the client sees an HTTP 410 (on which
            # browsers' EventSource stops) rather than an ERROR event it reconnects after.
            check_resumable(resume, self._cache.revision, self._store.compacted_revision)
        return stream(
            self._cache,
            self._hub,
            compiled,
            resume,
            bookmark_interval=self.config.bookmark_interval,
            queue_limit=self.config.watch_queue_limit,
        )

    # -- health ----------------------------------------------------------------------------

    def _observe(self, change: ObjectChange) -> None:
        deleted = change.type is EventType.DELETED
        self._health.observe(change.object.key, None if deleted else change.object)

    def _on_health_change(self, key: ObjectKey) -> None:
        """A deadline passed and queued a transition on the lease: write it (in the background)."""
        if key in self._syncing:
            return  # the running writer loops until the queue is empty
        self._syncing.add(key)
        task = asyncio.create_task(self._settle_status(key), name=f"status-{key}")
        self._status_tasks.add(task)
        task.add_done_callback(self._status_tasks.discard)

    async def _settle_status(self, key: ObjectKey) -> None:
        try:
            while self._ready:
                try:
                    await self._write_transitions(key)
                    return
                except Unavailable as error:
                    log.warning("status of %s not written (%s); retrying", key, error.message)
                    await asyncio.sleep(_STATUS_RETRY_SECONDS)
        finally:
            self._syncing.discard(key)

    async def _write_transitions(self, key: ObjectKey) -> Agent | None:
        """Write the lease's queued transitions, oldest first, one record change each.

        One writer per key at a time, so that each transition is written exactly once and in
        order. Return the record as stored afterwards, or ``None`` once it is gone.
        """
        async with self._status_locks.hold(key):
            while True:
                current = self._cache.get(key)
                lease = self._health.lease(key)
                if current is None or lease is None:
                    return None
                if not lease.unwritten:
                    return self._live(current)
                step = lease.unwritten[0]
                try:
                    written = await self._write_transition(current, step, lease.last_heartbeat)
                except RevisionMismatch:
                    continue  # a concurrent write of the record: apply ours on top of it
                except KeyNotFound:
                    return None
                if lease.unwritten and lease.unwritten[0] is step:
                    lease.unwritten.popleft()
                if written is None:
                    return None

    async def _write_transition(
        self, current: Agent, step: Transition, last_heartbeat: float | None
    ) -> Agent | None:
        if step.phase is None:
            try:
                await self._store.delete(current.key, current.revision)
            except StoreUnavailable as error:
                raise Unavailable(str(error)) from error
            log.info("deleted %s: offline since %s", current.key, current.status.phase_since)
            return None
        status = current.status.model_copy(
            update={
                "phase": step.phase,
                "phase_since": _time(step.at),
                "last_heartbeat_time": None if last_heartbeat is None else _time(last_heartbeat),
                "observed_generation": current.metadata.generation,
            }
        )
        return await self._update(current.model_copy(update={"status": status}), current.revision)

    # -- helpers ---------------------------------------------------------------------------

    def incoming(self, agent: AgentInput, namespace: str | None, name: str | None = None) -> Agent:
        """Validate a client's object; reconcile it with the namespace and name of the path."""
        problem = key_error(namespace, name)
        if problem is not None:
            raise problem
        if not isinstance(agent, Agent):
            try:
                agent = parse_agent(agent)
            except ValidationError as error:
                raw_name = agent.get("metadata", {}) if isinstance(agent, Mapping) else {}
                shown = raw_name.get("name") if isinstance(raw_name, Mapping) else None
                raise Invalid.from_fields(
                    shown if isinstance(shown, str) else None, field_errors(error)
                ) from None
        metadata = agent.metadata
        if namespace is not None and metadata.namespace != namespace:
            if "namespace" in metadata.model_fields_set:
                raise BadRequest(
                    f"the namespace of the object ({metadata.namespace}) does not match the"
                    f" namespace of the request ({namespace})"
                )
            agent = agent.model_copy(
                update={"metadata": metadata.model_copy(update={"namespace": namespace})}
            )
        if name is not None and agent.metadata.name != name:
            raise BadRequest(
                f"the name of the object ({agent.metadata.name}) does not match the name of"
                f" the request ({name})"
            )
        written = agent.metadata.resource_version
        checked = precondition_revision(written, "metadata.resourceVersion")
        if checked != written:
            agent = agent.model_copy(
                update={"metadata": agent.metadata.model_copy(update={"resource_version": None})}
            )
        return agent

    def _new_object(self, incoming: Agent) -> Agent:
        now = self._now()
        metadata = incoming.metadata.model_copy(
            update={
                "uid": str(uuid.uuid4()),
                "resource_version": None,
                "generation": 1,
                "creation_timestamp": now,
            }
        )
        status = AgentStatus(phase=Phase.PENDING, phase_since=now, observed_generation=1)
        return Agent(metadata=metadata, spec=incoming.spec, status=status)

    @staticmethod
    def _replacement(current: Agent, incoming: Agent) -> Agent | None:
        """``current`` with the client's part taken from ``incoming``; ``None`` if unchanged."""
        old, new = current.metadata, incoming.metadata
        changed = (
            incoming.spec != current.spec
            or new.labels != old.labels
            or new.annotations != old.annotations
        )
        if not changed:
            return None
        generation = (old.generation or 0) + 1
        metadata = old.model_copy(
            update={"labels": new.labels, "annotations": new.annotations, "generation": generation}
        )
        status = current.status.model_copy(update={"observed_generation": generation})
        return Agent(metadata=metadata, spec=incoming.spec, status=status)

    @staticmethod
    def _check_preconditions(current: Agent, resource_version: str | None, uid: str | None) -> None:
        if resource_version is not None and resource_version != current.metadata.resource_version:
            raise Conflict.agent(current.key, _STALE)
        if uid is not None and uid != current.metadata.uid:
            raise Conflict.agent(
                current.key,
                f"precondition failed: uid in precondition: {uid}, uid in object meta:"
                f" {current.metadata.uid}",
            )

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

    def _live(self, agent: Agent) -> Agent:
        """``agent`` with the lease's last heartbeat time, which is not versioned."""
        lease = self._health.lease(agent.key)
        if lease is None or lease.last_heartbeat is None:
            return agent
        beat = _time(lease.last_heartbeat)
        if agent.status.last_heartbeat_time == beat:
            return agent
        status = agent.status.model_copy(update={"last_heartbeat_time": beat})
        return agent.model_copy(update={"status": status})

    def _now(self) -> datetime:
        return _time(self._clock.now())

    async def _maintain(self) -> None:
        """Checkpoint leases and compact the history, each on its own period."""
        config = self.config
        loop = asyncio.get_running_loop()
        next_checkpoint = loop.time() + config.lease_checkpoint_interval
        next_compaction = loop.time() + config.compaction_interval
        while True:
            await asyncio.sleep(max(0.0, min(next_checkpoint, next_compaction) - loop.time()))
            now = loop.time()
            if now >= next_checkpoint:
                await self._checkpoint_leases()
                next_checkpoint = now + config.lease_checkpoint_interval
            if now >= next_compaction:
                try:
                    await self._store.compact()
                except StoreUnavailable as error:
                    log.error("history compaction failed: %s", error)
                next_compaction = now + config.compaction_interval

    async def _checkpoint_leases(self) -> None:
        unsaved = self._health.unsaved_heartbeats()
        if not unsaved:
            return
        try:
            await self._store.save_leases(unsaved)
        except StoreUnavailable as error:
            log.error("lease checkpoint failed: %s", error)
            self._health.requeue_unsaved(unsaved)


_STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def key_error(namespace: str | None, name: str | None) -> BadRequest | None:
    """What is wrong with a namespace or name that a request names (in its path, say), by the
    rules the object's own fields follow; ``None`` if nothing."""
    for what, value, check in (
        ("namespace", namespace, validation.dns1123_label_errors),
        ("name", name, validation.dns1123_subdomain_errors),
    ):
        problems = [] if value is None else check(value)
        if problems:
            return BadRequest(f"invalid {what} {value!r}: {'; '.join(problems)}")
    return None


def not_found(key: ObjectKey) -> BadRequest | NotFound:
    """The answer for a key that names no agent: ``NotFound``, or ``BadRequest`` when the key
    could never name one. Checked only on a miss: a stored key is valid."""
    return key_error(key.namespace, key.name) or NotFound.agent(key)


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def precondition_revision(value: str | None, field: str) -> str | None:
    """A ``resourceVersion`` given as a precondition: ``None`` when absent or empty (as in
    Kubernetes), ``BadRequest`` naming ``field`` unless it is a revision."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise BadRequest(f"{field}: {value!r} is not a resource version")
    return value


def parse_revision(since: str | int | None) -> int | None:
    """A resume revision; ``None`` (and "0", as in Kubernetes) start from the current state.

    ``BadRequest`` for anything but a non-negative integer of at most 18 digits.
    """
    if since is None or since == "":
        return None
    if isinstance(since, int):
        revision = since
    elif since.isascii() and since.isdigit() and len(since) <= 18:
        revision = int(since)
    else:
        raise BadRequest(f"resourceVersion: {since!r} is not a resource version")
    if revision < 0:
        raise BadRequest(f"resourceVersion: {since!r} is not a resource version")
    return revision or None
