"""FastMCP's own spans, only while an OpenTelemetry tracer provider records them.

Without an SDK, FastMCP's server spans are the API's no-op ones, yet building them (attributes,
the tracer, context) was about a tenth of the CPU of a tool call. Wrapped in
:func:`spans_only_when_recorded`, a FastMCP app serves each request in FastMCP's
propagation-only mode while nothing records: a caller's trace context in ``_meta`` is still the
current one in the tool (its own spans and outgoing calls continue the caller's trace), and
clients see the same answers.
"""

from __future__ import annotations

from fastmcp.telemetry import suppress_fastmcp_telemetry
from opentelemetry import trace
from starlette.types import ASGIApp, Receive, Scope, Send


def provider_records() -> bool:
    """Whether a tracer provider that records was set (by the program or its configuration)."""
    return not isinstance(
        trace.get_tracer_provider(), trace.ProxyTracerProvider | trace.NoOpTracerProvider
    )


def spans_only_when_recorded(app: ASGIApp) -> ASGIApp:
    """``app`` (a FastMCP server's), whose HTTP requests skip FastMCP's own spans while no
    tracer provider records them; decided per request, so a provider set later gets them."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or provider_records():
            await app(scope, receive, send)
            return
        with suppress_fastmcp_telemetry():
            await app(scope, receive, send)

    return serve
