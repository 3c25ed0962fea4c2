"""``mcp-mesh gateway`` as MCP clients see it: a registry, agents and the gateway as processes,
and the official ``mcp`` client in both protocol versions against it.

Tools are the healthy agents' capabilities; a call is routed as an injected dependency's call
(round robin over equal providers, failover); a change of the tool list reaches connected
clients by push (a ``subscriptions/listen`` stream on 2026-07-28, ``tools/list_changed`` on
the session of a 2025-11-25 client).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import fastmcp
import httpx
import pytest
from fastmcp.exceptions import ToolError
from mcp import Client, ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.support.agent_processes import MCP_MESH, AgentProcess, GatewayProcess
from tests.support.node import run_node
from tests.support.processes import ROOT, RegistryProcess, running_registry

pytestmark = pytest.mark.heavy
INTERVAL = 0.3
ECHO = {"echo.say", "echo.fail", "echo.calls"}


@dataclass
class Mesh:
    registry: RegistryProcess
    gateway: str
    agents: dict[str, AgentProcess] = field(default_factory=dict)

    def start(self, name: str, script: str = "provider.py", **env: str) -> AgentProcess:
        agent = AgentProcess(
            script,
            registry=self.registry.url,
            name=name,
            namespace="default",
            interval=INTERVAL,
            env=env,
        )
        self.agents[name] = agent
        agent.wait_healthy()
        return agent


@pytest.fixture(scope="module")
def mesh() -> Iterator[Mesh]:
    """One mesh for the module: the test that kills providers comes last."""
    with running_registry("--db", ":memory:") as registry:
        gateway = GatewayProcess(registry.url)
        found = Mesh(registry, gateway.wait_serving())
        try:
            found.start("echo-0", MESH_AGENT_LABELS="replica=r0")
            found.start("echo-1", MESH_AGENT_LABELS="replica=r1")
            found.start("relay", "consumer.py")
            found.start("librarian", "librarian.py")
            yield found
        finally:
            for agent in found.agents.values():
                agent.kill()
            gateway.stop()


class Notified:
    """The times a client was told that the tool list changed."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self._changed = asyncio.Event()

    def add(self) -> None:
        self.times.append(time.monotonic())
        self._changed.set()

    async def since(self, moment: float, within: float) -> float:
        """Wait for a notification at or after ``moment``; return its time."""
        async with asyncio.timeout(within):
            while not (later := [t for t in self.times if t >= moment]):
                self._changed.clear()
                await self._changed.wait()
        return later[0]


@asynccontextmanager
async def client_2025(url: str, notified: Notified) -> AsyncIterator[Any]:
    async def on_message(message: Any) -> None:
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            notified.add()

    async with (
        streamable_http_client(url) as (read, write),
        ClientSession(read, write, message_handler=on_message) as session,
    ):
        init = await session.initialize()
        assert init.protocol_version == "2025-11-25"
        assert init.capabilities.tools is not None
        assert init.capabilities.tools.list_changed
        yield session


@asynccontextmanager
async def client_2026(url: str, notified: Notified) -> AsyncIterator[Any]:
    async with Client(url) as client:
        assert client.protocol_version == "2026-07-28"
        async with client.listen(tools_list_changed=True) as subscription:

            async def follow() -> None:
                async for _ in subscription:
                    notified.add()

            task = asyncio.create_task(follow())
            try:
                yield client
            finally:
                task.cancel()


CLIENTS: dict[str, Callable[[str, Notified], Any]] = {
    "2025-11-25": client_2025,
    "2026-07-28": client_2026,
}


def healthy_capabilities(registry: RegistryProcess) -> set[str]:
    agents = httpx.get(registry.url + "/api/v1/agents").json()["items"]
    return {
        capability["name"]
        for agent in agents
        if agent["status"]["phase"] == "healthy"
        for capability in agent["spec"]["capabilities"]
    }


def discovered(registry: RegistryProcess, params: dict[str, str]) -> list[str]:
    found = httpx.get(registry.url + "/api/v1/discover", params=params).json()
    return [agent["metadata"]["name"] for agent in found["items"]]


async def tool_names(client: Any) -> set[str]:
    return {tool.name for tool in (await client.list_tools()).tools}


@pytest.mark.parametrize("protocol", list(CLIENTS))
async def test_tools_are_the_healthy_capabilities_and_calls_are_routed(
    mesh: Mesh, protocol: str
) -> None:
    async with CLIENTS[protocol](mesh.gateway, Notified()) as client:
        tools = {tool.name: tool for tool in (await client.list_tools()).tools}
        assert set(tools) == healthy_capabilities(mesh.registry)
        assert set(tools) >= ECHO | {"echo.relay"}
        assert tools["echo.say"].description.startswith("Echo ``text``")
        assert tools["echo.say"].input_schema["properties"]["text"]["type"] == "string"
        served = []
        for n in range(6):
            result = await client.call_tool("echo.say", {"text": f"hi {n}"})
            assert not result.is_error, result.content
            assert result.structured_content["text"] == f"hi {n}"
            served.append(result.structured_content["served_by"])
        assert set(served) == {"echo-0", "echo-1"}  # equal providers take turns
        # Through the gateway to an agent, and from it to its own dependency.
        relayed = await client.call_tool("echo.relay", {"text": "via relay"})
        assert relayed.structured_content["text"] == "via relay"
        failed = await client.call_tool("echo.fail", {"reason": "it broke"})
        assert failed.is_error
        assert "it broke" in failed.content[0].text
        missing = await client.call_tool("no.such", {})
        assert missing.is_error
        assert "'no.such'" in missing.content[0].text


@pytest.mark.parametrize("protocol", list(CLIENTS))
async def test_agents_coming_and_going_are_pushed_to_clients(mesh: Mesh, protocol: str) -> None:
    notified = Notified()
    async with CLIENTS[protocol](mesh.gateway, notified) as client:
        assert "echo.new" not in await tool_names(client)
        before = time.monotonic()
        newcomer = mesh.start("newcomer", TEST_CAPABILITY="echo.new")
        await notified.since(before, within=10)
        assert "echo.new" in await tool_names(client)
        result = await client.call_tool("echo.new", {"text": "fresh"})
        assert result.structured_content["served_by"] == "newcomer"

        before = time.monotonic()
        newcomer.stop()  # unregisters on its way out
        await notified.since(before, within=10)
        assert "echo.new" not in await tool_names(client)


@pytest.mark.parametrize("protocol", list(CLIENTS))
async def test_prompts_and_resources_of_the_agents_are_served_through_it(
    mesh: Mesh, protocol: str
) -> None:
    record = mesh.agents["librarian"].record()
    assert record is not None
    assert [p["name"] for p in record["spec"]["prompts"]] == ["summarize"]
    assert record["spec"]["resourceTemplates"][0]["uriTemplate"] == "notes://{name}"
    # Discoverable by prompt name and resource URI, as capabilities are.
    for params in ({"prompt": "summarize"}, {"resource": "notes://third"}):
        assert discovered(mesh.registry, params) == ["librarian"], params
    async with CLIENTS[protocol](mesh.gateway, Notified()) as client:
        (prompt,) = (await client.list_prompts()).prompts
        assert (prompt.name, prompt.description) == ("summarize", "Ask for a summary of a text.")
        assert [(a.name, a.required) for a in prompt.arguments] == [
            ("text", True),
            ("style", False),
        ]
        got = await client.get_prompt("summarize", {"text": "the report", "style": "terse"})
        assert got.messages[0].content.text == "Summarize in a terse way: the report"
        resources = (await client.list_resources()).resources
        assert [(str(r.uri), r.mime_type) for r in resources] == [("notes://index", "text/plain")]
        templates = (await client.list_resource_templates()).resource_templates
        assert [t.uri_template for t in templates] == ["notes://{name}"]
        index = await client.read_resource("notes://index")
        assert index.contents[0].text == "first, second"
        one = await client.read_resource("notes://third")  # through the template
        assert one.contents[0].text == "note third, from librarian"
        with pytest.raises(MCPError, match="no healthy agent serves resource"):
            await client.read_resource("elsewhere://x")
        with pytest.raises(MCPError, match="no healthy agent offers prompt"):
            await client.get_prompt("nope", {})


async def test_a_new_prompt_is_pushed_to_listening_clients(mesh: Mesh) -> None:
    async with Client(mesh.gateway) as client:
        async with client.listen(prompts_list_changed=True) as subscription:
            events = subscription.__aiter__()
            mesh.start("second-librarian", "librarian.py", TEST_PROMPT="outline")
            await asyncio.wait_for(events.__anext__(), 10)
            names = {prompt.name for prompt in (await client.list_prompts()).prompts}
            assert names == {"summarize", "outline"}
        mesh.agents.pop("second-librarian").stop()


async def test_meta_tools_reach_every_capability_through_two_tools(mesh: Mesh) -> None:
    gateway = GatewayProcess(mesh.registry.url, "--meta-tools")
    try:
        url = gateway.wait_serving()
        async with Client(url) as client:
            assert await tool_names(client) == {"list_available_tools", "call_tool"}
            listed = await client.call_tool("list_available_tools", {"query": "echo"})
            found = {t["capability"]: t for t in listed.structured_content["tools"]}
            assert set(found) >= {"echo.say", "echo.relay"}
            assert sorted(found["echo.say"]["providers"]) == ["default/echo-0", "default/echo-1"]
            only_r0 = await client.call_tool("list_available_tools", {"selector": "replica=r0"})
            assert {t["capability"] for t in only_r0.structured_content["tools"]} == ECHO
            bad = await client.call_tool("list_available_tools", {"selector": "replica in ("})
            assert bad.is_error
            assert bad.content[0].text.startswith("selector:")
            called = await client.call_tool(
                "call_tool", {"capability": "echo.say", "arguments": {"text": "meta"}}
            )
            assert called.structured_content["text"] == "meta"
            counted = await client.call_tool(
                "call_tool", {"capability": "echo.say", "arguments": {}, "tool": "count"}
            )
            assert counted.structured_content["say"] >= 0
            wrong = await client.call_tool("call_tool", {"capability": "echo.say", "x": 1})
            assert wrong.is_error
            assert wrong.content[0].text.startswith("x:")
    finally:
        gateway.stop()


async def test_fastmcp_clients_call_through_it_too(mesh: Mesh) -> None:
    async with fastmcp.Client(mesh.gateway) as client:
        tools = {tool.name for tool in await client.list_tools()}
        assert tools == healthy_capabilities(mesh.registry)
        result = await client.call_tool("echo.say", {"text": "fastmcp"})
        assert result.data["text"] == "fastmcp"
        with pytest.raises(ToolError, match="it broke"):
            await client.call_tool("echo.fail", {"reason": "it broke"})
        (prompt,) = await client.list_prompts()
        assert prompt.name == "summarize"


async def test_globs_and_a_selector_choose_what_is_exposed(mesh: Mesh) -> None:
    gateway = GatewayProcess(
        mesh.registry.url, "--capability", "echo.s*", "--capability", "echo.calls", "-l", "replica"
    )
    try:
        async with Client(gateway.wait_serving()) as client:
            assert await tool_names(client) == {"echo.say", "echo.calls"}
    finally:
        gateway.stop()


async def test_a_client_that_launches_the_gateway_over_stdio(mesh: Mesh) -> None:
    parameters = StdioServerParameters(
        command=sys.executable,
        args=[str(MCP_MESH), "gateway", "--stdio", "--capability", "echo.*"],
        env={
            **os.environ,
            "MESH_REGISTRY_URL": mesh.registry.url,
            "PYTHONPATH": str(ROOT),
        },
    )
    async with stdio_client(parameters) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        assert "echo.say" in await tool_names(session)
        result = await session.call_tool("echo.say", {"text": "over stdio"})
        assert result.structured_content["text"] == "over stdio"


def test_the_typescript_sdk_validates_what_the_gateway_passes_on(mesh: Mesh, node: Path) -> None:
    # The SDK checks each structured result against the tool's output schema (ajv): the
    # schemas the gateway lists must be the providers' own, and the results their answers.
    calls = [
        {"tool": "echo.say", "arguments": {"text": "from node"}},
        {"tool": "echo.relay", "arguments": {"text": "relayed"}},
        {"tool": "echo.fail", "arguments": {"reason": "no"}},
    ]
    done = run_node(node, "mcp_client.mjs", mesh.gateway, stdin=json.dumps(calls))
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["serverInfo"]["name"] == "mcp-mesh-gateway"
    assert {tool["name"] for tool in answer["tools"]} == healthy_capabilities(mesh.registry)
    said, relayed, failed = answer["calls"]
    assert "exception" not in said, said
    assert said["structuredContent"]["text"] == "from node"
    assert relayed["structuredContent"]["text"] == "relayed"
    assert failed["isError"] is True
    assert "no" in failed["text"]


async def test_a_killed_provider_costs_no_call_and_a_sole_one_takes_its_tool_away(
    mesh: Mesh,
) -> None:
    notified = Notified()
    lonely = mesh.start("lonely", TEST_CAPABILITY="echo.lonely")
    async with client_2026(mesh.gateway, notified) as client:
        assert "echo.lonely" in await tool_names(client)
        mesh.agents["echo-1"].kill()
        lonely.kill()
        before = time.monotonic()
        for n in range(10):  # echo-1 is dead from the first call on: the gateway fails over
            result = await client.call_tool("echo.say", {"text": str(n)})
            assert not result.is_error, result.content
            assert result.structured_content["served_by"] == "echo-0"
        # At the unhealthy deadline the capability with no other provider leaves the list,
        # and the clients are told; echo.say stays, served by echo-0.
        await notified.since(before, within=15)
        names = await tool_names(client)
        assert "echo.lonely" not in names
        assert "echo.say" in names
