"""Many rows as one SQLite statement: batches within their bound, values through exactly, one
statement per batch (not per row) unless a batch is small and a per-row form is given, and what
cannot pass refused either way."""

from __future__ import annotations

import asyncio
import json
import math
from collections.abc import AsyncIterator
from pathlib import Path

import aiosqlite
import pytest

from mesh_registry.clock import ManualClock
from mesh_registry.model import EventType, ObjectKey
from mesh_registry.store import sqlite_rows
from mesh_registry.store.base import StoreUnavailable
from mesh_registry.store.sqlite import SQLiteStore
from mesh_registry.store.sqlite_rows import Row, execute_rows, json_batches, rows_of

ROW = ("default", "agent-1", 1.5)
ROW_CHARS = len('["default","agent-1",1.5]')  # 25


@pytest.mark.parametrize(
    ("rows", "limit", "sizes"),
    [
        ([], 100, []),
        ([ROW], 100, [1]),
        # Two rows take 1 + 2 * 26 characters: "[", each row, and a comma or "]" after it.
        ([ROW, ROW], 1 + 2 * (ROW_CHARS + 1), [2]),
        ([ROW, ROW], 2 * (ROW_CHARS + 1), [1, 1]),  # one character short
        ([ROW] * 5, 1 + 2 * (ROW_CHARS + 1), [2, 2, 1]),
        ([ROW, ("x" * 500,), ROW], 100, [1, 1, 1]),  # a longer row than the bound: alone
    ],
    ids=["none", "one", "at the bound", "one past", "several", "a row over the bound"],
)
def test_batches_hold_at_most_the_bound(rows: list[Row], limit: int, sizes: list[int]) -> None:
    batches = list(json_batches(rows, limit))
    assert [len(json.loads(batch)) for batch in batches] == sizes
    assert [tuple(row) for batch in batches for row in json.loads(batch)] == rows
    for batch, size in zip(batches, sizes, strict=True):
        assert len(batch) <= limit or size == 1


@pytest.mark.parametrize(
    "row",
    [("default", "a\x00b"), ("\x00",), ("default", math.nan), ("default", math.inf)],
    ids=["NUL in a text", "NUL alone", "NaN", "infinity"],
)
def test_what_cannot_pass_is_refused(row: Row) -> None:
    with pytest.raises(ValueError):
        list(json_batches([row]))


TEXTS = [
    "",
    '{"kind": "Agent", "metadata": {"name": "a"}}',
    'quote " backslash \\ slash / newline \n tab \t control \x01 \x1f',
    "é ü 中文 😀 \u2028 \u2029 \ufeff \uffff",
    "\\u0000 (six characters, not a NUL)",
]
NUMBERS = [0, -1, 2**62, 1_796_000_000.123456, 0.1, 1e-300, 1e300, -2.5]


@pytest.fixture
async def db() -> AsyncIterator[aiosqlite.Connection]:
    async with aiosqlite.connect(":memory:") as connection:
        await connection.execute("CREATE TABLE t (c0, c1, c2)")
        yield connection


async def test_values_pass_exactly_one_statement_per_batch(
    db: aiosqlite.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows: list[Row] = [
        (i, TEXTS[i % len(TEXTS)], NUMBERS[i % len(NUMBERS)] if i % 7 else None) for i in range(300)
    ]
    monkeypatch.setattr(sqlite_rows, "ROWS_CHARS", 2_000)
    statements: list[str] = []
    await db.set_trace_callback(statements.append)
    await execute_rows(db, rows_of(3) + "INSERT INTO t SELECT * FROM r", rows)
    await db.set_trace_callback(None)
    inserts = [sql for sql in statements if "INSERT" in sql]
    assert len(inserts) == len(list(json_batches(rows, 2_000))) > 1
    async with db.execute("SELECT c0, c1, c2 FROM t ORDER BY c0") as cursor:
        stored = [tuple(row) async for row in cursor]
    assert stored == rows
    assert [type(value) for row in stored for value in row] == [
        type(value) for row in rows for value in row
    ]


async def test_a_checkpoint_over_several_statements_keeps_every_lease(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_rows, "ROWS_CHARS", 1_000)
    keys = [ObjectKey("default", f"agent-{i}") for i in range(500)]
    store = SQLiteStore(str(tmp_path / "mesh.db"), clock=ManualClock(start=1000.0))
    await store.open()
    for key in keys:
        await store.create(key, "{}")
    await store.save_leases({key: 1000.0 + i / 7 for i, key in enumerate(keys)})
    await store.save_leases(dict.fromkeys(keys[:10], 1.0))  # older: ignored
    await store.delete(keys[0], None)
    await store.close()
    reopened = SQLiteStore(str(tmp_path / "mesh.db"))
    snapshot = await reopened.open()
    await reopened.close()
    assert snapshot.leases == {key: 1000.0 + i / 7 for i, key in enumerate(keys) if i > 0}


INSERT = rows_of(3) + "INSERT INTO t SELECT * FROM r"
INSERT_ONE = "INSERT INTO t VALUES (?, ?, ?)"


@pytest.mark.parametrize(("count", "statements"), [(1, 1), (9, 9), (10, 1), (40, 1)])
async def test_a_small_batch_goes_row_by_row_when_it_can(
    db: aiosqlite.Connection, monkeypatch: pytest.MonkeyPatch, count: int, statements: int
) -> None:
    monkeypatch.setattr(sqlite_rows, "PER_ROW_BELOW", 10)
    rows: list[Row] = [(i, TEXTS[i % len(TEXTS)], NUMBERS[i % len(NUMBERS)]) for i in range(count)]
    traced: list[str] = []
    await db.set_trace_callback(traced.append)
    await execute_rows(db, INSERT, rows, per_row=INSERT_ONE)
    await db.set_trace_callback(None)
    assert len([sql for sql in traced if "INSERT" in sql]) == statements
    async with db.execute("SELECT c0, c1, c2 FROM t ORDER BY c0") as cursor:
        assert [tuple(row) async for row in cursor] == rows


@pytest.mark.parametrize("count", [1, 200], ids=["row by row", "through JSON"])
async def test_a_nul_is_refused_whichever_way_the_rows_go(
    db: aiosqlite.Connection, count: int
) -> None:
    rows: list[Row] = [(i, "text", 1.0) for i in range(count - 1)] + [(count, "a\x00b", 1.0)]
    with pytest.raises(ValueError, match="NUL"):
        await execute_rows(db, INSERT, rows, per_row=INSERT_ONE)
    async with db.execute("SELECT count(*) FROM t") as cursor:
        assert await cursor.fetchone() == (0,)  # nothing of it written


async def test_a_large_batch_of_writes_is_stored_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch over the per-row bound (a mass expiry), through several JSON statements."""
    monkeypatch.setattr(sqlite_rows, "PER_ROW_BELOW", 4)
    monkeypatch.setattr(sqlite_rows, "ROWS_CHARS", 3_000)
    path = str(tmp_path / "mesh.db")
    keys = [ObjectKey("default", f"agent-{i}") for i in range(300)]
    values = {
        key: json.dumps({"n": i, "text": TEXTS[i % len(TEXTS)]}) for i, key in enumerate(keys)
    }
    store = SQLiteStore(path)
    await store.open()
    await asyncio.gather(*(store.create(key, value) for key, value in values.items()))
    await asyncio.gather(*(store.update(key, values[key] + " ", None) for key in keys[:200]))
    await asyncio.gather(*(store.delete(key, None) for key in keys[200:250]))
    history = await store.changes_since(0)
    await store.close()
    assert store.stats.commits <= 6  # the writes were batched, not one commit each
    assert [c.type for c in history] == (
        [EventType.ADDED] * 300 + [EventType.MODIFIED] * 200 + [EventType.DELETED] * 50
    )
    assert [c.value for c in history[300:500]] == [values[key] + " " for key in keys[:200]]
    assert [c.prev_value for c in history[300:500]] == [values[key] for key in keys[:200]]
    reopened = SQLiteStore(path)
    snapshot = await reopened.open()
    await reopened.close()
    expected = {key: values[key] + " " for key in keys[:200]} | {
        key: values[key] for key in keys[250:]
    }
    assert {record.key: record.value for record in snapshot.records} == expected
    assert snapshot.revision == 550


async def test_a_sqlite_without_json_functions_is_refused_at_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_rows, "PROBE", "SELECT no_such_json_function('[]')")
    store = SQLiteStore(str(tmp_path / "mesh.db"))
    with pytest.raises(StoreUnavailable, match="lacks the JSON functions"):
        await store.open()
    reopened = SQLiteStore(str(tmp_path / "mesh.db"))  # the lock was let go
    monkeypatch.undo()
    await reopened.open()
    await reopened.close()
