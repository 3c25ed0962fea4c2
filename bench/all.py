"""Every benchmark of the project, then one table of the figures that matter.

    python bench/all.py [--quick]          # what `make bench [ARGS=--quick]` runs

Runs each benchmark as its own process (each prints its own table and writes
bench/results/<name>.json), then prints one summary table and writes
bench/results/summary.json with the machine's details. Exits 1 if a benchmark failed.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import (  # noqa: E402
    RESULTS,
    after_acknowledgement,
    print_table,
    shown,
    shown_cpu,
    write_results,
)

BENCH = Path(__file__).resolve().parent
Row = tuple[str, str]


def registry_core(r: dict[str, Any]) -> list[Row]:
    large = r["discovery_large"]
    registration = r["registration"]
    return [
        (
            "heartbeats in process",
            f"{r['heartbeats']['per_second']:,.0f}/s ({r['heartbeats']['agents']:,} agents)",
        ),
        (
            f"discovery in process, {large['agents']:,} agents",
            f"p50 {large['p50_ms']:.2f} ms, p99 {large['p99_ms']:.2f} ms",
        ),
        (
            "registrations, group commit",
            f"{registration['group_commit_per_second']:,.0f}/s,"
            f" {registration['ratio']:.1f}x one commit per write",
        ),
    ]


def registry_http(r: dict[str, Any]) -> list[Row]:
    rows = [
        (
            "heartbeats over HTTP",
            f"{r['heartbeats']['per_second']:,.0f}/s, {r['heartbeat_ratio']:.2f} of a bare route",
        ),
    ]
    if "heartbeat_ratio_wrk" in r:
        rows.append(
            (
                "heartbeats over HTTP, from wrk",
                f"{r['heartbeats']['wrk']['per_second']:,.0f}/s,"
                f" {r['heartbeat_ratio_wrk']:.2f} of a bare route;"
                f" p99 {r['heartbeat_p99_ratio_wrk']:.2f}x its",
            )
        )
    rows += [
        ("the same with tokens", f"{r['tokens_ratio']:.2f} of without"),
        (
            f"discovery over HTTP, {r['discovery']['agents']:,} agents",
            f"p50 {r['discovery']['p50_ms']:.1f} ms, p99 {r['discovery']['p99_ms']:.1f} ms",
        ),
    ]
    rows += [
        (
            f"watch lag from the send, {lag['watchers']:,}"
            f" watcher{'' if lag['watchers'] == 1 else 's'}",
            f"p99 {lag['p99_ms']:.1f} ms ({after_acknowledgement(lag)});"
            f" {shown_cpu(lag['fan_out_cpu'])}",
        )
        for lag in r["watch_lag"]
    ]
    stalled = r["watch_lag_stalled"]
    reading = f"{stalled['stalled']} reading"
    rows.append(
        (
            f"watch lag, 1 watcher and {stalled['stalled']} stalled",
            f"p99 {stalled['p99_ms']:.1f} ms, {shown(r['stalled_ratio'], '1 alone')},"
            f" {shown(r['stalled_to_reading_ratio'], reading)}",
        )
    )
    return rows


def agent_calls(r: dict[str, Any]) -> list[Row]:
    proxy, ratio = r["sequential"]["proxy"], r["ratios_to_raw"]
    return [
        (
            "a call through the injected proxy",
            f"p50 {proxy['p50_ms']:.2f} ms, {ratio['proxy']['p50']:.2f}x a raw socket,"
            f" {proxy['p50_ms'] / r['sequential']['aiohttp']['p50_ms']:.2f}x aiohttp",
        ),
        (
            f"calls/s, {r['in_flight']} in flight, against a plain FastMCP server",
            f"{r['agent_to_plain_fastmcp']['raw']:.2f}x raw,"
            f" {r['agent_to_plain_fastmcp']['proxy']:.2f}x through the proxy",
        ),
        (
            "calls/s from wrk against a plain FastMCP server",
            "not run: wrk is not installed"
            if r.get("wrk") is None
            else f"median {r['wrk']['median_agent_to_plain']:.2f}x"
            f" of {len(r['wrk']['rounds'])} rounds",
        ),
    ]


def wasm(r: dict[str, Any]) -> list[Row]:
    start, sandbox = r["start"], r["warm"]["sandbox"]
    return [
        (
            "WebAssembly start: cold / cached",
            " ; ".join(
                f"{name} {m['cold']['p50_ms']:.1f} / {m['cached_cold']['p50_ms']:.2f} ms"
                for name, m in start.items()
            ),
        ),
        (
            "WebAssembly call, sandboxed",
            f"numeric p50 {sandbox['add']['p50_ms']:.2f} ms,"
            f" WASI JSON p50 {sandbox['echo']['p50_ms']:.2f} ms",
        ),
        (
            "WebAssembly tool over MCP",
            ", ".join(
                f"{tool} {ratio:.2f}x Python"
                for tool, ratio in r["agent"]["wasm_to_python_p50"].items()
            ),
        ),
    ]


def scale(r: dict[str, Any]) -> list[Row]:
    rows = []
    for s in r["scenarios"]:
        load, registry = s["heartbeats"], s["registry"]
        rows.append(
            (
                f"{s['agents']:,} agents every {s['interval']:g} s",
                f"{load['per_second']:,.0f} of {load['offered_per_second']:,.0f} heartbeats/s,"
                f" {registry['cpu_cores']:.2f} cores, {registry['rss_mb']:.0f} MB,"
                f" {registry['heartbeat_cpu_us']:.0f} us CPU per heartbeat,"
                f" disk {registry['written_bytes'] / registry['seconds'] / 1024:.0f} kB/s",
            )
        )
    return rows


def replicas(r: dict[str, Any]) -> list[Row]:
    one, two, failover = r["postgres_1"], r["postgres_2"], r["failover"]
    across = r["watch_lag_across"]
    return [
        (
            "heartbeats on PostgreSQL, 1 / 2 replicas",
            f"{one['heartbeat_ratio']:.2f}x / {two['heartbeat_ratio']:.2f}x SQLite",
        ),
        (
            "watch lag, write on one replica, watch on another",
            f"p50 {across['p50_ms']:.1f} ms, p99 {across['p99_ms']:.1f} ms",
        ),
        (
            "leader kill -9 -> takeover / first decision",
            f"p50 {failover['takeover_s']['p50']:.2f} s"
            f" / {failover['first_decision_s']['p50']:.2f} s",
        ),
    ]


def gateway(r: dict[str, Any]) -> list[Row]:
    calls, fresh, listed = r["calls"], r["freshness"], r["tools_list"]
    return [
        (
            "a call through the gateway",
            f"p50 {calls['gateway']['p50_ms']:.2f} ms, {calls['ratio_p50']:.2f}x straight to the"
            " agent",
        ),
        (
            "agent healthy -> client told",
            f"p50 {fresh['p50_ms']:.1f} ms, p99 {fresh['p99_ms']:.1f} ms",
        ),
        (
            f"tools/list, {listed['capabilities']:,} capabilities",
            f"p50 {listed['p50_ms']:.1f} ms, p99 {listed['p99_ms']:.1f} ms",
        ),
    ]


BENCHMARKS: dict[str, Callable[[dict[str, Any]], list[Row]]] = {
    "registry_core": registry_core,
    "registry_http": registry_http,
    "agent_calls": agent_calls,
    "wasm": wasm,
    "scale": scale,
    "replicas": replicas,
    "gateway": gateway,
}


def main() -> int:
    parser = argparse.ArgumentParser(description="Run every benchmark; print one table.")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    options = parser.parse_args()
    arguments = ["--quick"] if options.quick else []
    rows: list[Row] = []
    failed = []
    for name, headline in BENCHMARKS.items():
        print(f"\n== {name} ==", flush=True)
        done = subprocess.run([sys.executable, str(BENCH / f"{name}.py"), *arguments])
        if done.returncode != 0:
            failed.append(name)
            rows.append((name, f"FAILED (exit {done.returncode})"))
            continue
        results = json.loads((RESULTS / f"{name}.json").read_text())["results"]
        rows += [(f"{name}: {what}", value) for what, value in headline(results)]
    print_table(f"mcp-mesh benchmarks ({'quick' if options.quick else 'full'})", rows)
    path = write_results("summary", {"mode": "quick" if options.quick else "full", "rows": rows})
    print(f"\nwritten: {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
