"""The storage contract, held by both stores alike: SQLite (one process) and PostgreSQL
(replicas). Compare-and-swap, group commit, history, compaction, leases, shared secrets,
durability across a reopen."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mesh_registry.clock import ManualClock
from mesh_registry.model import EventType, ObjectKey
from mesh_registry.store import (
    Change,
    Compacted,
    KeyExists,
    KeyNotFound,
    Retention,
    RevisionMismatch,
    Store,
    StoreUnavailable,
    open_store,
)
from tests.support.postgres import fresh_database
from tests.support.processes import eventually

K = ObjectKey("default", "a")


@dataclass(frozen=True)
class Backend:
    name: str
    database: str  # a file, or a PostgreSQL connection string

    def store(self, **options: Any) -> Store:
        """A store on the same data each time (to reopen it)."""
        return open_store(self.database, **options)


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    if request.param == "sqlite":
        yield Backend("sqlite", str(tmp_path / "mesh.db"))
        return
    with fresh_database() as dsn:
        yield Backend("postgres", dsn)


@pytest.fixture
async def store(backend: Backend) -> AsyncIterator[Store]:
    opened = backend.store()
    await opened.open()
    yield opened
    await opened.close()


async def test_create_update_delete_with_compare_and_swap(store: Store) -> None:
    created = await store.create(K, '{"v": 1}')
    assert (created.revision, created.type, created.prev_value) == (1, EventType.ADDED, None)
    with pytest.raises(KeyExists):
        await store.create(K, '{"v": 2}')
    updated = await store.update(K, '{"v": 2}', expected_revision=1)
    assert (updated.revision, updated.prev_value, updated.prev_revision) == (2, '{"v": 1}', 1)
    with pytest.raises(RevisionMismatch) as stale:
        await store.update(K, '{"v": 3}', expected_revision=1)
    assert (stale.value.expected, stale.value.actual) == (1, 2)
    unconditional = await store.update(K, '{"v": 3}', expected_revision=None)
    assert unconditional.revision == 3
    with pytest.raises(RevisionMismatch):
        await store.delete(K, expected_revision=2)
    deleted = await store.delete(K, expected_revision=3)
    assert (deleted.type, deleted.value, deleted.prev_revision) == (
        EventType.DELETED,
        '{"v": 3}',
        3,
    )
    with pytest.raises(KeyNotFound):
        await store.update(K, "{}", expected_revision=None)
    with pytest.raises(KeyNotFound):
        await store.delete(K, expected_revision=None)
    # Failed preconditions consumed no revision.
    assert store.revision == 4


async def test_group_commit_of_1000_concurrent_writes(store: Store) -> None:
    seen: list[Change] = []
    store.set_commit_listener(seen.extend)
    keys = [ObjectKey("default", f"agent-{i}") for i in range(1000)]
    changes = await asyncio.gather(*(store.create(k, f'{{"i": {i}}}') for i, k in enumerate(keys)))

    revisions = [c.revision for c in changes]
    assert sorted(revisions) == list(range(1, 1001))  # unique, no gaps
    assert [c.revision for c in seen] == list(range(1, 1001))  # listener saw them in order
    history = await store.changes_since(0)
    assert [c.revision for c in history] == list(range(1, 1001))
    assert {c.key for c in history} == set(keys)
    # Concurrent writes shared transactions.
    assert store.stats.writes == 1000
    assert store.stats.commits < 100
    assert store.stats.largest_batch > 1


async def test_a_batch_applies_writes_in_order(store: Store) -> None:
    other = ObjectKey("default", "b")
    results = await asyncio.gather(
        store.create(K, "1"),
        store.update(K, "2", expected_revision=1),
        store.create(K, "dup"),  # fails: exists by now
        store.update(K, "3", expected_revision=1),  # fails: stale
        store.create(other, "x"),
        store.delete(K, expected_revision=2),
        store.create(K, "4"),
        return_exceptions=True,
    )
    assert [type(r).__name__ if isinstance(r, Exception) else r.revision for r in results] == [
        1,
        2,
        "KeyExists",
        "RevisionMismatch",
        3,
        4,
        5,
    ]
    history = await store.changes_since(0)
    assert [(c.type, c.value, c.prev_value) for c in history] == [
        (EventType.ADDED, "1", None),
        (EventType.MODIFIED, "2", "1"),
        (EventType.ADDED, "x", None),
        (EventType.DELETED, "2", "2"),
        (EventType.ADDED, "4", None),
    ]
    assert store.stats.commits == 1


async def test_state_and_revision_survive_restart(backend: Backend) -> None:
    first = backend.store()
    await first.open()
    await first.create(K, "1")
    await first.create(ObjectKey("ns", "b"), "2")
    await first.delete(K, None)
    await first.close()

    second = backend.store()
    snapshot = await second.open()
    assert snapshot.revision == 3
    assert [(r.key, r.value, r.revision) for r in snapshot.records] == [
        (ObjectKey("ns", "b"), "2", 2)
    ]
    await second.delete(ObjectKey("ns", "b"), None)
    await second.close()

    # Deleting everything never winds the counter back.
    third = backend.store()
    snapshot = await third.open()
    assert (snapshot.revision, list(snapshot.records)) == (4, [])
    assert (await third.create(K, "again")).revision == 5
    await third.close()


async def test_history_and_compaction_by_count(backend: Backend) -> None:
    store = backend.store(retention=Retention(max_age=3600, max_events=10))
    await store.open()
    for i in range(25):
        await store.create(ObjectKey("default", f"a{i}"), "{}")
    assert await store.compact() == 15
    assert store.compacted_revision == 15
    assert [c.revision for c in await store.changes_since(15)] == list(range(16, 26))
    assert [c.revision for c in await store.changes_since(20, until=22)] == [21, 22]
    with pytest.raises(Compacted) as gone:
        await store.changes_since(14)
    assert (gone.value.requested, gone.value.compacted) == (14, 15)
    await store.close()
    # Compaction is durable too.
    reopened = backend.store()
    assert (await reopened.open()).compacted_revision == 15
    with pytest.raises(Compacted):
        await reopened.changes_since(0)
    await reopened.close()


async def test_compaction_by_age(backend: Backend) -> None:
    clock = ManualClock(start=1000.0)
    store = backend.store(retention=Retention(max_age=60, max_events=1000), clock=clock)
    await store.open()
    for i in range(3):
        await store.create(ObjectKey("default", f"old{i}"), "{}")
    clock.advance(50)
    for i in range(2):
        await store.create(ObjectKey("default", f"new{i}"), "{}")
    assert await store.compact() == 0  # nothing is older than 60 s yet
    clock.advance(20)  # the first three are 70 s old, the last two 20 s
    assert await store.compact() == 3
    assert [c.revision for c in await store.changes_since(3)] == [4, 5]
    await store.close()


async def test_leases_are_checkpointed_without_revisions(store: Store, backend: Backend) -> None:
    b = ObjectKey("default", "b")
    await store.create(K, "{}")
    await store.create(b, "{}")
    await store.save_leases({K: 1234.5, b: 99.0, ObjectKey("default", "gone"): 1.0})
    await store.save_leases({K: 2000.0})
    await store.save_leases({K: 1500.0})  # older than the saved time: ignored
    await store.delete(b, None)
    assert store.revision == 3
    assert store.stats.lease_checkpoints == 3
    await store.close()
    reopened = backend.store()
    snapshot = await reopened.open()
    # Only leases of existing objects are kept, with their latest time.
    assert snapshot.leases == {K: 2000.0}
    await reopened.close()


async def test_a_write_saves_its_lease_in_its_own_transaction(
    store: Store, backend: Backend
) -> None:
    b, c = ObjectKey("default", "b"), ObjectKey("default", "c")
    for key in (K, b, c):
        await store.create(key, "{}")
    await store.save_leases({c: 500.0})
    await asyncio.gather(
        store.update(K, "revived", None, lease=100.0),
        store.update(b, "revived", None, lease=200.0),
        store.delete(b, None),  # in the same batch: its lease goes with it
        store.update(c, "revived", None, lease=50.0),  # older than the saved one: kept
        store.update(K, "again", None),  # no lease: the saved one stays
    )
    await store.close()
    reopened = backend.store()
    snapshot = await reopened.open()
    assert snapshot.leases == {K: 100.0, c: 500.0}
    assert {record.key: record.value for record in snapshot.records}[K] == "again"
    await reopened.close()


async def test_closed_store_refuses_writes(backend: Backend) -> None:
    store = backend.store()
    await store.open()
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.create(K, "{}")


async def test_a_cancelled_caller_does_not_cancel_its_write(store: Store) -> None:
    task = asyncio.create_task(store.create(K, "{}"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The write was queued before the caller gave up: it commits all the same.

    async def committed() -> bool:
        await store.sync()
        return [c.key for c in await store.changes_since(0)] == [K]

    await eventually(committed, within=5)


async def test_a_shared_secret_is_made_once_and_kept(backend: Backend) -> None:
    first = backend.store()
    await first.open()
    key = await first.secret("call-token-key")
    assert len(key) == 32
    assert await first.secret("call-token-key") == key
    assert await first.secret("another") != key
    await first.close()
    reopened = backend.store()
    await reopened.open()
    assert await reopened.secret("call-token-key") == key  # tokens outlive a restart
    await reopened.close()


async def test_sync_of_a_lone_process_has_nothing_to_deliver(store: Store) -> None:
    seen: list[Change] = []
    store.set_commit_listener(seen.extend)
    await store.create(K, "{}")
    assert len(seen) == 1
    assert await store.sync() == store.revision == 1
    assert len(seen) == 1
