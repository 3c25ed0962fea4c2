"""The official MCP registry API's read side over HTTP (``/v0.1/servers``), made from the
records by ``mesh_registry.official``; its optional write side answers 501 (agents publish
themselves with ``PUT /api/v1/…``). Errors take that API's shape: ``{"error": "…"}``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from mesh_registry.access import Access
from mesh_registry.errors import MeshError
from mesh_registry.model import Agent, Phase
from mesh_registry.official import ServerQuery, agent_key, listable, server_response, version_of
from mesh_registry.query import AgentQuery
from mesh_registry.server.auth import PRINCIPAL

SERVERS = "/v0.1/servers"
NOT_PUBLISHING = (
    "publishing through this API is not supported by this registry: agents register"
    " themselves (PUT /api/v1/namespaces/{namespace}/agents/{name})"
)


class OfficialApi:
    def __init__(self, access: Access) -> None:
        self._access = access

    def routes(self) -> list[Route]:
        writes = ["PUT", "DELETE", "PATCH", "POST"]
        return [
            Route(SERVERS, _errors(self.servers), methods=["GET"]),
            Route(SERVERS + "/{server:path}/versions", _errors(self.versions), methods=["GET"]),
            Route(
                SERVERS + "/{server:path}/versions/{version}",
                _errors(self.version),
                methods=["GET"],
            ),
            Route(SERVERS + "/{server:path}/versions/{version}", _not_publishing, methods=writes),
            Route(SERVERS + "/{rest:path}/status", _not_publishing, methods=["PATCH"]),
            Route("/v0.1/publish", _not_publishing, methods=["POST"]),
        ]

    async def servers(self, request: Request) -> Response:
        query = ServerQuery.parse(dict(request.query_params))
        page, cursor = query.page(await self._healthy(request))
        metadata: dict[str, object] = {"count": len(page)}
        if cursor is not None:
            metadata["nextCursor"] = cursor
        return JSONResponse({"servers": [server_response(a) for a in page], "metadata": metadata})

    async def versions(self, request: Request) -> Response:
        agent = await self._agent(request)
        return JSONResponse({"servers": [server_response(agent)], "metadata": {"count": 1}})

    async def version(self, request: Request) -> Response:
        agent = await self._agent(request)
        wanted = unquote(request.path_params["version"])
        if wanted not in ("latest", version_of(agent)):
            return _error(404, "Server version not found")
        return JSONResponse(server_response(agent))

    async def _healthy(self, request: Request) -> list[Agent]:
        query = AgentQuery(phases=(Phase.HEALTHY.value,))
        return (await self._access.list_records(request.scope[PRINCIPAL], query)).agents()

    async def _agent(self, request: Request) -> Agent:
        """The agent a server name stands for, if it is listed: one lookup, not a list."""
        key = agent_key(unquote(request.path_params["server"]))
        if key is None:
            raise _NotFound
        try:
            agent = await self._access.get(request.scope[PRINCIPAL], key.namespace, key.name)
        except MeshError as error:
            if error.code in _NOT_LISTED:
                raise _NotFound from None
            raise
        if agent.status.phase is not Phase.HEALTHY or not listable(agent):
            raise _NotFound
        return agent


class _NotFound(Exception):
    pass


# A name that is not an agent's, one in a namespace the token may not read, or no such agent:
# to this API, a server it does not list.
_NOT_LISTED = frozenset({400, 403, 404})


def _errors(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[..., Awaitable[Response]]:
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except _NotFound:
            return _error(404, "Server not found")
        except MeshError as error:
            return _error(error.code, error.message)

    return answer


async def _not_publishing(request: Request) -> Response:
    return _error(501, NOT_PUBLISHING)


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)
