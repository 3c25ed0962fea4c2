"""A registry outage with 50 agents, against real processes.

While the registry is down for several heartbeat intervals, the agents keep serving and a
consumer's calls keep succeeding (it uses the providers it last knew). When it is back, every
agent heartbeats again within two intervals, and not all at the same moment: the agents' retry
delays are jittered, so their return is spread out (measured). Then the registry is replaced by
one with an empty database: every agent finds itself unknown (404) and registers again, within
two intervals, spread out too.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client

from tests.support.agent_processes import AGENTS, AgentProcess
from tests.support.processes import Process, RegistryProcess, eventually, free_port, wait_until

INTERVAL = 0.5
PROCESSES = 5
PER_PROCESS = 10
FLEET = PROCESSES * PER_PROCESS
OUTAGE = 6 * INTERVAL
PEAK_WINDOW = 0.1  # seconds: the most agents returning within any such window is the peak


class Calls:
    """A consumer called every 25 ms in the background; each outcome is kept."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.outcomes: list[tuple[float, str]] = []  # (time, "served" | "none" | error)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Calls]:
        async with Client(self.endpoint, timeout=10) as client:
            task = asyncio.create_task(self._loop(client))
            try:
                yield self
            finally:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _loop(self, client: Client) -> None:
        while True:
            try:
                result = await client.call_tool("relay", {"arguments": {"text": "ping"}})
                served = (result.structured_content or {}).get("served_by")
                self.outcomes.append((time.time(), "served" if served else "none"))
            except Exception as error:
                self.outcomes.append((time.time(), f"error: {error}"))
            await asyncio.sleep(0.025)

    def between(self, start: float, end: float) -> list[str]:
        return [outcome for moment, outcome in self.outcomes if start <= moment <= end]


def spread(moments: list[float]) -> dict[str, float]:
    """How spread out ``moments`` are: from first to last, and the most within PEAK_WINDOW."""
    ordered = sorted(moments)
    peak = max(
        sum(1 for other in ordered[i:] if other - moment <= PEAK_WINDOW)
        for i, moment in enumerate(ordered)
    )
    return {
        "first": ordered[0],
        "last": ordered[-1],
        "spread": ordered[-1] - ordered[0],
        "peak": peak,
    }


def timestamp(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@contextlib.contextmanager
def fleet(registry: RegistryProcess, ns: str) -> Iterator[list[Process]]:
    processes = [
        Process(
            [str(AGENTS / "fleet.py")],
            {
                "MESH_REGISTRY_URL": registry.url,
                "MESH_NAMESPACE": ns,
                "MESH_HEALTH_INTERVAL": str(INTERVAL),
                "FLEET_PREFIX": f"fleet{p}",
                "FLEET_SIZE": str(PER_PROCESS),
            },
        )
        for p in range(PROCESSES)
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.kill()


def agents(url: str, ns: str) -> dict[str, dict[str, Any]]:
    items = httpx.get(f"{url}/api/v1/namespaces/{ns}/agents", timeout=5).json()["items"]
    return {a["metadata"]["name"]: a for a in items if a["metadata"]["name"].startswith("fleet")}


def all_healthy(url: str, ns: str) -> dict[str, dict[str, Any]] | None:
    found = agents(url, ns)
    ready = len(found) == FLEET and all(a["status"]["phase"] == "healthy" for a in found.values())
    return found if ready else None


def first_after(
    url: str, ns: str, since: float, moment_of: Callable[[dict[str, Any]], str | None]
) -> dict[str, float]:
    """Poll the registry until every fleet agent shows a ``moment_of`` later than ``since``;
    return each agent's first such moment (the registry's own timestamps)."""
    seen: dict[str, float] = {}

    def everyone() -> bool:
        for name, record in agents(url, ns).items():
            text = moment_of(record)
            if name not in seen and text is not None and timestamp(text) > since:
                seen[name] = timestamp(text)
        return len(seen) == FLEET

    try:
        wait_until(everyone, timeout=20, interval=0.02)
    except AssertionError:
        # Say who is missing and what the registry shows of them, not only that time ran out.
        missing = {
            name: (record["status"].get("phase"), moment_of(record))
            for name, record in agents(url, ns).items()
            if name not in seen
        }
        raise AssertionError(f"no moment after {since} within 20 s for {missing}") from None
    return seen


@pytest.mark.heavy
async def test_an_outage_and_a_replaced_registry_with_fifty_agents(
    tmp_path: Path, ns: str, record_property: Callable[..., None]
) -> None:
    port = free_port()
    database = tmp_path / "mesh.db"
    registry = RegistryProcess("--port", str(port), "--db", str(database)).wait_ready()
    replacement: RegistryProcess | None = None
    consumer: AgentProcess | None = None
    try:
        with fleet(registry, ns):
            await eventually(lambda: _async(all_healthy, registry.url, ns), within=60)
            consumer = AgentProcess(
                "relay.py",
                registry=registry.url,
                name="relay",
                namespace=ns,
                interval=INTERVAL,
                env={"TEST_DEPENDENCY": "fleet.echo"},
            )
            consumer.wait_healthy()
            endpoints = [a["spec"]["endpoint"] for a in agents(registry.url, ns).values()]
            async with Calls(consumer.endpoint).running() as calls:
                await eventually(lambda: _served_once(calls), within=10)

                # 1. An outage: SIGKILL, several intervals without a registry, same database.
                down = time.time()
                registry.kill()
                await _agents_answer(random.sample(endpoints, 5))
                await asyncio.sleep(OUTAGE)  # the outage itself: time passing is the point
                await _agents_answer(random.sample(endpoints, 5))
                registry = RegistryProcess("--port", str(port), "--db", str(database)).wait_ready()
                back = time.time()
                beats = first_after(
                    registry.url, ns, back, lambda a: a["status"].get("lastHeartbeatTime")
                )
                returned = spread(list(beats.values()))
                await asyncio.sleep(2 * INTERVAL)  # calls keep going after the recovery too
                during = calls.between(down, time.time())
                assert during, "no call was made during the outage"
                assert set(during) == {"served"}, [o for o in during if o != "served"][:5]
                assert returned["last"] - back <= 2 * INTERVAL, returned

                # 2. A replaced registry: an empty database; every agent must register again.
                registry.kill()
                replacement = RegistryProcess(
                    "--port", str(port), "--db", str(tmp_path / "empty.db")
                ).wait_ready()
                fresh = time.time()
                registered = first_after(
                    replacement.url, ns, fresh - 1, lambda a: a["metadata"]["creationTimestamp"]
                )
                reregistered = spread(list(registered.values()))
                assert reregistered["last"] - fresh <= 2 * INTERVAL, reregistered
                await eventually(lambda: _async(all_healthy, replacement.url, ns), within=10)
                settled = time.time()
                await eventually(lambda: _served_after(calls, settled), within=10)

            figures = {
                "heartbeats_back": _relative(returned, back),
                "registered_again": _relative(reregistered, fresh),
                "calls_during_outage": len(during),
            }
            record_property("outage", figures)
            print(f"\noutage with {FLEET} agents, interval {INTERVAL} s: {figures}")
            # Jittered retries: not everyone in the same tenth of a second.
            assert returned["peak"] < FLEET, returned
            assert reregistered["peak"] < FLEET, reregistered
    finally:
        registry.kill()
        if replacement is not None:
            replacement.kill()
        if consumer is not None:
            consumer.kill()


async def _async(check: Callable[..., Any], *args: Any) -> Any:
    return await asyncio.to_thread(check, *args)


async def _served_once(calls: Calls) -> bool:
    return any(outcome == "served" for _, outcome in calls.outcomes)


async def _served_after(calls: Calls, moment: float) -> bool:
    return "served" in calls.between(moment, time.time())


async def _agents_answer(endpoints: list[str]) -> None:
    """Each of ``endpoints`` answers a call: the agents serve, registry or not."""
    for endpoint in endpoints:
        async with Client(endpoint, timeout=10) as client:
            result = await client.call_tool("echo", {"text": "still here?"})
            assert result.structured_content["text"] == "still here?"  # type: ignore[index]


def _relative(figures: dict[str, float], origin: float) -> dict[str, float]:
    return {
        "first_s": round(figures["first"] - origin, 3),
        "last_s": round(figures["last"] - origin, 3),
        "spread_s": round(figures["spread"], 3),
        "peak_in_100ms": figures["peak"],
    }
