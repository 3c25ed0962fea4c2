"""Watches: filtered event streams, fanned out through bounded queues.

Semantics (docs/design.md, "Watches"; as Kubernetes' watch cache):

- Without a revision, a watch first sends every matching object as ADDED, then a BOOKMARK that
  marks the end of the initial state. With a revision R, it sends every matching change after R,
  in order, once. Either way it then follows live changes.
- A filtered watch reports membership: an object that starts matching arrives as ADDED, one that
  stops matching as DELETED (the previous state, stamped with the change's revision).
- Each watcher has a bounded queue. One that falls behind is ended with an ERROR (410) instead
  of being slowed down, skipped, or allowed to slow anyone else down.
- When a watcher is idle, a periodic BOOKMARK tells it the current revision, so that it can
  resume from there after a disconnect.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from dataclasses import dataclass

from mesh_registry.cache import ObjectChange, WatchCache
from mesh_registry.codec import with_revision
from mesh_registry.discovery import Query
from mesh_registry.errors import Gone, MeshError
from mesh_registry.model import (
    INITIAL_EVENTS_END,
    Bookmark,
    BookmarkMeta,
    EventType,
    WatchEvent,
)
from mesh_registry.store import Compacted


def event_for(change: ObjectChange, query: Query) -> WatchEvent | None:
    """What a watcher filtered by ``query`` sees of ``change`` (``None``: nothing)."""
    now_matches = change.type is not EventType.DELETED and query.matches(change.object)
    before_matched = change.prev is not None and query.matches(change.prev)
    if now_matches:
        kind = EventType.MODIFIED if before_matched else EventType.ADDED
        return WatchEvent(type=kind, object=change.object)
    if before_matched:
        assert change.prev is not None
        return WatchEvent(
            type=EventType.DELETED, object=with_revision(change.prev, change.revision)
        )
    return None


def bookmark(revision: int, *, initial_events_end: bool = False) -> WatchEvent:
    annotations = {INITIAL_EVENTS_END: "true"} if initial_events_end else {}
    meta = BookmarkMeta(resource_version=str(revision), annotations=annotations)
    return WatchEvent(type=EventType.BOOKMARK, object=Bookmark(metadata=meta))


def error_event(error: MeshError) -> WatchEvent:
    return WatchEvent(type=EventType.ERROR, object=error.to_status())


class WatchClosed(Exception):
    """The registry is shutting down: the stream ends without an error."""


@dataclass(frozen=True, slots=True)
class QueueLimit:
    """How far a watcher may fall behind: in events, and in the bytes (as stored) of the
    records its queue holds, which the queue keeps alive after the cache replaced them."""

    events: int
    bytes: int


class Subscription:
    """One watcher's queue of events, filled by the hub."""

    def __init__(self, hub: Hub, query: Query, limit: QueueLimit) -> None:
        self.query = query
        self._hub = hub
        self._limit = limit.events
        self._byte_limit = limit.bytes
        self._events: deque[tuple[WatchEvent, int]] = deque()
        self._bytes = 0  # what the queued events hold, as stored
        self._ready = asyncio.Event()
        self._ended: MeshError | WatchClosed | None = None
        self._dropped = False

    def offer(self, change: ObjectChange) -> None:
        """Queue what this watcher sees of ``change``; end the watcher if its queue is full."""
        if self._ended is not None:
            return
        event = event_for(change, self.query)
        if event is None:
            return
        if len(self._events) >= self._limit:
            self._count_dropped()
            self.end(Gone(f"watch fell behind by more than {self._limit} events; list again"))
            return
        if self._bytes + change.size > self._byte_limit:
            # The queue keeps old versions alive: bounded in memory, not only in count.
            self._count_dropped()
            self.end(Gone(f"watch fell behind by more than {self._byte_limit} bytes; list again"))
            return
        self._events.append((event, change.size))
        self._bytes += change.size
        self._hub.delivered += 1
        self._ready.set()

    async def next(self, idle_after: float) -> WatchEvent | None:
        """The next event, or ``None`` when none came within ``idle_after`` seconds.

        Raise the error that ended the subscription (``Gone``, or :class:`WatchClosed`).
        """
        if not self._events and self._ended is None:
            self._ready.clear()
            try:
                await asyncio.wait_for(self._ready.wait(), idle_after)
            except TimeoutError:
                return None
        if self._ended is not None:
            raise self._ended
        event, size = self._events.popleft()
        self._bytes -= size
        return event

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def stalled(self) -> None:
        """Its client took no data for a while, and its transport ended it."""
        self._count_dropped()

    def _count_dropped(self) -> None:
        if not self._dropped:  # fell behind, then stalled on the ERROR event: one drop
            self._dropped = True
            self._hub.dropped += 1

    def end(self, reason: MeshError | WatchClosed) -> None:
        """Stop the subscription; its consumer gets ``reason`` next."""
        self._ended = reason
        self._events.clear()
        self._bytes = 0
        self._ready.set()
        self._hub.unsubscribe(self)


class Hub:
    """Fans each change out to the subscriptions that may care about it.

    Subscriptions filtered by capability are indexed by capability, so that a change reaches
    only the watchers of the capabilities it touches (plus the unfiltered ones).
    """

    def __init__(self) -> None:
        self._unindexed: set[Subscription] = set()
        self._by_capability: dict[str, set[Subscription]] = {}
        self.delivered = 0  # events queued for watchers
        self.dropped = 0  # watchers ended for falling behind (or stalled, by their transport)

    def subscribe(self, query: Query, limit: QueueLimit) -> Subscription:
        subscription = Subscription(self, query, limit)
        if query.capabilities:
            for name in query.capabilities:
                self._by_capability.setdefault(name, set()).add(subscription)
        else:
            self._unindexed.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._unindexed.discard(subscription)
        for name in subscription.query.capabilities:
            watchers = self._by_capability.get(name)
            if watchers is not None:
                watchers.discard(subscription)
                if not watchers:
                    del self._by_capability[name]

    def __len__(self) -> int:
        indexed = set().union(*self._by_capability.values()) if self._by_capability else set()
        return len(self._unindexed) + len(indexed)

    def publish(self, change: ObjectChange) -> None:
        if not self._by_capability:
            for subscription in list(self._unindexed):
                subscription.offer(change)
            return
        targets = set(self._unindexed)
        for agent in (change.object, change.prev):
            if agent is None:
                continue
            for capability in agent.spec.capabilities:
                targets.update(self._by_capability.get(capability.name, ()))
        for subscription in targets:
            subscription.offer(change)

    def close_all(self) -> None:
        """End every subscription quietly (shutdown)."""
        everyone = set(self._unindexed).union(*self._by_capability.values())
        for subscription in everyone:
            subscription.end(WatchClosed())


class WatchStream:
    """The events of one watch, an async iterator; its transport says when the client stalls."""

    def __init__(
        self,
        cache: WatchCache,
        hub: Hub,
        query: Query,
        since: int | None,
        *,
        bookmark_interval: float,
        queue_limit: QueueLimit,
    ) -> None:
        self._subscription: Subscription | None = None

        async def events() -> AsyncGenerator[WatchEvent, None]:
            # Subscribed at the first event asked for: a stream never read holds nothing.
            self._subscription = hub.subscribe(query, queue_limit)
            async for event in stream(cache, self._subscription, query, since, bookmark_interval):
                yield event

        self._events: AsyncIterator[WatchEvent] = events()

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        return await self._events.__anext__()

    async def aclose(self) -> None:
        aclose = getattr(self._events, "aclose", None)
        if aclose is not None:
            await aclose()

    def through(
        self, wrap: Callable[[AsyncIterator[WatchEvent]], AsyncIterator[WatchEvent]]
    ) -> WatchStream:
        """This stream, its events passed through ``wrap`` (a filter of the access layer)."""
        self._events = wrap(self._events)
        return self

    def stalled(self) -> None:
        """The client took no data for the transport's send timeout: count it as dropped."""
        if self._subscription is not None:
            self._subscription.stalled()


async def stream(
    cache: WatchCache,
    subscription: Subscription,
    query: Query,
    since: int | None,
    bookmark_interval: float,
) -> AsyncIterator[WatchEvent]:
    """The events of one watch. Ends after an ERROR event, or quietly at shutdown."""
    # Subscribing (just before) and reading the revision happen in the same step of the event
    # loop: every change after `start` reaches the queue, every change up to it is in the cache
    # or history.
    start = cache.revision
    try:
        if since is None:
            for agent in cache.select(query):
                yield WatchEvent(type=EventType.ADDED, object=agent)
            yield bookmark(start, initial_events_end=True)
        else:
            for replayed in await _replay(cache, query, since, start):
                yield replayed
        while True:
            live = await subscription.next(bookmark_interval)
            yield live if live is not None else bookmark(cache.revision)
    except MeshError as error:
        yield error_event(error)
    except WatchClosed:
        return
    finally:
        subscription.close()


def check_resumable(since: int, revision: int, compacted: int) -> None:
    """Raise ``Gone`` unless a watch can resume after revision ``since`` (the history holds
    every change after ``compacted``, up to ``revision``)."""
    if since > revision:
        raise Gone(f"resourceVersion {since} is newer than the registry's revision {revision}")
    if since < compacted:
        raise _too_old(since, compacted)


def _too_old(since: int, compacted: int) -> Gone:
    return Gone(f"too old resource version: {since} (history starts after {compacted})")


async def _replay(cache: WatchCache, query: Query, since: int, until: int) -> list[WatchEvent]:
    check_resumable(since, until, 0)
    try:
        changes = await cache.history(since, until)
    except Compacted as error:  # compacted since the watch was asked for
        raise _too_old(since, error.compacted) from None
    events = (event_for(change, query) for change in changes)
    return [event for event in events if event is not None]
