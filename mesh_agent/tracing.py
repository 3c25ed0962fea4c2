"""One trace across the mesh: W3C trace context in MCP ``_meta``, spans with OpenTelemetry.

Every mesh call (an injected dependency, ``MeshClient``, the gateway) is a client span and
carries ``traceparent`` (and ``tracestate``) in its request's ``_meta``; the agent's MCP server
(FastMCP) starts its tool span from it, so a call through the gateway to an agent and on to
that agent's dependencies is one trace.

Only the OpenTelemetry API is required, and with no SDK set up every span is the API's no-op
and no ``traceparent`` is sent: near-free. :func:`configure` sets the SDK up (the extra
``mcp-mesh[otel]``) from the standard variables, when they ask for an exporter:
``OTEL_TRACES_EXPORTER`` (``otlp``, ``console``, or several, comma-separated; ``none``), or an
OTLP endpoint (``OTEL_EXPORTER_OTLP_ENDPOINT``, ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``), with
``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` as usual. A program that set up its own
tracer provider keeps it.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind

from mesh_registry import __version__
from mesh_registry.fastmcp_spans import provider_records

log = logging.getLogger(__name__)
TRACER = trace.get_tracer("mcp-mesh", __version__)
_CONTEXT_KEYS = ("traceparent", "tracestate")


def exporters(environ: Mapping[str, str]) -> list[str]:
    """The span exporters the standard variables ask for (none: tracing stays off)."""
    named = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if named:
        return [name for name in (n.strip() for n in named.split(",")) if name and name != "none"]
    endpoints = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    return ["otlp"] if any(environ.get(variable) for variable in endpoints) else []


def configure(service_name: str, environ: Mapping[str, str] | None = None) -> bool:
    """Set the OpenTelemetry SDK up as the standard variables ask; return whether spans are
    now exported. ``service_name``: the default for ``OTEL_SERVICE_NAME``."""
    environ = os.environ if environ is None else environ
    wanted = exporters(environ)
    if not wanted or provider_records():
        return False
    try:
        from opentelemetry.sdk.resources import SERVICE_NAME, Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError:
        log.warning(
            "OTEL_* variables ask for span exporters, but the OpenTelemetry SDK is not"
            " installed: pip install 'mcp-mesh[otel]'"
        )
        return False
    attributes = {} if environ.get("OTEL_SERVICE_NAME") else {SERVICE_NAME: service_name}
    provider = TracerProvider(resource=Resource.create(attributes))
    for name in wanted:
        processor = _processor(name, environ)
        if processor is not None:
            provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    return True


@contextmanager
def call_span(target: str, provider: str, method: str = "tools/call") -> Iterator[Span]:
    """The client span of one mesh request: a call of capability ``target`` (or ``method``
    of the prompt or resource ``target``); ``provider``: who it goes to first (each provider
    tried is an event on it)."""
    if not provider_records():
        # No SDK: a span would record nothing. A mesh call is a hot path, so none is made;
        # the caller's trace context (if a server span extracted one) still travels.
        yield INVALID_SPAN
        return
    calling = method == "tools/call"
    with TRACER.start_as_current_span(
        f"mesh call {target}" if calling else f"mesh {method} {target}",
        kind=SpanKind.CLIENT,
        attributes={
            "mcp.method.name": method,
            ("mesh.capability" if calling else "mesh.target"): target,
        },
    ) as span:
        if span.is_recording():
            span.set_attribute("mesh.provider", provider)
        yield span


def with_trace_context(meta: dict[str, Any]) -> dict[str, Any]:
    """``meta`` (a request's ``_meta``) with the current trace context, if there is one."""
    if not trace.get_current_span().get_span_context().is_valid:
        return meta
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {**meta, **{key: carrier[key] for key in _CONTEXT_KEYS if key in carrier}}


def _processor(name: str, environ: Mapping[str, str]) -> Any:
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    if name == "console":
        # On stderr: stdout may be an MCP stdio transport. One line per span, at once.
        return SimpleSpanProcessor(
            ConsoleSpanExporter(out=sys.stderr, formatter=lambda span: span.to_json(None) + "\n")
        )
    if name == "otlp":
        exporter = _otlp_exporter(environ)
        return None if exporter is None else BatchSpanProcessor(exporter)
    log.warning("OTEL_TRACES_EXPORTER names %r, which this program does not know: ignored", name)
    return None


def _otlp_exporter(environ: Mapping[str, str]) -> Any:
    protocol = environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    # The extra installs the HTTP one; a program may add the gRPC one (opentelemetry-exporter-
    # otlp-proto-grpc) itself. Each reads its endpoint and headers from the variables.
    transport = "grpc" if protocol == "grpc" else "http"
    try:
        module = importlib.import_module(
            f"opentelemetry.exporter.otlp.proto.{transport}.trace_exporter"
        )
    except ImportError:
        log.warning("no OTLP exporter for %s installed: pip install 'mcp-mesh[otel]'", protocol)
        return None
    return module.OTLPSpanExporter()
