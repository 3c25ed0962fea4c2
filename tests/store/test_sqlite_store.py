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

from mesh_registry.model import ObjectKey
from mesh_registry.store import (
    Change,
    Retention,
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


@pytest.mark.parametrize("keys", [1, 2, 250])
async def test_a_commit_reads_its_objects_by_primary_key_not_by_scan(
    store: SQLiteStore, keys: int
) -> None:
    # A scan would make every commit cost time in proportion to the registry's size.
    with sqlite3.connect(store.path) as db:
        plan = [
            row[3]
            for row in db.execute(
                "EXPLAIN QUERY PLAN " + sqlite_module.objects_query(keys), ["default", "a"] * keys
            )
        ]
    assert not [step for step in plan if step.startswith("SCAN o")], plan
    assert "SEARCH o USING PRIMARY KEY (namespace=? AND name=?)" in plan, plan


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
