"""An async client of the registry's REST API and SSE watches.

Errors come back as the same typed errors the service raises (``NotFound``, ``Conflict``, …);
a registry that cannot be reached is ``Unavailable``. Light on purpose: it imports no server
code and no FastMCP, so command-line tools that use it start fast.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Mapping
from dataclasses import replace
from typing import Any, TypeVar

import httpx
from httpx_sse import aconnect_sse
from pydantic import BaseModel, ValidationError

from mesh_registry.errors import MeshError, Unavailable, error_from_status
from mesh_registry.model import (
    DEFAULT_NAMESPACE,
    Agent,
    AgentList,
    Bookmark,
    CallToken,
    EventType,
    HeartbeatResponse,
    Status,
    TokenReview,
    WatchEvent,
)
from mesh_registry.query import AgentQuery, Operation, to_params

M = TypeVar("M", bound=BaseModel)
AgentInput = Agent | Mapping[str, Any]


class RegistryClient:
    """``async with RegistryClient("http://127.0.0.1:8000") as registry: ...``"""

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        token: str | None = None,
        ca_bundle: str | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """``token``: sent as ``Authorization: Bearer``; ``ca_bundle``: a PEM file of the CAs
        that sign an ``https://`` registry's certificate (default: the system's)."""
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        verify: ssl.SSLContext | bool = True
        if ca_bundle:
            try:
                verify = ssl.create_default_context(cafile=ca_bundle)
            except (OSError, ssl.SSLError) as error:
                raise ValueError(f"CA bundle {ca_bundle}: {error}") from None
        self._http = http or httpx.AsyncClient(
            base_url=self.url, timeout=timeout, headers=headers, verify=verify
        )

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- writes ----------------------------------------------------------------------------

    async def create(self, agent: AgentInput, namespace: str | None = None) -> Agent:
        body = _body(agent)
        ns = namespace or body["metadata"].get("namespace") or DEFAULT_NAMESPACE
        return await self._call(Agent, "POST", f"/api/v1/namespaces/{ns}/agents", json=body)

    async def register(self, agent: AgentInput) -> Agent:
        """Create or replace (PUT)."""
        body = _body(agent)
        metadata = body["metadata"]
        ns = metadata.get("namespace") or DEFAULT_NAMESPACE
        path = f"/api/v1/namespaces/{ns}/agents/{metadata['name']}"
        return await self._call(Agent, "PUT", path, json=body)

    async def unregister(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> Agent:
        return await self._call(Agent, "DELETE", _item(namespace, name))

    async def heartbeat(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> HeartbeatResponse:
        return await self._call(HeartbeatResponse, "POST", _item(namespace, name) + "/heartbeat")

    # -- reads -----------------------------------------------------------------------------

    async def call_token(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> CallToken:
        """A token to call agent ``namespace/name`` with."""
        return await self._call(CallToken, "POST", _item(namespace, name) + "/token")

    async def review_token(self, token: str) -> TokenReview:
        """Whether ``token`` is a valid call token for an agent of ours, and whose."""
        body = {"spec": {"token": token}}
        return await self._call(TokenReview, "POST", "/api/v1/tokenreviews", json=body)

    async def get(self, name: str, namespace: str = DEFAULT_NAMESPACE) -> Agent:
        return await self._call(Agent, "GET", _item(namespace, name))

    async def list_agents(self, query: AgentQuery | None = None) -> AgentList:
        """One page; see :meth:`list_all` for every page."""
        query = query or AgentQuery()
        params = to_params(query, Operation.LIST)
        return await self._call(AgentList, "GET", _collection(query.namespace), params=params)

    async def list_all(self, query: AgentQuery | None = None) -> AgentList:
        """Every page of a list, as one list at the first page's revision."""
        query = query or AgentQuery()
        first = await self.list_agents(query)
        items, token = list(first.items), first.metadata.continue_
        while token:
            page = await self.list_agents(replace(query, continue_token=token))
            items += page.items
            token = page.metadata.continue_
        return AgentList(
            metadata=first.metadata.model_copy(update={"continue_": None}), items=items
        )

    async def discover(self, query: AgentQuery) -> AgentList:
        """Providers of every capability asked for, best first (healthy ones unless the query
        names phases), as the registry answers: an ``AgentList`` with its revision."""
        params = to_params(query, Operation.DISCOVER)
        return await self._call(AgentList, "GET", "/api/v1/discover", params=params)

    async def watch(
        self, query: AgentQuery | None = None, *, since: str | None = None
    ) -> AsyncIterator[WatchEvent]:
        """The events of one watch stream, until the registry ends it or the connection drops.

        Raise ``Unavailable`` on a dropped connection: resume with ``since`` (see
        :class:`ResumePoint`). A 410 (``Gone``, as an answer or an ERROR event) means: list
        again, or watch without ``since``.
        """
        query = query or AgentQuery()
        params = {"watch": "true", **to_params(query, Operation.WATCH)}
        headers = {"Last-Event-ID": since} if since else {}
        path = _collection(query.namespace)
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            async with aconnect_sse(
                self._http, "GET", path, params=params, headers=headers, timeout=timeout
            ) as source:
                if source.response.status_code != 200:
                    await source.response.aread()
                    raise _error(source.response)
                async for message in source.aiter_sse():
                    # The SSE standard drops a message without data; httpx-sse hands one over
                    # for the blank line after each keep-alive comment, once an id was seen.
                    if message.data:
                        yield _watch_event(message.event, message.data)
        except httpx.TransportError as error:
            raise Unavailable(f"watch on {self.url} interrupted: {error!r}") from error

    # -- plumbing --------------------------------------------------------------------------

    async def _call(self, model: type[M], method: str, path: str, **kwargs: Any) -> M:
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.TransportError as error:
            raise Unavailable(f"registry at {self.url} is unreachable: {error!r}") from error
        if response.status_code >= 400:
            raise _error(response)
        return model.model_validate_json(response.content)


class ResumePoint:
    """Where a watch resumes after a dropped connection.

    The ADDED events of a watch's initial state come in key order, not revision order: none of
    them is a point to resume from. The BOOKMARK that ends the initial state is; so is every
    event after it. Until then, a reconnect starts over with a fresh initial state.
    """

    def __init__(self, revision: int | None = None) -> None:
        self.revision = revision  # None: start from the current state
        self._initial = revision is None

    @property
    def since(self) -> str | None:
        """The ``since`` of the next :meth:`RegistryClient.watch`."""
        return None if self.revision is None else str(self.revision)

    def observe(self, event: WatchEvent) -> None:
        """Take note of an event of the current stream."""
        if self._initial:
            if not (isinstance(event.object, Bookmark) and event.object.ends_initial_state):
                return
            self._initial = False
        if event.revision:
            self.revision = event.revision

    def restart(self) -> None:
        """Start over from the current state (after a 410)."""
        self.revision = None
        self._initial = True


def _body(agent: AgentInput) -> dict[str, Any]:
    if isinstance(agent, Agent):
        body: dict[str, Any] = agent.model_dump(mode="json", exclude_none=True)
        return body
    return dict(agent)


def _item(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/agents/{name}"


def _collection(namespace: str | None) -> str:
    return "/api/v1/agents" if namespace is None else f"/api/v1/namespaces/{namespace}/agents"


def _error(response: httpx.Response) -> MeshError:
    try:
        return error_from_status(Status.model_validate_json(response.content))
    except ValidationError:
        message = f"registry answered {response.status_code}: {response.text[:200]}"
        return MeshError(message, code=response.status_code)


def _watch_event(kind: str, data: str) -> WatchEvent:
    event_type = EventType(kind)
    payload: BaseModel
    if event_type is EventType.ERROR:
        payload = Status.model_validate_json(data)
    elif event_type is EventType.BOOKMARK:
        payload = Bookmark.model_validate_json(data)
    else:
        payload = Agent.model_validate_json(data)
    return WatchEvent(type=event_type, object=payload)
