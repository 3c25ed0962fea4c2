"""Shared by the benchmarks: percentiles, a table printer, machine information, JSON output."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sqlite3
import statistics
import sys
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(samples_seconds: list[float]) -> dict[str, float]:
    """p50 / p99 / mean of latencies given in seconds, in milliseconds."""
    return {
        "p50_ms": percentile(samples_seconds, 0.50) * 1000,
        "p99_ms": percentile(samples_seconds, 0.99) * 1000,
        "mean_ms": statistics.fmean(samples_seconds) * 1000 if samples_seconds else float("nan"),
        "samples": len(samples_seconds),
    }


# Latencies under this are within what scheduling on a shared 2-core machine moves by itself:
# a ratio to one says nothing.
NOISE_FLOOR_MS = 1.0


def ratio(value_ms: float, baseline_ms: float) -> dict[str, Any]:
    """``value_ms`` over ``baseline_ms``, or why there is no ratio: a baseline within the
    noise floor (or below zero) would make any ratio meaningless."""
    if baseline_ms < NOISE_FLOOR_MS:
        return {
            "ratio": None,
            "why": f"baseline {baseline_ms:.2f} ms is within the {NOISE_FLOOR_MS:g} ms noise floor",
        }
    return {"ratio": value_ms / baseline_ms}


# A process's CPU time, read from /proc, moves in ticks of 10 ms, and two runs of the same work
# differ by a few: a difference of CPU times under this says nothing.
CPU_NOISE_S = 0.05


def cpu_share(
    cpu_s: float, baseline_s: tuple[float, float], units: int, unit: str
) -> dict[str, Any]:
    """The CPU ``cpu_s`` spent beyond a baseline (the same work without what is measured, run
    twice: before and after), per one of ``units``, in µs; or why there is none. The noise is
    the baseline's two runs' difference, or the CPU clock's, whichever is larger; a figure
    needs twice that, or the noise divided by a count would be printed as a cost."""
    baseline = sum(baseline_s) / 2
    net = cpu_s - baseline
    noise = max(CPU_NOISE_S, abs(baseline_s[0] - baseline_s[1]))
    if net < 2 * noise:
        return {
            "us": None,
            "why": f"{max(0.0, net) * 1000:.0f} ms of CPU beyond the baseline's"
            f" {baseline * 1000:.0f} ms is within twice its noise of {noise * 1000:.0f} ms",
        }
    return {"us": net / max(1, units) * 1e6, "per": unit}


def shown_cpu(share: dict[str, Any]) -> str:
    """A CPU share for a table: ``15 µs CPU per event per watcher``, or why there is none."""
    if share["us"] is None:
        return f"no CPU figure ({share['why']})"
    return f"{share['us']:.1f} µs CPU per {share['per']}"


def shown(ratio_: dict[str, Any], against: str) -> str:
    """A ratio for a table: ``2.31x <against>``, or ``no ratio to <against> (why)``."""
    if ratio_["ratio"] is None:
        return f"no ratio to {against} ({ratio_['why']})"
    return f"{ratio_['ratio']:.2f}x {against}"


def machine() -> dict[str, Any]:
    versions = {}
    for package in ("mcp-mesh", "pydantic", "aiosqlite", "starlette", "uvicorn"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "processor": platform.machine(),
        "cpus": os.cpu_count(),
        "sqlite": sqlite3.sqlite_version,
        "packages": versions,
    }


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process ``pid`` has used so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wrk(
    script: str, url: str, connections: int, seconds: float, *arguments: str
) -> list[str] | None:
    """The command that loads ``url`` from wrk (two threads) with ``bench/<script>`` and its
    ``arguments``; None when wrk is not installed. Its scripts print through wrk_report.lua."""
    found = shutil.which("wrk")
    if found is None:
        return None
    return [
        *(found, "-t2", f"-c{connections}", f"-d{seconds:g}s"),
        *("-s", str(Path(__file__).resolve().parent / script), url),
        *(("--", *arguments) if arguments else ()),
    ]


def wrk_figures(output: str) -> dict[str, Any]:
    """The figures a wrk script printed (its last line, from wrk_report.lua), with the rate."""
    figures: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    figures["per_second"] = figures["requests"] / figures["seconds"]
    return figures


def print_table(title: str, rows: list[tuple[str, str]]) -> None:
    width = max(len(name) for name, _ in rows)
    print(f"\n{title}")
    print("-" * (width + 24))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


def write_results(name: str, results: dict[str, Any]) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps({"machine": machine(), "results": results}, indent=2) + "\n")
    return path


Figures = dict[str, Any]


def command_line(
    name: str,
    description: str,
    main: Callable[[bool], Coroutine[Any, Any, Figures]],
    report: Callable[[Figures], None],
) -> None:
    """A benchmark's command: ``--quick`` or full sizes; print the table; write the JSON."""
    # The benchmarks start registries and agents with the test suite's helpers; they measure
    # the commands as a user starts them, not forks of the suite's pre-imported fork server.
    # Set here, not on import: the suite imports the benchmarks' functions too.
    os.environ["MESH_TEST_FORKSERVER"] = "0"
    parser = argparse.ArgumentParser(description=description.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    options = parser.parse_args()
    figures = asyncio.run(main(options.quick))
    report(figures)
    print(f"\nwritten: {write_results(name, figures)}")


def after_acknowledgement(lag: dict[str, Any]) -> str:
    """The lag from the writer's acknowledgement, said in words where it is negative: the
    event reached the watcher before the writer's client had read its answer (the answer is
    written first, the event a turn of the registry's loop later; clients read at their pace)."""
    parts = []
    for name in ("p50", "p99"):
        value = lag[f"after_ack_{name}_ms"]
        sign = "after" if value >= 0 else "before"
        parts.append(f"{name} {abs(value):.2f} ms {sign}")
    return "from the acknowledgement: " + ", ".join(parts)
