"""A small HTTP/1.1 load generator: keep-alive connections, one request in flight on each.

    python bench/http_load.py URL_BASE PATHS_FILE --connections 32 --seconds 5 [--header H]

PATHS_FILE holds one ``METHOD path`` per line; connections cycle through them. Prints one JSON
object: requests, seconds, per_second, p50_ms, p99_ms, errors. Raw sockets, so that the
generator costs far less per request than the server it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from urllib.parse import urlsplit


async def connection(
    host: str,
    port: int,
    requests: list[bytes],
    deadline: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    index = 0
    try:
        while time.perf_counter() < deadline:
            request = requests[index % len(requests)]
            index += 1
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head[9:12])
            length = 0
            for line in head.split(b"\r\n"):
                if line[:15].lower() == b"content-length:":
                    length = int(line[15:])
            if length:
                await reader.readexactly(length)
            latencies.append(time.perf_counter() - started)
            if status >= 400:
                errors.append(status)
    finally:
        writer.close()


def build(host: str, lines: list[str], headers: Sequence[str]) -> list[bytes]:
    extra = "".join(f"{header}\r\n" for header in headers)
    requests = []
    for line in lines:
        method, path = line.split(" ", 1)
        requests.append(
            f"{method} {path} HTTP/1.1\r\nHost: {host}\r\n{extra}Content-Length: 0\r\n\r\n".encode()
        )
    return requests


async def run(
    base: str, lines: list[str], connections: int, seconds: float, headers: Sequence[str] = ()
) -> dict[str, float]:
    parts = urlsplit(base)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    requests = build(host, lines, headers)
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    deadline = started + seconds
    shards = [requests[i::connections] or requests for i in range(connections)]
    await asyncio.gather(
        *(connection(host, port, shard, deadline, latencies, errors) for shard in shards)
    )
    elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "requests": len(latencies),
        "seconds": elapsed,
        "per_second": len(latencies) / elapsed,
        "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
        "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
        "errors": len(errors),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("base")
    parser.add_argument("paths")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--header", action="append", default=[], help="e.g. 'Authorization: …'")
    options = parser.parse_args()
    with open(options.paths) as file:
        lines = [line.strip() for line in file if line.strip()]
    result = asyncio.run(
        run(options.base, lines, options.connections, options.seconds, options.header)
    )
    print(json.dumps(result), flush=True)
