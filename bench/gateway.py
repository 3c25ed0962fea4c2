"""The gateway against the agents behind it, in the same run.

    python bench/gateway.py [--quick]

Figures (table, and bench/results/gateway.json):

- one tool call through ``mcp-mesh gateway`` against the same call straight to the agent, by
  the same client (the mesh's transport, one POST a call on protocol 2026-07-28), in
  alternating rounds: p50/p99 and calls/s in sequence; the ratio is the gateway's cost
  (goal: at most 1.3x the direct latency);
- catalogue freshness: an agent turns healthy (its first heartbeat acknowledged) → a client
  listening on ``subscriptions/listen`` is told the tool list changed, p50/p99 (goal: under
  100 ms);
- ``tools/list`` with 1,000 capabilities in the mesh, as a client times it (goal: under 10 ms).
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from mcp import Client

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import command_line, print_table, summary_ms  # noqa: E402
from mesh_agent.mcp_http import McpHttpClient  # noqa: E402
from tests.support.agent_processes import AgentProcess, GatewayProcess  # noqa: E402
from tests.support.agents import idle_agent  # noqa: E402
from tests.support.processes import RegistryProcess  # noqa: E402

COLLECTION = "/api/v1/namespaces/default/agents"
ROUNDS = 5
# tools/list as one self-contained POST (protocol 2026-07-28), its JSON read with json.loads:
# close to what the gateway spends, without a client's validation of 1,000 tool schemas.
LIST_HEADERS = {
    "accept": "application/json, text/event-stream",
    "mcp-protocol-version": "2026-07-28",
    "mcp-method": "tools/list",
}
LIST_BODY = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "tools/list",
    "params": {
        "_meta": {
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
        }
    },
}


async def latency(call: Callable[[], Awaitable[Any]], calls: int) -> list[float]:
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return samples


async def calls_compared(gateway: str, agent: str, calls: int) -> dict[str, Any]:
    """The same tool call straight to the agent and through the gateway, rounds alternating."""
    direct, through = McpHttpClient(agent), McpHttpClient(gateway)
    samples: dict[str, list[float]] = {"direct": [], "gateway": []}
    try:
        for client in (direct, through):  # warm: connections open, first-call costs paid
            await client.call_tool("echo.say" if client is through else "say", {"text": "w"})
        for _ in range(ROUNDS):
            samples["direct"] += await latency(
                lambda: direct.call_tool("say", {"text": "hi"}), calls // ROUNDS
            )
            samples["gateway"] += await latency(
                lambda: through.call_tool("echo.say", {"text": "hi"}), calls // ROUNDS
            )
    finally:
        await direct.aclose()
        await through.aclose()
    figures = {
        mode: {**summary_ms(s), "per_second": len(s) / sum(s)} for mode, s in samples.items()
    }
    figures["ratio_p50"] = figures["gateway"]["p50_ms"] / figures["direct"]["p50_ms"]
    return figures


async def freshness(registry: str, gateway: str, rounds: int) -> dict[str, Any]:
    """A new agent's first heartbeat acknowledged → a listening client told of the change."""
    lags = []
    async with (
        httpx.AsyncClient(base_url=registry) as api,
        Client(gateway) as client,
        client.listen(tools_list_changed=True) as subscription,
    ):
        events = subscription.__aiter__()
        for n in range(rounds):
            name = f"fresh-{n}"
            body = idle_agent(name, [f"fresh.cap{n}"])
            (await api.put(f"{COLLECTION}/{name}", json=body)).raise_for_status()
            (await api.post(f"{COLLECTION}/{name}/heartbeat")).raise_for_status()
            healthy = time.perf_counter()
            await asyncio.wait_for(events.__anext__(), 10)
            lags.append(time.perf_counter() - healthy)
            (await api.delete(f"{COLLECTION}/{name}")).raise_for_status()
            await asyncio.wait_for(events.__anext__(), 10)  # its tool left: told too
    return summary_ms(lags)


async def listing(registry: str, gateway: str, capabilities: int, lists: int) -> dict[str, Any]:
    """``tools/list`` with ``capabilities`` in the mesh, one agent each."""
    async with httpx.AsyncClient(base_url=registry, timeout=30) as api:
        for start in range(0, capabilities, 100):
            await asyncio.gather(
                *(_register(api, f"many-{n}", f"many.cap{n}") for n in range(start, start + 100))
            )
    async with httpx.AsyncClient(timeout=30) as http:

        async def tools_list() -> int:
            response = await http.post(gateway, json=LIST_BODY, headers=LIST_HEADERS)
            return len(response.json()["result"]["tools"])

        while await tools_list() < capabilities:  # noqa: ASYNC110 - the gateway catching up
            await asyncio.sleep(0.05)
        samples = await latency(tools_list, lists)
    return {"capabilities": capabilities, **summary_ms(samples)}


async def _register(api: httpx.AsyncClient, name: str, capability: str) -> None:
    (await api.put(f"{COLLECTION}/{name}", json=idle_agent(name, [capability]))).raise_for_status()
    (await api.post(f"{COLLECTION}/{name}/heartbeat")).raise_for_status()


async def main(quick: bool) -> dict[str, Any]:
    calls = 500 if quick else 2_000
    registry = RegistryProcess("--port", "0", "--db", ":memory:").wait_ready()
    agent = AgentProcess(
        "provider.py", registry=registry.url, name="echo", namespace="default", interval=5.0
    )
    gateway = GatewayProcess(registry.url)
    try:
        agent.wait_healthy()
        url = gateway.wait_serving()
        results: dict[str, Any] = {"mode": "quick" if quick else "full"}
        results["calls"] = await calls_compared(url, agent.endpoint, calls)
        results["freshness"] = await freshness(registry.url, url, 20 if quick else 50)
        results["tools_list"] = await listing(registry.url, url, 1_000, 20 if quick else 50)
        return results
    finally:
        gateway.stop()
        agent.stop()
        registry.stop()


def report(results: dict[str, Any]) -> None:
    calls, fresh, listed = results["calls"], results["freshness"], results["tools_list"]
    rows = [
        (
            f"one call, {mode}",
            f"p50 {calls[mode]['p50_ms']:.2f} ms, p99 {calls[mode]['p99_ms']:.2f} ms,"
            f" {calls[mode]['per_second']:,.0f}/s",
        )
        for mode in ("direct", "gateway")
    ]
    rows.append(("gateway / direct, p50", f"{calls['ratio_p50']:.2f}x (goal 1.3x)"))
    rows.append(
        (
            "agent healthy -> client told",
            f"p50 {fresh['p50_ms']:.1f} ms, p99 {fresh['p99_ms']:.1f} ms (goal 100 ms)",
        )
    )
    rows.append(
        (
            f"tools/list, {listed['capabilities']:,} capabilities",
            f"p50 {listed['p50_ms']:.1f} ms, p99 {listed['p99_ms']:.1f} ms (goal 10 ms)",
        )
    )
    print_table(f"gateway ({results['mode']})", rows)


if __name__ == "__main__":
    command_line("gateway", __doc__ or "", main, report)
