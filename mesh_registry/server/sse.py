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

import re
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent
from sse_starlette.sse import SendTimeoutError
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from mesh_registry.http_guard import DIRECT_CHUNKS, http_chunk
from mesh_registry.model import Agent, Bookmark, EventType, WatchEvent
from mesh_registry.server.agent_json import AgentJson
from mesh_registry.server.settings import ServerSettings
from mesh_registry.watch import WatchStream


def resume_revision(request: Request) -> str | None:
    """Where the client wants to resume: ``Last-Event-ID``, else ``?resourceVersion=``."""
    return request.headers.get("last-event-id") or request.query_params.get("resourceVersion")


def event_stream(
    events: WatchStream,
    settings: ServerSettings,
    frames: Frames,
    *,
    resumed: bool,
    on_stalled: Callable[[], None] | None = None,
) -> EventSourceResponse:
    """The response of a watch; ``resumed``: it starts after a revision, with no initial state.
    ``frames``: the registry's encoder of events. ``on_stalled``: told when the client took no
    data for the send timeout (it is ended)."""
    return _WatchResponse(
        events,
        resumed,
        frames,
        on_stalled=on_stalled,
        ping=settings.watch_keepalive,
        send_timeout=settings.watch_send_timeout,
        headers={"Cache-Control": "no-store"},
        # At shutdown the registry ends every watch itself (Registry.begin_shutdown); this
        # grace lets that clean end win over sse-starlette cutting the stream mid-response.
        shutdown_grace_period=5.0,
    )


class _WatchResponse(EventSourceResponse):
    def __init__(
        self,
        events: WatchStream,
        resumed: bool,
        frames: Frames,
        *,
        on_stalled: Callable[[], None] | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(_encode(events, resumed, frames, None), **kwargs)
        self._events = events
        self._resumed = resumed
        self._frames = frames
        self._on_stalled = on_stalled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        direct = scope.get("extensions", {}).get(DIRECT_CHUNKS)
        if direct is not None:  # served by the registry's own HTTP protocol
            self.body_iterator = _encode(
                self._events, self._resumed, self._frames, direct.write_chunk
            )
        try:
            await super().__call__(scope, receive, send)
        except SendTimeoutError:
            if self._on_stalled is not None:
                self._on_stalled()
            raise


# Event names and revisions: nothing ``ServerSentEvent`` would clean out of them.
_PLAIN = re.compile(r"[A-Za-z0-9_-]*")


class Frames:
    """A registry's SSE frames of events. The hub hands one event object to every watcher with
    the same filter, at about the same time, so the frames of recent live events are kept: a
    live event is encoded once, not once per watcher. An initial event is a watcher's own, but
    its agent's JSON comes from the registry's memo of record texts (``agent_json.py``), as a
    list's does.
    """

    def __init__(self, agent_json: AgentJson, size: int = 1024) -> None:
        self._agent_json = agent_json
        # Keyed by id(); each entry keeps its object alive, so the id cannot be reused meanwhile.
        self._recent: OrderedDict[int, tuple[WatchEvent, bytes, bytes]] = OrderedDict()
        self._size = size

    def live(self, event: WatchEvent) -> bytes:
        """The frame of a live event: with its revision as ``id``, unless an ERROR."""
        return self._live(event)[1]

    def live_chunk(self, event: WatchEvent) -> bytes:
        """The same frame as one chunk of a chunked HTTP/1.1 body (``http_chunk``)."""
        return self._live(event)[2]

    def _live(self, event: WatchEvent) -> tuple[WatchEvent, bytes, bytes]:
        entry = self._recent.get(id(event))
        if entry is not None and entry[0] is event:
            return entry
        frame = self.frame(event, resumable=True)
        entry = self._recent[id(event)] = (event, frame, http_chunk(frame))
        if len(self._recent) > self._size:
            self._recent.popitem(last=False)
        return entry

    def frame(self, event: WatchEvent, *, resumable: bool) -> bytes:
        resume_id = str(event.revision) if resumable and event.type is not EventType.ERROR else None
        obj = event.object
        # A DELETED event's object may be an earlier state stamped with the change's revision
        # (an object that stopped matching): not the record version that revision names.
        if isinstance(obj, Agent) and event.type is not EventType.DELETED:
            data = self._agent_json.record(obj)
        else:
            data = obj.model_dump_json(exclude_none=True)
        return sse_frame(data, event.type.value, resume_id)


def sse_frame(data: str, event: str, resume_id: str | None) -> bytes:
    """What ``ServerSentEvent(data=data, event=event, id=resume_id).encode()`` gives, in a
    tenth of its time for what a watch sends: one line of JSON (JSON text holds no line
    break), an event name and a revision of our own. Anything else is left to it."""
    if "\n" in data or "\r" in data or not _PLAIN.fullmatch(event + (resume_id or "")):
        return ServerSentEvent(data=data, event=event, id=resume_id).encode()
    head = "" if resume_id is None else f"id: {resume_id}\r\n"
    return f"{head}event: {event}\r\ndata: {data}\r\n\r\n".encode()


async def _encode(
    events: WatchStream,
    resumed: bool,
    frames: Frames,
    write_now: Callable[[bytes], bool] | None,
) -> AsyncIterator[bytes]:
    """Each batch of events as one chunk of SSE frames: one write per batch. With
    ``write_now`` (the connection's ``DirectChunks.write_chunk``), a live event that finds
    this watcher waiting is written at once by the hub's fan-out, with no task woken for it."""

    def sink(event: WatchEvent) -> bool:
        assert write_now is not None
        return write_now(frames.live_chunk(event))

    resumable = resumed  # false until the initial state has been sent
    try:
        while True:
            if resumable and write_now is not None:
                events.deliver_through(sink)  # everything before was sent: order is kept
            try:
                batch = await events.next_batch()
            except StopAsyncIteration:
                return
            finally:
                events.deliver_through(None)
            if resumable:
                yield b"".join([frames.live(event) for event in batch])
                continue
            encoded = []
            for event in batch:
                if isinstance(event.object, Bookmark) and event.object.ends_initial_state:
                    resumable = True  # from this bookmark on
                encoded.append(frames.frame(event, resumable=resumable))
            yield b"".join(encoded)
    finally:
        # Ends the service's stream (and its subscription) when the client goes away.
        await events.aclose()
