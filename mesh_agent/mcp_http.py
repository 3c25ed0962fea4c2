"""Calling MCP tools over streamable HTTP, protocol 2026-07-28: one self-contained POST a call.

A mesh call is one ``tools/call`` on a kept-open connection: no handshake, no session, and
none of ``fastmcp.Client``'s per-call machinery, which costs more than the call itself. The
request goes out through aiohttp, whose client costs about a millisecond less per request than
httpx's (bench/agent_calls.py): on loopback, as much as the server spends on the call. The
protocol rules come from the ``mcp`` package (envelope keys, ``Mcp-Name`` and ``Mcp-Param-*``
headers), so this client and the server agree by construction. A server that does not speak
2026-07-28 is reached through ``fastmcp.Client`` instead, transparently.

Failures are told apart, because what a caller may do next depends on them:

- :class:`ProviderUnreachable`: no response came, and the request was not answered (connection
  refused, reset or closed first): safe to try another provider.
- :class:`ToolCallError`: the tool ran and reported an error: not retried.
- :class:`McpProtocolError`: the server refused the request (JSON-RPC error).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp
import httpx
from mcp.shared.inbound import (
    encode_header_value,
    find_invalid_x_mcp_header,
    mcp_param_headers,
    x_mcp_header_map,
)
from mcp_types import (
    CLIENT_CAPABILITIES_META_KEY,
    CLIENT_INFO_META_KEY,
    PROTOCOL_VERSION_META_KEY,
    UNSUPPORTED_PROTOCOL_VERSION,
)

from mesh_agent.tracing import with_trace_context
from mesh_registry import __version__
from mesh_registry.errors import MeshError

PROTOCOL_VERSION = "2026-07-28"
_CLIENT_INFO = {"name": "mcp-mesh", "version": __version__}
_HEADERS = {
    "accept": "application/json, text/event-stream",
    "content-type": "application/json",
    "mcp-protocol-version": PROTOCOL_VERSION,
}
# A gateway's answers that mean the server behind it never got the request.
_UNREACHED_STATUSES = frozenset({502, 503, 504})
# Subclasses of the errors below, so tried first: no connection was made.
_NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)
# No answer within the read timeout: the tool may still be running.
_NO_ANSWER_IN_TIME = (aiohttp.SocketTimeoutError,)
# On a kept-open connection a dead peer shows as a closed or reset connection, before any
# response byte: the request was not answered.
_NO_RESPONSE = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)
# Idle connections are dropped before common servers drop them (uvicorn: after 5 s), so that a
# request never goes out on a connection the server is closing at that moment.
KEEPALIVE_EXPIRY = 4.0


class Authorization(Protocol):
    """Where a client gets the bearer token a server requires."""

    async def token(self) -> str: ...

    def refused(self) -> None:
        """The server refused the last token: the next one must be new."""


class ProviderUnreachable(Exception):
    """No response: the request was not answered, and another provider may be tried."""


class ToolCallError(Exception):
    """The tool ran and reported an error (``isError``)."""


class McpProtocolError(Exception):
    """A JSON-RPC error from the server."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (MCP error {code})")
        self.code = code


@dataclass(frozen=True, slots=True)
class ToolResult:
    content: list[dict[str, Any]]
    structured: Any | None

    def value(self, *, wrapped: bool = False) -> Any:
        """The result as a caller wants it: the structured content when there is some
        (unwrapped from FastMCP's ``{"result": …}`` for non-object results), else the text."""
        if self.structured is not None:
            if wrapped and isinstance(self.structured, dict) and "result" in self.structured:
                return self.structured["result"]
            return self.structured
        texts = [item.get("text", "") for item in self.content if item.get("type") == "text"]
        if len(texts) == len(self.content):
            return texts[0] if len(texts) == 1 else texts
        return self.content


class McpHttpClient:
    """Calls the tools of one MCP server (its endpoint URL), on kept-open connections."""

    def __init__(
        self,
        endpoint: str,
        *,
        timeout: float = 60.0,
        authorization: Authorization | None = None,
    ) -> None:
        """``authorization``: for a server that requires a bearer token, where to get one."""
        self.endpoint = endpoint
        self.timeout = timeout
        self._authorization = authorization
        self._session: aiohttp.ClientSession | None = None  # made on the loop, at first use
        self._closed = False
        self._ids = itertools.count(1)
        self._fallback: Any = None  # a fastmcp.Client, for servers without 2026-07-28
        self._exit = AsyncExitStack()

    async def aclose(self) -> None:
        self._closed = True
        await self._exit.aclose()
        if self._session is not None:
            await self._session.close()

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        input_schema: Mapping[str, Any] | None = None,
    ) -> ToolResult:
        """Call tool ``name``. ``input_schema``, when known, carries the tool's
        ``x-mcp-header`` declarations: the arguments they name are mirrored into headers."""
        arguments = dict(arguments or {})
        if self._closed:  # the provider left while this call was on its way
            raise ProviderUnreachable(f"{self.endpoint}: the provider has left")
        if self._fallback is not None:
            return await self._call_through_session(name, arguments)
        params = {"name": name, "arguments": arguments}
        extra = _param_headers(name, input_schema, arguments)
        status, message = await self._request("tools/call", params, name, extra)
        if message is None:
            if status in _UNREACHED_STATUSES:
                raise ProviderUnreachable(f"{self.endpoint}: HTTP {status}")
            if status in (400, 404, 405, 406):
                # An MCP server of an earlier protocol revision answers a bare POST like this.
                return await self._call_through_session(name, arguments, switch=True)
            raise McpProtocolError(-32603, f"{self.endpoint} answered HTTP {status}")
        failure = message.get("error")
        if failure is not None:
            if not isinstance(failure, dict):  # not JSON-RPC: an HTTP error with a JSON body
                raise McpProtocolError(-32603, f"{self.endpoint} answered HTTP {status}")
            if failure.get("code") == UNSUPPORTED_PROTOCOL_VERSION:
                return await self._call_through_session(name, arguments, switch=True)
            code, text = failure.get("code", -32603), failure.get("message", "")
            raise McpProtocolError(int(code), str(text))
        return _tool_result(message.get("result") or {})

    async def get_prompt(self, name: str, arguments: Mapping[str, str]) -> dict[str, Any]:
        """The prompt ``name`` with ``arguments``, as the server's ``prompts/get`` result."""
        return await self._other("prompts/get", {"name": name, "arguments": dict(arguments)}, name)

    async def read_resource(self, uri: str) -> dict[str, Any]:
        """The resource at ``uri``, as the server's ``resources/read`` result."""
        return await self._other("resources/read", {"uri": uri}, uri)

    async def _other(self, method: str, params: dict[str, Any], name: str) -> dict[str, Any]:
        """A request besides a tool call: its result, or the error it raises."""
        if self._closed:
            raise ProviderUnreachable(f"{self.endpoint}: the provider has left")
        if self._fallback is None:
            status, message = await self._request(method, params, name, {})
            if message is None:
                if status in _UNREACHED_STATUSES:
                    raise ProviderUnreachable(f"{self.endpoint}: HTTP {status}")
                raise McpProtocolError(-32603, f"{self.endpoint} answered HTTP {status}")
            failure = message.get("error")
            if failure is None:
                result: dict[str, Any] = message.get("result") or {}
                return result
            if not isinstance(failure, dict) or failure.get("code") != UNSUPPORTED_PROTOCOL_VERSION:
                code = failure.get("code", -32603) if isinstance(failure, dict) else -32603
                text = failure.get("message", "") if isinstance(failure, dict) else ""
                raise McpProtocolError(int(code), str(text) or f"{method} failed")
            await self._switch_to_session()
        return await self._through_session(method, params)

    async def _request(
        self, method: str, params: dict[str, Any], name: str, extra: Mapping[str, str]
    ) -> tuple[int, dict[str, Any] | None]:
        """POST one request of protocol 2026-07-28, self-contained (no session); retried once
        with a new call token if the server refused the one it carried."""
        request_id = next(self._ids)
        meta = {
            PROTOCOL_VERSION_META_KEY: PROTOCOL_VERSION,
            CLIENT_CAPABILITIES_META_KEY: {},
            CLIENT_INFO_META_KEY: _CLIENT_INFO,
        }
        body = {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": method,
            "params": {**params, "_meta": with_trace_context(meta)},
        }
        headers = {**_HEADERS, "mcp-method": method, "mcp-name": encode_header_value(name)}
        headers.update(extra)
        status, message = await self._post(body, headers, request_id)
        if status == 401 and self._authorization is not None:
            # The token expired, or the registry that issued it restarted: once more, afresh.
            self._authorization.refused()
            status, message = await self._post(body, headers, request_id)
        if status == 401:
            if self._authorization is None:
                raise McpProtocolError(-32001, f"{self.endpoint} requires a token")
            raise McpProtocolError(-32001, f"{self.endpoint} refused the call token")
        return status, message

    async def _post(
        self, body: dict[str, Any], headers: dict[str, str], request_id: int
    ) -> tuple[int, dict[str, Any] | None]:
        """POST one request: the HTTP status, and the JSON-RPC answer if there is one."""
        if self._authorization is not None:
            try:
                token = await self._authorization.token()
            except MeshError as error:
                raise McpProtocolError(
                    -32001, f"no call token for {self.endpoint}: {error.message}"
                ) from error
            headers = {**headers, "authorization": f"Bearer {token}"}
        answered = False
        try:
            async with self._http().post(
                self.endpoint, data=json.dumps(body), headers=headers
            ) as response:
                answered = True
                return response.status, await _reply(response, request_id)
        except _NOT_SENT as error:
            raise ProviderUnreachable(f"{self.endpoint}: {error!r}") from error
        except _NO_ANSWER_IN_TIME as error:
            raise McpProtocolError(
                -32001, f"{self.endpoint}: no answer within {self.timeout:g} s"
            ) from error
        except (*_NO_RESPONSE, aiohttp.ClientPayloadError) as error:
            if answered:  # the tool may have run: not safe to try elsewhere
                raise McpProtocolError(-32603, f"{self.endpoint}: response cut off") from error
            raise ProviderUnreachable(f"{self.endpoint}: {error!r}") from error

    async def reachable(self, within: float = 2.0) -> bool:
        """Whether the server answers at all (any HTTP status but a gateway's "not reached"),
        within ``within`` seconds: a check that costs the server no tool call."""
        try:
            async with self._http().get(
                self.endpoint,
                headers={"accept": "text/event-stream"},
                timeout=aiohttp.ClientTimeout(total=within),
            ) as response:
                return response.status not in _UNREACHED_STATUSES
        except (aiohttp.ClientError, TimeoutError):
            return False

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(keepalive_timeout=KEEPALIVE_EXPIRY),
                timeout=aiohttp.ClientTimeout(
                    total=None, connect=5.0, sock_connect=5.0, sock_read=self.timeout
                ),
            )
        return self._session

    async def _switch_to_session(self) -> None:
        """From now on, reach this server through a session (it predates 2026-07-28)."""
        if self._fallback is None:
            from fastmcp import Client  # imported only for servers that need it

            self._fallback = await self._exit.enter_async_context(Client(self.endpoint))

    async def _through_session(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        """A prompt or a resource through the session, as its result's JSON."""
        try:
            if method == "prompts/get":
                answer = await self._fallback.get_prompt_mcp(params["name"], params["arguments"])
            else:
                answer = await self._fallback.read_resource_mcp(params["uri"])
        except (httpx.TransportError, OSError) as error:
            raise ProviderUnreachable(f"{self.endpoint}: {error!r}") from error
        except Exception as error:  # the server refused it: say so, as for a JSON-RPC error
            raise McpProtocolError(-32603, str(error)) from error
        result: dict[str, Any] = answer.model_dump(mode="json", by_alias=True, exclude_none=True)
        return result

    async def _call_through_session(
        self, name: str, arguments: dict[str, Any], *, switch: bool = False
    ) -> ToolResult:
        if switch:
            await self._switch_to_session()
        try:
            result = await self._fallback.call_tool(name, arguments, raise_on_error=False)
        except (httpx.TransportError, OSError) as error:
            raise ProviderUnreachable(f"{self.endpoint}: {error!r}") from error
        content = [item.model_dump(mode="json", exclude_none=True) for item in result.content]
        if result.is_error:
            raise ToolCallError(_text(content) or f"tool {name} failed")
        return ToolResult(content, result.structured_content)


async def _reply(response: aiohttp.ClientResponse, request_id: int) -> dict[str, Any] | None:
    """The JSON-RPC message answering ``request_id``: the JSON body, or the matching event of
    an SSE stream (notifications on the way are skipped). ``None`` if there is none."""
    media = response.content_type
    if media == "text/event-stream":
        async for message in _sse_messages(response):
            if message.get("id") == request_id and ("result" in message or "error" in message):
                return message
        return None
    raw = await response.read()
    if media != "application/json" or not raw:
        return None
    try:
        decoded: Any = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(decoded, dict):
        return None
    reply: dict[str, Any] = decoded
    return reply


async def _sse_messages(response: aiohttp.ClientResponse) -> AsyncIterator[dict[str, Any]]:
    """The JSON objects an SSE stream's events carry (anything else is skipped)."""
    data: list[str] = []
    async for raw_line in response.content:
        line = raw_line.decode("utf-8", "replace").rstrip("\r\n")
        if line.startswith("data:"):
            data.append(line[5:].lstrip(" "))
        elif line == "" and data:
            try:
                message: Any = json.loads("\n".join(data))
            except ValueError:
                message = None
            if isinstance(message, dict):
                yield message
            data = []


def _tool_result(result: Mapping[str, Any]) -> ToolResult:
    content = list(result.get("content") or [])
    if result.get("isError"):
        raise ToolCallError(_text(content) or "the tool reported an error")
    return ToolResult(content, result.get("structuredContent"))


def _text(content: list[dict[str, Any]]) -> str:
    return "\n".join(item.get("text", "") for item in content if item.get("type") == "text")


def _param_headers(
    name: str, input_schema: Mapping[str, Any] | None, arguments: Mapping[str, Any]
) -> dict[str, str]:
    if not input_schema:
        return {}
    problem = find_invalid_x_mcp_header(input_schema)
    if problem is not None:
        # The spec has clients drop such a tool rather than guess its headers.
        raise McpProtocolError(-32602, f"tool {name} declares invalid x-mcp-header: {problem}")
    return mcp_param_headers(x_mcp_header_map(input_schema), arguments)
