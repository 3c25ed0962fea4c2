"""The embedded store: SQLite in WAL mode, through aiosqlite, with group commit.

One worker task owns the connection and runs every job in arrival order. Writes that queue up
while a transaction is committing are committed together in the next one (group commit), and
each writer is answered only after that commit returns. Reads, lease checkpoints and compaction
are jobs too, so they always see committed state and never interleave with a transaction.

Durability: ``synchronous=FULL`` (the default) makes every commit survive power loss;
``NORMAL`` survives a crash of the process (kill -9) but not of the machine.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import secrets
import sqlite3
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiosqlite

from mesh_registry.clock import Clock, SystemClock
from mesh_registry.leadership import Leadership, Solo
from mesh_registry.model import EventType, ObjectKey
from mesh_registry.store.base import (
    Change,
    CommitListener,
    Compacted,
    Fence,
    Record,
    ResetListener,
    Retention,
    Snapshot,
    StoreError,
    StoreStats,
    StoreUnavailable,
    Unreadable,
)
from mesh_registry.store.batch import BatchResult, Stored, Write, apply, settle
from mesh_registry.store.sqlite_rows import execute_rows, require_json_functions, rows_of

log = logging.getLogger(__name__)

SCHEMA_VERSION = 3  # 2: the quarantine table; 3: shared secrets
_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
INSERT OR IGNORE INTO meta (key, value) VALUES ('revision', 0), ('compacted', 0);
CREATE TABLE IF NOT EXISTS objects (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    revision INTEGER NOT NULL,
    PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    revision INTEGER PRIMARY KEY,
    type TEXT NOT NULL,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    prev_value TEXT,
    prev_revision INTEGER,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS leases (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    heartbeat REAL NOT NULL,
    PRIMARY KEY (namespace, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quarantine (
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    revision INTEGER NOT NULL,
    value TEXT NOT NULL,
    reason TEXT NOT NULL,
    quarantined_at REAL NOT NULL,
    PRIMARY KEY (namespace, name, revision)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS secrets (
    name TEXT PRIMARY KEY,
    value BLOB NOT NULL
) WITHOUT ROWID;
"""
# Row values per SELECT: well under SQLite's limit on bound parameters.
_KEYS_PER_QUERY = 250
_COMPACTION_CHUNK = 10_000
# Statements over many rows (see sqlite_rows): a lease checkpoint holds a row per agent that
# heartbeated, a mass expiry a batch of a thousand status writes. Those with records also come
# one row at a time, for the small batches. `WHERE true`: an upsert's INSERT ... SELECT needs a
# WHERE clause, or SQLite reads ON CONFLICT as part of a join.
_EVENTS = (
    "INSERT INTO events (revision, type, namespace, name, value, prev_value, prev_revision,"
    " created_at)"
)
_INSERT_EVENT = _EVENTS + " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_INSERT_EVENTS = rows_of(8) + _EVENTS + " SELECT * FROM r"
_OBJECTS = "INSERT INTO objects (namespace, name, value, revision)"
_REPLACE_OBJECT = (
    " ON CONFLICT (namespace, name)"
    " DO UPDATE SET value = excluded.value, revision = excluded.revision"
)
_UPSERT_OBJECT = _OBJECTS + " VALUES (?, ?, ?, ?)" + _REPLACE_OBJECT
_UPSERT_OBJECTS = rows_of(4) + _OBJECTS + " SELECT * FROM r WHERE true" + _REPLACE_OBJECT
_DELETE_OBJECTS = rows_of(2) + "DELETE FROM objects WHERE (namespace, name) IN (SELECT * FROM r)"
_DELETE_LEASES = rows_of(2) + "DELETE FROM leases WHERE (namespace, name) IN (SELECT * FROM r)"
_UPSERT_LEASES = rows_of(3) + (
    "INSERT INTO leases (namespace, name, heartbeat) SELECT * FROM r WHERE true"
    " ON CONFLICT (namespace, name) DO UPDATE SET heartbeat = MAX(heartbeat, excluded.heartbeat)"
)
# A checkpoint: only for objects that still exist (a lease outliving its object is noise).
_SAVE_LEASES = rows_of(3) + (
    "INSERT INTO leases (namespace, name, heartbeat) SELECT * FROM r"
    " WHERE EXISTS (SELECT 1 FROM objects WHERE namespace = r.c0 AND name = r.c1)"
    " ON CONFLICT (namespace, name) DO UPDATE SET heartbeat = MAX(heartbeat, excluded.heartbeat)"
)
# SQLite's result codes for a damaged file: no commit can be trusted after them.
_DAMAGED_CODES = frozenset({sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB})

T = TypeVar("T")
Synchronous = Literal["full", "normal"]


@dataclass(slots=True)
class _Job:
    run: Callable[[aiosqlite.Connection], Awaitable[Any]]
    future: asyncio.Future[Any]


class _Stop:
    pass


class SQLiteStore:
    """A :class:`~mesh_registry.store.base.Store` in one SQLite file (or ``:memory:``)."""

    def __init__(
        self,
        path: str,
        *,
        synchronous: Synchronous = "full",
        retention: Retention | None = None,
        max_batch: int = 1000,
        clock: Clock | None = None,
        integrity_check_timeout: float = 30.0,
    ) -> None:
        self.path = path
        self._integrity_check_timeout = integrity_check_timeout
        self._synchronous = synchronous
        self._retention = retention or Retention()
        self._max_batch = max_batch
        self._clock = clock or SystemClock()
        self._db: aiosqlite.Connection | None = None
        self._lock_file: int | None = None
        self._jobs: deque[Write | _Job | _Stop] = deque()
        self._wakeup = asyncio.Event()
        self._worker: asyncio.Task[None] | None = None
        self._listener: CommitListener | None = None
        self._revision = 0
        self._compacted = 0
        self._closed = False
        self._damaged: str | None = None
        self._stats = StoreStats()

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
        return self._damaged

    @property
    def unavailable(self) -> str | None:
        return None  # a local file: it fails or it is damaged, it is never away

    @property
    def replicated(self) -> bool:
        return False  # one process per file (see _lock)

    def set_commit_listener(self, listener: CommitListener) -> None:
        self._listener = listener

    def set_reset_listener(self, listener: ResetListener) -> None:
        pass  # every change is this process's own, delivered as it commits: never behind

    async def sync(self) -> int:
        return self._revision  # nothing is committed anywhere else

    def leader_election(self, lease: float) -> Leadership:
        return Solo()

    # -- lifecycle -------------------------------------------------------------------------

    async def open(self) -> Snapshot:
        self._lock()
        try:
            self._db = await aiosqlite.connect(self.path, isolation_level=None)
            await self._check_integrity(self._db)
            await self._prepare(self._db)
            snapshot = await self._load(self._db)
        except (sqlite3.Error, OSError) as error:
            await self._abandon()
            raise StoreUnavailable(f"cannot open database {self.path!r}: {error}") from error
        except StoreError:
            await self._abandon()
            raise
        self._revision = snapshot.revision
        self._compacted = snapshot.compacted_revision
        self._worker = asyncio.create_task(self._work(), name="sqlite-store-worker")
        return snapshot

    async def schema_version(self) -> int:
        """The file's schema version now (0: no file yet, or no schema in it)."""
        if self.path == ":memory:":
            return 0
        read_only = _read_only_uri(self.path)  # never creates the file
        try:
            async with (
                aiosqlite.connect(read_only, uri=True) as db,
                db.execute("PRAGMA user_version") as cursor,
            ):
                row = await cursor.fetchone()
        except sqlite3.OperationalError:
            return 0  # no such file: open() makes it
        except sqlite3.Error as error:
            raise StoreUnavailable(f"cannot open database {self.path!r}: {error}") from error
        return int(row[0]) if row else 0

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._worker is not None:
            self._enqueue(_Stop())
            await self._worker
        await self._abandon()

    async def _abandon(self) -> None:
        if self._db is not None:
            await self._db.close()
            self._db = None
        if self._lock_file is not None:
            os.close(self._lock_file)  # closing the descriptor releases the lock
            self._lock_file = None

    def _lock(self) -> None:
        """One registry per database file: a second one would fork the revision history."""
        if self.path == ":memory:":
            return
        lock_path = self.path + ".lock"
        try:
            self._lock_file = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise StoreUnavailable(f"cannot open database {self.path!r}: {error}") from error
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_file)
            self._lock_file = None
            raise StoreUnavailable(
                f"database {self.path!r} is in use by another registry process"
            ) from None

    async def _check_integrity(self, db: aiosqlite.Connection) -> None:
        """Refuse a damaged file at start, rather than serve from it and fail every write.

        SQLite's quick check reads every page once; it is interrupted after the configured
        time (a very large database then starts unchecked, with a warning)."""
        if self.path == ":memory:" or self._integrity_check_timeout <= 0:
            return
        deadline = time.monotonic() + self._integrity_check_timeout
        await db.set_progress_handler(lambda: time.monotonic() > deadline, 10_000)
        try:
            async with db.execute("PRAGMA quick_check(5)") as cursor:
                problems = [str(row[0]) async for row in cursor]
        except sqlite3.OperationalError as error:
            if "interrupt" not in str(error):
                raise
            log.warning(
                "integrity check of %s not finished within %g s: started without it",
                self.path,
                self._integrity_check_timeout,
            )
            return
        finally:
            await db.set_progress_handler(None, 0)  # type: ignore[arg-type]  # None: no handler
        if problems != ["ok"]:
            found = "; ".join(" ".join(problem.split()) for problem in problems[:3])
            raise StoreUnavailable(
                f"database {self.path!r} is damaged ({found}): restore it from a backup, or"
                " move it aside to start with an empty registry"
            )

    async def _prepare(self, db: aiosqlite.Connection) -> None:
        await require_json_functions(db)
        await db.execute("PRAGMA journal_mode=WAL")
        await db.execute(f"PRAGMA synchronous={self._synchronous.upper()}")
        async with db.execute("PRAGMA user_version") as cursor:
            row = await cursor.fetchone()
        version = row[0] if row else 0
        if version > SCHEMA_VERSION:
            raise StoreUnavailable(
                f"database {self.path!r} has schema version {version}; this registry"
                f" understands up to {SCHEMA_VERSION}: upgrade the registry"
            )
        await db.execute("BEGIN IMMEDIATE")
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                await db.execute(statement)
        await db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        await db.execute("COMMIT")

    async def _load(self, db: aiosqlite.Connection) -> Snapshot:
        async with db.execute("SELECT key, value FROM meta") as cursor:
            meta = {key: value async for key, value in cursor}
        async with db.execute("SELECT namespace, name, value, revision FROM objects") as cursor:
            records = [
                Record(ObjectKey(ns, name), value, rev) async for ns, name, value, rev in cursor
            ]
        async with db.execute("SELECT namespace, name, heartbeat FROM leases") as cursor:
            leases = {ObjectKey(ns, name): beat async for ns, name, beat in cursor}
        revision = meta["revision"]
        newest = max((record.revision for record in records), default=0)
        if newest > revision:
            raise StoreUnavailable(
                f"database {self.path!r} is inconsistent: an object has revision {newest},"
                f" newer than the counter {revision}"
            )
        return Snapshot(revision, meta["compacted"], records, leases)

    # -- the API ---------------------------------------------------------------------------

    async def create(self, key: ObjectKey, value: str, payload: object = None) -> Change:
        return await self._write(EventType.ADDED, key, value, None, payload)

    # One process: no other leader to fence against, and its own heartbeat times are the
    # only ones; a fence always holds.
    async def update(
        self,
        key: ObjectKey,
        value: str,
        expected_revision: int | None,
        payload: object = None,
        fence: Fence | None = None,
        lease: float | None = None,
    ) -> Change:
        return await self._write(EventType.MODIFIED, key, value, expected_revision, payload, lease)

    async def delete(
        self, key: ObjectKey, expected_revision: int | None, fence: Fence | None = None
    ) -> Change:
        return await self._write(EventType.DELETED, key, None, expected_revision, None)

    async def changes_since(self, revision: int, until: int | None = None) -> list[Change]:
        async def read(db: aiosqlite.Connection) -> list[Change]:
            if revision < self._compacted:
                raise Compacted(revision, self._compacted)
            last = self._revision if until is None else until
            query = (
                "SELECT revision, type, namespace, name, value, prev_value, prev_revision"
                " FROM events WHERE revision > ? AND revision <= ? ORDER BY revision"
            )
            async with db.execute(query, (revision, last)) as cursor:
                return [_change_from_row(row) async for row in cursor]

        return await self._run(read)

    async def save_leases(self, leases: Mapping[ObjectKey, float]) -> None:
        if not leases:
            return
        rows = [(key.namespace, key.name, beat) for key, beat in leases.items()]

        async def save(db: aiosqlite.Connection) -> None:
            await db.execute("BEGIN IMMEDIATE")
            try:
                await execute_rows(db, _SAVE_LEASES, rows)
                await db.execute("COMMIT")
            except BaseException:
                await _rollback(db)
                raise
            self._stats.lease_checkpoints += 1

        await self._run(save)

    async def renewed_leases(self, after: int) -> tuple[dict[ObjectKey, float], int]:
        return {}, after  # one process: every renewal is its own, none to read back

    async def secret(self, name: str) -> bytes:
        async def read_or_make(db: aiosqlite.Connection) -> bytes:
            await db.execute("BEGIN IMMEDIATE")
            try:
                await db.execute(
                    "INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)",
                    (name, secrets.token_bytes(32)),
                )
                async with db.execute("SELECT value FROM secrets WHERE name = ?", (name,)) as cur:
                    row = await cur.fetchone()
                await db.execute("COMMIT")
            except BaseException:
                await _rollback(db)
                raise
            assert row is not None
            return bytes(row[0])

        return await self._run(read_or_make)

    async def compact(self) -> int:
        async def compact(db: aiosqlite.Connection) -> int:
            target = self._revision - self._retention.max_events
            cutoff = self._clock.now() - self._retention.max_age
            async with db.execute(
                "SELECT MAX(revision) FROM events WHERE created_at < ?", (cutoff,)
            ) as cursor:
                row = await cursor.fetchone()
            if row and row[0] is not None:
                target = max(target, row[0])
            target = min(target, self._revision)
            if target <= self._compacted:
                return self._compacted
            # In chunks, so that a large compaction never holds the writer for long.
            done = self._compacted
            while done < target:
                step = min(target, done + _COMPACTION_CHUNK)
                await db.execute("BEGIN IMMEDIATE")
                try:
                    await db.execute("DELETE FROM events WHERE revision <= ?", (step,))
                    await db.execute("UPDATE meta SET value = ? WHERE key = 'compacted'", (step,))
                    await db.execute("COMMIT")
                except BaseException:
                    await _rollback(db)
                    raise
                done = self._compacted = step
            self._stats.compactions += 1
            return self._compacted

        return await self._run(compact)

    async def quarantine(self, records: Sequence[Unreadable]) -> int:
        if not records:
            return self._revision
        now = self._clock.now()
        revision = self._revision + 1

        async def set_aside(db: aiosqlite.Connection) -> int:
            await db.execute("BEGIN IMMEDIATE")
            try:
                for bad in records:
                    key, record = bad.record.key, bad.record
                    await db.execute(
                        "INSERT OR REPLACE INTO quarantine (namespace, name, revision, value,"
                        " reason, quarantined_at) VALUES (?, ?, ?, ?, ?, ?)",
                        (key.namespace, key.name, record.revision, record.value, bad.reason, now),
                    )
                    await db.execute(
                        "DELETE FROM objects WHERE namespace = ? AND name = ? AND revision = ?",
                        (key.namespace, key.name, record.revision),
                    )
                    await db.execute(
                        "DELETE FROM leases WHERE namespace = ? AND name = ?",
                        (key.namespace, key.name),
                    )
                await db.execute("DELETE FROM events")
                await db.execute(
                    "UPDATE meta SET value = ? WHERE key IN ('revision', 'compacted')", (revision,)
                )
                await db.execute("COMMIT")
            except BaseException:
                await _rollback(db)
                raise
            self._revision = self._compacted = revision
            return revision

        return await self._run(set_aside)

    # -- the worker ------------------------------------------------------------------------

    async def _write(
        self,
        type_: EventType,
        key: ObjectKey,
        value: str | None,
        expected_revision: int | None,
        payload: object,
        lease: float | None = None,
    ) -> Change:
        future: asyncio.Future[Change] = asyncio.get_running_loop().create_future()
        # A caller that stops waiting cancels only its future: the queued write still commits.
        self._enqueue(Write(type_, key, value, expected_revision, payload, future, lease=lease))
        return await future

    async def _run(self, run: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T:
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._enqueue(_Job(run, future))
        return await future

    def _enqueue(self, job: Write | _Job | _Stop) -> None:
        if self._closed and not isinstance(job, _Stop):
            raise StoreUnavailable("the store is closed")
        if self._worker is None and not isinstance(job, _Stop):
            raise StoreUnavailable("the store is not open")
        self._jobs.append(job)
        self._wakeup.set()

    async def _work(self) -> None:
        while True:
            while not self._jobs:
                self._wakeup.clear()
                await self._wakeup.wait()
            job = self._jobs.popleft()
            if isinstance(job, _Stop):
                return
            if isinstance(job, _Job):
                await self._run_job(job)
                continue
            batch = [job]
            while self._jobs and isinstance(self._jobs[0], Write) and len(batch) < self._max_batch:
                batch.append(self._jobs.popleft())  # type: ignore[arg-type]
            await self._commit(batch)

    async def _run_job(self, job: _Job) -> None:
        assert self._db is not None
        try:
            result = await job.run(self._db)
        except StoreError as error:
            settle(job.future, error=error)
        except Exception as error:  # the worker must outlive any failure
            self._note_damage(error)
            log.error("store job failed: %s", error, exc_info=not _is_io(error))
            settle(job.future, error=StoreUnavailable(f"storage failure: {error}"))
        else:
            settle(job.future, result=result)

    async def _commit(self, batch: list[Write]) -> None:
        db = self._db
        assert db is not None
        try:
            await db.execute("BEGIN IMMEDIATE")
            current = await _fetch(db, {write.key for write in batch})
            result = apply(batch, current, self._revision)
            if result.changes:
                await _persist(db, result, self._clock.now())
            await db.execute("COMMIT")
        except Exception as error:  # the worker must outlive any failure
            await _rollback(db)
            self._note_damage(error)
            log.error(
                "commit of %d writes failed: %s", len(batch), error, exc_info=not _is_io(error)
            )
            failure = StoreUnavailable(f"storage failure: {error}")
            for write in batch:
                settle(write.future, error=failure)
            return
        for write, outcome in zip(batch, result.outcomes, strict=True):
            if isinstance(outcome, StoreError):
                settle(write.future, error=outcome)
            else:
                settle(write.future, result=outcome)
        # Settling only schedules the writers; the listener runs before any of them does, and
        # what it schedules in turn (the watch fan-out) runs after them.
        if result.changes:
            self._revision = result.changes[-1].revision
            self._stats.record_commit(len(result.changes))
            self._notify(result.changes)

    def _note_damage(self, error: Exception) -> None:
        """Remember that the file is damaged, once, loudly: every later write would fail too."""
        code = getattr(error, "sqlite_errorcode", None)
        # Extended result codes carry the primary one in their low byte.
        if self._damaged is None and code is not None and code & 0xFF in _DAMAGED_CODES:
            self._damaged = f"database {self.path!r} is damaged: {error}"
            log.error(
                "%s; the registry is no longer ready: restore the database from a backup",
                self._damaged,
            )

    def _notify(self, changes: Sequence[Change]) -> None:
        if self._listener is None:
            return
        try:
            self._listener(changes)
        except Exception:
            # A broken listener must not leave committed writers unanswered.
            log.exception("commit listener failed")


def objects_query(keys: int) -> str:
    """The query that reads ``keys`` objects by key (two parameters each)."""
    rows = ",".join("(?, ?)" for _ in range(keys))
    # A join, not ``(namespace, name) IN (VALUES ...)``: SQLite plans that as a scan of every
    # object, which made each commit cost time in proportion to the registry's size.
    return (
        f"SELECT o.namespace, o.name, o.value, o.revision FROM (VALUES {rows}) AS k"
        " JOIN objects AS o ON o.namespace = k.column1 AND o.name = k.column2"
    )


async def _fetch(db: aiosqlite.Connection, keys: set[ObjectKey]) -> dict[ObjectKey, Stored]:
    found: dict[ObjectKey, Stored] = {}
    ordered = list(keys)
    for start in range(0, len(ordered), _KEYS_PER_QUERY):
        chunk = ordered[start : start + _KEYS_PER_QUERY]
        params = [part for key in chunk for part in key]
        async with db.execute(objects_query(len(chunk)), params) as cursor:
            async for namespace, name, value, revision in cursor:
                found[ObjectKey(namespace, name)] = Stored(value, revision)
    return found


async def _persist(db: aiosqlite.Connection, result: BatchResult, now: float) -> None:
    await execute_rows(
        db,
        _INSERT_EVENTS,
        [
            (
                c.revision,
                c.type.value,
                c.key.namespace,
                c.key.name,
                c.value,
                # A deletion's previous value is its value: not stored twice.
                None if c.type is EventType.DELETED else c.prev_value,
                c.prev_revision,
                now,
            )
            for c in result.changes
        ],
        per_row=_INSERT_EVENT,
    )
    upserts = [
        (key.namespace, key.name, stored.value, stored.revision)
        for key, stored in result.final.items()
        if stored is not None
    ]
    deletes = [(key.namespace, key.name) for key, stored in result.final.items() if stored is None]
    if upserts:
        await execute_rows(db, _UPSERT_OBJECTS, upserts, per_row=_UPSERT_OBJECT)
    if deletes:
        await execute_rows(db, _DELETE_OBJECTS, deletes)
        await execute_rows(db, _DELETE_LEASES, deletes)
    if result.leases:
        rows = [(key.namespace, key.name, beat) for key, beat in result.leases.items()]
        await execute_rows(db, _UPSERT_LEASES, rows)
    await db.execute(
        "UPDATE meta SET value = ? WHERE key = 'revision'", (result.changes[-1].revision,)
    )


def _change_from_row(row: sqlite3.Row | tuple[Any, ...]) -> Change:
    revision, type_, namespace, name, value, prev_value, prev_revision = row
    kind = EventType(type_)
    if kind is EventType.DELETED:
        prev_value = value
    return Change(revision, kind, ObjectKey(namespace, name), value, prev_value, prev_revision)


async def _rollback(db: aiosqlite.Connection) -> None:
    try:
        await db.execute("ROLLBACK")
    except Exception:
        pass  # no transaction was open, or the connection is gone: nothing to undo


def _read_only_uri(path: str) -> str:
    return Path(path).absolute().as_uri() + "?mode=ro"


def _is_io(error: BaseException) -> bool:
    """Expected storage failures, logged without a traceback."""
    return isinstance(error, (sqlite3.Error, OSError))


def backup(database: str, destination: str) -> None:
    """A consistent copy of the SQLite file ``database`` at ``destination`` (a new file), made
    with SQLite's online backup API: a registry may be writing the file meanwhile."""
    if database == ":memory:":
        raise StoreUnavailable("an in-memory database has nothing to back up")
    target = Path(destination)
    if target.exists():
        raise StoreUnavailable(f"{destination} exists: give a new file")
    partial = target.with_name(target.name + ".partial")
    try:
        source = sqlite3.connect(_read_only_uri(database), uri=True)
    except sqlite3.Error as error:
        raise StoreUnavailable(f"cannot open database {database!r}: {error}") from error
    try:
        copy = sqlite3.connect(partial)
        try:
            source.backup(copy)
        finally:
            copy.close()
        with open(partial, "rb+") as written:
            os.fsync(written.fileno())
        os.replace(partial, target)  # whole or not at all
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
    except (sqlite3.Error, OSError) as error:
        partial.unlink(missing_ok=True)
        raise StoreUnavailable(f"backup of {database!r} failed: {error}") from error
    finally:
        source.close()
