"""Registry core, in process: heartbeats/s, discovery latency, group commit.

    python bench/registry_core.py [--quick]

Figures (printed as a table and written to bench/results/registry_core.json):

- heartbeats/s with 10,000 healthy agents, through ``Registry.renew``;
- discovery p50/p99 for a capability + label selector query at 10,000 and 100,000 agents;
- registration throughput with group commit (concurrent registrations) against one commit per
  write (the same registrations, each awaited before the next), on a file with
  ``synchronous=FULL``, in the same run: the ratio is the figure to compare across machines.
"""

from __future__ import annotations

import asyncio
import gc
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import command_line, print_table, summary_ms
from mesh_registry.config import RegistryConfig
from mesh_registry.memory import configure_collector
from mesh_registry.query import AgentQuery
from mesh_registry.service import Registry

CAPABILITIES = [f"svc{i:03}.op" for i in range(100)]
QUERY = {"selector": "env=prod,tier in (gold,silver)", "capability": "svc007.op"}


def agent(i: int, rng: random.Random) -> dict[str, Any]:
    provided = rng.sample(CAPABILITIES, rng.randint(1, 3))
    if i % 50 == 0:
        provided = [QUERY["capability"], *(c for c in provided if c != QUERY["capability"])]
    return {
        "metadata": {
            "name": f"agent-{i:06}",
            "labels": {
                "env": rng.choice(["prod", "staging", "dev"]),
                "tier": rng.choice(["gold", "silver", "bronze"]),
                "zone": f"zone-{rng.randint(0, 25)}",
            },
        },
        "spec": {
            "endpoint": f"http://10.{i // 65536}.{i // 256 % 256}.{i % 256}:9000/mcp",
            # Longer than populating 100k agents takes: none may expire before its first beat.
            "healthInterval": 600,
            "capabilities": [
                {
                    "name": name,
                    "version": f"1.{rng.randint(0, 9)}.{rng.randint(0, 9)}",
                    "tags": rng.sample(["fast", "gpu", "eu", "cheap"], rng.randint(0, 2)),
                    "inputSchema": {"type": "object", "properties": {"q": {"type": "string"}}},
                }
                for name in provided
            ],
        },
    }


async def populate(registry: Registry, count: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    bodies = [agent(i, rng) for i in range(count)]
    for start in range(0, count, 2000):
        await asyncio.gather(*(registry.create(b) for b in bodies[start : start + 2000]))
    await asyncio.gather(*(registry.renew("default", b["metadata"]["name"]) for b in bodies))


async def heartbeats_per_second(registry: Registry, count: int, seconds: float) -> dict[str, Any]:
    names = [f"agent-{i:06}" for i in range(count)]
    commits_before = registry.stats().store.commits
    done = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for name in names:
            await registry.renew("default", name)
        done += len(names)
    elapsed = time.perf_counter() - started
    return {
        "agents": count,
        "heartbeats": done,
        "per_second": done / elapsed,
        "commits_during": registry.stats().store.commits - commits_before,
    }


async def discovery_latency(registry: Registry, queries: int) -> dict[str, Any]:
    samples = []
    found = 0
    for _ in range(queries):
        started = time.perf_counter()
        result = await registry.discover(
            AgentQuery(capabilities=(QUERY["capability"],), selector=QUERY["selector"])
        )
        samples.append(time.perf_counter() - started)
        found = len(result)
    return {**summary_ms(samples), "matches": found}


async def registration_throughput(directory: Path, count: int) -> dict[str, Any]:
    rng = random.Random(11)
    bodies = [agent(i, rng) for i in range(count)]
    config = RegistryConfig(database=str(directory / "group.db"), synchronous="full")
    async with Registry(config) as registry:
        started = time.perf_counter()
        await asyncio.gather(*(registry.create(b) for b in bodies))
        grouped = count / (time.perf_counter() - started)
        grouped_commits = registry.stats().store.commits
    config = RegistryConfig(database=str(directory / "serial.db"), synchronous="full")
    async with Registry(config) as registry:
        started = time.perf_counter()
        for body in bodies:
            await registry.create(body)
        serial = count / (time.perf_counter() - started)
        serial_commits = registry.stats().store.commits
    return {
        "registrations": count,
        "group_commit_per_second": grouped,
        "group_commit_transactions": grouped_commits,
        "one_commit_per_write_per_second": serial,
        "one_commit_per_write_transactions": serial_commits,
        "ratio": grouped / serial,
    }


async def main(quick: bool) -> dict[str, Any]:
    small, large = (2_000, 10_000) if quick else (10_000, 100_000)
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "query": QUERY}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory)
        # Each phase starts from a clean heap: garbage left by the one before would be
        # collected during it and blur its figures.
        results["registration"] = await registration_throughput(path, 500 if quick else 2000)
        gc.collect()
        config = RegistryConfig(database=str(path / "small.db"), synchronous="normal")
        async with Registry(config) as registry:
            await populate(registry, small)
            seconds = 1.0 if quick else 3.0
            results["heartbeats"] = await heartbeats_per_second(registry, small, seconds)
            queries = 300 if quick else 2000
            results["discovery_small"] = {
                "agents": small,
                **(await discovery_latency(registry, queries)),
            }
        gc.collect()
        config = RegistryConfig(database=str(path / "large.db"), synchronous="normal")
        async with Registry(config) as registry:
            started = time.perf_counter()
            await populate(registry, large)
            results["populate_large_seconds"] = time.perf_counter() - started
            queries = 200 if quick else 1000
            results["discovery_large"] = {
                "agents": large,
                **(await discovery_latency(registry, queries)),
            }
    return results


def report(results: dict[str, Any]) -> None:
    hb, small, large, reg = (
        results["heartbeats"],
        results["discovery_small"],
        results["discovery_large"],
        results["registration"],
    )
    print_table(
        f"registry core ({results['mode']})",
        [
            (
                f"heartbeats/s ({hb['agents']:,} agents)",
                f"{hb['per_second']:,.0f}  ({hb['commits_during']} commits)",
            ),
            (
                f"discovery p50/p99 ({small['agents']:,} agents)",
                f"{small['p50_ms']:.3f} / {small['p99_ms']:.3f} ms  ({small['matches']} matches)",
            ),
            (
                f"discovery p50/p99 ({large['agents']:,} agents)",
                f"{large['p50_ms']:.3f} / {large['p99_ms']:.3f} ms  ({large['matches']} matches)",
            ),
            (
                "registrations/s, group commit",
                f"{reg['group_commit_per_second']:,.0f}"
                f"  ({reg['group_commit_transactions']} transactions)",
            ),
            (
                "registrations/s, one commit per write",
                f"{reg['one_commit_per_write_per_second']:,.0f}"
                f"  ({reg['one_commit_per_write_transactions']} transactions)",
            ),
            ("group commit speed-up", f"{reg['ratio']:.1f}x"),
            (
                f"register + first heartbeat, {large['agents']:,} agents",
                f"{results['populate_large_seconds']:.1f} s",
            ),
        ],
    )


if __name__ == "__main__":
    configure_collector()  # as the registry process does
    command_line("registry_core", __doc__ or "", main, report)
