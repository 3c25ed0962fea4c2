"""The agent's short path for ``tools/call`` (``mesh_agent/tool_call_path.py``) answers exactly
as FastMCP's app does: the same ASGI messages (status, headers, every body chunk) for a table
of requests, the ones it serves itself and the ones it hands to FastMCP; and a client that goes
away cancels the tool on both.

Two servers built alike, one served plain, one as an agent serves: behind the short path, with
the agent's input-schema lookup (``runtime.install_schema_lookup``) in place of the SDK's
listing of every tool per call, driven over ASGI.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Annotated, Any

import pytest
from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from mcp.server import _streamable_http_modern as single_exchange
from pydantic import Field
from starlette.applications import Starlette
from starlette.middleware import Middleware

from mesh_agent import tool_call_path
from mesh_agent.runtime import install_schema_lookup
from mesh_agent.tool_call_path import ToolCallPath
from tests.support.processes import eventually

# A tool that logs: at 2026-07-28 the log goes nowhere, and FastMCP says the capability is
# deprecated; the case shows a log does not commit SSE on either path.
pytestmark = pytest.mark.filterwarnings("ignore:The logging capability is deprecated")
VERSION = "2026-07-28"
META = {
    "io.modelcontextprotocol/protocolVersion": VERSION,
    "io.modelcontextprotocol/clientCapabilities": {},
}
Message = dict[str, Any]


def _server(started: list[str], cancelled: list[str]) -> FastMCP:
    server = FastMCP("conformance")

    @server.tool
    async def echo(text: str) -> dict[str, Any]:
        """Structured content."""
        return {"text": text}

    @server.tool
    def shout(text: str) -> str:
        """A plain, synchronous tool with a text result."""
        return text.upper()

    @server.tool
    async def refuse() -> str:
        """A tool error."""
        raise ToolError("refused, as asked")

    @server.tool
    async def crash() -> str:
        """An unexpected exception."""
        raise ValueError("broken inside")

    @server.tool
    async def steps(ctx: Context) -> str:
        """Reports progress and logs: notifications on the way."""
        await ctx.report_progress(1, 2)
        await ctx.info("half way")
        await ctx.report_progress(2, 2)
        return "done"

    @server.tool
    async def route(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "Region"})], text: str
    ) -> str:
        """An argument mirrored in an ``Mcp-Param-Region`` header."""
        return f"{region}:{text}"

    @server.tool
    async def misdeclared(
        region: Annotated[str, Field(json_schema_extra={"x-mcp-header": "not a token"})],
    ) -> str:
        """An invalid header declaration: the SDK validates nothing against it."""
        return region

    @server.tool
    async def wait(seconds: float) -> str:
        """Takes its time; records whether it was cancelled."""
        started.append("wait")
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            cancelled.append("wait")
            raise
        return "waited"

    return server


def _body(method: str = "tools/call", **params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 3, "method": method, "params": {**params, "_meta": META}}


def _headers(name: str | None = "echo", **extra: str) -> dict[str, str]:
    headers = {
        "content-type": "application/json",
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": VERSION,
        "mcp-method": "tools/call",
    }
    if name is not None:
        headers["mcp-name"] = name
    headers.update(extra)
    return {key: value for key, value in headers.items() if value}


def _call(name: str, arguments: dict[str, Any], **meta: Any) -> dict[str, Any]:
    body = _body(name=name, arguments=arguments)
    body["params"]["_meta"] = {**META, **meta}
    return body


def _echo_with(**headers: str) -> tuple[str, dict[str, str], Any]:
    """An echo call whose headers differ from the usual ones by ``headers``."""
    return ("POST", _headers(**headers), _call("echo", {"text": "x"}))


# name: (method, headers, body (JSON or raw bytes))
TABLE: dict[str, tuple[str, dict[str, str], Any]] = {
    "structured result": ("POST", _headers(), _call("echo", {"text": "hi"})),
    "text result, sync tool": ("POST", _headers("shout"), _call("shout", {"text": "hi"})),
    "tool error": ("POST", _headers("refuse"), _call("refuse", {})),
    "exception in the tool": ("POST", _headers("crash"), _call("crash", {})),
    "missing argument": ("POST", _headers(), _call("echo", {})),
    "wrong argument type": ("POST", _headers(), _call("echo", {"text": 5})),
    "unknown tool": ("POST", _headers("nope"), _call("nope", {})),
    "progress and a log, with a token": (
        "POST",
        _headers("steps"),
        _call("steps", {}, progressToken="p-1"),
    ),
    "a log, no progress token": ("POST", _headers("steps"), _call("steps", {})),
    "string id": ("POST", _headers(), {**_call("echo", {"text": "x"}), "id": "abc"}),
    "Mcp-Name differs from the body": ("POST", _headers("shout"), _call("echo", {"text": "x"})),
    "no Mcp-Name": ("POST", _headers(None), _call("echo", {"text": "x"})),
    "no Mcp-Method": _echo_with(**{"mcp-method": ""}),
    "Mcp-Method differs": _echo_with(**{"mcp-method": "tools/list"}),
    "an unknown protocol version": _echo_with(**{"mcp-protocol-version": "2099-01-01"}),
    "a handshake-era version": _echo_with(**{"mcp-protocol-version": "2025-06-18"}),
    "JSON only accepted": _echo_with(accept="application/json"),
    "SSE only accepted": _echo_with(accept="text/event-stream"),
    "text content type": _echo_with(**{"content-type": "text/plain"}),
    "not JSON": ("POST", _headers(), b'{"jsonrpc": "2.0", "id": 1,'),
    "deeply nested JSON": ("POST", _headers(), b"[" * 100_000 + b"]" * 100_000),
    "a batch": ("POST", _headers(), [_call("echo", {"text": "x"})]),
    "a notification": ("POST", _headers(), {"jsonrpc": "2.0", "method": "notifications/x"}),
    "no method": ("POST", _headers(), {"jsonrpc": "2.0", "id": 1}),
    "params not an object": ("POST", _headers(), {**_call("echo", {}), "params": [1]}),
    "no _meta": ("POST", _headers(), {**_call("echo", {"text": "x"}), "params": {"name": "echo"}}),
    "tools/list": (
        "POST",
        _headers(**{"mcp-method": "tools/list"}),
        _body("tools/list"),
    ),
    "GET": ("GET", _headers(), b""),
    "Mcp-Param header equal to its argument": (
        "POST",
        _headers("route", **{"mcp-param-region": "eu"}),
        _call("route", {"region": "eu", "text": "x"}),
    ),
    "Mcp-Param header unlike its argument": (
        "POST",
        _headers("route", **{"mcp-param-region": "us"}),
        _call("route", {"region": "eu", "text": "x"}),
    ),
    "Mcp-Param header missing": ("POST", _headers("route"), _call("route", {"region": "eu"})),
    "Mcp-Param header without its argument": (
        "POST",
        _headers("route", **{"mcp-param-region": "eu"}),
        _call("route", {"text": "x"}),
    ),
    "Mcp-Param header twice": (
        "POST",
        _headers("route", **{"mcp-param-region": "eu", "Mcp-Param-Region": "eu"}),
        _call("route", {"region": "eu", "text": "x"}),
    ),
    "Mcp-Param header a tool does not declare": _echo_with(**{"mcp-param-text": "y"}),
    "Mcp-Param header against an invalid declaration": (
        "POST",
        _headers("misdeclared", **{"mcp-param-region": "us"}),
        _call("misdeclared", {"region": "eu"}),
    ),
    "a body over the limit": ("POST", _headers(), b" " * (4 * 1024 * 1024 + 1)),
}


@asynccontextmanager
async def _apps() -> AsyncIterator[tuple[Starlette, ToolCallPath, list[str], list[str]]]:
    # Not a fixture: the servers' lifespans hold cancel scopes, entered and left in one task.
    started: list[str] = []
    cancelled: list[str] = []
    plain = _server(started, cancelled).http_app(path="/mcp", stateless_http=True)
    agent = _server(started, cancelled)
    await install_schema_lookup(agent)
    inner = agent.http_app(path="/mcp", stateless_http=True)
    async with plain.router.lifespan_context(plain), inner.router.lifespan_context(inner):
        yield plain, ToolCallPath(inner, "/mcp"), started, cancelled


def _scope(method: str, headers: dict[str, str], body: bytes) -> dict[str, Any]:
    raw = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    raw.append((b"content-length", str(len(body)).encode()))
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.4"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": "/mcp",
        "raw_path": b"/mcp",
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"127.0.0.1:8000"), *raw],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "state": {},
    }


async def _exchange(
    app: Callable[..., Any],
    method: str,
    headers: dict[str, str],
    body: bytes,
    leave: asyncio.Event | None = None,
) -> list[Message]:
    """The ASGI messages ``app`` sends for one request; the body comes in two parts. With
    ``leave``, the client goes away when it is set."""
    parts = [body[: len(body) // 2], body[len(body) // 2 :]]
    sent: list[Message] = []
    gone = leave or asyncio.Event()

    async def receive() -> Message:
        if parts:
            chunk = parts.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(parts)}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body"):
            gone.set()  # the response is complete: as a server, receive says disconnect

    await asyncio.wait_for(app(_scope(method, headers, body), receive, send), 30)
    return sent


def _encoded(body: Any) -> bytes:
    return body if isinstance(body, bytes) else json.dumps(body).encode()


@pytest.mark.parametrize("case", list(TABLE), ids=list(TABLE))
async def test_the_short_path_answers_as_fastmcp(case: str) -> None:
    method, headers, body = TABLE[case]
    async with _apps() as (plain, short, _, _):
        expected = await _exchange(plain, method, headers, _encoded(body))
        seen = await _exchange(short, method, headers, _encoded(body))
    assert seen == expected
    assert expected[0]["type"] == "http.response.start"


async def test_it_serves_the_calls_itself(monkeypatch: pytest.MonkeyPatch) -> None:
    """The common call does not reach the SDK's session manager: the path is taken, not
    only passed through."""
    async with _apps() as (_, short, _, _):
        assert short._route is not None
        manager = short._route.endpoint.session_manager
        assert manager is not None
        reached: list[str] = []
        handle = manager.handle_request

        async def counting(scope: Any, receive: Any, send: Any) -> None:
            reached.append(scope["path"])
            await handle(scope, receive, send)

        monkeypatch.setattr(manager, "handle_request", counting)
        method, headers, body = TABLE["structured result"]
        answer = await _exchange(short, method, headers, _encoded(body))
        assert answer[0]["status"] == 200
        assert reached == []
        method, headers, body = TABLE["tools/list"]
        await _exchange(short, method, headers, _encoded(body))
        assert reached == ["/mcp"]


async def test_a_server_with_middleware_of_its_own_is_served_by_fastmcp_alone() -> None:
    """Authentication, a host guard or the program's own middleware: the short path would
    skip them, so it takes nothing."""
    seen: list[str] = []

    class Marking:
        def __init__(self, app: Any) -> None:
            self.app = app

        async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                seen.append(scope["path"])
            await self.app(scope, receive, send)

    app = _server([], []).http_app(
        path="/mcp", stateless_http=True, middleware=[Middleware(Marking)]
    )
    async with app.router.lifespan_context(app):
        method, headers, body = TABLE["structured result"]
        answer = await _exchange(ToolCallPath(app, "/mcp"), method, headers, _encoded(body))
    assert answer[0]["status"] == 200
    assert seen == ["/mcp"]


async def test_a_client_that_leaves_cancels_the_tool_on_both() -> None:
    headers = _headers("wait")
    body = _encoded(_call("wait", {"seconds": 30}))
    async with _apps() as (plain, short, started, cancelled):
        for app in (plain, short):
            leave = asyncio.Event()
            exchange = asyncio.create_task(_exchange(app, "POST", headers, body, leave))
            running = len(cancelled) + 1

            async def tool_running(running: int = running) -> bool:
                return len(started) == running

            await eventually(tool_running, within=10)
            leave.set()
            assert await exchange == []  # nothing written once the client left
        assert cancelled == ["wait", "wait"]


async def test_a_silent_call_is_kept_open_with_pings_as_fastmcp_does(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(single_exchange, "_SSE_PING_INTERVAL", 0.05)
    assert tool_call_path.single_exchange is single_exchange
    headers = _headers("wait")
    body = _encoded(_call("wait", {"seconds": 0.3}))
    async with _apps() as (plain, short, _, _):
        expected = await _exchange(plain, "POST", headers, body)
        seen = await _exchange(short, "POST", headers, body)
    for answer in (expected, seen):
        chunks = [message["body"] for message in answer[1:]]
        assert answer[0]["headers"] == single_exchange._SSE_HEADERS
        assert b": ping\r\n\r\n" in chunks
        assert set(chunks[:-1]) == {b": ping\r\n\r\n"}
    # The number of pings depends on timing; the answer does not.
    assert seen[0] == expected[0]
    assert seen[-1] == expected[-1]
