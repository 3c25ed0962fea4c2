"""Watchers that stop reading, against a real registry process.

Twenty SSE clients open a watch and never read again while 400 changes of 32 kB are written
(more than the kernel's socket buffers take: 4 MB at most).
The registry must end each of them once it falls a bounded number of events behind (so what it
holds for a watcher is bounded; the socket itself is closed after the send timeout), and go on
serving a watcher that does read: every change, in order, once. That watcher's lag without,
with, and after the stalled ones, and the registry's memory growth, are reported, not asserted
(bench/registry_http.py compares the lags as a benchmark).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from tests.support.processes import RegistryProcess, eventually, running_registry

STALLED = 20
WRITES = 400
QUEUE_LIMIT = 100
WATCH = "/api/v1/agents?watch=true&capability=stall.test"
TARGET = "/api/v1/namespaces/default/agents/stalled-target"
PADDING = "x" * 32_000  # each event about 33 kB: the sockets' buffers fill quickly


def body(n: int) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "stalled-target",
            "labels": {"n": str(n)},
            "annotations": {"example.com/padding": PADDING},
        },
        "spec": {
            "endpoint": "http://127.0.0.1:9/mcp",
            "healthInterval": 3600,
            "capabilities": [{"name": "stall.test"}],
        },
    }


@contextlib.contextmanager
def stalled_watchers(url: str, count: int) -> Iterator[list[socket.socket]]:
    """``count`` watches whose clients never read: tiny receive buffers, nothing consumed."""
    host, port = url.removeprefix("http://").split(":")
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            sock.sendall(f"GET {WATCH} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            sockets.append(sock)
        yield sockets
    finally:
        for sock in sockets:
            sock.close()


class Reader:
    """A watcher that reads: the revision and arrival time of every change it receives."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.received: list[tuple[int, float]] = []
        self.started = asyncio.Event()

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Reader]:
        task = asyncio.create_task(self._read())
        try:
            await asyncio.wait_for(self.started.wait(), 10)
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _read(self) -> None:
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=None) as client,
            client.stream("GET", WATCH) as response,
        ):
            revision = 0
            async for line in response.aiter_lines():
                if line.startswith("id: "):
                    revision = int(line[4:])
                elif line == "event: BOOKMARK":
                    self.started.set()
                elif line in ("event: ADDED", "event: MODIFIED") and self.started.is_set():
                    self.received.append((revision, time.time()))


async def write_all(url: str, writes: int) -> dict[int, float]:
    acknowledged = {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as api:
        for n in range(writes):
            response = await api.put(TARGET, json=body(n))
            assert response.status_code in (200, 201), response.text
            acknowledged[int(response.json()["metadata"]["resourceVersion"])] = time.time()
    return acknowledged


def metric(url: str, name: str) -> int:
    metrics = httpx.get(url + "/metrics").text
    found = re.search(rf"^{name} (\S+)$", metrics, re.M)
    assert found is not None, f"no metric {name}"
    return int(float(found.group(1)))


def watchers_open(url: str) -> int:
    return metric(url, "mesh_watchers")


def rss(registry: RegistryProcess) -> int:
    with open(f"/proc/{registry.process.pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmRSS:"))


async def lag_of(url: str, writes: int) -> tuple[list[float], list[int]]:
    """Write ``writes`` changes while a reader watches; its lags and the revisions it got."""
    async with Reader(url).running() as reader:
        acknowledged = await write_all(url, writes)
        last = max(acknowledged)
        await eventually(lambda: _has(reader, last), within=30)
    lags = [arrived - acknowledged[rev] for rev, arrived in reader.received if rev in acknowledged]
    return lags, [rev for rev, _ in reader.received if rev in acknowledged]


async def test_stalled_watchers_are_dropped_and_others_are_served(
    record_property: Callable[..., None],
) -> None:
    options = ("--db", ":memory:", "--watch-queue-limit", str(QUEUE_LIMIT))
    with running_registry(*options, "--watch-send-timeout", "1") as registry:
        await write_all(registry.url, 1)  # the target exists
        control, _ = await lag_of(registry.url, 200)
        memory_before = rss(registry)
        with stalled_watchers(registry.url, STALLED):
            await eventually(lambda: _watchers(registry.url, STALLED), within=10)
            lags, revisions = await lag_of(registry.url, WRITES)
            # Every change reached the reading watcher, in order, once.
            assert len(revisions) == WRITES
            assert revisions == sorted(set(revisions))
            # Each stalled one was ended once it fell QUEUE_LIMIT events behind: what is held
            # for a watcher is bounded. (The reader has finished too: no watch is left.)
            await eventually(lambda: _watchers(registry.url, 0), within=15)
            assert metric(registry.url, "mesh_watchers_dropped_total") == STALLED
            growth = rss(registry) - memory_before
            # Their clients are still connected, but they cost nothing any more.
            after, _ = await lag_of(registry.url, 200)
        figures = {
            "control_p99_ms": round(_p99(control) * 1000, 2),
            "with_stalled_p99_ms": round(_p99(lags) * 1000, 2),
            "after_they_were_dropped_p99_ms": round(_p99(after) * 1000, 2),
            "rss_growth_mib": round(growth / 2**20, 1),
        }
        record_property("stalled_watchers", figures)
        print(f"\n{STALLED} stalled watchers, {WRITES} writes: {figures}")


async def _has(reader: Reader, revision: int) -> bool:
    return any(rev == revision for rev, _ in reader.received)


async def _watchers(url: str, expected: int) -> bool:
    return await asyncio.to_thread(watchers_open, url) == expected


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
