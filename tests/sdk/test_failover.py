"""Failover between real agent processes, timed against the registry's own events."""

from __future__ import annotations

import asyncio
import itertools
import json
import signal
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from fastmcp import Client

from mesh_agent.mcp_http import McpHttpClient
from mesh_registry.client import RegistryClient
from mesh_registry.model import EventType, Phase
from mesh_registry.query import AgentQuery
from tests.support.agent_processes import AgentProcess, StartAgent
from tests.support.processes import RegistryProcess, eventually
from tests.support.watching import EventLog, about, initial_events_ended

PREFER_FAST = json.dumps({"capability": "echo.say", "tags": ["+fast"]})


@dataclass
class Call:
    started: float
    served_by: str | None
    error: str | None = None


class Caller:
    """Calls the consumer's relay tool in a loop, recording who served each call.

    Each call has a deadline, so a call that never returns is a recorded failure, not a hung
    test. The client is the mesh's own (self-contained requests, nothing kept between calls):
    these tests are about the consumer's failover, and other tests drive agents with
    ``fastmcp.Client`` and the official clients."""

    CALL_TIMEOUT = 10.0

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.calls: list[Call] = []
        self._recorded = asyncio.Condition()
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Caller:
        self._task = asyncio.create_task(self._run())
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._stop.set()
        assert self._task is not None
        async with asyncio.timeout(self.CALL_TIMEOUT + 5):
            await self._task

    async def _run(self) -> None:
        client = McpHttpClient(self.endpoint, timeout=self.CALL_TIMEOUT)
        try:
            while not self._stop.is_set():
                started = time.time()
                try:
                    async with asyncio.timeout(self.CALL_TIMEOUT):
                        result = await client.call_tool("relay", {"text": "ping"})
                    self.calls.append(Call(started, result.value()["served_by"]))
                except Exception as error:  # a failed call is what the tests look for
                    self.calls.append(Call(started, None, repr(error)))
                async with self._recorded:
                    self._recorded.notify_all()
                await asyncio.sleep(0.005)
        finally:
            await client.aclose()

    async def wait_for(self, condition: Callable[[list[Call]], bool], within: float = 10.0) -> None:
        """Wait until ``condition(calls)`` holds; fail after ``within`` seconds."""
        async with asyncio.timeout(within), self._recorded:
            await self._recorded.wait_for(lambda: condition(self.calls))

    async def wait_calls(self, count: int, within: float = 10.0) -> None:
        await self.wait_for(lambda calls: len(calls) >= count, within)

    def failures(self) -> list[Call]:
        return [call for call in self.calls if call.error is not None]

    def failures_around(self, killed_at: float) -> tuple[list[Call], list[Call]]:
        """The failed calls started before a provider's kill had ended (``killed_at``), and
        those started after."""
        failed = self.failures()
        return (
            [call for call in failed if call.started < killed_at],
            [call for call in failed if call.started >= killed_at],
        )


def assert_failed_over(caller: Caller, killed_at: float) -> None:
    """Every call made after the kill was served; before it, at most the one call then in flight
    failed, and only because the kill cut its answer off: the tool may have run, so it is not
    tried on another provider (see ``McpHttpClient``)."""
    in_flight, after = caller.failures_around(killed_at)
    assert after == []
    assert len(in_flight) <= 1, in_flight  # the caller makes one call at a time
    assert all("response cut off" in (call.error or "") for call in in_flight), in_flight


@asynccontextmanager
async def asking(endpoint: str) -> AsyncIterator[McpHttpClient]:
    """The mesh's own MCP client: a call costs well under a millisecond of client time, so
    polling with it measures the consumer, not the client."""
    client = McpHttpClient(endpoint)
    try:
        yield client
    finally:
        await client.aclose()


@asynccontextmanager
async def watching(registry: RegistryProcess, namespace: str) -> AsyncIterator[EventLog]:
    """A watch on the namespace that already follows changes."""
    async with RegistryClient(registry.url) as client:
        log = EventLog(client.watch(AgentQuery(namespace=namespace)))
        try:
            await log.wait_for(initial_events_ended)
            yield log
        finally:
            await log.close()


def _fast_and_plain(
    start_agent: StartAgent, interval: float = 0.5
) -> tuple[AgentProcess, AgentProcess]:
    fast = start_agent("provider.py", "fast", interval=interval, env={"MESH_AGENT_TAGS": "fast"})
    plain = start_agent("provider.py", "plain", interval=interval)
    return fast, plain


async def test_a_provider_that_stops_is_replaced_within_100ms_of_its_unregister(
    start_agent: StartAgent, registry: RegistryProcess, ns: str
) -> None:
    fast, plain = _fast_and_plain(start_agent)
    consumer = start_agent("consumer.py", "relay", env={"TEST_DEPENDENCY": PREFER_FAST})
    for agent in (fast, plain, consumer):
        agent.wait_healthy()
    async with watching(registry, ns) as events, Caller(consumer.endpoint) as caller:
        await caller.wait_calls(5)
        fast.process.send_signal(signal.SIGTERM)
        unregistered_at, _ = await events.first(about("fast", EventType.DELETED), within=10)
        assert await asyncio.to_thread(fast.wait_exit) == 0
        await caller.wait_for(lambda calls: calls[-1].started >= unregistered_at + 0.3)
    assert caller.failures() == []
    assert {c.served_by for c in caller.calls if c.started < unregistered_at - 0.05} == {"fast"}
    later = [c.served_by for c in caller.calls if c.started >= unregistered_at + 0.1]
    assert later
    assert set(later) == {"plain"}


async def test_a_killed_provider_is_replaced_by_its_unhealthy_deadline_and_used_again_later(
    start_agent: StartAgent, registry: RegistryProcess, ns: str
) -> None:
    interval = 0.4
    fast, plain = _fast_and_plain(start_agent, interval)
    consumer = start_agent("consumer.py", "relay", env={"TEST_DEPENDENCY": PREFER_FAST})
    for agent in (fast, plain, consumer):
        agent.wait_healthy()
    async with (
        watching(registry, ns) as events,
        asking(consumer.endpoint) as watcher,
        Caller(consumer.endpoint) as caller,
    ):
        await caller.wait_calls(5)
        known = await watcher.call_tool("known", {})
        assert known.value(wrapped=True) == ["fast", "plain"]
        fast.kill()
        killed_at = time.time()

        async def fast_forgotten() -> bool:
            result = await watcher.call_tool("known", {})
            return "fast" not in result.value(wrapped=True)

        await eventually(fast_forgotten, interval=0.005)
        switched_at = time.time()
        _, event = await events.first(about("fast", EventType.MODIFIED, Phase.UNHEALTHY), within=10)
        deadline = event.object.status.phase_since.timestamp()  # type: ignore[union-attr]
        # The consumer let go of the dead provider when the registry did, not later.
        assert switched_at <= deadline + 0.1, (switched_at, deadline)

        # It comes back: used again, with no consumer restart.
        again = start_agent(
            "provider.py", "fast", interval=interval, env={"MESH_AGENT_TAGS": "fast"}
        )
        await asyncio.to_thread(again.wait_healthy)
        await caller.wait_for(lambda calls: calls[-1].served_by == "fast", within=5)
    # Calls made while the provider was dead but not yet unhealthy failed over: none failed.
    assert_failed_over(caller, killed_at)


async def test_calls_rotate_over_equal_providers_and_survive_a_kill(
    start_agent: StartAgent,
) -> None:
    first = start_agent("provider.py", "echo-a")
    second = start_agent("provider.py", "echo-b")
    consumer = start_agent("consumer.py", "relay")
    for agent in (first, second, consumer):
        agent.wait_healthy()
    async with Client(consumer.endpoint) as client:
        served = [
            (await client.call_tool("relay", {"text": str(n)})).structured_content["served_by"]
            for n in range(10)
        ]
    assert sorted(set(served)) == ["echo-a", "echo-b"]
    assert all(a != b for a, b in itertools.pairwise(served))  # strictly alternating

    async with Caller(consumer.endpoint) as caller:
        await caller.wait_calls(10)
        first.kill()  # in the middle of the stream of calls
        killed_at = time.time()
        count = len(caller.calls)
        await caller.wait_calls(count + 30)
    assert_failed_over(caller, killed_at)
    assert caller.calls[-1].served_by == "echo-b"


async def test_an_optional_dependency_whose_provider_was_killed_gets_the_fallback_at_once(
    start_agent: StartAgent,
) -> None:
    # A long interval: the registry marks the killed provider unhealthy only after 2.5 of it.
    provider = start_agent("provider.py", "echo-a", interval=4.0)
    consumer = start_agent("consumer.py", "relay")
    for agent in (provider, consumer):
        agent.wait_healthy()
    async with Caller(consumer.endpoint) as caller:
        await caller.wait_for(lambda calls: bool(calls) and calls[-1].served_by == "echo-a")
        provider.kill()
        killed_at = time.time()
        await caller.wait_for(lambda calls: len([c for c in calls if c.started > killed_at]) >= 20)
    after = [call for call in caller.calls if call.started > killed_at]
    # At most the first call after the death fails; the function's fallback runs from then on,
    # seconds before the registry could say the provider is gone.
    assert len([call for call in after if call.error is not None]) <= 1, after
    assert all(call.served_by is None for call in after[2:]), after
    assert after[-1].started - killed_at < 4.0 * 2.5

    # Back (at a new address): used again, with no consumer restart.
    again = start_agent("provider.py", "echo-a", interval=4.0)
    await asyncio.to_thread(again.wait_healthy)
    async with Caller(consumer.endpoint) as caller:
        await caller.wait_for(
            lambda calls: bool(calls) and calls[-1].served_by == "echo-a", within=10
        )
