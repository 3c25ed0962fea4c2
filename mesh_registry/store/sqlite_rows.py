"""Many rows in one SQLite statement: the rows as one JSON parameter, not a statement per row.

``executemany`` steps its statement once per row, and Python's ``sqlite3`` lets go of the GIL
around each step and takes it back after. Beside a busy event loop each take waits for the loop
to let go, so a lease checkpoint of 10,000 rows took 29 s of wall time and 0.39 s of CPU, and
interrupted the loop 10,000 times; as one statement over a JSON array of the rows it took
0.06 s and 0.03 s (``docs/PERFORMANCE.md``, sixth round).

A statement reads its rows from the common table expression ``rows_of(n)`` names ``r``, with
columns ``c0`` … ``c{n-1}``, as ``execute_rows`` binds them. Values are JSON texts, names and
numbers; a text that holds a NUL character cannot pass through SQLite's JSON functions (nor
be stored by PostgreSQL), and is refused.

Rows that carry records (1-2 kB of text) cost SQLite more through JSON, which it parses once per
column read from a row: a batch of 64 events took 1.9 ms that way against 0.5 ms bound row by
row, and 7.1 ms against 5.8 ms beside a busy thread. Of 1,000 events: 21 ms against 5.3 ms, but
44 ms against 3,073 ms beside the busy thread. So a statement may also be given one row at a
time (``per_row``), and a batch of fewer than ``PER_ROW_BELOW`` rows uses it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence

import aiosqlite

from mesh_registry.store.base import StoreUnavailable

Row = Sequence[str | int | float | None]

# Characters of JSON per statement: far below SQLite's limit on a value (1e9 bytes), and a bound
# on what one statement holds in memory twice (the text, and SQLite's parse of it).
ROWS_CHARS = 4 << 20
PER_ROW_BELOW = 128

# What the statements need of SQLite: its JSON functions (built in since 3.38, an extension
# compiled into most builds before). Run once when a store opens, to refuse a build without them.
PROBE = "SELECT json_extract(value, '$[0]') FROM json_each('[[1]]')"

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


async def require_json_functions(db: aiosqlite.Connection) -> None:
    """``StoreUnavailable``, in one line, if this SQLite lacks the functions ``PROBE`` needs."""
    try:
        async with db.execute(PROBE) as cursor:
            await cursor.fetchall()
    except sqlite3.OperationalError as error:
        raise StoreUnavailable(
            f"SQLite {sqlite3.sqlite_version} lacks the JSON functions the registry needs"
            f" ({error}): use a build with them (built in since SQLite 3.38)"
        ) from None


def rows_of(columns: int) -> str:
    """``WITH r(c0, …)``: the rows of the statement's JSON parameter, ``columns`` each."""
    names = ", ".join(f"c{i}" for i in range(columns))
    picks = ", ".join(f"json_extract(value, '$[{i}]')" for i in range(columns))
    return f"WITH r({names}) AS (SELECT {picks} FROM json_each(?1)) "


def json_batches(rows: Sequence[Row], limit: int = ROWS_CHARS) -> Iterator[str]:
    """``rows`` as JSON arrays of rows, each of at most ``limit`` characters unless one row
    alone is longer. ``ValueError`` for a text with a NUL character, or a number that is not
    finite."""
    batch: list[str] = []
    size = 1  # the brackets, with the commas counted per row
    for row in rows:
        _refuse_nul(row)
        text = _encode(row)
        if batch and size + len(text) + 1 > limit:
            yield f"[{','.join(batch)}]"
            batch, size = [], 1
        batch.append(text)
        size += len(text) + 1
    if batch:
        yield f"[{','.join(batch)}]"


async def execute_rows(
    db: aiosqlite.Connection, statement: str, rows: Sequence[Row], per_row: str | None = None
) -> None:
    """Run ``statement`` (which begins with :func:`rows_of`) over ``rows``; or ``per_row``, the
    same for one row's values as parameters, once per row when they are few."""
    if per_row is not None and len(rows) < PER_ROW_BELOW:
        for row in rows:
            _refuse_nul(row)  # as through JSON: whatever the size of the batch
        await db.executemany(per_row, rows)
        return
    for batch in json_batches(rows, ROWS_CHARS):
        await db.execute(statement, (batch,))


def _refuse_nul(row: Row) -> None:
    for value in row:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("a stored text cannot hold a NUL character")
