"""One MCP tool call, five ways, against a real agent process.

    python bench/agent_calls.py [--quick]

The same tool of the same provider (a separate process, found in a real registry) is called:

- (a) through an injected dependency proxy (``MeshClient.dependency``): what a mesh call costs;
- (b) through a kept-open ``fastmcp.Client``;
- (c) as the same JSON-RPC request written on a kept-open socket by a minimal HTTP/1.1 client:
  the cheapest correct call, the baseline;
- (d) as the same request posted with a kept-open ``httpx.AsyncClient``;
- (e) as the same request posted with a kept-open ``aiohttp.ClientSession``, the HTTP client
  the mesh's transport uses;
- (t) through the mesh's transport (``McpHttpClient``) without the proxy around it;
- (f) as (c), to the same tool on a plain FastMCP server (``fastmcp_echo.py``, served as
  FastMCP serves by default): what the agent's server gains over FastMCP's own.

Latency p50/p99 and calls/s of one caller calling in sequence, the modes interleaved in rounds
so that drift of a noisy machine hits them alike; then calls/s with 16 calls in flight (where the
server, not the client, is the limit). Ratios against (c) are the figures to compare across
machines. Where ``wrk`` is installed, the agent and the plain FastMCP server are also loaded by
it (16 connections, alternating rounds), with each server's CPU per call: a Python client at 16
in flight is itself near its limit, wrk much less. Writes bench/results/agent_calls.json.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fastmcp import Client  # noqa: E402

from bench.common import (  # noqa: E402
    command_line,
    cpu_seconds,
    print_table,
    summary_ms,
    wrk,
    wrk_figures,
)
from mesh_agent import MeshClient  # noqa: E402
from mesh_agent.mcp_http import McpHttpClient  # noqa: E402
from tests.support.agent_processes import AgentProcess  # noqa: E402
from tests.support.processes import Process, RegistryProcess, eventually, free_port  # noqa: E402

BENCH = Path(__file__).resolve().parent
IN_FLIGHT = 16
Call = Callable[[], Awaitable[Any]]
MODES = {
    "proxy": "(a) injected proxy",
    "fastmcp": "(b) fastmcp.Client",
    "raw": "(c) raw HTTP/1.1 POST",
    "httpx": "(d) httpx POST",
    "aiohttp": "(e) aiohttp POST",
    "transport": "(t) McpHttpClient",
    "plain": "(f) raw POST, plain FastMCP server",
}
BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {
            "name": "echo",
            "arguments": {"text": "hi"},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
            },
        },
    }
)
HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/call",
    "mcp-name": "echo",
}


def structured(reply: dict[str, Any]) -> Any:
    if "result" not in reply:
        raise RuntimeError(f"the call failed: {reply}")
    return reply["result"]["structuredContent"]


def httpx_call(http: httpx.AsyncClient, endpoint: str) -> Call:
    """The request a 2026-07-28 client sends for one tools/call, posted with httpx."""

    async def call() -> Any:
        response = await http.post(endpoint, content=BODY, headers=HEADERS)
        response.raise_for_status()
        return structured(response.json())

    return call


def aiohttp_call(session: aiohttp.ClientSession, endpoint: str) -> Call:
    """The same request, posted with aiohttp."""

    async def call() -> Any:
        async with session.post(endpoint, data=BODY, headers=HEADERS) as response:
            response.raise_for_status()
            return structured(json.loads(await response.read()))

    return call


class RawConnection:
    """The same request written on one kept-open socket, the JSON answer read back: the least
    work a correct client can do."""

    def __init__(self, endpoint: str) -> None:
        url = urlsplit(endpoint)
        self.host, self.port = url.hostname or "127.0.0.1", url.port or 80
        body = BODY.encode()
        head = "".join(f"{k}: {v}\r\n" for k, v in HEADERS.items())
        self.request = (
            f"POST {url.path} HTTP/1.1\r\nhost: {url.netloc}\r\n{head}"
            f"content-length: {len(body)}\r\n\r\n"
        ).encode() + body
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def __call__(self) -> Any:
        if self.reader is None or self.writer is None or self.reader.at_eof():
            # First use, or the server closed the idle connection (uvicorn: after 5 s).
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 200"):
            raise RuntimeError(f"the raw call failed: {head!r}")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        return structured(json.loads(await self.reader.readexactly(length)))

    async def aclose(self) -> None:
        if self.writer is not None:
            self.writer.close()


async def answers(endpoint: str) -> bool | None:
    """Whether the server at ``endpoint`` answers the call yet (None: not yet)."""
    connection = RawConnection(endpoint)
    try:
        return await connection() == {"text": "hi"} or None
    except OSError:
        return None
    finally:
        await connection.aclose()


async def sequential(calls: dict[str, Call], rounds: int, per_round: int) -> dict[str, Any]:
    samples: dict[str, list[float]] = {mode: [] for mode in calls}
    for _ in range(rounds):
        for mode, call in calls.items():
            for _ in range(per_round):
                started = time.perf_counter()
                result = await call()
                samples[mode].append(time.perf_counter() - started)
                if result != {"text": "hi"}:
                    raise RuntimeError(f"{mode} returned {result!r}")
    figures = {}
    for mode, values in samples.items():
        figures[mode] = {**summary_ms(values), "per_second": len(values) / sum(values)}
    return figures


async def concurrent(callers: list[Call], seconds: float) -> float:
    """Calls/s with one call in flight per caller."""
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(call: Call) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await call()
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(call) for call in callers))
    return done / (time.perf_counter() - started)


def wrk_calls(endpoint: str, pid: int, seconds: float) -> dict[str, Any] | None:
    """The echo call from wrk (``tool_call.lua``, 16 connections) for ``seconds``, with the CPU
    the server (process ``pid``) spent per call; None without wrk."""
    command = wrk("tool_call.lua", endpoint, IN_FLIGHT, seconds)
    if command is None:
        return None
    cpu_before = cpu_seconds(pid)
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    cpu = cpu_seconds(pid) - cpu_before
    result = wrk_figures(output)
    if result["errors"] or not result["requests"]:
        raise RuntimeError(f"wrk against {endpoint}: {result}")
    result["cpu_us_per_call"] = cpu / result["requests"] * 1e6
    return result


def wrk_rounds(servers: dict[str, tuple[str, int]], rounds: int, seconds: float) -> Any:
    """``wrk_calls`` against each server (name: endpoint, pid) in alternating rounds, and the
    agent's calls/s over the plain server's in each round; None without wrk."""
    runs: list[dict[str, Any]] = []
    for _ in range(rounds):
        run = {name: wrk_calls(endpoint, pid, seconds) for name, (endpoint, pid) in servers.items()}
        if any(figures is None for figures in run.values()):
            return None
        run["agent_to_plain"] = run["agent"]["per_second"] / run["plain"]["per_second"]
        runs.append(run)
    ratios = [run["agent_to_plain"] for run in runs]
    return {"rounds": runs, "median_agent_to_plain": statistics.median(ratios)}


async def main(quick: bool) -> dict[str, Any]:
    rounds, per_round = (5, 40) if quick else (20, 100)
    seconds = 2.0 if quick else 5.0
    results: dict[str, Any] = {"mode": "quick" if quick else "full"}
    with tempfile.TemporaryDirectory() as directory:
        registry = RegistryProcess("--port", "0", "--db", str(Path(directory) / "b.db"))
        registry.wait_ready()
        provider = AgentProcess(
            BENCH / "echo_agent.py", registry=registry.url, name="echo", namespace="bench"
        )
        plain_port = free_port()
        plain = Process([str(BENCH / "fastmcp_echo.py"), str(plain_port)])
        plain_endpoint = f"http://127.0.0.1:{plain_port}/mcp"
        try:
            provider.wait_healthy()
            endpoint = provider.endpoint
            await eventually(lambda: answers(plain_endpoint), 30)
            async with (
                MeshClient(registry.url, namespace="bench") as mesh,
                Client(endpoint) as fastmcp_client,
                httpx.AsyncClient(timeout=30) as http,
                aiohttp.ClientSession() as session,
            ):
                transport = McpHttpClient(endpoint)
                dependency = await mesh.dependency("bench.echo")
                if dependency is None:
                    raise RuntimeError("the registry does not offer the provider")

                async def through_fastmcp() -> Any:
                    return (
                        await fastmcp_client.call_tool("echo", {"text": "hi"})
                    ).structured_content

                async def through_transport() -> Any:
                    return (await transport.call_tool("echo", {"text": "hi"})).value()

                # One socket carries one request at a time: each concurrent caller has its own.
                raws = [RawConnection(endpoint) for _ in range(IN_FLIGHT)]
                plains = [RawConnection(plain_endpoint) for _ in range(IN_FLIGHT)]
                calls: dict[str, Call] = {
                    "proxy": lambda: dependency(text="hi"),
                    "fastmcp": through_fastmcp,
                    "raw": raws[0],
                    "httpx": httpx_call(http, endpoint),
                    "aiohttp": aiohttp_call(session, endpoint),
                    "transport": through_transport,
                    "plain": plains[0],
                }
                own_sockets = {"raw": raws, "plain": plains}
                try:
                    await sequential(calls, 1, 20)  # warm-up: connections, first-call listings
                    results["sequential"] = await sequential(calls, rounds, per_round)
                    results["in_flight"] = IN_FLIGHT
                    results["concurrent_per_second"] = {
                        mode: await concurrent(own_sockets.get(mode, [call] * IN_FLIGHT), seconds)
                        for mode, call in calls.items()
                    }
                    servers = {
                        "agent": (endpoint, provider.process.pid),
                        "plain": (plain_endpoint, plain.process.pid),
                    }
                    results["wrk"] = await asyncio.to_thread(
                        wrk_rounds, servers, 2 if quick else 4, seconds
                    )
                finally:
                    await transport.aclose()
                    for raw in raws + plains:
                        await raw.aclose()
        finally:
            plain.stop()
            provider.stop()
            registry.stop()
    base = results["sequential"]["raw"]
    results["ratios_to_raw"] = {
        mode: {
            "p50": figures["p50_ms"] / base["p50_ms"],
            "mean": figures["mean_ms"] / base["mean_ms"],
        }
        for mode, figures in results["sequential"].items()
    }
    # Where the server is the limit: the agent's calls/s against a plain FastMCP server's.
    rates = results["concurrent_per_second"]
    results["agent_to_plain_fastmcp"] = {
        mode: rates[mode] / rates["plain"] for mode in ("raw", "proxy")
    }
    return results


def report(results: dict[str, Any]) -> None:
    rows = []
    for mode, label in MODES.items():
        figures, ratio = results["sequential"][mode], results["ratios_to_raw"][mode]
        rows.append(
            (
                label,
                f"p50 {figures['p50_ms']:.2f} ms  p99 {figures['p99_ms']:.2f} ms"
                f"  {figures['per_second']:,.0f} calls/s  {ratio['p50']:.2f}x of (c)",
            )
        )
    in_flight = results["in_flight"]
    for mode, label in MODES.items():
        rate = results["concurrent_per_second"][mode]
        rows.append((f"{label}, {in_flight} in flight", f"{rate:,.0f} calls/s"))
    versus = results["agent_to_plain_fastmcp"]
    rows.append(
        (
            f"the agent against plain FastMCP, {in_flight} in flight",
            f"{versus['raw']:.2f}x raw, {versus['proxy']:.2f}x through the proxy",
        )
    )
    rows.extend(_wrk_rows(results.get("wrk"), in_flight))
    print_table(f"one tool call to an agent process ({results['mode']})", rows)


def _wrk_rows(wrk: dict[str, Any] | None, in_flight: int) -> list[tuple[str, str]]:
    if wrk is None:
        return [("from wrk", "not run: wrk is not installed")]
    rows = []
    for number, run in enumerate(wrk["rounds"], 1):
        agent, plain = run["agent"], run["plain"]
        rows.append(
            (
                f"wrk, {in_flight} connections, round {number}: agent / plain FastMCP",
                f"{agent['per_second']:,.0f} / {plain['per_second']:,.0f} calls/s"
                f" ({run['agent_to_plain']:.2f}x); CPU per call {agent['cpu_us_per_call']:.0f}"
                f" / {plain['cpu_us_per_call']:.0f} us",
            )
        )
    rows.append(
        ("wrk: the agent against plain FastMCP", f"median {wrk['median_agent_to_plain']:.2f}x")
    )
    return rows


if __name__ == "__main__":
    command_line("agent_calls", __doc__ or "", main, report)
