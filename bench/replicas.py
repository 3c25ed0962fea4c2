"""Registry replicas on PostgreSQL against one registry on SQLite, in the same run, with the
same load generator.

    python bench/replicas.py [--quick]

Figures (table, and bench/results/replicas.json):

- heartbeats/s and p99 over HTTP: SQLite (one process), PostgreSQL with one replica, with two
  (the load split over both), in three alternating rounds (the median of each); the ratios to
  SQLite are the figures to compare across machines.
- registrations/s (PUT and first heartbeat of new agents, 64 connections), the same three ways.
- watch lag p50/p99: a write sent to replica A → the event at a watcher of replica B (and, for
  reference, write and watch on one SQLite registry); the lag after the write's
  acknowledgement is in the JSON too (it can be negative: an event may arrive first).
- leader failover: kill -9 of the leader → the other replica leads (it says so on /readyz),
  and → the first phase change it decides (an agent whose heartbeats stopped at the kill).

Needs PostgreSQL (``MESH_TEST_POSTGRES_DSN``, default the local server); each run works in a
database of its own, dropped at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import command_line, percentile, print_table  # noqa: E402
from bench.registry_http import load, watch_lag  # noqa: E402
from bench.scale import register_fleet  # noqa: E402
from tests.support.agents import agent_body  # noqa: E402
from tests.support.postgres import fresh_database  # noqa: E402
from tests.support.processes import RegistryProcess, wait_until  # noqa: E402

CONNECTIONS = 16
COLLECTION = "/api/v1/namespaces/default/agents"


async def registered(urls: Sequence[str], agents: int) -> tuple[list[str], dict[str, Any]]:
    """Register ``agents`` through the first replica; their heartbeat lines, and the rate."""
    with tempfile.TemporaryDirectory() as directory:
        names_file = Path(directory) / "names.txt"
        registration = await register_fleet(urls[0], agents, names_file)
        names = names_file.read_text().split()
    lines = [f"POST {COLLECTION}/{name}/heartbeat" for name in names]
    # Each registration is a PUT and the first heartbeat (which makes the agent healthy).
    return lines, {"registrations_per_second": registration["per_second"]}


async def heartbeats(urls: Sequence[str], lines: list[str], seconds: float) -> dict[str, Any]:
    """Heartbeats spread over ``urls``: one load process per replica, the connections shared."""
    share = max(1, CONNECTIONS // len(urls))
    runs = await asyncio.gather(
        *(asyncio.to_thread(load, url, lines, share, seconds) for url in urls)
    )
    return {
        "per_second": sum(run["per_second"] for run in runs),
        "p99_ms": max(run["p99_ms"] for run in runs),
        "errors": sum(run["errors"] for run in runs),
    }


def median_run(runs: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(runs, key=lambda run: run["per_second"])[len(runs) // 2]


async def failover(dsn: str, rounds: int) -> dict[str, Any]:
    """Kill -9 the leader of two replicas; time the takeover and its first decision."""
    takeovers, decisions = [], []
    replicas = [RegistryProcess("--port", "0", "--db", dsn).wait_ready() for _ in range(2)]
    try:
        async with httpx.AsyncClient(timeout=5) as api:
            for n in range(rounds):
                leader = next(r for r in replicas if _leads(r.url))
                other = next(r for r in replicas if r is not leader)
                name = f"failover-{n}"
                body = agent_body(name, ["bench.failover"], interval=0.2)
                assert (await api.put(other.url + f"{COLLECTION}/{name}", json=body)).is_success
                await api.post(other.url + f"{COLLECTION}/{name}/heartbeat")
                leader.process.send_signal(signal.SIGKILL)
                killed = time.time()
                leader.wait_exit()
                await asyncio.to_thread(wait_until, _leader_at(other.url), 30, 0.005)
                takeovers.append(time.time() - killed)
                decided = await _unhealthy_since(api, other.url, name)
                decisions.append(decided - killed)
                replicas[replicas.index(leader)] = RegistryProcess(
                    "--port", "0", "--db", dsn
                ).wait_ready()
    finally:
        for replica in replicas:
            replica.kill()
    return {
        "rounds": rounds,
        "takeover_s": {"p50": percentile(takeovers, 0.5), "max": max(takeovers)},
        "first_decision_s": {"p50": percentile(decisions, 0.5), "max": max(decisions)},
    }


def _leader_at(url: str) -> Callable[[], bool]:
    return lambda: _leads(url)


def _leads(url: str) -> bool:
    try:
        return bool(httpx.get(url + "/readyz", timeout=2).json().get("leader"))
    except httpx.HTTPError:
        return False


async def _unhealthy_since(api: httpx.AsyncClient, url: str, name: str) -> float:
    """When the agent's record says it became unhealthy (the decision's time), once it does."""
    while True:
        status = (await api.get(url + f"{COLLECTION}/{name}")).json()["status"]
        if status["phase"] == "unhealthy":
            await asyncio.sleep(0)
            return time.time()
        await asyncio.sleep(0.01)


SETUPS = {"sqlite": 0, "postgres_1": 1, "postgres_2": 2}  # name: PostgreSQL replicas


async def main(quick: bool) -> dict[str, Any]:
    agents = 2_000 if quick else 10_000
    seconds = 2.0 if quick else 5.0
    rounds = 3
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "agents": agents}
    with contextlib.ExitStack() as stack:
        urls = {name: _start(stack, replicas) for name, replicas in SETUPS.items()}
        lines = {}
        for name, replica_urls in urls.items():
            lines[name], results[name] = await registered(replica_urls, agents)
        # In alternating rounds, so that the machine's drift hits every setup alike.
        runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SETUPS}
        for _ in range(rounds):
            for name, replica_urls in urls.items():
                runs[name].append(await heartbeats(replica_urls, lines[name], seconds))
        for name in SETUPS:
            results[name]["heartbeats"] = median_run(runs[name])
        writes = 50 if quick else 100
        results["watch_lag_sqlite"] = await watch_lag(urls["sqlite"][0], 1, writes)
        a, b = urls["postgres_2"]
        results["watch_lag_across"] = await watch_lag(b, 1, writes, write_url=a)
    with fresh_database() as dsn:
        results["failover"] = await failover(dsn, 2 if quick else 5)
    base = results["sqlite"]
    for name in ("postgres_1", "postgres_2"):
        figures = results[name]
        figures["heartbeat_ratio"] = (
            figures["heartbeats"]["per_second"] / base["heartbeats"]["per_second"]
        )
        figures["registration_ratio"] = (
            figures["registrations_per_second"] / base["registrations_per_second"]
        )
    return results


def _start(stack: contextlib.ExitStack, replicas: int) -> list[str]:
    """A SQLite registry (``replicas`` 0), or that many replicas on a fresh database."""
    if replicas == 0:
        directory = stack.enter_context(tempfile.TemporaryDirectory())
        databases = [str(Path(directory) / "bench.db")]
    else:
        databases = [stack.enter_context(fresh_database())] * replicas
    processes = [RegistryProcess("--port", "0", "--db", db).wait_ready() for db in databases]
    for process in processes:
        stack.callback(process.stop)
    return [process.url for process in processes]


def report(results: dict[str, Any]) -> None:
    rows = []
    for key, label in (
        ("sqlite", "SQLite, 1 process"),
        ("postgres_1", "PostgreSQL, 1 replica"),
        ("postgres_2", "PostgreSQL, 2 replicas"),
    ):
        figures = results[key]
        ratio = "" if key == "sqlite" else f" ({figures['heartbeat_ratio']:.2f}x SQLite)"
        registration_ratio = (
            "" if key == "sqlite" else f" ({figures['registration_ratio']:.2f}x SQLite)"
        )
        rows.append(
            (
                f"heartbeats, {label}",
                f"{figures['heartbeats']['per_second']:,.0f}/s{ratio},"
                f" p99 {figures['heartbeats']['p99_ms']:.1f} ms",
            )
        )
        rows.append(
            (
                f"registrations, {label}",
                f"{figures['registrations_per_second']:,.0f}/s{registration_ratio}",
            )
        )
    across, alone = results["watch_lag_across"], results["watch_lag_sqlite"]
    rows.append(
        (
            "watch lag, write on A, watch on B",
            f"p50 {across['p50_ms']:.1f} ms, p99 {across['p99_ms']:.1f} ms"
            f" (one SQLite registry: p50 {alone['p50_ms']:.1f}, p99 {alone['p99_ms']:.1f})",
        )
    )
    failover = results["failover"]
    rows.append(
        (
            "leader kill -9 -> the other leads",
            f"p50 {failover['takeover_s']['p50']:.2f} s, max {failover['takeover_s']['max']:.2f} s",
        )
    )
    rows.append(
        (
            "leader kill -9 -> its first decision",
            f"p50 {failover['first_decision_s']['p50']:.2f} s,"
            f" max {failover['first_decision_s']['max']:.2f} s",
        )
    )
    print_table(f"registry replicas ({results['mode']}, {results['agents']:,} agents)", rows)


if __name__ == "__main__":
    command_line("replicas", __doc__ or "", main, report)
