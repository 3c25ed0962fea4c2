"""A fleet of simulated agents, each heartbeating at its interval.

    python bench/fleet.py URL NAMES_FILE --interval 10 --seconds 20 [--connections 32]
    python bench/fleet.py URL BODIES_FILE --register [--connections 64] [--blocks 10]

Unlike ``http_load.py``, which sends as fast as it can, the fleet *paces* its heartbeats: agent
``i`` beats at ``phase_i + k * interval`` (phases spread evenly), so the offered load is
``agents / interval`` per second, as a real fleet's. Each connection carries one request at a
time for its share of the agents; a heartbeat that cannot go out on time (the registry or the
generator saturated) goes out as soon as it can, and its lateness is recorded.

Prints one JSON object: sent, per_second, offered_per_second, p50_ms, p99_ms (latency),
late_p99_ms (due → sent), errors, generator_cpu_cores (its own CPU).

With ``--register``, the file holds one agent record (JSON) per line instead: each is
registered (PUT), then heartbeated once so that it is healthy; prints registered, seconds,
per_second, block_per_second (the rate in each of ``--blocks`` equal parts, registered one after
another), errors. Raw sockets, so that a fleet of 100k registers in seconds, not minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any
from urllib.parse import urlsplit


async def connection(
    host: str,
    port: int,
    names: list[str],
    offsets: list[float],
    interval: float,
    start: float,
    deadline: float,
    figures: dict[str, list[float]],
) -> None:
    requests = [
        f"POST /api/v1/namespaces/default/agents/{name}/heartbeat HTTP/1.1\r\n"
        f"Host: {host}\r\nContent-Length: 0\r\n\r\n".encode()
        for name in names
    ]
    reader, writer = await asyncio.open_connection(host, port)
    beat = 0
    try:
        while True:
            index = beat % len(requests)
            due = start + offsets[index] + (beat // len(requests)) * interval
            now = time.perf_counter()
            if due >= deadline or now >= deadline:  # a saturated fleet stops on time too
                return
            if due > now:
                await asyncio.sleep(due - now)
                now = time.perf_counter()
            figures["late"].append(now - due)
            status = await _exchange(reader, writer, requests[index])
            figures["latency"].append(time.perf_counter() - now)
            if status >= 400:
                figures["errors"].append(1.0)
            beat += 1
    finally:
        writer.close()


async def run(
    base: str, names: list[str], interval: float, seconds: float, connections: int
) -> dict[str, float]:
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    figures: dict[str, list[float]] = {"latency": [], "late": [], "errors": []}
    start = time.perf_counter() + 0.2
    deadline = start + seconds
    spacing = interval / len(names)
    # Agent i beats at i * spacing within each interval; connection c carries agents c, c+n, …
    shards = [
        (names[c::connections], [i * spacing for i in range(c, len(names), connections)])
        for c in range(min(connections, len(names)))
    ]
    await asyncio.gather(
        *(
            connection(host, port, shard, offsets, interval, start, deadline, figures)
            for shard, offsets in shards
        )
    )
    latency, late = sorted(figures["latency"]), sorted(figures["late"])
    return {
        # The generator's own CPU: near one core, it (not the registry) is the limit.
        "generator_cpu_cores": time.process_time() / seconds,
        "agents": len(names),
        "interval": interval,
        "sent": len(latency),
        "seconds": seconds,
        "per_second": len(latency) / seconds,
        "offered_per_second": len(names) / interval,
        "p50_ms": _at(latency, 0.50) * 1000,
        "p99_ms": _at(latency, 0.99) * 1000,
        "late_p99_ms": _at(late, 0.99) * 1000,
        "errors": len(figures["errors"]),
    }


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> int:
    writer.write(request)
    head = await reader.readuntil(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            await reader.readexactly(int(line[15:]))
    return int(head[9:12])


async def register(
    base: str, bodies: list[str], connections: int, blocks: int = 1
) -> dict[str, Any]:
    """PUT every record, then heartbeat each once: the fleet, registered and healthy. In
    ``blocks`` equal parts, each rate reported."""
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    errors: list[int] = []

    def put(body: str) -> bytes:
        name = json.loads(body)["metadata"]["name"]
        data = body.encode()
        return (
            f"PUT /api/v1/namespaces/default/agents/{name} HTTP/1.1\r\nHost: {host}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode() + data

    def beat(body: str) -> bytes:
        name = json.loads(body)["metadata"]["name"]
        return (
            f"POST /api/v1/namespaces/default/agents/{name}/heartbeat HTTP/1.1\r\n"
            f"Host: {host}\r\nContent-Length: 0\r\n\r\n"
        ).encode()

    async def one_connection(share: list[str]) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for body in share:  # each heartbeats at once: none waits for the others
                for make in (put, beat):
                    status = await _exchange(reader, writer, make(body))
                    if status >= 400:
                        errors.append(status)
        finally:
            writer.close()

    # In blocks, one after another: whether registering stays as fast as the registry grows.
    size = -(-len(bodies) // blocks)
    rates = []
    started = time.perf_counter()
    for first in range(0, len(bodies), size):
        block = bodies[first : first + size]
        block_started = time.perf_counter()
        await asyncio.gather(*(one_connection(block[c::connections]) for c in range(connections)))
        rates.append(len(block) / (time.perf_counter() - block_started))
    elapsed = time.perf_counter() - started
    return {
        "registered": len(bodies),
        "seconds": elapsed,
        "per_second": len(bodies) / elapsed,
        "block_per_second": rates,
        "errors": len(errors),
    }


def _at(ordered: list[float], fraction: float) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))] if ordered else 0.0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("names")
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--register", action="store_true", help="NAMES is records: register")
    parser.add_argument("--blocks", type=int, default=1, help="with --register: rate per part")
    options = parser.parse_args()
    with open(options.names) as file:
        lines = [line.strip() for line in file if line.strip()]
    if options.register:
        result = asyncio.run(register(options.base, lines, options.connections, options.blocks))
    else:
        result = asyncio.run(
            run(options.base, lines, options.interval, options.seconds, options.connections)
        )
    print(json.dumps(result), flush=True)
