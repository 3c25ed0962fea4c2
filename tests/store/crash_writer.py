"""Writes through the store as fast as it can, printing each acknowledged write.

Run by the crash test, which kills it with SIGKILL mid-storm:
``python crash_writer.py DB PREFIX`` (PREFIX keeps names unique across runs on one file).
Each line is ``ACK <kind> <name> <revision>`` and is printed only after the store answered.
"""

from __future__ import annotations

import asyncio
import sys

from mesh_registry.model import ObjectKey
from mesh_registry.store import SQLiteStore

WRITERS = 32


async def writer(store: SQLiteStore, prefix: str, worker: int) -> None:
    n = 0
    while True:
        key = ObjectKey("default", f"{prefix}-w{worker}-{n}")
        change = await store.create(key, f'{{"n": {n}}}')
        print(f"ACK create {key.name} {change.revision}", flush=True)
        change = await store.update(key, f'{{"n": {n}, "updated": true}}', change.revision)
        print(f"ACK update {key.name} {change.revision}", flush=True)
        n += 1


async def main(path: str, prefix: str) -> None:
    store = SQLiteStore(path)
    snapshot = await store.open()
    print(f"OPEN {snapshot.revision}", flush=True)
    await asyncio.gather(*(writer(store, prefix, w) for w in range(WRITERS)))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
