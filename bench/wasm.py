"""WebAssembly capabilities: start-up, a sandboxed call, and a call through an agent.

    python bench/wasm.py [--quick]

- **Cold start**: a module's source to a callable module (compile + link), in a fresh runtime.
- **Cached cold start**: the same with the disk cache filled: deserialized, not compiled.
- **Warm call**: one sandboxed call in this process (a fresh store, fuel, memory limit and
  deadline each time), for numeric exports (``add``, ``fib``) and a WASI JSON command
  (``echo``): in the calling thread ("sandbox"), and on the runtime's thread pool as the agent
  runs it ("pool": the difference is the cost of handing a call to a thread); p50/p99, calls/s.
- **Through an agent**: the same tools called over MCP (the mesh's transport) on a real agent
  process that serves the same logic as Python tools too; the ratio WASM / Python, measured in
  the same run, is the figure to compare across machines.

Goals on a 2-core machine: warm call under 0.5 ms, cold start under 10 ms, cached cold start
under 2 ms. Writes bench/results/wasm.json.
"""

from __future__ import annotations

import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import command_line, print_table, summary_ms  # noqa: E402
from mesh_agent.mcp_http import McpHttpClient  # noqa: E402
from mesh_agent.wasm.runtime import Limits, Runtime  # noqa: E402
from mesh_agent.wasm.tools import load_tools  # noqa: E402
from tests.support.agent_processes import AgentProcess  # noqa: E402
from tests.support.processes import RegistryProcess  # noqa: E402

BENCH = Path(__file__).resolve().parent
EXAMPLES = ROOT / "examples" / "wasm"
MODULES = {"arith": EXAMPLES / "arith" / "arith.wat", "echo": EXAMPLES / "echo" / "echo.wat"}
GOALS_MS = {"warm": 0.5, "cold": 10.0, "cached_cold": 2.0}
# (tool, arguments, the Python tool with the same logic)
CALLS = [
    ("add", {"a": 2, "b": 40}, "py_add"),
    ("fib", {"n": 60}, "py_fib"),
    ("echo", {"text": "hello"}, "py_echo"),
]


def start_ups(runs: int) -> dict[str, Any]:
    """Cold and cached-cold start of each module, each run in a fresh runtime."""
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as cache:
        for name, path in MODULES.items():
            source = path.read_bytes()
            cold, cached = [], []
            for _ in range(runs):
                for samples, cache_dir in ((cold, None), (cached, cache)):
                    runtime = Runtime(cache_dir)
                    started = time.perf_counter()
                    compiled = runtime.compile(source, name=name)
                    samples.append(time.perf_counter() - started)
                    runtime.close()
                    expected = "none" if cache_dir is None or samples is cold else "disk"
                    if samples is cached and len(cached) > 1 and compiled.from_cache != expected:
                        raise RuntimeError(f"{name}: the cache was not used")
            figures[name] = {"cold": summary_ms(cold), "cached_cold": summary_ms(cached[1:])}
    return figures


async def warm_calls(calls: int) -> dict[str, Any]:
    """One sandboxed call at a time, in process: in the calling thread ("sandbox"), and as
    the agent runs it, on the runtime's thread pool ("pool")."""
    runtime = Runtime(None)
    tools = {tool.name: tool.tool for tool in load_tools(EXAMPLES, runtime)}
    arith, echo = runtime.load(MODULES["arith"]), runtime.load(MODULES["echo"])
    limits = Limits()
    direct: dict[str, Callable[[], object]] = {
        "add": lambda: runtime.call(arith, "add", [2, 40], limits),
        "fib": lambda: runtime.call(arith, "fib", [60], limits),
        "echo": lambda: runtime.run_command(echo, b'{"text": "hello"}', limits),
    }
    figures: dict[str, Any] = {"sandbox": {}, "pool": {}}
    try:
        for tool, arguments, _ in CALLS:
            samples = [0.0] * calls
            for i in range(calls):
                started = time.perf_counter()
                direct[tool]()
                samples[i] = time.perf_counter() - started
            figures["sandbox"][tool] = with_rate(samples)
            pooled = await timed(lambda t=tool, a=arguments: tools[t].run(a), calls)
            figures["pool"][tool] = with_rate(pooled)
    finally:
        runtime.close()
    return figures


async def through_agent(calls: int, rounds: int) -> dict[str, Any]:
    """WASM and Python tools of one agent process, called over MCP, interleaved in rounds."""
    with tempfile.TemporaryDirectory() as directory:
        registry = RegistryProcess("--port", "0", "--db", str(Path(directory) / "b.db"))
        registry.wait_ready()
        agent = AgentProcess(
            BENCH / "wasm_agent.py",
            registry=registry.url,
            name="wasm",
            namespace="bench",
            env={"MESH_WASM_CACHE": str(Path(directory) / "cache")},
        )
        try:
            agent.wait_healthy()
            client = McpHttpClient(agent.endpoint)
            try:
                return await compare(client, calls, rounds)
            finally:
                await client.aclose()
        finally:
            agent.stop()
            registry.stop()


async def compare(client: McpHttpClient, calls: int, rounds: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {}
    for _ in range(2):  # warm-up
        for tool, arguments, python in CALLS:
            await client.call_tool(tool, arguments)
            await client.call_tool(python, arguments)
    for _ in range(rounds):
        for tool, arguments, python in CALLS:
            for name in (tool, python):
                call = lambda n=name, a=arguments: client.call_tool(n, a)  # noqa: E731
                samples.setdefault(name, []).extend(await timed(call, calls // rounds))
    figures: dict[str, Any] = {name: with_rate(values) for name, values in samples.items()}
    figures["wasm_to_python_p50"] = {
        tool: figures[tool]["p50_ms"] / figures[python]["p50_ms"] for tool, _, python in CALLS
    }
    return figures


async def timed(call: Callable[[], Awaitable[Any]], count: int) -> list[float]:
    samples = [0.0] * count
    for i in range(count):
        started = time.perf_counter()
        await call()
        samples[i] = time.perf_counter() - started
    return samples


def with_rate(samples: list[float]) -> dict[str, float]:
    return {**summary_ms(samples), "per_second": len(samples) / sum(samples)}


async def main(quick: bool) -> dict[str, Any]:
    runs, calls, rounds = (10, 500, 5) if quick else (40, 5000, 20)
    results: dict[str, Any] = {"mode": "quick" if quick else "full", "goals_ms": GOALS_MS}
    results["start"] = start_ups(runs)
    results["warm"] = await warm_calls(calls)
    results["agent"] = await through_agent(calls // 5, rounds)
    sandbox = results["warm"]["sandbox"]
    results["goals_met"] = {
        "warm (numeric)": max(sandbox["add"]["p50_ms"], sandbox["fib"]["p50_ms"])
        < GOALS_MS["warm"],
        "warm (WASI JSON)": sandbox["echo"]["p50_ms"] < GOALS_MS["warm"],
        "cold": all(m["cold"]["p50_ms"] < GOALS_MS["cold"] for m in results["start"].values()),
        "cached cold": all(
            m["cached_cold"]["p50_ms"] < GOALS_MS["cached_cold"] for m in results["start"].values()
        ),
    }
    return results


def report(results: dict[str, Any]) -> None:
    rows = []
    for name, figures in results["start"].items():
        for kind in ("cold", "cached_cold"):
            value = figures[kind]
            goal = GOALS_MS[kind]
            rows.append(
                (
                    f"{kind.replace('_', ' ')} start: {name}",
                    f"p50 {value['p50_ms']:.2f} ms  p99 {value['p99_ms']:.2f} ms"
                    f"  (goal < {goal} ms)",
                )
            )
    for where, figures in results["warm"].items():
        for name, value in figures.items():
            rows.append(
                (
                    f"warm call ({where}): {name}",
                    f"p50 {value['p50_ms']:.3f} ms  p99 {value['p99_ms']:.3f} ms"
                    f"  {value['per_second']:,.0f} calls/s",
                )
            )
    agent = results["agent"]
    for tool, _, python in CALLS:
        wasm, py = agent[tool], agent[python]
        rows.append(
            (
                f"through the agent: {tool}",
                f"WASM p50 {wasm['p50_ms']:.2f} ms, Python p50 {py['p50_ms']:.2f} ms:"
                f" {agent['wasm_to_python_p50'][tool]:.2f}x",
            )
        )
    rows.extend(
        (f"goal met: {goal}", "yes" if met else "NO") for goal, met in results["goals_met"].items()
    )
    print_table("WebAssembly capabilities (p50/p99, same run)", rows)


if __name__ == "__main__":
    command_line("wasm", __doc__ or "", main, report)
