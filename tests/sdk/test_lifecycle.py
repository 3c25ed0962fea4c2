"""An agent's life around the registry: outages, restarts, late registries, deletion, SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from fastmcp import Client

from mesh_registry.model import EventType
from tests.sdk.test_failover import PREFER_FAST, Caller, watching
from tests.support.agent_processes import AgentProcess, StartAgent
from tests.support.processes import RegistryProcess, free_port, running_registry, wait_until
from tests.support.watching import about

INTERVAL = 0.5


def _heartbeat_after(agent: AgentProcess, moment: float) -> bool:
    """Whether the registry holds ``agent`` healthy, with a heartbeat later than ``moment``."""
    record = agent.record()
    if record is None or record["status"]["phase"] != "healthy":
        return False
    beat = record["status"].get("lastHeartbeatTime")
    return beat is not None and datetime.fromisoformat(beat).timestamp() > moment


async def test_consumers_keep_calling_while_the_registry_is_down_and_rejoin_its_restart(
    start_agent: StartAgent, tmp_path: Path, ns: str
) -> None:
    database = str(tmp_path / "mesh.db")
    registry = RegistryProcess("--port", "0", "--db", database).wait_ready()
    restarted: RegistryProcess | None = None
    try:
        agents = [
            start_agent("provider.py", "plain", registry=registry.url, interval=INTERVAL),
            start_agent(
                "consumer.py",
                "relay",
                registry=registry.url,
                interval=INTERVAL,
                env={"TEST_DEPENDENCY": PREFER_FAST},
            ),
        ]
        plain, consumer = agents
        for agent in agents:
            agent.wait_healthy()
        endpoint = consumer.endpoint

        async with Caller(endpoint) as caller:
            await caller.wait_calls(3)
            registry.kill()  # SIGKILL: no goodbye to anyone
            killed_at = time.time()
            # Long enough for every agent to miss several heartbeats.
            await caller.wait_for(lambda calls: calls[-1].started > killed_at + 3 * INTERVAL)
        assert caller.failures() == []
        assert {call.served_by for call in caller.calls} == {"plain"}
        assert all(agent.alive() for agent in agents)

        restarted = RegistryProcess("--port", str(registry.port), "--db", database)
        restarted.wait_ready()
        back_at = time.time()
        # Every agent heartbeats the new registry within two intervals, and none restarted.
        for agent in agents:
            wait_until(lambda agent=agent: _heartbeat_after(agent, back_at), timeout=30)
        rejoined_at = time.time()
        assert rejoined_at - back_at <= 2 * INTERVAL, rejoined_at - back_at
        assert all(agent.alive() for agent in agents)

        # The consumer's watch is live again: a better provider that appears now is used.
        fast = start_agent(
            "provider.py",
            "fast",
            registry=restarted.url,
            interval=INTERVAL,
            env={"MESH_AGENT_TAGS": "fast"},
        )
        await asyncio.to_thread(fast.wait_healthy)
        async with Caller(endpoint) as caller:
            await caller.wait_for(
                lambda calls: bool(calls) and calls[-1].served_by == "fast", within=5
            )
        assert caller.failures() == []
        assert plain.alive()
    finally:
        registry.kill()
        if restarted is not None:
            restarted.kill()


async def test_an_agent_without_a_registry_serves_and_joins_when_it_appears(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    provider = start_agent("provider.py", "early", registry=url, interval=INTERVAL)
    endpoint = provider.wait_serving()
    async with Client(endpoint) as client:  # serving, with nothing to register with
        result = await client.call_tool("say", {"text": "alone"})
        assert result.data["text"] == "alone"
    wait_until(lambda: "registry unavailable" in provider.output)
    assert provider.alive()

    with running_registry("--port", str(port), "--db", str(tmp_path / "late.db")):
        record = provider.wait_healthy()
    assert record["spec"]["endpoint"] == endpoint


async def test_a_deleted_record_is_registered_again_in_full(
    start_agent: StartAgent, registry: RegistryProcess, ns: str
) -> None:
    provider = start_agent("provider.py", "phoenix", interval=INTERVAL)
    before = provider.wait_healthy()
    async with watching(registry, ns) as events, httpx.AsyncClient() as http:
        response = await http.delete(registry.url + provider.record_path)
        assert response.status_code == 200
        await events.first(about("phoenix", EventType.DELETED))
        # The next heartbeat is answered 404: the agent registers again, with everything.
        _, added = await events.first(about("phoenix", EventType.ADDED), within=5 * INTERVAL)
    assert added.object.spec.model_dump(mode="json", by_alias=True) == before["spec"]  # type: ignore[union-attr]
    assert provider.wait_healthy()["metadata"]["uid"] != before["metadata"]["uid"]


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_a_stopped_agent_unregisters_and_exits_0(
    start_agent: StartAgent, registry: RegistryProcess, ns: str, sig: signal.Signals
) -> None:
    provider = start_agent("provider.py", "leaving", interval=INTERVAL)
    provider.wait_healthy()
    endpoint = provider.endpoint
    async with watching(registry, ns) as events:
        signalled_at = time.time()
        provider.process.send_signal(sig)
        unregistered_at, deleted = await events.first(about("leaving", EventType.DELETED))
        code = await asyncio.to_thread(provider.wait_exit, 10)
        after = events.events[events.events.index(deleted) + 1 :]
    assert code == 0
    # Its heartbeats stopped before it unregistered: nothing brought the record back.
    assert not any(about("leaving", EventType.ADDED)(event) for event in after)
    assert unregistered_at - signalled_at < 2.0
    async with httpx.AsyncClient() as http:
        with pytest.raises(httpx.ConnectError):  # no longer accepting calls
            await http.post(endpoint, json={})


async def test_a_stopped_agent_exits_0_within_a_bound_when_the_registry_is_gone(
    start_agent: StartAgent, tmp_path: Path
) -> None:
    with running_registry("--db", str(tmp_path / "gone.db")) as registry:
        provider = start_agent("provider.py", "orphan", registry=registry.url, interval=INTERVAL)
        provider.wait_healthy()
    stopped_at = time.monotonic()
    provider.process.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(provider.wait_exit, 15) == 0
    # The unregister gives up after its timeout; the agent does not hang on it.
    assert time.monotonic() - stopped_at < 10
