"""Several registry replicas on one PostgreSQL database, through asyncpg.

**Writes.** Each replica commits the writes that queue up while a transaction runs in the next
one (group commit). Every transaction first locks the revision counter's row: that lock orders
the transactions of all replicas, so revisions are numbered in commit order with no gap, and
compare-and-swap holds across replicas (each write is checked against the rows as that
transaction reads them). A writer is answered only after the commit.

**The change feed.** Every replica delivers every change, its own and the others', to its
commit listener (the watch cache) once, in revision order. Its own commits are delivered as
soon as they commit, after any earlier revision it had not seen yet (read from
``mesh_events``). The others' reach it through ``LISTEN``/``NOTIFY`` as a mere wake-up (a
notification is lost when the listening connection drops): it then reads the log from the last
revision it delivered, and it also looks every second. A replica cut off for longer than the
history lasts reloads the whole state (the reset listener). :meth:`sync` catches up to the
database's current revision: a read after it sees every write acknowledged before it, as
Kubernetes' consistent reads from its watch cache.

**Heartbeat times** are checkpointed in batches (a stored time only moves forward). Batches
take turns on an advisory lock and number their rows from one sequence, so that
:meth:`renewed_leases` reads each renewal once, in order, from a cursor.

**Away.** While the database cannot be reached, every call fails with ``StoreUnavailable``
(the registry answers 503 and is not ready), no write is half applied (a transaction commits
whole or not at all), and the feed keeps trying; once it is back, the replica catches up from
the log and serves again, with no restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, TypeVar

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from mesh_registry.clock import Clock, SystemClock
from mesh_registry.leadership import Leadership
from mesh_registry.model import EventType, ObjectKey
from mesh_registry.store.base import (
    Change,
    CommitListener,
    Compacted,
    Fence,
    Fenced,
    Record,
    Renewed,
    ResetListener,
    Retention,
    Snapshot,
    StoreError,
    StoreStats,
    StoreUnavailable,
    Unreadable,
)
from mesh_registry.store.batch import BatchResult, Stored, Write, apply, settle
from mesh_registry.store.postgres_schema import (
    AWAY,
    COMPACTION_LOCK,
    FAILED,
    LEASE_LOCK,
    SchemaTooNew,
    migrate,
    redacted,
)
from mesh_registry.waiting import wait_set, within

log = logging.getLogger(__name__)
T = TypeVar("T")
# A connection of the pool, or one of its own.
Connection = asyncpg.Connection | PoolConnectionProxy

CHANNEL = "mesh_changes"
# Saved only for objects that still exist (a lease outliving its object is noise) and when
# newer than the saved time; what was saved is appended to the log as one checkpoint of
# replica $4, in the same statement.
_SAVE_LEASES = (
    "WITH saved AS ("
    " INSERT INTO mesh_leases (namespace, name, heartbeat)"
    " SELECT l.namespace, l.name, l.heartbeat"
    " FROM unnest($1::text[], $2::text[], $3::float8[]) AS l(namespace, name, heartbeat)"
    " WHERE EXISTS (SELECT 1 FROM mesh_objects o"
    " WHERE o.namespace = l.namespace AND o.name = l.name)"
    " ON CONFLICT (namespace, name) DO UPDATE SET heartbeat = excluded.heartbeat"
    " WHERE excluded.heartbeat > mesh_leases.heartbeat"
    " RETURNING namespace, name, heartbeat)"
    " INSERT INTO mesh_lease_log (writer, namespaces, names, heartbeats, created_at)"
    " SELECT $4, array_agg(namespace), array_agg(name), array_agg(heartbeat), $5 FROM saved"
    " HAVING count(*) > 0"
)
# How long the other replicas' checkpoints stay readable; a replica away for longer reads
# every lease instead.
_LEASE_LOG_SECONDS = 30.0
_EVENTS_PER_READ = 2000
_RETRY_SECONDS = 0.5


class _Stop:
    pass


class PostgresStore:
    """A :class:`~mesh_registry.store.base.Store` in a PostgreSQL database (``dsn``)."""

    def __init__(
        self,
        dsn: str,
        *,
        retention: Retention | None = None,
        max_batch: int = 1000,
        clock: Clock | None = None,
        pool_size: int = 10,
        poll_interval: float = 1.0,
        connect_timeout: float = 5.0,
        command_timeout: float = 30.0,
    ) -> None:
        self._dsn = dsn
        self.path = redacted(dsn)  # what log lines and errors name
        self._retention = retention or Retention()
        self._max_batch = max_batch
        self._clock = clock or SystemClock()
        self._pool_size = pool_size
        self._poll_interval = poll_interval
        self._connect_timeout = connect_timeout
        self._command_timeout = command_timeout
        self._pool: asyncpg.Pool | None = None
        self._writer = secrets.token_hex(8)  # names the lease checkpoints this replica saves
        self._pruned_at = 0.0
        self._listening: asyncpg.Connection | None = None
        self._writes: deque[Write | _Stop] = deque()
        self._wakeup = asyncio.Event()
        self._notified = asyncio.Event()
        self._delivering = asyncio.Lock()
        self._worker: asyncio.Task[None] | None = None
        self._feed: asyncio.Task[None] | None = None
        self._listener: CommitListener | None = None
        self._reset_listener: ResetListener | None = None
        self._revision = 0  # the last revision delivered to the listener
        self._compacted = 0
        self._closed = False
        self._unavailable: str | None = None
        self._stats = StoreStats()

    # -- the interface's properties --------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def compacted_revision(self) -> int:
        return self._compacted

    @property
    def stats(self) -> StoreStats:
        return self._stats

    @property
    def damaged(self) -> str | None:
        return None  # PostgreSQL guards its own files; an unreachable one is `unavailable`

    @property
    def unavailable(self) -> str | None:
        return self._unavailable

    @property
    def replicated(self) -> bool:
        return True

    def set_commit_listener(self, listener: CommitListener) -> None:
        self._listener = listener

    def set_reset_listener(self, listener: ResetListener) -> None:
        self._reset_listener = listener

    def leader_election(self, lease: float) -> Leadership:
        from mesh_registry.store.postgres_leader import PostgresLeadership

        return PostgresLeadership(self._dsn, lease, connect_timeout=self._connect_timeout)

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> Snapshot:
        try:
            self._pool = await asyncpg.create_pool(
                self._dsn,
                min_size=1,
                max_size=self._pool_size,
                timeout=self._connect_timeout,
                command_timeout=self._command_timeout,
            )
            async with self._pool.acquire() as connection:
                await migrate(connection)
                snapshot = await _load(connection)
        except SchemaTooNew as error:
            await self._abandon()
            raise StoreUnavailable(f"database {self.path}: {error}") from None
        except FAILED as error:
            await self._abandon()
            raise StoreUnavailable(f"cannot open database {self.path}: {error}") from error
        self._revision = snapshot.revision
        self._compacted = snapshot.compacted_revision
        self._worker = asyncio.create_task(self._work(), name="postgres-store-writer")
        self._feed = asyncio.create_task(self._follow(), name="postgres-store-feed")
        return snapshot

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._writes.append(_Stop())  # the writes queued before it still commit
            self._wakeup.set()
            await self._worker
        if self._feed is not None:
            self._feed.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feed
        await self._abandon()

    async def _abandon(self) -> None:
        if self._listening is not None:
            with contextlib.suppress(*FAILED):
                await self._listening.close(timeout=2)
            self._listening = None
        if self._pool is not None:
            try:
                await within(self._pool.close(), 5)
            except FAILED:
                self._pool.terminate()
            self._pool = None

    # -- writes ----------------------------------------------------------------------------

    async def create(self, key: ObjectKey, value: str, payload: object = None) -> Change:
        return await self._write(EventType.ADDED, key, value, None, payload, None)

    async def update(
        self,
        key: ObjectKey,
        value: str,
        expected_revision: int | None,
        payload: object = None,
        fence: Fence | None = None,
        lease: float | None = None,
    ) -> Change:
        return await self._write(
            EventType.MODIFIED, key, value, expected_revision, payload, fence, lease
        )

    async def delete(
        self, key: ObjectKey, expected_revision: int | None, fence: Fence | None = None
    ) -> Change:
        return await self._write(EventType.DELETED, key, None, expected_revision, None, fence)

    async def _write(
        self,
        type_: EventType,
        key: ObjectKey,
        value: str | None,
        expected_revision: int | None,
        payload: object,
        fence: Fence | None,
        lease: float | None = None,
    ) -> Change:
        if self._closed or self._worker is None:
            raise StoreUnavailable("the store is closed" if self._closed else "not open")
        future: asyncio.Future[Change] = asyncio.get_running_loop().create_future()
        # A caller that stops waiting cancels only its future: the queued write still commits.
        self._writes.append(
            Write(type_, key, value, expected_revision, payload, future, fence, lease)
        )
        self._wakeup.set()
        return await future

    async def _work(self) -> None:
        while True:
            while not self._writes:
                self._wakeup.clear()
                await self._wakeup.wait()
            first = self._writes.popleft()
            if isinstance(first, _Stop):
                return
            batch = [first]
            while (
                self._writes and isinstance(self._writes[0], Write) and len(batch) < self._max_batch
            ):
                batch.append(self._writes.popleft())  # type: ignore[arg-type]
            await self._commit(batch)

    async def _commit(self, batch: list[Write]) -> None:
        now = self._clock.now()

        async def transaction(connection: Connection) -> BatchResult:
            async with connection.transaction():
                # The lock that orders every replica's transactions.
                revision = await connection.fetchval(
                    "SELECT value FROM mesh_meta WHERE key = 'revision' FOR UPDATE"
                )
                current = await _fetch(connection, {write.key for write in batch})
                refused = await _refused(connection, batch)
                result = apply(batch, current, revision, refused)
                if result.changes:
                    await _persist(connection, result, now, self._writer)
                return result

        try:
            result = await self._call(transaction)
        except StoreUnavailable as failure:
            log.error("commit of %d writes failed: %s", len(batch), failure)
            for write in batch:
                settle(write.future, error=failure)
            return
        if result.changes:
            self._stats.record_commit(len(result.changes))
            await self._deliver_own(result.changes)
        for write, outcome in zip(batch, result.outcomes, strict=True):
            if isinstance(outcome, StoreError):
                settle(write.future, error=outcome)
            else:
                settle(write.future, result=outcome)

    # -- the change feed -------------------------------------------------------------------

    async def sync(self) -> int:
        def current(connection: Connection) -> Awaitable[list[asyncpg.Record]]:
            return connection.fetch("SELECT key, value FROM mesh_meta")

        meta = {row["key"]: row["value"] for row in await self._call(current)}
        self._compacted = max(self._compacted, meta["compacted"])
        async with self._delivering:
            await self._catch_up(meta["revision"])
        return self._revision

    async def _deliver_own(self, changes: Sequence[Change]) -> None:
        """Deliver this replica's commit, after the revisions before it it had not seen."""
        async with self._delivering:
            if changes[0].revision > self._revision + 1:
                try:
                    await self._catch_up(changes[0].revision - 1)
                except StoreUnavailable as error:
                    # Committed all the same: the feed delivers it from the log later.
                    log.warning("revisions before %d not read yet: %s", changes[0].revision, error)
                    return
            fresh = [change for change in changes if change.revision > self._revision]
            if fresh:
                self._notify(fresh)

    async def _catch_up(self, target: int) -> None:
        """Deliver every change up to ``target`` (under the delivery lock)."""
        while self._revision < target:

            async def read(connection: Connection) -> tuple[int, list[asyncpg.Record]]:
                async with connection.transaction(isolation="repeatable_read", readonly=True):
                    compacted = await connection.fetchval(
                        "SELECT value FROM mesh_meta WHERE key = 'compacted'"
                    )
                    rows = await connection.fetch(
                        "SELECT revision, type, namespace, name, value, prev_value,"
                        " prev_revision FROM mesh_events WHERE revision > $1 AND revision <= $2"
                        " ORDER BY revision LIMIT $3",
                        self._revision,
                        target,
                        _EVENTS_PER_READ,
                    )
                    return compacted, rows

            compacted, rows = await self._call(read)
            self._compacted = max(self._compacted, compacted)
            if compacted > self._revision:
                await self._reset()
                return
            if not rows:
                return  # the counter moved on with no event (records set aside): nothing to say
            self._notify([_change_from_row(row) for row in rows])

    async def _reset(self) -> None:
        """The changes since the last one delivered are gone from the history: start over."""
        snapshot = await self._call(_load)
        log.warning(
            "revisions %d to %d have left the history: reloading every object",
            self._revision,
            snapshot.compacted_revision,
        )
        self._revision = snapshot.revision
        self._compacted = snapshot.compacted_revision
        if self._reset_listener is not None:
            self._reset_listener(snapshot)

    def _notify(self, changes: Sequence[Change]) -> None:
        self._revision = changes[-1].revision
        if self._listener is None:
            return
        try:
            self._listener(changes)
        except Exception:
            # A broken listener must not stop the feed, nor leave writers unanswered.
            log.exception("commit listener failed")

    async def _follow(self) -> None:
        """Deliver the other replicas' commits: on each notification, and every second."""
        while not self._closed:
            self._notified.clear()
            try:
                await self._listen()
                await self.sync()
            except StoreUnavailable:
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            except Exception:  # the feed must outlive any failure
                log.exception("change feed failed; retrying")
                await asyncio.sleep(_RETRY_SECONDS)
                continue
            await wait_set(self._notified, self._poll_interval)

    async def _listen(self) -> None:
        """Keep one connection listening for commit notifications."""
        if self._listening is not None and not self._listening.is_closed():
            return
        try:
            connection = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
            await connection.add_listener(CHANNEL, self._on_notification)
        except FAILED as error:
            self._mark_away(error)
            raise StoreUnavailable(f"database {self.path} unreachable: {error}") from error
        self._listening = connection

    def _on_notification(self, *_: object) -> None:
        self._notified.set()

    # -- reads and maintenance -------------------------------------------------------------

    async def changes_since(self, revision: int, until: int | None = None) -> list[Change]:
        last = self._revision if until is None else until

        async def read(connection: Connection) -> list[Change]:
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                compacted = await connection.fetchval(
                    "SELECT value FROM mesh_meta WHERE key = 'compacted'"
                )
                if revision < compacted:
                    raise Compacted(revision, compacted)
                rows = await connection.fetch(
                    "SELECT revision, type, namespace, name, value, prev_value, prev_revision"
                    " FROM mesh_events WHERE revision > $1 AND revision <= $2 ORDER BY revision",
                    revision,
                    last,
                )
            return [_change_from_row(row) for row in rows]

        if revision < self._compacted:
            raise Compacted(revision, self._compacted)
        return await self._call(read)

    async def save_leases(self, leases: Mapping[ObjectKey, float]) -> None:
        if not leases:
            return
        now = self._clock.now()

        async def save(connection: Connection) -> None:
            async with connection.transaction():
                await _save_leases(connection, leases, self._writer, now)
                if now - self._pruned_at >= _LEASE_LOG_SECONDS / 6:
                    await _prune_lease_log(connection, now - _LEASE_LOG_SECONDS)
                    self._pruned_at = now

        await self._call(save)
        self._stats.lease_checkpoints += 1

    async def renewed_leases(self, after: int) -> tuple[dict[ObjectKey, float], int]:
        async def read(connection: Connection) -> tuple[dict[ObjectKey, float], int]:
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                pruned = await connection.fetchval(
                    "SELECT value FROM mesh_meta WHERE key = 'leases_pruned'"
                )
                if after < pruned:  # checkpoints missed: read every saved lease instead
                    last = await connection.fetchval("SELECT max(seq) FROM mesh_lease_log")
                    rows = await connection.fetch(
                        "SELECT namespace, name, heartbeat FROM mesh_leases"
                    )
                    everything = {
                        ObjectKey(row["namespace"], row["name"]): row["heartbeat"] for row in rows
                    }
                    return everything, max(pruned, last or 0)
                checkpoints = await connection.fetch(
                    "SELECT seq, writer, namespaces, names, heartbeats FROM mesh_lease_log"
                    " WHERE seq > $1 ORDER BY seq",
                    after,
                )
            return _renewals(checkpoints, self._writer), (
                checkpoints[-1]["seq"] if checkpoints else after
            )

        return await self._call(read)

    async def secret(self, name: str) -> bytes:
        async def read_or_make(connection: Connection) -> bytes:
            await connection.execute(
                "INSERT INTO mesh_secrets (name, value) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                name,
                secrets.token_bytes(32),
            )
            value = await connection.fetchval(
                "SELECT value FROM mesh_secrets WHERE name = $1", name
            )
            return bytes(value)

        return await self._call(read_or_make)

    async def compact(self) -> int:
        async def compact(connection: Connection) -> int:
            async with connection.transaction():
                meta = {
                    row["key"]: row["value"]
                    for row in await connection.fetch("SELECT key, value FROM mesh_meta")
                }
                if not await connection.fetchval(
                    "SELECT pg_try_advisory_xact_lock($1)", COMPACTION_LOCK
                ):
                    return int(meta["compacted"])  # another replica compacts right now
                revision, compacted = meta["revision"], meta["compacted"]
                target = revision - self._retention.max_events
                aged = await connection.fetchval(
                    "SELECT max(revision) FROM mesh_events WHERE created_at < $1",
                    self._clock.now() - self._retention.max_age,
                )
                target = min(max(target, aged or 0), revision)
                if target <= compacted:
                    return int(compacted)
                await connection.execute("DELETE FROM mesh_events WHERE revision <= $1", target)
                await connection.execute(
                    "UPDATE mesh_meta SET value = $1 WHERE key = 'compacted'", target
                )
                return int(target)

        self._compacted = max(self._compacted, await self._call(compact))
        self._stats.compactions += 1
        return self._compacted

    async def quarantine(self, records: Sequence[Unreadable]) -> int:
        if not records:
            return self._revision
        now = self._clock.now()

        async def set_aside(connection: Connection) -> int:
            async with connection.transaction():
                revision = await connection.fetchval(
                    "SELECT value FROM mesh_meta WHERE key = 'revision' FOR UPDATE"
                )
                await connection.execute("SELECT pg_advisory_xact_lock($1)", LEASE_LOCK)
                for bad in records:
                    key, record = bad.record.key, bad.record
                    await connection.execute(
                        "INSERT INTO mesh_quarantine (namespace, name, revision, value, reason,"
                        " quarantined_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                        key.namespace,
                        key.name,
                        record.revision,
                        record.value,
                        bad.reason,
                        now,
                    )
                    await connection.execute(
                        "DELETE FROM mesh_objects WHERE namespace = $1 AND name = $2"
                        " AND revision = $3",
                        key.namespace,
                        key.name,
                        record.revision,
                    )
                    await connection.execute(
                        "DELETE FROM mesh_leases WHERE namespace = $1 AND name = $2",
                        key.namespace,
                        key.name,
                    )
                await connection.execute("DELETE FROM mesh_events")
                await connection.execute(
                    "UPDATE mesh_meta SET value = $1 WHERE key IN ('revision', 'compacted')",
                    revision + 1,
                )
                await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, str(revision + 1))
                return int(revision) + 1

        async with self._delivering:
            revision = await self._call(set_aside)
            self._revision = self._compacted = revision
        return revision

    # -- connections -----------------------------------------------------------------------

    async def _call(self, run: Callable[[Connection], Awaitable[T]]) -> T:
        """Run ``run`` on a pooled connection; the database away is ``StoreUnavailable``."""
        if self._pool is None:
            raise StoreUnavailable("the store is closed" if self._closed else "not open")
        try:
            async with self._pool.acquire(timeout=self._connect_timeout) as connection:
                result = await run(connection)
        except StoreError:
            raise
        except AWAY as error:
            self._mark_away(error)
            raise StoreUnavailable(f"database {self.path} unreachable: {error}") from error
        except asyncpg.PostgresError as error:
            log.error("database %s: %s", self.path, error)
            raise StoreUnavailable(f"database {self.path}: {error}") from error
        if self._unavailable is not None:
            log.warning("database %s reachable again", self.path)
            self._unavailable = None
        return result

    def _mark_away(self, error: BaseException) -> None:
        if self._unavailable is None:
            log.error("database %s unreachable: %s; not ready until it is back", self.path, error)
        self._unavailable = f"database {self.path} unreachable: {error or type(error).__name__}"


async def migrate_database(dsn: str, connect_timeout: float = 5.0) -> tuple[int, int]:
    """Create or upgrade the schema of the database ``dsn``; return the versions before and
    after. Raise ``StoreUnavailable``."""
    try:
        connection = await asyncpg.connect(dsn, timeout=connect_timeout)
    except FAILED as error:
        raise StoreUnavailable(f"cannot open database {redacted(dsn)}: {error}") from error
    try:
        return await migrate(connection)
    except SchemaTooNew as error:
        raise StoreUnavailable(f"database {redacted(dsn)}: {error}") from None
    except FAILED as error:
        raise StoreUnavailable(f"database {redacted(dsn)}: {error}") from error
    finally:
        await connection.close()


async def _load(connection: Connection) -> Snapshot:
    async with connection.transaction(isolation="repeatable_read", readonly=True):
        meta = {r["key"]: r["value"] for r in await connection.fetch("SELECT * FROM mesh_meta")}
        objects = await connection.fetch(
            "SELECT namespace, name, value, revision FROM mesh_objects"
        )
        leases = await connection.fetch("SELECT namespace, name, heartbeat FROM mesh_leases")
    records = [
        Record(ObjectKey(row["namespace"], row["name"]), row["value"], row["revision"])
        for row in objects
    ]
    return Snapshot(
        meta["revision"],
        meta["compacted"],
        records,
        {ObjectKey(row["namespace"], row["name"]): row["heartbeat"] for row in leases},
    )


async def _fetch(connection: Connection, keys: set[ObjectKey]) -> dict[ObjectKey, Stored]:
    ordered = list(keys)
    rows = await connection.fetch(
        "SELECT namespace, name, value, revision FROM mesh_objects"
        " WHERE (namespace, name) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
        [key.namespace for key in ordered],
        [key.name for key in ordered],
    )
    return {
        ObjectKey(row["namespace"], row["name"]): Stored(row["value"], row["revision"])
        for row in rows
    }


async def _refused(connection: Connection, batch: Sequence[Write]) -> dict[int, StoreError]:
    """The writes whose fence does not hold, by position in the batch."""
    fenced = [(position, w) for position, w in enumerate(batch) if w.fence is not None]
    if not fenced:
        return {}
    # FOR SHARE: a new leader's term waits for this transaction, so the order is certain.
    term = await connection.fetchval("SELECT term FROM mesh_leader WHERE id = 1 FOR SHARE")
    keys = [w.key for _, w in fenced if w.fence is not None and w.fence.heartbeat is not None]
    stored: dict[ObjectKey, float] = {}
    if keys:
        rows = await connection.fetch(
            "SELECT namespace, name, heartbeat FROM mesh_leases"
            " WHERE (namespace, name) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
            [key.namespace for key in keys],
            [key.name for key in keys],
        )
        stored = {ObjectKey(r["namespace"], r["name"]): r["heartbeat"] for r in rows}
    refused: dict[int, StoreError] = {}
    for position, write in fenced:
        fence = write.fence
        assert fence is not None
        if fence.term != term:
            refused[position] = Fenced(f"{write.key}: term {fence.term} is over (now {term})")
        elif (
            fence.heartbeat is not None and stored.get(write.key, fence.heartbeat) > fence.heartbeat
        ):
            refused[position] = Renewed(write.key, stored[write.key])
    return refused


async def _persist(connection: Connection, result: BatchResult, now: float, writer: str) -> None:
    changes = result.changes
    await connection.execute(
        "INSERT INTO mesh_events (revision, type, namespace, name, value, prev_value,"
        " prev_revision, created_at) SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[],"
        " $4::text[], $5::text[], $6::text[], $7::bigint[], $8::float8[])",
        [c.revision for c in changes],
        [c.type.value for c in changes],
        [c.key.namespace for c in changes],
        [c.key.name for c in changes],
        [c.value for c in changes],
        # A deletion's previous value is its value: not stored twice.
        [None if c.type is EventType.DELETED else c.prev_value for c in changes],
        [c.prev_revision for c in changes],
        [now] * len(changes),
    )
    upserts = [(key, stored) for key, stored in result.final.items() if stored is not None]
    deletes = [key for key, stored in result.final.items() if stored is None]
    if upserts:
        await connection.execute(
            "INSERT INTO mesh_objects (namespace, name, value, revision)"
            " SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
            " ON CONFLICT (namespace, name)"
            " DO UPDATE SET value = excluded.value, revision = excluded.revision",
            [key.namespace for key, _ in upserts],
            [key.name for key, _ in upserts],
            [stored.value for _, stored in upserts],
            [stored.revision for _, stored in upserts],
        )
    if deletes:
        # Lease rows change under this lock only: no two transactions lock them in turn.
        await connection.execute("SELECT pg_advisory_xact_lock($1)", LEASE_LOCK)
        for table in ("mesh_objects", "mesh_leases"):
            await connection.execute(
                f"DELETE FROM {table}"
                " WHERE (namespace, name) IN (SELECT * FROM unnest($1::text[], $2::text[]))",
                [key.namespace for key in deletes],
                [key.name for key in deletes],
            )
    if result.leases:
        await _save_leases(connection, result.leases, writer, now)
    last = changes[-1].revision
    await connection.execute("UPDATE mesh_meta SET value = $1 WHERE key = 'revision'", last)
    # Delivered at commit, to every replica listening: a wake-up, the data is in the log.
    await connection.execute("SELECT pg_notify($1, $2)", CHANNEL, str(last))


async def _save_leases(
    connection: Connection, leases: Mapping[ObjectKey, float], writer: str, now: float
) -> None:
    namespaces = [key.namespace for key in leases]
    names = [key.name for key in leases]
    beats = list(leases.values())
    # One checkpoint at a time, so that they become visible in the order of their seq.
    await connection.execute("SELECT pg_advisory_xact_lock($1)", LEASE_LOCK)
    await connection.execute(_SAVE_LEASES, namespaces, names, beats, writer, now)


async def _prune_lease_log(connection: Connection, before: float) -> None:
    pruned = await connection.fetchval(
        "WITH gone AS (DELETE FROM mesh_lease_log WHERE created_at < $1 RETURNING seq)"
        " SELECT max(seq) FROM gone",
        before,
    )
    if pruned is not None:
        await connection.execute(
            "UPDATE mesh_meta SET value = greatest(value, $1) WHERE key = 'leases_pruned'",
            pruned,
        )


def _renewals(checkpoints: Sequence[asyncpg.Record], own: str) -> dict[ObjectKey, float]:
    """The latest heartbeat time of each object in the other replicas' ``checkpoints``."""
    renewed: dict[ObjectKey, float] = {}
    for checkpoint in checkpoints:
        if checkpoint["writer"] == own:
            continue  # its own renewals, it knows
        for namespace, name, beat in zip(
            checkpoint["namespaces"], checkpoint["names"], checkpoint["heartbeats"], strict=True
        ):
            key = ObjectKey(namespace, name)
            if beat > renewed.get(key, 0.0):
                renewed[key] = beat
    return renewed


def _change_from_row(row: Any) -> Change:
    kind = EventType(row["type"])
    prev_value = row["value"] if kind is EventType.DELETED else row["prev_value"]
    return Change(
        row["revision"],
        kind,
        ObjectKey(row["namespace"], row["name"]),
        row["value"],
        prev_value,
        row["prev_revision"],
    )
