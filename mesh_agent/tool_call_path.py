"""A short path for the request an agent serves most: one 2026-07-28 ``tools/call`` POST.

FastMCP serves it through Starlette's middleware and router, the SDK's session manager, and the
SDK's single-exchange handler, which runs the call in a task group beside a task that waits for
the client to go away, handing notifications over a memory stream; that machinery costs about
as much as the call itself (docs/PERFORMANCE.md, eighth round). This path takes a request only
after every check the SDK's handler makes has passed, made with the SDK's own functions, and
then runs the same ``serve_one`` with the same arguments, in the request's own task:

- the answer is the SDK's JSON answer when the call emits no notification within the SDK's
  deferral window, as the SDK answers;
- the first notification commits ``text/event-stream`` and the answer follows as the last
  event, as the SDK does; after the SDK's ping interval of silence a ping keeps it open;
- a client that goes away cancels the call, and nothing more is written, as in the SDK; it is
  watched for once the call has run for ``_WATCH_AFTER`` (most calls are answered sooner), where
  the SDK watches from the start.

Anything else (another method or protocol version, any check failing, a body over the limit,
a server with authentication or middleware of its own) goes to FastMCP's app as it came, its
body replayed. ``tests/sdk/test_tool_call_path.py`` sends a table of requests through both and
compares status, headers and bodies.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable
from typing import cast

import anyio
from fastmcp.server.context import reset_transport, set_transport
from fastmcp.server.http import (
    RequestContextMiddleware,
    StreamableHTTPASGIApp,
    set_http_request,
)
from mcp.server import _streamable_http_modern as single_exchange
from mcp.server._streamable_http_modern import (
    _SSE_HEADERS,
    _mcp_param_rejection,
    _SingleExchangeDispatchContext,
    _sse_event,
    _to_jsonrpc_response,
    _write,
)
from mcp.server.connection import Connection
from mcp.server.runner import serve_one
from mcp.server.streamable_http import check_accept_headers
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecurityMiddleware
from mcp.shared.inbound import (
    InboundLadderRejection,
    classify_inbound_request,
    find_duplicated_routing_header,
)
from mcp.shared.jsonrpc_dispatcher import progress_token_from_params
from mcp.shared.message import ServerMessageMetadata
from mcp.shared.transport_context import TransportContext
from mcp_types import JSONRPCError, JSONRPCRequest, JSONRPCResponse
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from pydantic import ValidationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

_VERSION_HEADER = b"mcp-protocol-version"
# A call still running this long (seconds) is watched for its client leaving (then cancelled)
# and for silences that need a ping. Watching costs a task per call, a few percent of a short
# call's work; the SDK watches from the start, and a client that leaves sooner than this is
# noticed this much later, while its call runs on.
_WATCH_AFTER = 0.05


class ToolCallPath:
    """FastMCP's streamable-HTTP ``app`` (served at ``path``), with the short path in front."""

    def __init__(self, app: Starlette, path: str) -> None:
        self.app = app
        self._path = path
        # FastMCP's endpoint as a route of its own (with authentication it is wrapped), and
        # only FastMCP's own request-context middleware, which the short path does as well: no
        # authentication, no host guard, nothing of the program's own it would skip.
        # Otherwise None: the short path takes nothing.
        route = next(
            (
                route
                for route in app.routes
                if isinstance(route, Route) and isinstance(route.endpoint, StreamableHTTPASGIApp)
            ),
            None,
        )
        middleware: list[object] = [entry.cls for entry in app.user_middleware]
        plain = middleware == [RequestContextMiddleware] and app.state.fastmcp_auth is None
        self._route = route if plain else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        manager = self._manager(scope)
        if manager is None:
            await self.app(scope, receive, send)
            return
        read, complete = await _read_body(receive, manager.max_request_body_size)
        # The short path reads what was read from a replay; FastMCP's app, from a fresh one.
        if not complete or not await self._served(manager, scope, _replaying(read, receive), send):
            await self.app(scope, _replaying(read, receive), send)

    def _manager(self, scope: Scope) -> StreamableHTTPSessionManager | None:
        """The session manager, if the request is one the short path may take at all."""
        if self._route is None or scope["type"] != "http" or scope["method"] != "POST":
            return None
        if scope["path"] != self._path or scope.get("root_path"):
            return None
        versions = [value for name, value in scope["headers"] if name == _VERSION_HEADER]
        if len(versions) != 1 or versions[0].decode("latin-1") in HANDSHAKE_PROTOCOL_VERSIONS:
            return None
        manager = cast(StreamableHTTPASGIApp, self._route.endpoint).session_manager
        if manager is None or manager.json_response or not manager.stateless:
            return None
        return manager

    async def _served(
        self, manager: StreamableHTTPSessionManager, scope: Scope, receive: Receive, send: Send
    ) -> bool:
        """Serve the request if every check of the SDK's handler passes; ``False`` otherwise
        (nothing sent, nothing changed: FastMCP's app answers it)."""
        assert self._route is not None  # _manager found one
        scope = {**scope, "app": self.app, "router": self.app.router}
        scope.update(self._route.matches(scope)[1])  # as Starlette's router: endpoint, params
        request = Request(scope, receive)
        security = TransportSecurityMiddleware(manager.security_settings)
        if await security.validate_request(request, is_post=True) is not None:
            return False
        has_json, has_sse = check_accept_headers(request)
        if not (has_json and has_sse):
            return False
        try:
            decoded = json.loads(await request.body())
        except (ValueError, RecursionError):
            return False
        if not isinstance(decoded, dict) or "id" not in decoded:
            return False
        try:
            call = JSONRPCRequest.model_validate(decoded)
        except ValidationError:
            return False
        if call.method != "tools/call":
            return False
        if find_duplicated_routing_header(request.headers.items()) is not None:
            return False
        verdict = classify_inbound_request(decoded, headers=dict(request.headers))
        if isinstance(verdict, InboundLadderRejection):
            return False
        state = manager._lifespan_state
        if await _mcp_param_rejection(manager.app, request, call, verdict, state) is not None:
            return False
        connection = Connection.from_envelope(
            verdict.protocol_version, verdict.client_info, verdict.client_capabilities
        )
        exchange = _Exchange(scope, receive, send)
        context = _SingleExchangeDispatchContext(
            transport=TransportContext(
                kind="streamable-http", can_send_request=False, headers=request.headers
            ),
            request_id=call.id,
            message_metadata=ServerMessageMetadata(request_context=request),
            progress_token=progress_token_from_params(call.params),
            sink=exchange,  # type: ignore[arg-type]
        )
        # What FastMCP's request-context middleware sets, around everything after it.
        transport = set_transport("streamable-http")
        try:
            with set_http_request(Request(scope)):
                reply = _to_jsonrpc_response(
                    call.id,
                    serve_one(
                        manager.app,
                        context,
                        call.method,
                        call.params,
                        connection=connection,
                        lifespan_state=state,
                    ),
                )
                await exchange.run(reply)
        finally:
            reset_transport(transport)
        return True


class _Exchange:
    """One call's answer: JSON, unless a notification (or a long silence) commits SSE first.

    Also the call's notification sink (``send``), where the SDK has a memory stream.
    """

    def __init__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self._streaming = False
        self._lock = asyncio.Lock()  # one writer at a time: the call and the pings
        self._quiet_since = 0.0
        self._watching: asyncio.Task[None] | None = None  # from _WATCH_AFTER into the call

    async def send(self, event: bytes) -> None:
        """A notification of the call, as an SSE frame (the SDK's sink protocol)."""
        async with self._lock:
            await self._stream(event)

    async def run(self, reply: Awaitable[JSONRPCResponse | JSONRPCError]) -> None:
        """Await ``reply`` (the call's JSON-RPC answer) and write it; the client going away
        cancels the call, and then nothing more is written."""
        loop = asyncio.get_running_loop()
        self._quiet_since = loop.time()
        with anyio.CancelScope() as scope:
            # Most calls are answered before this: they cost a timer, not a task watching.
            timer = loop.call_later(_WATCH_AFTER, self._start_watching, scope, loop)
            try:
                answer = await reply
            finally:
                timer.cancel()
                if self._watching is not None:
                    self._watching.cancel()
        if scope.cancelled_caught:
            return
        async with self._lock:
            if self._streaming:
                last = {
                    "type": "http.response.body",
                    "body": _sse_event(answer),
                    "more_body": False,
                }
                await self._send(last)
            else:
                await _write(answer, self._scope, self._receive, self._send)

    async def _stream(self, chunk: bytes) -> None:
        if not self._streaming:
            self._streaming = True
            await self._send(
                {"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS}
            )
        await self._send({"type": "http.response.body", "body": chunk, "more_body": True})
        self._quiet_since = asyncio.get_running_loop().time()

    def _start_watching(self, scope: anyio.CancelScope, loop: asyncio.AbstractEventLoop) -> None:
        self._watching = loop.create_task(self._watch(scope, loop))

    async def _watch(self, scope: anyio.CancelScope, loop: asyncio.AbstractEventLoop) -> None:
        """Cancel the call when the client goes away; after the SDK's ping interval without a
        byte sent, a ping (committing SSE if nothing did), as the SDK's handler does."""
        while True:
            try:
                interval = single_exchange._SSE_PING_INTERVAL  # read when used, as the SDK does
                async with asyncio.timeout_at(self._quiet_since + interval):
                    while (await self._receive()).get("type") != "http.disconnect":
                        pass
            except TimeoutError:
                async with self._lock:
                    if loop.time() >= self._quiet_since + interval:
                        await self._stream(b": ping\r\n\r\n")
                continue
            scope.cancel()
            return


async def _read_body(receive: Receive, limit: int) -> tuple[list[Message], bool]:
    """The messages of the request's body, and whether that is all of it: not past ``limit``
    bytes, and the client did not go away first (else FastMCP's app answers, from a replay)."""
    read: list[Message] = []
    size = 0
    while True:
        message = await receive()
        read.append(message)
        if message["type"] != "http.request":
            return read, False
        size += len(message.get("body", b""))
        if size > limit:
            return read, False
        if not message.get("more_body", False):
            return read, True


def _replaying(read: list[Message], receive: Receive) -> Receive:
    """``receive``, giving the messages already ``read`` first."""
    pending = deque(read)

    async def replay() -> Message:
        return pending.popleft() if pending else await receive()

    return replay
