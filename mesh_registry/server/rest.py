"""The REST API, Kubernetes style (docs/design.md, "Server"): each handler parses, calls the
service once, and answers. Errors of any kind become a ``Status`` response (see ``app.py``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mesh_registry.access import Access
from mesh_registry.auth import Principal
from mesh_registry.errors import BadRequest
from mesh_registry.incoming import parse_revision
from mesh_registry.listing import Listing
from mesh_registry.model import DeleteOptions, TokenReview, field_errors
from mesh_registry.query import Operation, from_params
from mesh_registry.server.agent_json import AgentJson
from mesh_registry.server.auth import PRINCIPAL
from mesh_registry.server.requests import flag, json_body, optional_json_body
from mesh_registry.server.responses import JSON, json_response
from mesh_registry.server.settings import ServerSettings
from mesh_registry.server.sse import Frames, event_stream, resume_revision

Handler = Callable[[Request], Awaitable[Response]]

COLLECTION = "/api/v1/namespaces/{namespace}/agents"
ITEM = "/api/v1/namespaces/{namespace}/agents/{name}"
HEARTBEAT = ITEM + "/heartbeat"


class RestApi:
    def __init__(self, access: Access, settings: ServerSettings) -> None:
        self._access = access
        self._settings = settings
        self._json = AgentJson()
        self._frames = Frames(self._json)

    def routes(self) -> list[Route]:
        # Starlette tries routes in order: the most frequent come first (heartbeats, then
        # reads); no two of these paths match the same request.
        return [
            _route(HEARTBEAT, POST=self.heartbeat),
            _route("/api/v1/discover", GET=self.discover),
            _route("/api/v1/agents", GET=self.list_or_watch),
            _route(COLLECTION, GET=self.list_or_watch, POST=self.create),
            _route(ITEM, GET=self.get, PUT=self.replace, DELETE=self.delete),
            _route(ITEM + "/token", POST=self.call_token),
            _route("/api/v1/tokenreviews", POST=self.review),
        ]

    async def list_or_watch(self, request: Request) -> Response:
        namespace = request.path_params.get("namespace")
        since = parse_revision(resume_revision(request))
        if flag(request, "watch"):
            query = from_params(request.query_params.getlist, Operation.WATCH, namespace)
            events = await self._access.watch(_principal(request), query, since)
            return event_stream(
                events,
                self._settings,
                self._frames,
                resumed=since is not None,
                on_stalled=events.stalled,
            )
        # A list always shows the latest state, as new as any revision a client can hold: the
        # revision is checked, then has nothing to select.
        query = from_params(request.query_params.getlist, Operation.LIST, namespace)
        return self._listing(await self._access.list_records(_principal(request), query))

    async def create(self, request: Request) -> Response:
        body = await json_body(request, self._settings.max_body_size)
        namespace = request.path_params["namespace"]
        created = await self._access.create(_principal(request), body, namespace)
        return json_response(created, 201)

    async def get(self, request: Request) -> Response:
        params = request.path_params
        return json_response(
            await self._access.get(_principal(request), params["namespace"], params["name"])
        )

    async def replace(self, request: Request) -> Response:
        body = await json_body(request, self._settings.max_body_size)
        params = request.path_params
        result = await self._access.register(
            _principal(request), body, params["namespace"], params["name"]
        )
        return json_response(result.agent, 201 if result.created else 200)

    async def delete(self, request: Request) -> Response:
        options = _delete_options(await optional_json_body(request, self._settings.max_body_size))
        preconditions = options.preconditions
        params = request.path_params
        deleted = await self._access.unregister(
            _principal(request),
            params["namespace"],
            params["name"],
            resource_version=preconditions.resource_version if preconditions else None,
            uid=preconditions.uid if preconditions else None,
        )
        return json_response(deleted)

    async def heartbeat(self, request: Request) -> Response:
        params = request.path_params
        beat = await self._access.heartbeat(
            _principal(request), params["namespace"], params["name"]
        )
        return json_response(beat)

    async def call_token(self, request: Request) -> Response:
        params = request.path_params
        issued = await self._access.call_token(
            _principal(request), params["namespace"], params["name"]
        )
        return json_response(issued, 201)

    async def review(self, request: Request) -> Response:
        body = await json_body(request, self._settings.max_body_size)
        try:
            spec = TokenReview.model_validate(body, extra="forbid").spec
        except ValidationError as error:
            problem = field_errors(error)[0]
            raise BadRequest(f"token review: {problem.field}: {problem.message}") from None
        return json_response(await self._access.review(_principal(request), spec.token), 201)

    async def discover(self, request: Request) -> Response:
        query = from_params(request.query_params.getlist, Operation.DISCOVER, None)
        return self._listing(await self._access.discover_records(_principal(request), query))

    def _listing(self, listing: Listing) -> Response:
        return Response(self._json.listing(listing), media_type=JSON)


def _principal(request: Request) -> Principal:
    principal: Principal = request.scope[PRINCIPAL]  # set by AuthMiddleware
    return principal


def _route(path: str, **handlers: Handler) -> Route:
    """One route per path, so that a 405 lists every method the path takes in ``Allow``."""

    async def dispatch(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return Route(path, dispatch, methods=list(handlers))


def _delete_options(body: Any) -> DeleteOptions:
    if body is None:
        return DeleteOptions()
    try:
        return DeleteOptions.model_validate(body, extra="forbid")
    except ValidationError as error:
        problem = field_errors(error)[0]
        raise BadRequest(f"delete options: {problem.field}: {problem.message}") from None
