"""Opens many SSE watches and records when each event arrives.

    python bench/sse_watchers.py URL WATCHERS EXPECTED

Prints ``READY`` once every watch has its initial state, then, after EXPECTED events on every
watch (or a timeout), one JSON object: {revision: [arrival times (epoch seconds)]}.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections import defaultdict
from urllib.parse import urlsplit

PATH = "/api/v1/agents?watch=true&capability=bench.watch"


async def watch(
    host: str, port: int, expected: int, ready: asyncio.Event, arrivals: dict[int, list[float]]
) -> None:
    """One watcher: a raw socket read in large chunks, so that the client costs little per
    event and the figures measure the registry (a line-by-line reader of 1,000 streams on the
    same 2 cores added tens of milliseconds of its own)."""
    reader, writer = await asyncio.open_connection(host, port)
    request = f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
    writer.write(request.encode())
    await reader.readuntil(b"\r\n\r\n")
    seen, initial, buffer = 0, True, b""
    while seen < expected:
        chunk = await reader.read(1 << 16)
        if not chunk:
            break
        arrived = time.time()
        buffer += chunk
        *frames, buffer = buffer.split(b"\r\n\r\n")
        for frame in frames:
            kind, revision = _head(frame)
            if kind == b"BOOKMARK" and initial:
                initial = False
                ready.set()
            elif kind in (b"ADDED", b"MODIFIED", b"DELETED") and not initial:
                arrivals[revision].append(arrived)
                seen += 1
    writer.close()


def _head(frame: bytes) -> tuple[bytes, int]:
    """The event type and revision (``id``) of one SSE frame (the chunked encoding's size
    lines, between frames, are skipped with the other lines)."""
    kind, revision = b"", 0
    for line in frame.split(b"\r\n"):
        if line.startswith(b"event: "):
            kind = line[7:]
        elif line.startswith(b"id: "):
            revision = int(line[4:])
    return kind, revision


async def main(url: str, watchers: int, expected: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    arrivals: dict[int, list[float]] = defaultdict(list)
    readies = [asyncio.Event() for _ in range(watchers)]
    tasks = [asyncio.create_task(watch(host, port, expected, r, arrivals)) for r in readies]
    await asyncio.gather(*(r.wait() for r in readies))
    print("READY", flush=True)
    if tasks:  # none: the writes alone, measured as the baseline
        await asyncio.wait(tasks, timeout=120)
    print(json.dumps({str(k): v for k, v in arrivals.items()}), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
