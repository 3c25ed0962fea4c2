"""The registry's HTTP face (minimal for now): health, readiness and read-only lists.

A thin adapter: each handler parses its request, calls the service once, and maps the service's
typed errors to Kubernetes' ``Status`` JSON.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mesh_registry.errors import BadRequest, MeshError
from mesh_registry.service import Registry

Handler = Callable[[Request], Awaitable[Response]]


def create_app(registry: Registry) -> Starlette:
    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        body = {
            "ready": registry.ready,
            "revision": str(registry.revision),
            "selfPreservation": registry.self_preservation,
        }
        return JSONResponse(body, status_code=200 if registry.ready else 503)

    async def list_handler(request: Request) -> Response:
        query = request.query_params
        limit = query.get("limit")
        if limit is not None and not (limit.isascii() and limit.isdigit()):
            raise BadRequest(f"limit: {limit!r} is not a positive integer")
        result = await registry.list_agents(
            request.path_params.get("namespace"),
            selector=query.get("labelSelector", ""),
            capabilities=query.getlist("capability"),
            phases=query.getlist("phase") or None,
            limit=int(limit) if limit and limit.isdigit() else None,
            continue_token=query.get("continue"),
        )
        return JSONResponse(result.model_dump(mode="json", exclude_none=True))

    async def get_agent(request: Request) -> Response:
        params = request.path_params
        agent = registry.get(params["namespace"], params["name"])
        return JSONResponse(agent.model_dump(mode="json", exclude_none=True))

    return Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/api/v1/agents", _errors_as_status(list_handler)),
            Route("/api/v1/namespaces/{namespace}/agents", _errors_as_status(list_handler)),
            Route("/api/v1/namespaces/{namespace}/agents/{name}", _errors_as_status(get_agent)),
        ]
    )


def _errors_as_status(handler: Handler) -> Handler:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except MeshError as error:
            status = error.to_status()
            return JSONResponse(status.model_dump(mode="json", exclude_none=True), error.code)

    return wrapped
