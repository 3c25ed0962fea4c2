"""The official MCP Python client, in both protocol versions, calls every registry tool.

``ClientSession`` over streamable HTTP negotiates 2025-11-25; ``mcp.Client`` adopts 2026-07-28.
Both validate each tool's structured content against its output schema and raise on a
mismatch, as every strict client does: the records they read belong to real agents on
ephemeral (five-digit) ports.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from mcp import Client, ClientSession
from mcp.client.streamable_http import streamable_http_client

from mesh_registry import __version__
from tests.support.mesh import Mesh, plan

CallTool = Callable[[str, dict[str, Any]], Awaitable[Any]]
READ_ONLY = {"discover_services", "list_agents", "get_agent_status"}
IDEMPOTENT = {"register_agent", "unregister_agent", "heartbeat"}


@asynccontextmanager
async def session_2025(url: str) -> AsyncIterator[tuple[str, Any, Any]]:
    async with streamable_http_client(url) as (read, write), ClientSession(read, write) as session:
        init = await session.initialize()
        yield init.protocol_version, init.server_info, session


@asynccontextmanager
async def client_2026(url: str) -> AsyncIterator[tuple[str, Any, Any]]:
    async with Client(url) as client:
        yield client.protocol_version, client.server_info, client


CLIENTS = {"2025-11-25": session_2025, "2026-07-28": client_2026}


@pytest.mark.parametrize("protocol", list(CLIENTS))
async def test_every_tool_answers_a_schema_validating_client(mesh: Mesh, protocol: str) -> None:
    async with CLIENTS[protocol](mesh.mcp) as (negotiated, server, client):
        assert negotiated == protocol
        assert (server.name, server.version) == ("mcp-mesh-registry", __version__)
        tools = (await client.list_tools()).tools
        hints = {tool.name: tool.annotations for tool in tools}
        assert {name for name, a in hints.items() if a and a.read_only_hint} == READ_ONLY
        assert {name for name, a in hints.items() if a and a.idempotent_hint} == IDEMPOTENT
        results = {}
        for tool, arguments in plan(mesh, protocol.replace("-", "")):
            # Raises on structured content its output schema does not allow.
            result = await client.call_tool(tool, arguments)
            assert not result.is_error, (tool, arguments, result.content)
            results.setdefault(tool, []).append(result.structured_content)

    listed = results["list_agents"]
    assert {a["metadata"]["name"] for a in listed[0]["items"]} == {"echo-0", "echo-1"}
    assert {a["metadata"]["name"] for a in listed[1]["items"]} >= {"echo-0", "echo-1"}
    assert len(listed[2]["items"]) == 1
    assert listed[2]["metadata"]["continue"]
    for found in results["discover_services"]:
        names = {a["metadata"]["name"] for a in found["items"]}
        assert names >= {"echo-0", "echo-1"}, found
    assert results["get_agent_status"][0]["status"]["phase"] == "healthy"
    flat, obj = results["register_agent"]
    capabilities = {c["name"]: c for c in flat["spec"]["capabilities"]}
    assert capabilities["flat.echo"]["version"] == "2.1.0"
    assert capabilities["flat.echo"]["tags"] == ["fast"]
    assert capabilities["flat.other"]["version"] == "3.0.0"
    assert flat["spec"]["dependencies"][0]["capability"] == "echo.say"
    assert flat["spec"]["healthInterval"] == 30
    assert obj["spec"]["endpoint"].startswith("https://mesh@agents.example:54321")
    assert results["heartbeat"][0]["phase"] == "healthy"
    # Both records are gone: the unregister calls were acknowledged, and committed.
    async with httpx.AsyncClient(base_url=mesh.registry.url) as rest:
        for name in (flat, obj):
            path = f"/api/v1/namespaces/{mesh.namespace}/agents/{name['metadata']['name']}"
            assert (await rest.get(path)).status_code == 404


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"name": "x"}, "missing endpoint"),
        ({"endpoint": "http://127.0.0.1:5/mcp"}, "missing name"),
        (
            {"agent": {"metadata": {"name": "x"}, "spec": {"endpoint": "http://h/"}}, "name": "x"},
            "not both",
        ),
        ({"name": "x", "endpoint": "http://h:99999/"}, "endpoint: invalid URL"),
        ({"name": "x", "endpoint": "http://h/", "capabilities": [5]}, "capabilities[0]: must be"),
        ({"name": "x", "endpoint": "http://h/", "capabilities": ["a b"]}, "capabilities[0]:"),
        ({"name": "x", "endpoint": "http://h/", "capabilities": ["a"], "version": "1"}, "version:"),
        ({"name": "x", "endpoint": "http://h/", "health_interval": "10"}, "health_interval:"),
        ({"name": "X", "endpoint": "http://h/"}, "name: invalid name"),
        ({"name": "x", "endpoint": "http://h/", "bogus": 1}, "bogus"),
    ],
)
async def test_bad_register_calls_are_tool_errors_naming_the_field(
    mesh: Mesh, arguments: dict[str, Any], words: str
) -> None:
    async with Client(mesh.mcp) as client:
        result = await client.call_tool(
            "register_agent", {"namespace": mesh.namespace, **arguments}
        )
    assert result.is_error
    text = "".join(getattr(part, "text", "") for part in result.content)
    assert words in text, text
    async with httpx.AsyncClient(base_url=mesh.registry.url) as rest:
        written = await rest.get(f"/api/v1/namespaces/{mesh.namespace}/agents/x")
    assert written.status_code == 404  # nothing half-written


@pytest.mark.parametrize(
    ("tool", "arguments", "words"),
    [
        ("list_agents", {"selector": {"matchLabels": {"a": 1}}}, "matchLabels"),
        (
            "list_agents",
            {"selector": {"matchExpressions": [{"key": "a", "operator": "Gt"}]}},
            "operator",
        ),
        ("discover_services", {"selector": "a in (", "capabilities": ["x.y"]}, "selector"),
        ("discover_services", {"status": "asleep"}, "status"),
        ("get_agent_status", {"name": "Not Valid"}, "invalid name"),
        ("list_agents", {"limit": "5"}, "limit"),
    ],
)
async def test_bad_queries_are_tool_errors_naming_the_field(
    mesh: Mesh, tool: str, arguments: dict[str, Any], words: str
) -> None:
    async with Client(mesh.mcp) as client:
        result = await client.call_tool(tool, arguments)
    assert result.is_error
    text = "".join(getattr(part, "text", "") for part in result.content)
    assert words in text, text


async def test_an_agent_announces_its_own_name(mesh: Mesh) -> None:
    async with httpx.AsyncClient(base_url=mesh.registry.url) as rest:
        record = (await rest.get(mesh.agents[0].record_path)).json()
    async with Client(record["spec"]["endpoint"]) as client:
        assert client.server_info.name == "echo-0"
        said = await client.call_tool("say", {"text": "hi"})
    assert said.structured_content == {"text": "hi", "served_by": "echo-0"}
