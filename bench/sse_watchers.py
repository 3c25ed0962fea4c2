"""Opens many SSE watches and records when each event arrives.

    python bench/sse_watchers.py URL WATCHERS EXPECTED

Prints ``READY`` once every watch has its initial state, then, after EXPECTED events on every
watch (or a timeout), one JSON object: {revision: [arrival times (epoch seconds)]}.

The watches are plain non-blocking sockets read from one ``selectors`` loop, each read in one
large chunk: this client costs a few microseconds per event per watch, so the figures measure
the registry. (An asyncio stream per watch cost 20-40 µs per event per watch: at 1,000
watches on the same 2 cores, the client, not the registry, set the lag of the last one.)
"""

from __future__ import annotations

import json
import selectors
import socket
import sys
import time
from collections import defaultdict
from urllib.parse import urlsplit

PATH = "/api/v1/agents?watch=true&capability=bench.watch"
TIMEOUT = 120.0  # after READY: whatever has not arrived by then is reported missing


class Watch:
    """One watch's connection and what it has read."""

    __slots__ = ("buffer", "headers_read", "initial", "seen", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""
        self.headers_read = False
        self.initial = True  # until the BOOKMARK that ends the initial state
        self.seen = 0


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


def main(url: str, watchers: int, expected: int) -> None:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    request = f"GET {PATH} HTTP/1.1\r\nHost: {host}\r\nAccept: text/event-stream\r\n\r\n"
    selector = selectors.DefaultSelector()
    for _ in range(watchers):
        sock = socket.create_connection((host, port))
        sock.sendall(request.encode())
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, Watch(sock))
    arrivals: dict[int, list[float]] = defaultdict(list)
    waiting_initial, open_watches = watchers, watchers
    deadline = None if watchers else time.monotonic()
    if not watchers:  # none: the writes alone, measured as the baseline
        print("READY", flush=True)
    while open_watches and (deadline is None or time.monotonic() < deadline):
        for key, _ in selector.select(timeout=1.0):
            watch: Watch = key.data
            chunk = watch.sock.recv(1 << 16)
            arrived = time.time()
            if not chunk:
                selector.unregister(watch.sock)
                watch.sock.close()
                open_watches -= 1
                continue
            buffer = watch.buffer + chunk
            if not watch.headers_read:
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    watch.buffer = buffer
                    continue
                watch.headers_read, buffer = True, buffer[end + 4 :]
            *frames, watch.buffer = buffer.split(b"\r\n\r\n")
            for frame in frames:
                kind, revision = _head(frame)
                if kind == b"BOOKMARK" and watch.initial:
                    watch.initial = False
                    waiting_initial -= 1
                    if not waiting_initial:
                        print("READY", flush=True)
                        deadline = time.monotonic() + TIMEOUT
                elif kind in (b"ADDED", b"MODIFIED", b"DELETED") and not watch.initial:
                    arrivals[revision].append(arrived)
                    watch.seen += 1
            if watch.seen >= expected and not watch.initial:
                selector.unregister(watch.sock)
                watch.sock.close()
                open_watches -= 1
    print(json.dumps({str(k): v for k, v in arrivals.items()}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
