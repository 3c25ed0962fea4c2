"""The agents' and the registry's MCP servers skip FastMCP's own spans while no tracer provider
records them (``fastmcp_spans.spans_only_when_recorded``); what a tool sees, and what a client
gets, is unchanged.

The same FastMCP server is served plain and wrapped; a tool reports the trace context it runs
in and the one a mesh call from it would send onward. Requests with and without a caller's
trace context must give byte-equal answers both ways.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from fastmcp import FastMCP
from fastmcp.telemetry import telemetry_mode
from opentelemetry import trace

from mesh_agent import tracing
from mesh_registry import fastmcp_spans

CALLER = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
TABLE: dict[str, dict[str, Any]] = {
    "no trace context": {},
    "a caller's traceparent": {"traceparent": CALLER},
    "traceparent and tracestate": {"traceparent": CALLER, "tracestate": "vendor=opaque"},
    "an unsampled caller": {"traceparent": CALLER[:-2] + "00"},
    "a malformed traceparent": {"traceparent": "00-not-a-trace-01"},
}


def _server() -> FastMCP:
    server = FastMCP("spans")

    @server.tool
    async def context() -> dict[str, Any]:
        """The trace context this call runs in, and what a call from here would carry."""
        span = trace.get_current_span().get_span_context()
        return {
            "trace_id": f"{span.trace_id:032x}",
            "span_id": f"{span.span_id:016x}",
            "flags": int(span.trace_flags),
            "valid": span.is_valid,
            "onward": tracing.with_trace_context({}),
        }

    @server.tool
    async def mode() -> str:
        """FastMCP's telemetry mode inside the call."""
        return telemetry_mode()

    return server


@asynccontextmanager
async def _clients() -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    # Not a fixture: the servers' lifespans hold cancel scopes, entered and left in one task.
    plain = _server().http_app(path="/mcp", stateless_http=True)
    inner = _server().http_app(path="/mcp", stateless_http=True)
    wrapped = fastmcp_spans.spans_only_when_recorded(inner)
    async with (
        plain.router.lifespan_context(plain),
        inner.router.lifespan_context(inner),
        _client(plain) as via_plain,
        _client(wrapped) as via_wrapped,
    ):
        yield via_plain, via_wrapped


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1")


async def _call(client: httpx.AsyncClient, tool: str, meta: dict[str, Any]) -> httpx.Response:
    body = {
        "jsonrpc": "2.0",
        "id": 7,
        "method": "tools/call",
        "params": {
            "name": tool,
            "arguments": {},
            "_meta": {
                "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                "io.modelcontextprotocol/clientCapabilities": {},
                **meta,
            },
        },
    }
    headers = {
        "accept": "application/json, text/event-stream",
        "mcp-protocol-version": "2026-07-28",
        "mcp-method": "tools/call",
        "mcp-name": tool,
    }
    return await client.post("/mcp", json=body, headers=headers)


def _structured(response: httpx.Response) -> Any:
    return json.loads(response.text)["result"]["structuredContent"]


@pytest.mark.parametrize("case", list(TABLE), ids=list(TABLE))
async def test_a_tool_sees_the_same_trace_context(case: str) -> None:
    assert not fastmcp_spans.provider_records(), "this test needs no tracer provider here"
    async with _clients() as (via_plain, via_wrapped):
        plain = await _call(via_plain, "context", TABLE[case])
        wrapped = await _call(via_wrapped, "context", TABLE[case])
    assert plain.status_code == wrapped.status_code == 200
    assert sorted(plain.headers.multi_items()) == sorted(wrapped.headers.multi_items())
    assert plain.content == wrapped.content
    seen = _structured(wrapped)
    if "traceparent" in TABLE[case] and case != "a malformed traceparent":
        # The caller's trace continues: in the tool, and in what the tool's calls carry.
        assert seen["trace_id"] == CALLER.split("-")[1]
        assert seen["onward"]["traceparent"].split("-")[1] == seen["trace_id"]
    else:
        assert not seen["valid"]
        assert seen["onward"] == {}


async def test_fastmcp_spans_come_back_once_a_provider_records(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with _clients() as (via_plain, via_wrapped):
        assert _structured(await _call(via_plain, "mode", {}))["result"] == "native"
        assert _structured(await _call(via_wrapped, "mode", {}))["result"] == "propagation_only"
        # Decided per request: a provider set while serving is used from the next request on.
        monkeypatch.setattr(fastmcp_spans, "provider_records", lambda: True)
        assert _structured(await _call(via_wrapped, "mode", {}))["result"] == "native"
