"""A probe that says the agent cannot serve stops its heartbeats; a replaced record is
registered at once. Against a real registry process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from mesh_agent.lifecycle import Lifecycle
from mesh_registry.client import DEFAULT_NAMESPACE, RegistryClient
from mesh_registry.errors import NotFound
from mesh_registry.model import Agent, HeartbeatResponse, parse_agent
from tests.support.processes import RegistryProcess, eventually

INTERVAL = 0.2


def record(ns: str, capability: str = "probe.test") -> Agent:
    return parse_agent(
        {
            "metadata": {"name": "probed", "namespace": ns},
            "spec": {
                "endpoint": "http://127.0.0.1:1/mcp",
                "healthInterval": INTERVAL,
                "capabilities": [{"name": capability, "tool": "t"}],
            },
        }
    )


class Switch:
    """A probe the test turns: True, False, or an error."""

    def __init__(self) -> None:
        self.answer: bool | Exception = True
        self.asked = 0

    async def __call__(self) -> bool:
        self.asked += 1
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


@pytest.fixture
async def client(registry: RegistryProcess) -> AsyncIterator[RegistryClient]:
    async with RegistryClient(registry.url) as registry_client:
        yield registry_client


@contextlib.asynccontextmanager
async def living(lifecycle: Lifecycle) -> AsyncIterator[Lifecycle]:
    lifecycle.start()
    try:
        yield lifecycle
    finally:
        await lifecycle.leave(within=2.0)


async def phase(client: RegistryClient, ns: str) -> str | None:
    try:
        agent = await client.get("probed", ns)
    except NotFound:  # not registered yet
        return None
    return agent.status.phase.value if agent.status else None


async def test_heartbeats_stop_while_the_probe_says_no(client: RegistryClient, ns: str) -> None:
    probe = Switch()
    async with living(Lifecycle(client, record(ns), INTERVAL, probe=probe)):
        await eventually(lambda: _is(client, ns, "healthy"))
        probe.answer = False
        await eventually(lambda: _is(client, ns, "unhealthy"))
        probe.answer = True
        await eventually(lambda: _is(client, ns, "healthy"))
        probe.answer = RuntimeError("the probe itself broke")  # counts as no; the loop goes on
        await eventually(lambda: _is(client, ns, "unhealthy"))
        asked = probe.asked
        probe.answer = True
        await eventually(lambda: _is(client, ns, "healthy"))
        assert probe.asked > asked


async def test_a_replaced_record_is_registered_without_waiting(
    client: RegistryClient, ns: str
) -> None:
    lifecycle = Lifecycle(client, record(ns), 60.0)  # no heartbeat would come in time
    async with living(lifecycle):
        await asyncio.wait_for(lifecycle.registered.wait(), 5)
        lifecycle.replace(record(ns, "probe.changed"))
        changed = await eventually(lambda: _capabilities(client, ns), within=5)
        assert changed == ["probe.changed"]
        assert lifecycle.registrations == 2


class Faulty(RegistryClient):
    """A client whose first heartbeats fail with an error that is not the registry's (an
    answer that does not decode, say)."""

    failures = 3

    async def heartbeat(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> HeartbeatResponse:
        if self.failures:
            self.failures -= 1
            raise ValueError("an answer that does not decode")
        return await super().heartbeat(name, namespace)


async def test_an_unexpected_error_does_not_end_the_heartbeats(
    registry: RegistryProcess, ns: str
) -> None:
    async with Faulty(registry.url) as faulty, RegistryClient(registry.url) as client:
        async with living(Lifecycle(faulty, record(ns), INTERVAL)):
            await eventually(lambda: _is(client, ns, "healthy"))
        assert faulty.failures == 0


async def _is(client: RegistryClient, ns: str, wanted: str) -> bool:
    return await phase(client, ns) == wanted


async def _capabilities(client: RegistryClient, ns: str) -> list[str] | None:
    names = [c.name for c in (await client.get("probed", ns)).spec.capabilities]
    return names if names != ["probe.test"] else None
