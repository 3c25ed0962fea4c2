"""The SQLite store: compare-and-swap, group commit, history, compaction, durability."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

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
    SQLiteStore,
    StoreUnavailable,
)
from mesh_registry.store import sqlite as sqlite_module

K = ObjectKey("default", "a")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    s = SQLiteStore(str(tmp_path / "mesh.db"))
    await s.open()
    yield s
    await s.close()


async def test_create_update_delete_with_compare_and_swap(store: SQLiteStore) -> None:
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


async def test_group_commit_of_1000_concurrent_writes(store: SQLiteStore) -> None:
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


async def test_a_batch_applies_writes_in_order(store: SQLiteStore) -> None:
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


async def test_state_and_revision_survive_restart(tmp_path: Path) -> None:
    path = str(tmp_path / "mesh.db")
    first = SQLiteStore(path)
    await first.open()
    await first.create(K, "1")
    await first.create(ObjectKey("ns", "b"), "2")
    await first.delete(K, None)
    await first.close()

    second = SQLiteStore(path)
    snapshot = await second.open()
    assert snapshot.revision == 3
    assert [(r.key, r.value, r.revision) for r in snapshot.records] == [
        (ObjectKey("ns", "b"), "2", 2)
    ]
    await second.delete(ObjectKey("ns", "b"), None)
    await second.close()

    # Deleting everything never winds the counter back.
    third = SQLiteStore(path)
    snapshot = await third.open()
    assert (snapshot.revision, list(snapshot.records)) == (4, [])
    assert (await third.create(K, "again")).revision == 5
    await third.close()


async def test_history_and_compaction_by_count(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "mesh.db"), retention=Retention(max_age=3600, max_events=10))
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
    reopened = SQLiteStore(str(tmp_path / "mesh.db"))
    assert (await reopened.open()).compacted_revision == 15
    with pytest.raises(Compacted):
        await reopened.changes_since(0)
    await reopened.close()


async def test_compaction_by_age(tmp_path: Path) -> None:
    clock = ManualClock(start=1000.0)
    store = SQLiteStore(
        str(tmp_path / "mesh.db"), retention=Retention(max_age=60, max_events=1000), clock=clock
    )
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


async def test_large_compaction_runs_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_module, "_COMPACTION_CHUNK", 7)
    store = SQLiteStore(str(tmp_path / "mesh.db"), retention=Retention(max_events=5))
    await store.open()
    await asyncio.gather(*(store.create(ObjectKey("d", f"a{i}"), "{}") for i in range(40)))
    assert await store.compact() == 35
    assert len(await store.changes_since(35)) == 5
    await store.close()


async def test_leases_are_checkpointed_without_revisions(
    store: SQLiteStore, tmp_path: Path
) -> None:
    b = ObjectKey("default", "b")
    await store.create(K, "{}")
    await store.create(b, "{}")
    await store.save_leases({K: 1234.5, b: 99.0, ObjectKey("default", "gone"): 1.0})
    await store.save_leases({K: 2000.0})
    await store.delete(b, None)
    assert store.revision == 3
    assert store.stats.lease_checkpoints == 2
    await store.close()
    reopened = SQLiteStore(str(tmp_path / "mesh.db"))
    snapshot = await reopened.open()
    # Only leases of existing objects are kept, with their latest time.
    assert snapshot.leases == {K: 2000.0}
    await reopened.close()


async def test_a_second_registry_cannot_open_the_same_file(store: SQLiteStore) -> None:
    with pytest.raises(StoreUnavailable, match="in use by another registry"):
        await SQLiteStore(store.path).open()


async def test_unwritable_path_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="cannot open database") as caught:
        await SQLiteStore(str(tmp_path / "no" / "such" / "dir" / "mesh.db")).open()
    assert "mesh.db" in str(caught.value)


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "mesh.db"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version=99")
    with pytest.raises(StoreUnavailable, match="schema version 99"):
        await SQLiteStore(str(path)).open()


async def test_closed_store_refuses_writes(tmp_path: Path) -> None:
    store = SQLiteStore(str(tmp_path / "mesh.db"))
    await store.open()
    await store.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        await store.create(K, "{}")


async def test_memory_database(tmp_path: Path) -> None:
    store = SQLiteStore(":memory:")
    await store.open()
    await store.create(K, "{}")
    assert [c.revision for c in await store.changes_since(0)] == [1]
    await store.close()


async def test_failed_commit_answers_every_writer_and_keeps_the_revision(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.create(K, "{}")
    seen: list[Change] = []
    store.set_commit_listener(seen.extend)

    async def broken(*args: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(sqlite_module, "_persist", broken)
    results = await asyncio.gather(
        *(store.create(ObjectKey("default", f"x{i}"), "{}") for i in range(5)),
        return_exceptions=True,
    )
    assert all(isinstance(r, StoreUnavailable) for r in results)
    assert store.revision == 1
    assert seen == []
    monkeypatch.undo()
    # The store keeps working, and nothing of the failed batch was half-applied.
    assert (await store.create(ObjectKey("default", "x0"), "{}")).revision == 2
    assert [c.revision for c in await store.changes_since(0)] == [1, 2]


async def test_a_cancelled_caller_does_not_cancel_its_write(store: SQLiteStore) -> None:
    task = asyncio.create_task(store.create(K, "{}"))
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # The write was queued before the caller gave up: it commits all the same.
    assert [c.key for c in await store.changes_since(0)] == [K]


def test_sigkill_mid_storm_loses_no_acknowledged_write(tmp_path: Path) -> None:
    path = str(tmp_path / "mesh.db")
    writer = Path(__file__).with_name("crash_writer.py")
    for round_ in range(3):
        acked = _run_and_kill(writer, path, f"r{round_}", kill_after=300 + 200 * round_)
        assert acked, "the writer acknowledged nothing before it was killed"
        _check_durable(path, acked)


def _run_and_kill(
    writer: Path, path: str, prefix: str, kill_after: int
) -> dict[str, tuple[str, int]]:
    process = subprocess.Popen(
        [sys.executable, str(writer), path, prefix],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    assert process.stdout is not None
    acked: dict[str, tuple[str, int]] = {}
    try:
        for line in process.stdout:
            if line.startswith("ACK"):
                _, kind, name, revision = line.split()
                acked[name] = (kind, int(revision))
                if len(acked) >= kill_after:
                    break
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
        process.stdout.close()
    return acked


def _check_durable(path: str, acked: dict[str, tuple[str, int]]) -> None:
    async def check() -> None:
        store = SQLiteStore(path)
        snapshot = await store.open()
        records = {r.key.name: r for r in snapshot.records}
        for name, (kind, revision) in acked.items():
            assert name in records, f"acknowledged {kind} of {name} was lost"
            # Acknowledged at `revision`; it may have been updated since, never rolled back.
            assert records[name].revision >= revision
            if kind == "update":
                assert '"updated": true' in records[name].value
        assert snapshot.revision >= max(revision for _, revision in acked.values())
        history = await store.changes_since(0)
        assert [c.revision for c in history] == list(range(1, snapshot.revision + 1))
        await store.close()

    asyncio.run(check())
