"""One ASGI app: REST, SSE watches, MCP at /mcp, probes, metrics and the OpenAPI document."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.body_limit import RequestBodyLimitMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mesh_registry.access import Access, AccessLimits
from mesh_registry.auth import Authenticator
from mesh_registry.errors import MeshError, MethodNotAllowed, NotFound
from mesh_registry.fastmcp_spans import spans_only_when_recorded
from mesh_registry.server import ui
from mesh_registry.server.auth import AuthMiddleware, Gate
from mesh_registry.server.heartbeat import HeartbeatPath
from mesh_registry.server.mcp import create_mcp
from mesh_registry.server.metrics import Metrics
from mesh_registry.server.official import OfficialApi
from mesh_registry.server.openapi import document
from mesh_registry.server.ratelimit import RateLimit
from mesh_registry.server.responses import status_response
from mesh_registry.server.rest import RestApi
from mesh_registry.server.settings import ServerSettings
from mesh_registry.service import Registry

log = logging.getLogger(__name__)


def create_app(
    registry: Registry,
    settings: ServerSettings | None = None,
    authenticator: Authenticator | None = None,
    *,
    heartbeat_path: bool = True,
) -> Starlette:
    """The registry's HTTP app. The caller starts and stops ``registry`` around it.

    Without an ``authenticator`` every request is trusted (see ``cli/registry.py`` for when
    that is allowed). ``heartbeat_path=False`` routes heartbeats like any request (the tests
    compare both ways)."""
    settings = settings or ServerSettings()
    access = Access(
        registry,
        AccessLimits(watches_per_subject=settings.watches_per_subject),
        still_valid=authenticator.still_valid if authenticator else None,
    )
    # Stateless: the registry's tools answer each request on its own and need no session, so
    # no client can make the registry hold sessions (a flood of initialize requests once left
    # thousands open for half an hour, and then refused everyone).
    mcp_app = create_mcp(access, authenticator).http_app(path="/mcp", stateless_http=True)
    metrics = Metrics(registry)
    rate_limit = RateLimit(settings.rate_limit) if settings.rate_limit else None
    gate = Gate(authenticator, rate_limit)

    routes = [
        *RestApi(access, settings).routes(),
        *OfficialApi(access).routes(),
        *ui.routes(),
        *_probe_routes(registry),
        # An ASGI app as the endpoint: /mcp reaches FastMCP unchanged, its own middleware intact.
        Route(
            "/mcp",
            RequestBodyLimitMiddleware(spans_only_when_recorded(mcp_app), settings.max_body_size),
        ),
    ]
    if settings.metrics:
        routes.append(Route("/metrics", metrics.endpoint, methods=["GET"]))

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp_app.lifespan(app):
            yield

    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        middleware=[
            *([Middleware(HeartbeatPath, access, gate, metrics)] if heartbeat_path else []),
            Middleware(metrics.middleware),
            Middleware(AuthMiddleware, gate, protect_metrics=settings.protect_metrics),
        ],
        exception_handlers={
            MeshError: _mesh_error,
            HTTPException: _http_error,
            Exception: _unexpected_error,
        },
    )
    # A path that is not the API's is a 404 Status, not a redirect to a guess (a trailing
    # slash): clients of a Kubernetes-style API expect exact paths.
    app.router.redirect_slashes = False
    return app


def _probe_routes(registry: Registry) -> list[Route]:
    """The probes, and the OpenAPI document."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        stats = registry.stats()
        body: dict[str, Any] = {
            "ready": registry.ready,
            "revision": str(stats.revision),
            "agents": stats.agents,
            "selfPreservation": stats.self_preservation,
            "quarantined": registry.quarantined,
            "leader": stats.leading,
        }
        if stats.damaged is not None:
            body["damaged"] = stats.damaged
        if stats.unavailable is not None:
            body["unavailable"] = stats.unavailable
        return JSONResponse(body, status_code=200 if registry.ready else 503)

    async def openapi(request: Request) -> Response:
        return JSONResponse(document())

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/readyz", readyz, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
    ]


async def _mesh_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, MeshError)
    return status_response(error)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    if error.status_code == 405:
        allowed = error.headers.get("Allow", "") if error.headers else ""
        mapped: MeshError = MethodNotAllowed(
            f"method {request.method} is not allowed on {request.url.path}; allowed: {allowed}"
        )
    elif error.status_code == 404:
        mapped = NotFound(f"the server could not find the requested resource {request.url.path}")
    else:
        mapped = MeshError(str(error.detail), code=error.status_code)
    response = status_response(mapped)
    response.headers.update(error.headers or {})  # e.g. Allow, which a 405 must carry
    return response


async def _unexpected_error(request: Request, error: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return status_response(MeshError(f"internal error: {type(error).__name__}"))
