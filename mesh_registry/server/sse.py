"""Watches over Server-Sent Events (docs/design.md, "Watches").

Each event carries ``event: ADDED | MODIFIED | DELETED | BOOKMARK | ERROR`` and the object as
one JSON ``data`` line, and ``id: <resourceVersion>`` where resuming from that revision is
correct. A client resumes with ``?resourceVersion=`` or the ``Last-Event-ID`` header (which
browsers' EventSource sends by itself on reconnect); the header wins when both are present,
since it is the newer of the two. Comment lines keep idle connections open through proxies and
client read timeouts.

Two kinds of event carry no ``id``, so that they never move a client's resume point:

- ERROR events.
- The ADDED events of a watch's initial state. They come in key order, not revision order, so
  no one of them marks a point from which the rest of the state could be replayed. The BOOKMARK
  that ends the initial state carries the revision it reflects; a client that reconnects before
  it has no ``Last-Event-ID`` and starts over with a fresh initial state.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel
from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from mesh_registry.model import Bookmark, EventType, WatchEvent
from mesh_registry.server.settings import ServerSettings


def resume_revision(request: Request) -> str | None:
    """Where the client wants to resume: ``Last-Event-ID``, else ``?resourceVersion=``."""
    return request.headers.get("last-event-id") or request.query_params.get("resourceVersion")


def event_stream(
    events: AsyncIterator[WatchEvent],
    settings: ServerSettings,
    *,
    resumed: bool,
    on_stalled: Callable[[], None] | None = None,
) -> EventSourceResponse:
    """The response of a watch; ``resumed``: it starts after a revision, with no initial state.
    ``on_stalled``: told when the client took no data for the send timeout (it is ended)."""
    return _WatchResponse(
        _encode(events, resumed),
        on_stalled=on_stalled,
        ping=settings.watch_keepalive,
        send_timeout=settings.watch_send_timeout,
        headers={"Cache-Control": "no-store"},
        # At shutdown the registry ends every watch itself (Registry.begin_shutdown); this
        # grace lets that clean end win over sse-starlette cutting the stream mid-response.
        shutdown_grace_period=5.0,
    )


class _WatchResponse(EventSourceResponse):
    def __init__(self, *args: Any, on_stalled: Callable[[], None] | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._on_stalled = on_stalled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            if self._on_stalled is not None:
                self._on_stalled()
            raise


class _SharedJson:
    """The JSON of recently sent objects. A change goes out to every watcher of it at about the
    same time; objects are immutable, so each is encoded once, not once per watcher."""

    def __init__(self, size: int = 1024) -> None:
        # Keyed by id(); the entry keeps the object alive, so the id cannot be reused meanwhile.
        self._entries: OrderedDict[int, tuple[BaseModel, str]] = OrderedDict()
        self._size = size

    def __call__(self, obj: BaseModel) -> str:
        entry = self._entries.get(id(obj))
        if entry is not None and entry[0] is obj:
            return entry[1]
        encoded = obj.model_dump_json(exclude_none=True)
        self._entries[id(obj)] = (obj, encoded)
        if len(self._entries) > self._size:
            self._entries.popitem(last=False)
        return encoded


_json = _SharedJson()


async def _encode(
    events: AsyncIterator[WatchEvent], resumed: bool
) -> AsyncIterator[ServerSentEvent]:
    resumable = resumed  # false until the initial state has been sent
    try:
        async for event in events:
            if isinstance(event.object, Bookmark) and event.object.ends_initial_state:
                resumable = True
            yield ServerSentEvent(
                data=_json(event.object),
                event=event.type.value,
                id=str(event.revision) if resumable and event.type is not EventType.ERROR else None,
            )
    finally:
        # Ends the service's stream (and its subscription) when the client goes away.
        aclose = getattr(events, "aclose", None)
        if aclose is not None:
            await aclose()
