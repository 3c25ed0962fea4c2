"""The mesh's MCP client against real servers on loopback: results, errors, and which failures
allow trying another provider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
import uvicorn
from fastmcp import FastMCP
from pydantic import Field
from starlette.types import ASGIApp, Receive, Scope, Send

from mesh_agent.dependency import Dependency
from mesh_agent.mcp_http import McpHttpClient, McpProtocolError, ProviderUnreachable, ToolCallError
from mesh_agent.providers import ChannelPool, Provider
from mesh_registry.model import Agent
from mesh_registry.serving import listen
from tests.support.processes import free_port


def make_server() -> FastMCP:
    server = FastMCP("fixture")

    @server.tool
    def forecast(city: str, days: int = 1) -> dict[str, Any]:
        return {"city": city, "days": days}

    @server.tool
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool
    def greet(name: str) -> str:
        return f"hello {name}"

    @server.tool
    def explode(reason: str) -> str:
        raise ValueError(reason)

    @server.tool
    def routed(region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})]) -> str:
        return f"served in {region}"

    return server


@asynccontextmanager
async def serving(app: ASGIApp) -> AsyncIterator[str]:
    """``app`` served by uvicorn on a loopback port, on this event loop; yields its base URL."""
    listener = listen("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        async with asyncio.timeout(10):
            while not server.started:  # noqa: ASYNC110 - uvicorn offers no event for it
                await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def endpoint() -> AsyncIterator[str]:
    async with serving(make_server().http_app(path="/mcp")) as url:
        yield url + "/mcp"


@pytest.fixture
async def client(endpoint: str) -> AsyncIterator[McpHttpClient]:
    channel = McpHttpClient(endpoint)
    yield channel
    await channel.aclose()


async def test_structured_results_arrive_as_data(client: McpHttpClient) -> None:
    result = await client.call_tool("forecast", {"city": "Oslo", "days": 2})
    assert result.value() == {"city": "Oslo", "days": 2}


async def test_a_non_object_result_is_unwrapped_when_the_schema_says_it_is_wrapped(
    client: McpHttpClient,
) -> None:
    result = await client.call_tool("add", {"a": 2, "b": 3})
    assert result.structured == {"result": 5}
    assert result.value(wrapped=True) == 5
    assert result.content == [{"type": "text", "text": "5"}]


async def test_a_tool_error_is_a_tool_call_error(client: McpHttpClient) -> None:
    with pytest.raises(ToolCallError, match="the reason"):
        await client.call_tool("explode", {"reason": "the reason"})


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [("no_such_tool", {}), ("forecast", {"days": 2}), ("forecast", {"city": 3, "days": "x"})],
)
async def test_a_refused_call_is_an_error_not_a_reason_to_fail_over(
    client: McpHttpClient, tool: str, arguments: dict[str, Any]
) -> None:
    with pytest.raises((ToolCallError, McpProtocolError)):
        await client.call_tool(tool, arguments)


async def test_arguments_declared_as_headers_are_mirrored_into_them(
    client: McpHttpClient, endpoint: str
) -> None:
    server = make_server()
    schema = next(t for t in await server.list_tools() if t.name == "routed").parameters
    result = await client.call_tool("routed", {"region": "eu"}, input_schema=schema)
    assert result.value(wrapped=True) == "served in eu"
    # Without the schema the header is missing, and the server refuses the call.
    with pytest.raises(McpProtocolError):
        await client.call_tool("routed", {"region": "eu"})


class ClientPorts:
    """Records the client port of every HTTP request: one port per connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.ports: list[int] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.ports.append(scope["client"][1])
        await self.app(scope, receive, send)


async def test_calls_take_one_kept_open_connection() -> None:
    recorder = ClientPorts(make_server().http_app(path="/mcp"))
    async with serving(recorder) as url:
        channel = McpHttpClient(url + "/mcp")
        try:
            for n in range(10):
                result = await channel.call_tool("add", {"a": n, "b": 1})
                assert result.value(wrapped=True) == n + 1
        finally:
            await channel.aclose()
    assert len(recorder.ports) == 10
    assert len(set(recorder.ports)) == 1


async def test_nobody_listening_is_unreachable() -> None:
    channel = McpHttpClient(f"http://127.0.0.1:{free_port()}/mcp")
    try:
        with pytest.raises(ProviderUnreachable):
            await channel.call_tool("greet", {"name": "x"})
    finally:
        await channel.aclose()


async def test_a_closed_client_is_unreachable(client: McpHttpClient) -> None:
    await client.aclose()
    with pytest.raises(ProviderUnreachable, match="has left"):
        await client.call_tool("greet", {"name": "x"})


async def raw_server(reply: Callable[[asyncio.StreamWriter], Awaitable[None]]) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reply(writer)
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", 0)


async def close_at_once(writer: asyncio.StreamWriter) -> None:
    """A peer that dies before answering."""


async def answer_then_cut(writer: asyncio.StreamWriter) -> None:
    """A peer that starts an answer and dies: the tool may have run."""
    writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n\r\n")
    await writer.drain()


async def gateway_503(writer: asyncio.StreamWriter) -> None:
    """A proxy whose backend is gone."""
    writer.write(b"HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n")
    await writer.drain()


@pytest.mark.parametrize(
    ("reply", "error"),
    [
        (close_at_once, ProviderUnreachable),
        (gateway_503, ProviderUnreachable),
        (answer_then_cut, McpProtocolError),
    ],
)
async def test_only_an_unanswered_request_counts_as_unreachable(
    reply: Callable[[asyncio.StreamWriter], Awaitable[None]], error: type[Exception]
) -> None:
    server = await raw_server(reply)
    port = server.sockets[0].getsockname()[1]
    channel = McpHttpClient(f"http://127.0.0.1:{port}/mcp")
    try:
        with pytest.raises(error):
            await channel.call_tool("greet", {"name": "x"})
    finally:
        await channel.aclose()
        server.close()
        await server.wait_closed()


class EarlierProtocol:
    """Makes a server answer like one of an earlier MCP revision: a bare, session-less POST
    from the mesh's client is a 400. Other clients (a session) pass."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.refused = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        client = (
            json.loads(body)
            .get("params", {})
            .get("_meta", {})
            .get("io.modelcontextprotocol/clientInfo", {})
        )
        if client.get("name") == "mcp-mesh":
            self.refused += 1
            await send({"type": "http.response.start", "status": 400, "headers": []})
            await send({"type": "http.response.body", "body": b"Bad Request: Missing session ID"})
            return

        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:  # after the body: whatever comes next (a disconnect)
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


async def test_a_server_of_an_earlier_revision_is_called_through_a_session() -> None:
    server = make_server()
    earlier = EarlierProtocol(server.http_app(path="/mcp"))
    async with serving(earlier) as url:
        channel = McpHttpClient(url + "/mcp")
        try:
            first = await channel.call_tool("forecast", {"city": "Rome"})
            second = await channel.call_tool("add", {"a": 1, "b": 1})
            with pytest.raises(ToolCallError, match="boom"):
                await channel.call_tool("explode", {"reason": "boom"})
        finally:
            await channel.aclose()
    assert first.value() == {"city": "Rome", "days": 1}
    assert second.value(wrapped=True) == 2
    assert earlier.refused == 1  # asked once; then straight to the session


def provider(name: str, endpoint: str, pool: ChannelPool) -> Provider:
    agent = Agent.model_validate(
        {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "endpoint": endpoint,
                "capabilities": [{"name": "sum", "tool": "add"}],
            },
            "status": {"phase": "healthy"},
        }
    )
    capability = agent.spec.capabilities[0]
    return Provider(agent, capability, pool.channel(endpoint))


async def test_a_dependency_moves_past_unreachable_providers(endpoint: str) -> None:
    pool = ChannelPool()
    dead = [provider(f"dead-{n}", f"http://127.0.0.1:{free_port()}/mcp", pool) for n in range(2)]
    live = provider("live", endpoint, pool)
    try:
        dependency = Dependency("sum", [*dead, live])
        assert await dependency(a=1, b=2) == {"result": 3}  # schema unknown here: not unwrapped
        assert dependency.agent.metadata.name == "live"
        # Beyond the attempt bound, a live provider is not reached.
        others = [
            provider(f"other-{n}", f"http://127.0.0.1:{free_port()}/mcp", pool) for n in range(3)
        ]
        too_far = Dependency("sum", [*others, live])
        with pytest.raises(ProviderUnreachable, match="no provider of sum could be reached"):
            await too_far(a=1, b=2)
    finally:
        await pool.aclose()


async def test_an_unreachable_provider_is_tried_after_the_others_for_a_while(
    endpoint: str,
) -> None:
    pool = ChannelPool()
    dead = provider("dead", f"http://127.0.0.1:{free_port()}/mcp", pool)
    live = provider("live", endpoint, pool)
    try:
        assert await Dependency("sum", [dead, live])(a=1, b=2) == {"result": 3}
        assert dead.suspect
        assert not live.suspect
        # The next calls go to the live provider first, though it ranks second.
        assert Dependency("sum", [dead, live]).agent.metadata.name == "live"
        # A suspect provider is still tried when nothing else is left, and trusted again
        # once it answers.
        live.unreachable()
        only = Dependency("sum", [live])
        assert await only(a=2, b=2) == {"result": 4}
        assert not live.suspect
        # Suspicion ends by itself: the ranking applies again.
        dead.suspect_until = 0.0
        assert Dependency("sum", [dead, live]).agent.metadata.name == "dead"
    finally:
        await pool.aclose()
