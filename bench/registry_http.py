"""The registry over HTTP, against a real `mcp-mesh-registry` process.

    python bench/registry_http.py [--quick]

Figures (table, and bench/results/registry_http.json):

- heartbeats/s over keep-alive HTTP from a separate load process, and, in the same run, a bare
  Starlette app answering 200 on the same path, served the same way: the ceiling. The ratio is
  the figure to compare across machines.
- watch lag (write sent → event received, and from the write's acknowledgement, which an event
  can precede) p50/p99 with 1, 100 and 1,000 SSE watchers,
  and with 1 watcher while 100 others have stopped reading (ratios to 1 alone and to 100
  watchers that read).
- discovery p50/p99 over HTTP with 10,000 agents (capability + label selector).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    after_acknowledgement,
    command_line,
    cpu_seconds,
    cpu_share,
    print_table,
    ratio,
    shown,
    shown_cpu,
    summary_ms,
    wrk,
    wrk_figures,
)
from bench.registry_core import QUERY, agent  # noqa: E402
from tests.support.processes import RegistryProcess, wait_until  # noqa: E402

BENCH = Path(__file__).resolve().parent
STALLED = 100
WRK_CONNECTIONS = 64
WATCH_PATH = "/api/v1/agents?watch=true&capability=bench.watch"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def load(
    base: str,
    lines: list[str],
    connections: int,
    seconds: float,
    headers: Mapping[str, str] = MappingProxyType({}),
) -> dict[str, Any]:
    """Run the load generator in its own process; return its figures."""
    command = [
        *(sys.executable, str(BENCH / "http_load.py"), base, "{paths}"),
        *("--connections", str(connections), "--seconds", str(seconds)),
        *(item for k, v in headers.items() for item in ("--header", f"{k}: {v}")),
    ]
    result: dict[str, Any] = json.loads(_run_on_lines(command, lines))
    return result


def wrk_load(
    base: str, lines: list[str], connections: int, seconds: float
) -> dict[str, Any] | None:
    """The same load from wrk (a C load generator, two threads), when it is installed: the
    Python generator shares the CPU with the server it measures, wrk much less."""
    command = wrk("heartbeats.lua", base, connections, seconds, "{paths}")
    if command is None:
        return None
    paths = [line.split(" ", 1)[1] for line in lines]  # wrk's script takes paths alone
    return wrk_figures(_run_on_lines(command, paths))


def _run_on_lines(command: list[str], lines: list[str]) -> str:
    """Run ``command`` with ``{paths}`` standing for a file of ``lines``; its output."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as paths:
        paths.write("\n".join(lines))
    try:
        arguments = [paths.name if word == "{paths}" else word for word in command]
        return subprocess.run(arguments, capture_output=True, text=True, check=True, env=ENV).stdout
    finally:
        os.unlink(paths.name)


async def register(
    url: str, count: int, interval: float, headers: Mapping[str, str] = MappingProxyType({})
) -> list[str]:
    """Register ``count`` agents and bring them to healthy; return their names."""
    rng = random.Random(3)
    names = []
    async with httpx.AsyncClient(base_url=url, timeout=60, headers=headers) as api:
        bodies = [agent(i, rng) for i in range(count)]
        for body in bodies:
            body["spec"]["healthInterval"] = interval
        for start in range(0, count, 500):
            batch = bodies[start : start + 500]
            responses = await asyncio.gather(
                *(
                    api.put(f"/api/v1/namespaces/default/agents/{b['metadata']['name']}", json=b)
                    for b in batch
                )
            )
            assert all(r.status_code in (200, 201) for r in responses)
            names += [b["metadata"]["name"] for b in batch]
        # A first heartbeat moves each agent from pending to healthy: a write. Do them now, so
        # that the measured load is the steady state, where heartbeats write nothing.
        for start in range(0, count, 500):
            await asyncio.gather(
                *(
                    api.post(f"/api/v1/namespaces/default/agents/{name}/heartbeat")
                    for name in names[start : start + 500]
                )
            )
    return names


def heartbeat_ceiling(connections: int, seconds: float) -> dict[str, Any]:
    """The bare route under the Python generator, and (``wrk`` key) under wrk if installed."""
    port = _free_port()
    bare = subprocess.Popen([sys.executable, str(BENCH / "bare_app.py"), str(port)], env=ENV)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _answers(base), 30)
        lines = [f"POST /api/v1/namespaces/default/agents/a{i}/heartbeat" for i in range(100)]
        return {
            **load(base, lines, connections, seconds),
            "wrk": wrk_load(base, lines, WRK_CONNECTIONS, seconds),
        }
    finally:
        bare.terminate()
        bare.wait()


def _answers(base: str) -> bool:
    try:
        httpx.post(base + "/api/v1/namespaces/default/agents/a/heartbeat")
    except httpx.TransportError:
        return False
    return True


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def last_of(lag: dict[str, Any]) -> str:
    """Per write, until the last watcher received it: the p99 from the acknowledgement (what
    goal 2 of docs/PERFORMANCE.md measures) and from the send."""
    value, whole = lag["last_after_ack_p99_ms"], lag["writes_all_received"]
    if value is None:
        return f"no write reached all {lag['watchers']:,} watchers"
    sign = "after" if value >= 0 else "before"
    return (
        f"p99 {abs(value):.2f} ms {sign} the acknowledgement,"
        f" {lag['last_after_send_p99_ms']:.2f} ms after the send"
        f"  ({whole}/{lag['writes']} writes reached all)"
    )


def watched(n: int) -> dict[str, Any]:
    """The ``n``-th version of the agent the watch-lag watchers follow."""
    return {
        "metadata": {"name": "watched", "labels": {"n": str(n)}},
        "spec": {
            "endpoint": "http://127.0.0.1:9/mcp",
            "healthInterval": 3600,
            "capabilities": [{"name": "bench.watch"}],
        },
    }


async def watch_lag(
    url: str, watchers: int, writes: int, write_url: str | None = None, pid: int | None = None
) -> dict[str, Any]:
    """Acknowledged write → event received, over ``watchers`` SSE streams on ``url``; the
    writes go to ``write_url`` (another replica), or to ``url``. With the registry's ``pid``,
    also the CPU it spent while the writes were sent and fanned out (``cpu_s``)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(BENCH / "sse_watchers.py"),
        url,
        str(watchers),
        str(writes),
        stdout=asyncio.subprocess.PIPE,
        env=ENV,
        limit=64 * 1024 * 1024,  # the report is one long line
    )
    assert process.stdout is not None
    assert (await process.stdout.readline()).strip() == b"READY"
    cpu_before = cpu_seconds(pid) if pid is not None else 0.0
    sent: dict[int, float] = {}
    acknowledged: dict[int, float] = {}
    async with httpx.AsyncClient(base_url=write_url or url) as api:
        target = "/api/v1/namespaces/default/agents/watched"
        for n in range(writes):
            started = time.time()
            response = await api.put(target, json=watched(n))
            revision = int(response.json()["metadata"]["resourceVersion"])
            sent[revision], acknowledged[revision] = started, time.time()
            await asyncio.sleep(0.02)
    arrivals = json.loads(await process.stdout.readline())
    cpu = cpu_seconds(pid) - cpu_before if pid is not None else None
    await process.wait()

    def lags(since: dict[int, float]) -> list[float]:
        return [
            arrived - since[int(revision)]
            for revision, times in arrivals.items()
            if int(revision) in since
            for arrived in times
        ]

    delivered = sum(len(times) for times in arrivals.values())
    # From the writer's send: never negative. From its acknowledgement (what a client can
    # rely on): an event may reach a watcher before the writer has read its answer, so this
    # one can be negative on one machine.
    after_ack = summary_ms(lags(acknowledged))
    # Goal 2's measure: per write, until the last of the watchers has it. Only writes
    # every watcher received count; how many did is said beside it.
    reached_all = {int(r): max(times) for r, times in arrivals.items() if len(times) == watchers}
    last = [arrived - acknowledged[r] for r, arrived in reached_all.items() if r in acknowledged]
    last_from_send = [arrived - sent[r] for r, arrived in reached_all.items() if r in sent]
    # The write's own latency: what the fan-out to these watchers adds to it, if anything.
    write = summary_ms([acknowledged[r] - sent[r] for r in acknowledged])
    return {
        "watchers": watchers,
        "writes": writes,
        "delivered": delivered,
        **summary_ms(lags(sent)),
        "after_ack_p50_ms": after_ack["p50_ms"],
        "after_ack_p99_ms": after_ack["p99_ms"],
        "last_after_ack_p99_ms": summary_ms(last)["p99_ms"] if last else None,
        "last_after_send_p99_ms": summary_ms(last_from_send)["p99_ms"] if last else None,
        "writes_all_received": len(last),
        "write_p50_ms": write["p50_ms"],
        "write_p99_ms": write["p99_ms"],
        "cpu_s": cpu,
    }


@contextlib.contextmanager
def stalled_watchers(url: str, count: int) -> Iterator[None]:
    """``count`` watches on the benchmark's capability whose clients never read."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, port))
            sock.sendall(f"GET {WATCH_PATH} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            sockets.append(sock)
        yield
    finally:
        for sock in sockets:
            sock.close()


async def discovery_over_http(url: str, queries: int) -> dict[str, Any]:
    samples, matches = [], 0
    params = {"capability": QUERY["capability"], "labelSelector": QUERY["selector"]}
    async with httpx.AsyncClient(base_url=url) as api:
        for _ in range(queries):
            started = time.perf_counter()
            response = await api.get("/api/v1/discover", params=params)
            samples.append(time.perf_counter() - started)
            matches = len(response.json()["items"])
    return {**summary_ms(samples), "matches": matches}


async def main(quick: bool) -> dict[str, Any]:
    seconds = 2.0 if quick else 5.0
    connections = 16
    agents = 2_000 if quick else 10_000
    watcher_counts = (1, 100) if quick else (1, 100, 1000)
    results: dict[str, Any] = {"mode": "quick" if quick else "full"}
    results["ceiling"] = heartbeat_ceiling(connections, seconds)
    with tempfile.TemporaryDirectory() as directory:
        registry = RegistryProcess(
            "--port",
            "0",
            "--db",
            str(Path(directory) / "bench.db"),
            "--sync",
            "normal",
            "--max-connections",
            "5000",  # 1,000 watchers, 100 stalled ones and the load generator's connections
        ).wait_ready()
        try:
            names = await register(registry.url, agents, interval=600)
            lines = [f"POST /api/v1/namespaces/default/agents/{n}/heartbeat" for n in names]
            results["heartbeats"] = load(registry.url, lines, connections, seconds)
            results["heartbeats"]["wrk"] = wrk_load(registry.url, lines, WRK_CONNECTIONS, seconds)
            results["heartbeat_ratio"] = (
                results["heartbeats"]["per_second"] / results["ceiling"]["per_second"]
            )
            if results["heartbeats"]["wrk"] and results["ceiling"]["wrk"]:
                by_wrk, ceiling_by_wrk = results["heartbeats"]["wrk"], results["ceiling"]["wrk"]
                results["heartbeat_ratio_wrk"] = by_wrk["per_second"] / ceiling_by_wrk["per_second"]
                results["heartbeat_p99_ratio_wrk"] = by_wrk["p99_ms"] / ceiling_by_wrk["p99_ms"]
            results["discovery"] = {
                "agents": agents,
                **(await discovery_over_http(registry.url, 200 if quick else 1000)),
            }
            pid = registry.process.pid
            writes = 50 if quick else 100
            # The writes alone (no watcher), before and after: what the fan-out figures are net
            # of, and how much that moves by itself.
            before = await watch_lag(registry.url, 0, writes, pid=pid)
            results["watch_lag"] = [
                await watch_lag(registry.url, count, writes, pid=pid) for count in watcher_counts
            ]
            after = await watch_lag(registry.url, 0, writes, pid=pid)
            alone = (before["cpu_s"], after["cpu_s"])
            results["writes_alone_cpu_s"] = alone
            for lag in results["watch_lag"]:
                lag["fan_out_cpu"] = cpu_share(
                    lag["cpu_s"], alone, lag["delivered"], "event per watcher"
                )
            with stalled_watchers(registry.url, STALLED):
                results["watch_lag_stalled"] = {
                    "stalled": STALLED,
                    **(await watch_lag(registry.url, 1, 50 if quick else 100)),
                }
            stalled_p99 = results["watch_lag_stalled"]["p99_ms"]
            results["stalled_ratio"] = ratio(stalled_p99, results["watch_lag"][0]["p99_ms"])
            # Against as many watchers that do read: what a stalled one costs over a live one.
            reading = next(lag for lag in results["watch_lag"] if lag["watchers"] == STALLED)
            results["stalled_to_reading_ratio"] = ratio(stalled_p99, reading["p99_ms"])
        finally:
            registry.stop()
        results["heartbeats_with_tokens"] = await authenticated_heartbeats(
            Path(directory), agents, connections, seconds
        )
    results["tokens_ratio"] = (
        results["heartbeats_with_tokens"]["per_second"] / results["heartbeats"]["per_second"]
    )
    return results


async def authenticated_heartbeats(
    directory: Path, agents: int, connections: int, seconds: float
) -> dict[str, Any]:
    """The same heartbeat load on a registry with a tokens file: each request authenticated,
    authorized and checked for ownership."""
    tokens = directory / "tokens.json"
    secret = "bench-token-0123456789abcdef"
    tokens.write_text(
        json.dumps(
            {"tokens": [{"subject": "bench", "token": secret, "namespaces": {"default": "agent"}}]}
        )
    )
    registry = RegistryProcess(
        *("--port", "0", "--db", str(directory / "tokens.db"), "--sync", "normal"),
        *("--tokens-file", str(tokens)),
    ).wait_ready()
    headers = {"Authorization": f"Bearer {secret}"}
    try:
        names = await register(registry.url, agents, interval=600, headers=headers)
        lines = [f"POST /api/v1/namespaces/default/agents/{n}/heartbeat" for n in names]
        return load(registry.url, lines, connections, seconds, headers)
    finally:
        registry.stop()


def report(results: dict[str, Any]) -> None:
    hb, ceiling, discovery = results["heartbeats"], results["ceiling"], results["discovery"]
    rows = [
        (
            "heartbeats/s over HTTP",
            f"{hb['per_second']:,.0f}  (p50 {hb['p50_ms']:.2f} ms, p99 {hb['p99_ms']:.2f} ms,"
            f" {hb['errors']} errors)",
        ),
        (
            "bare Starlette 200/s (ceiling)",
            f"{ceiling['per_second']:,.0f}  (p50 {ceiling['p50_ms']:.2f} ms)",
        ),
        ("heartbeat / ceiling", f"{results['heartbeat_ratio']:.2f}"),
        *_wrk_rows(results),
        (
            "heartbeats/s with tokens",
            f"{results['heartbeats_with_tokens']['per_second']:,.0f}"
            f"  ({results['tokens_ratio']:.2f} of without;"
            f" {results['heartbeats_with_tokens']['errors']} errors)",
        ),
        (
            f"discovery p50/p99 ({discovery['agents']:,} agents)",
            f"{discovery['p50_ms']:.2f} / {discovery['p99_ms']:.2f} ms"
            f"  ({discovery['matches']} matches)",
        ),
    ]
    for lag in results["watch_lag"]:
        expected = lag["watchers"] * lag["writes"]
        rows.append(
            (
                f"watch lag p50/p99 ({lag['watchers']:,}"
                f" watcher{'' if lag['watchers'] == 1 else 's'}), from the send",
                f"{lag['p50_ms']:.2f} / {lag['p99_ms']:.2f} ms"
                f"  ({lag['delivered']:,}/{expected:,} events;"
                f" {after_acknowledgement(lag)}; {shown_cpu(lag['fan_out_cpu'])})",
            )
        )
        if lag["watchers"] > 1:
            rows.append((f"  acknowledged → last of {lag['watchers']:,} received", last_of(lag)))
        rows.append(
            (
                f"  the write (PUT) itself, {lag['watchers']:,} watching",
                f"p50 {lag['write_p50_ms']:.2f} ms, p99 {lag['write_p99_ms']:.2f} ms",
            )
        )
    stalled = results["watch_lag_stalled"]
    rows.append(
        (
            f"watch lag p50/p99 (1 watcher, {stalled['stalled']} stalled)",
            f"{stalled['p50_ms']:.2f} / {stalled['p99_ms']:.2f} ms"
            f"  ({shown(results['stalled_ratio'], '1 alone')},"
            f" {shown(results['stalled_to_reading_ratio'], f'{STALLED} reading')})",
        )
    )
    print_table(f"registry over HTTP ({results['mode']})", rows)


def _wrk_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    if "heartbeat_ratio_wrk" not in results:
        return [("heartbeats from wrk", "not measured: wrk is not installed (apt install wrk)")]
    by_wrk, ceiling = results["heartbeats"]["wrk"], results["ceiling"]["wrk"]
    return [
        (
            f"heartbeats/s from wrk ({WRK_CONNECTIONS} connections)",
            f"{by_wrk['per_second']:,.0f}  (p50 {by_wrk['p50_ms']:.2f} ms,"
            f" p99 {by_wrk['p99_ms']:.2f} ms, {by_wrk['errors']} errors)",
        ),
        (
            "bare Starlette 200/s from wrk",
            f"{ceiling['per_second']:,.0f}  (p99 {ceiling['p99_ms']:.2f} ms)",
        ),
        (
            "heartbeat / ceiling, from wrk",
            f"{results['heartbeat_ratio_wrk']:.2f}; p99"
            f" {results['heartbeat_p99_ratio_wrk']:.2f}x the ceiling's",
        ),
    ]


if __name__ == "__main__":
    command_line("registry_http", __doc__ or "", main, report)
