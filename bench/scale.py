"""The registry under a fleet: N agents heartbeating at their intervals, watchers, discovery.

    python bench/scale.py [--quick]

For N agents (10k and 100k; 2k in a quick run) registered in one registry process, and each
heartbeat interval (1 s, 10 s, 30 s), a separate process (``fleet.py``) heartbeats for every
agent at its interval (offered load N / interval per second) while, in the same window,
M SSE watchers follow a capability that is written four times a second and discovery queries
(capability + label selector, about 0.1% of the agents match) run ten times a second.
First the fleet registers, in ten blocks one after another (the rate in each: registering
should not slow as the registry grows), and reads run one at a time on the idle registry
(discovery, selector lists with a limit; p50/p99 beside ``/readyz`` as their floor; the kinds
take turns over seven rounds; medians over the rounds, with the p99's range). Then, figures per
scenario:

- heartbeats/s achieved against offered, heartbeat latency p50/p99 and how late the fleet had
  to send them (p99): where achieved falls behind offered, the registry is saturated;
- discovery latency p99, watch lag p99 (write acknowledged → event received);
- the registry process's CPU (cores busy, and CPU per heartbeat), RSS (and per agent, over the
  empty registry's), and bytes written to disk (per heartbeat; /proc/PID/io).

CPU and disk per heartbeat are the heartbeats' own: each size first runs a window without the
fleet (watchers, writes and discovery only), and that background is subtracted. Across
intervals they show how the cost grows with the number of agents: a heartbeat touches memory
only, so it should stay flat until the registry saturates.
Writes bench/results/scale.json.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import command_line, print_table, summary_ms  # noqa: E402
from bench.registry_core import QUERY, agent  # noqa: E402
from bench.registry_http import watched  # noqa: E402
from tests.support.processes import RegistryProcess  # noqa: E402

BENCH = Path(__file__).resolve().parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
WATCHED = "/api/v1/namespaces/default/agents/watched"
# Records say 600 s: beating more often is allowed, and no agent expires in any scenario, nor
# while 100k of them register (an expiry is a write and an event, which would blur the figures).
RECORD_INTERVAL = 600.0
WRITES_PER_SECOND = 4
DISCOVERIES_PER_SECOND = 10
# The core benchmark's query, narrowed to about 0.1% of the agents (10 at 10k, 100 at 100k):
# what a consumer asks for. Its full result (1% of 100k) would make the benchmark measure
# JSON encoding of megabytes, in the registry and in this process alike.
SELECTOR = QUERY["selector"] + ",zone in (zone-1,zone-2,zone-3)"


class ProcessStats:
    """CPU, memory and disk writes of one process, from /proc (Linux)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.ticks = os.sysconf("SC_CLK_TCK")

    def sample(self) -> dict[str, float]:
        with open(f"/proc/{self.pid}/stat") as file:
            fields = file.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / self.ticks  # utime + stime
        with open(f"/proc/{self.pid}/status") as file:
            rss = next(int(line.split()[1]) * 1024 for line in file if line.startswith("VmRSS:"))
        with open(f"/proc/{self.pid}/io") as file:
            io = dict(line.split(": ") for line in file.read().splitlines())
        return {
            "time": time.monotonic(),
            "cpu": cpu,
            "rss": float(rss),
            "written": float(io["write_bytes"]),
        }


async def fleet(url: str, names_file: str, interval: float, seconds: float) -> dict[str, Any]:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, str(BENCH / "fleet.py"), url, names_file),
        *("--interval", str(interval), "--seconds", str(seconds), "--connections", "128"),
        stdout=asyncio.subprocess.PIPE,
        env=ENV,
    )
    output, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError("the fleet failed")
    result: dict[str, Any] = json.loads(output)
    return result


async def watchers_ready(url: str, watchers: int, writes: int) -> asyncio.subprocess.Process:
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, str(BENCH / "sse_watchers.py"), url, str(watchers), str(writes)),
        stdout=asyncio.subprocess.PIPE,
        env=ENV,
        limit=64 * 1024 * 1024,  # the report is one long line
    )
    assert process.stdout is not None
    if (await process.stdout.readline()).strip() != b"READY":
        raise RuntimeError("the watchers did not start")
    return process


async def paced_writes(api: httpx.AsyncClient, writes: int) -> dict[int, float]:
    acknowledged: dict[int, float] = {}
    for n in range(writes):
        response = await api.put(WATCHED, json=watched(n))
        acknowledged[int(response.json()["metadata"]["resourceVersion"])] = time.time()
        await asyncio.sleep(1 / WRITES_PER_SECOND)
    return acknowledged


async def paced_discovery(api: httpx.AsyncClient, seconds: float) -> list[float]:
    params = {"capability": QUERY["capability"], "labelSelector": SELECTOR}
    samples = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = await api.get("/api/v1/discover", params=params)
        response.raise_for_status()
        samples.append(time.perf_counter() - started)
        await asyncio.sleep(max(0.0, 1 / DISCOVERIES_PER_SECOND - samples[-1]))
    return samples


async def register_fleet(url: str, agents: int, names_file: Path) -> dict[str, Any]:
    """Register ``agents`` records (the core benchmark's) through the fleet process, and
    write their names to ``names_file``."""
    records = _write_fleet(agents, names_file)
    process = await asyncio.create_subprocess_exec(
        *(sys.executable, str(BENCH / "fleet.py"), url, str(records), "--register"),
        *("--connections", "64", "--blocks", "10"),
        stdout=asyncio.subprocess.PIPE,
        env=ENV,
    )
    output, _ = await process.communicate()
    result: dict[str, Any] = json.loads(output)
    if process.returncode != 0 or result["errors"]:
        raise RuntimeError(f"registering the fleet failed: {result}")
    return result


# Reads right after registration, one at a time (no other load), against the cheapest route
# on the same server and client as their floor: what the registry's size adds.
READS = {
    "readyz (floor)": ("/readyz", {}),
    "discovery, capability + selector (0.1%)": (
        "/api/v1/discover",
        {"capability": QUERY["capability"], "labelSelector": SELECTOR},
    ),
    "list, common selector, limit 100": (
        "/api/v1/agents",
        {"labelSelector": QUERY["selector"], "limit": "100"},
    ),
    "list, rare selector (0.4%), limit 100": (
        "/api/v1/agents",
        {"labelSelector": "zone=zone-7,env=dev,tier=gold", "limit": "100"},
    ),
}
# A p99 of a few hundred reads on a shared 2-core machine moves by 2-3x from one minute to the
# next, so the kinds take turns, in rounds, and the figures are the medians over the rounds with
# the p99's range beside them.
READ_SAMPLES = 300
READ_ROUNDS = 7


async def read_latencies(url: str) -> dict[str, Any]:
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in READS}
    items: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=url, timeout=60) as api:
        for _ in range(READ_ROUNDS):
            for name, (path, params) in READS.items():
                samples = []
                for _ in range(READ_SAMPLES):
                    started = time.perf_counter()
                    response = await api.get(path, params=params)
                    samples.append(time.perf_counter() - started)
                    response.raise_for_status()
                rounds[name].append(summary_ms(samples))
                items[name] = len(response.json().get("items") or []) if path != "/readyz" else 0
    return {
        name: _over_rounds(summaries) | {"items": items[name]} for name, summaries in rounds.items()
    }


def _over_rounds(summaries: list[dict[str, float]]) -> dict[str, Any]:
    p99s = [summary["p99_ms"] for summary in summaries]
    return {
        "p50_ms": statistics.median(summary["p50_ms"] for summary in summaries),
        "p99_ms": statistics.median(p99s),
        "p99_range_ms": [min(p99s), max(p99s)],
        "rounds": len(summaries),
        "samples": sum(int(summary["samples"]) for summary in summaries),
    }


def _write_fleet(agents: int, names_file: Path) -> Path:
    rng = random.Random(3)
    bodies = [agent(i, rng) for i in range(agents)]
    for body in bodies:
        body["spec"]["healthInterval"] = RECORD_INTERVAL
    records = names_file.with_suffix(".jsonl")
    records.write_text("\n".join(json.dumps(body) for body in bodies))
    names_file.write_text("\n".join(body["metadata"]["name"] for body in bodies))
    return records


async def idle_fleet(seconds: float) -> dict[str, Any]:
    await asyncio.sleep(seconds)
    return {"sent": 0, "per_second": 0.0}


async def scenario(
    registry: RegistryProcess,
    names_file: str,
    agents: int,
    interval: float | None,
    seconds: float,
    watchers: int,
    empty_rss: float,
) -> dict[str, Any]:
    """One window of load; ``interval`` ``None``: watchers, writes and discovery only (the
    baseline the heartbeats' own cost is measured against)."""
    seconds = max(seconds, interval or 0)  # every agent beats at least once
    writes = int(seconds * WRITES_PER_SECOND * 0.8)  # done before the fleet is
    stats = ProcessStats(registry.process.pid)
    watching = await watchers_ready(registry.url, watchers, writes)
    async with httpx.AsyncClient(base_url=registry.url, timeout=60) as api:
        before = stats.sample()
        load, acknowledged, discovery = await asyncio.gather(
            fleet(registry.url, names_file, interval, seconds)
            if interval is not None
            else idle_fleet(seconds),
            paced_writes(api, writes),
            paced_discovery(api, seconds),
        )
        after = stats.sample()
    assert watching.stdout is not None
    arrivals = json.loads(await watching.stdout.readline())
    await watching.wait()
    lags = [
        arrived - acknowledged[int(revision)]
        for revision, times in arrivals.items()
        if int(revision) in acknowledged
        for arrived in times
    ]
    elapsed = after["time"] - before["time"]
    cpu = after["cpu"] - before["cpu"]
    beats = max(1, load["sent"])
    return {
        "agents": agents,
        "interval": interval,
        "heartbeats": load,
        "discovery": summary_ms(discovery),
        "watch_lag": {**summary_ms(lags), "watchers": watchers, "writes": writes},
        "registry": {
            "seconds": elapsed,
            "cpu_seconds": cpu,
            "written_bytes": after["written"] - before["written"],
            "cpu_cores": cpu / elapsed,
            "cpu_us_per_heartbeat_all_in": cpu / beats * 1e6,
            "rss_mb": after["rss"] / 2**20,
            "rss_kb_per_agent": (after["rss"] - empty_rss) / agents / 1024,
            "disk_bytes_per_heartbeat_all_in": (after["written"] - before["written"]) / beats,
        },
    }


async def main(quick: bool) -> dict[str, Any]:
    sizes = (2_000,) if quick else (10_000, 100_000)
    intervals = (1.0, 10.0) if quick else (1.0, 10.0, 30.0)
    seconds = 4.0 if quick else 15.0
    watchers = 10 if quick else 100
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "scenarios": []}
    for agents in sizes:
        with tempfile.TemporaryDirectory(dir=BENCH / "results") as directory:
            # A disk, not tmpfs, so that the bytes written are real (default sync: full).
            registry = RegistryProcess(
                "--port", "0", "--db", str(Path(directory) / "scale.db")
            ).wait_ready()
            try:
                empty_rss = ProcessStats(registry.process.pid).sample()["rss"]
                names_file = Path(directory) / "names.txt"
                registration = await register_fleet(registry.url, agents, names_file)
                registration["agents"] = agents
                registration["rss_mb"] = ProcessStats(registry.process.pid).sample()["rss"] / 2**20
                registration["reads"] = await read_latencies(registry.url)
                results.setdefault("registration", []).append(registration)
                print(_registration_line(registration), flush=True)
                baseline = await scenario(
                    registry, str(names_file), agents, None, seconds, watchers, empty_rss
                )
                results.setdefault("baselines", []).append(baseline)
                for interval in intervals:
                    figures = await scenario(
                        registry, str(names_file), agents, interval, seconds, watchers, empty_rss
                    )
                    _marginal(figures, baseline)
                    results["scenarios"].append(figures)
                    print(_line(figures), flush=True)
            finally:
                registry.stop()
    return results


def _marginal(figures: dict[str, Any], baseline: dict[str, Any]) -> None:
    """What the heartbeats themselves cost: the scenario less the baseline's background load
    (watchers, writes, discovery) over the same time."""
    mine, base = figures["registry"], baseline["registry"]
    beats = max(1, figures["heartbeats"]["sent"])
    scale = mine["seconds"] / base["seconds"]
    mine["heartbeat_cpu_us"] = (mine["cpu_seconds"] - base["cpu_seconds"] * scale) / beats * 1e6
    mine["heartbeat_disk_bytes"] = (mine["written_bytes"] - base["written_bytes"] * scale) / beats


def _line(figures: dict[str, Any]) -> str:
    load, registry = figures["heartbeats"], figures["registry"]
    return (
        f"{figures['agents']:>7,} agents every {figures['interval']:>4g} s:"
        f" {load['per_second']:>7,.0f}/s of {load['offered_per_second']:>7,.0f}/s offered"
        f" (generator {load.get('generator_cpu_cores', float('nan')):.2f} cores),"
        f" p99 {load['p99_ms']:.1f} ms, late p99 {load['late_p99_ms']:.0f} ms;"
        f" registry {registry['cpu_cores']:.2f} cores,"
        f" {registry['heartbeat_cpu_us']:.0f} us CPU/heartbeat,"
        f" {registry['rss_mb']:.0f} MB ({registry['rss_kb_per_agent']:.1f} kB/agent),"
        f" disk {registry['written_bytes'] / registry['seconds'] / 1024:.0f} kB/s;"
        f" discovery p99 {figures['discovery']['p99_ms']:.1f} ms,"
        f" watch lag p99 {figures['watch_lag']['p99_ms']:.1f} ms"
    )


def _registration_line(figures: dict[str, Any]) -> str:
    blocks = figures["block_per_second"]
    reads = "; ".join(
        f"{name} p50 {read['p50_ms']:.2f} / p99 {read['p99_ms']:.2f} ms"
        f" ({read['p99_range_ms'][0]:.2f}-{read['p99_range_ms'][1]:.2f})"
        for name, read in figures["reads"].items()
    )
    return (
        f"{figures['agents']:,} agents registered at {figures['per_second']:,.0f}/s"
        f" (first tenth {blocks[0]:,.0f}/s, last {blocks[-1]:,.0f}/s:"
        f" {blocks[-1] / blocks[0]:.2f}x), {figures['rss_mb']:.0f} MB; {reads}"
    )


def report(results: dict[str, Any]) -> None:
    for registration in results.get("registration", []):
        print(_registration_line(registration))
    rows = [
        (f"{s['agents']:,} agents, every {s['interval']:g} s", _line(s).split(":", 1)[1].strip())
        for s in results["scenarios"]
    ]
    print_table("Scale: a fleet against one registry (same run)", rows)


if __name__ == "__main__":
    command_line("scale", __doc__ or "", main, report)
