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
- The registry fans a commit out on the event loop's next turn (``Hub.publish_soon``), after
  the commit's writers have their answers: a write's latency does not grow with the watchers.
"""

from __future__ import annotations

import asyncio
import logging
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

log = logging.getLogger(__name__)


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


# Takes one live event now if it can (its transport writes it at once); False: queue it.
Sink = Callable[[WatchEvent], bool]


class Subscription:
    """One watcher's queue of events, filled by the hub."""

    def __init__(self, hub: Hub, query: Query, limit: QueueLimit, after: int) -> None:
        self.query = query
        self.after = after  # its changes start after this revision: the state it was given
        self._hub = hub
        self._limit = limit.events
        self._byte_limit = limit.bytes
        self._events: list[WatchEvent] = []
        self._bytes = 0  # what the queued events hold, as stored
        self._ready = asyncio.Event()
        self._ended: MeshError | WatchClosed | None = None
        self._dropped = False
        # Set by the transport while it waits for the next batch: hands an event over at once.
        self.sink: Sink | None = None

    def offer(self, event: WatchEvent, size: int) -> None:
        """Hand ``event`` (of a record of ``size`` bytes, as stored) to the sink, or queue it;
        end the watcher if its queue is full."""
        if self._ended is not None:
            return
        if self.sink is not None and not self._events and self._sunk(event):
            self._hub.delivered += 1  # nothing queued before it: order is kept
            return
        if len(self._events) >= self._limit:
            self._count_dropped()
            self.end(Gone(f"watch fell behind by more than {self._limit} events; list again"))
            return
        if self._bytes + size > self._byte_limit:
            # The queue keeps old versions alive: bounded in memory, not only in count.
            self._count_dropped()
            self.end(Gone(f"watch fell behind by more than {self._byte_limit} bytes; list again"))
            return
        self._events.append(event)
        self._bytes += size
        self._hub.delivered += 1
        if not self._ready.is_set():
            self._ready.set()

    def _sunk(self, event: WatchEvent) -> bool:
        assert self.sink is not None
        try:
            return self.sink(event)
        except Exception:  # a transport's fault must not reach the writer who published
            log.exception("a watch transport failed to take an event; it is queued instead")
            self.sink = None
            return False

    async def next_batch(self, idle_after: float) -> list[WatchEvent]:
        """Every event queued since the last call, waiting for one if there is none yet; an
        empty list when none came within ``idle_after`` seconds.

        Raise the error that ended the subscription (``Gone``, or :class:`WatchClosed`).
        """
        if not self._events and self._ended is None:
            self._ready.clear()
            try:
                async with asyncio.timeout(idle_after):
                    await self._ready.wait()
            except TimeoutError:
                return []
        if self._ended is not None:
            raise self._ended
        # A watcher woken once takes all that came meanwhile: under a burst of changes it
        # costs one wake-up and one write, not one per event.
        batch, self._events, self._bytes = self._events, [], 0
        return batch

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def published_through(self, revision: int) -> int:
        """The revision through which this subscriber has every change, given the cache's
        ``revision``: what it started from, or what the hub has fanned out since."""
        return max(self.after, self._hub.published_through(revision))

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
        self._events = []
        self._bytes = 0
        self._ready.set()
        self._hub.unsubscribe(self)


class Hub:
    """Fans each change out to the subscriptions that may care about it.

    Subscriptions with the same filter form one group: a change is matched and turned into an
    event once per group, and every member queues that same event object (which lets the
    transport encode it once, too). Groups filtered by capability are indexed by capability, so
    that a change reaches only the groups of the capabilities it touches (plus the unfiltered
    ones).
    """

    def __init__(self) -> None:
        self._groups: dict[Query, set[Subscription]] = {}
        self._unindexed: set[Query] = set()
        self._by_capability: dict[str, set[Query]] = {}
        self._pending: deque[ObjectChange] = deque()  # committed, to be fanned out
        self.delivered = 0  # events queued for watchers
        self.dropped = 0  # watchers ended for falling behind (or stalled, by their transport)

    def subscribe(self, query: Query, limit: QueueLimit, after: int = 0) -> Subscription:
        """A subscription to the changes after revision ``after`` (those up to it, the
        subscriber has from the cache or the history)."""
        subscription = Subscription(self, query, limit, after)
        members = self._groups.get(query)
        if members is None:
            members = self._groups[query] = set()
            for name in query.capabilities:
                self._by_capability.setdefault(name, set()).add(query)
            if not query.capabilities:
                self._unindexed.add(query)
        members.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        query = subscription.query
        members = self._groups.get(query)
        if members is None or subscription not in members:
            return
        members.discard(subscription)
        if members:
            return
        del self._groups[query]
        self._unindexed.discard(query)
        for name in query.capabilities:
            queries = self._by_capability.get(name)
            if queries is not None:
                queries.discard(query)
                if not queries:
                    del self._by_capability[name]

    def __len__(self) -> int:
        return sum(len(members) for members in self._groups.values())

    def publish(self, change: ObjectChange) -> None:
        """Fan ``change`` out now, to every subscription it comes after."""
        for query in self._interested(change):
            event = event_for(change, query)
            if event is None:
                continue
            # A copy: a member that falls behind leaves the group while it is walked.
            for subscription in list(self._groups.get(query, ())):
                if change.revision > subscription.after:
                    subscription.offer(event, change.size)

    def publish_soon(self, change: ObjectChange) -> None:
        """Fan ``change`` out on the event loop's next turn, after what is already scheduled:
        the answers of the writers whose commit made it (the store settles them first).
        Changes are fanned out in the order they came; a subscription made meanwhile starts
        after them, and skips them."""
        if not self._pending:
            asyncio.get_running_loop().call_soon(self._publish_pending)
        self._pending.append(change)

    def _publish_pending(self) -> None:
        pending = self._pending
        while pending:  # every change committed since this call was scheduled, in order
            change = pending[0]
            try:
                self.publish(change)
            except Exception:  # one change's failure must not stop the fan-out of the next
                log.exception("fanning out the change of revision %d failed", change.revision)
            finally:
                pending.popleft()

    def published_through(self, revision: int) -> int:
        """The revision through which every change has been handed to the subscriptions,
        given the cache's ``revision``: earlier than it while changes wait to be fanned out."""
        return self._pending[0].revision - 1 if self._pending else revision

    def _interested(self, change: ObjectChange) -> set[Query]:
        """The filters that may see ``change``: by its capabilities, before and after."""
        if not self._by_capability:
            return set(self._unindexed)
        queries = set(self._unindexed)
        for agent in (change.object, change.prev):
            if agent is None:
                continue
            for capability in agent.spec.capabilities:
                queries.update(self._by_capability.get(capability.name, ()))
        return queries

    def close_all(self) -> None:
        """End every subscription quietly (shutdown)."""
        self._pending.clear()
        everyone = [member for members in self._groups.values() for member in members]
        for subscription in everyone:
            subscription.end(WatchClosed())


# Initial events are handed out in batches of this many: a large state is sent in pieces the
# transport can apply back-pressure between, not as one write of everything.
INITIAL_BATCH = 256


class WatchStream:
    """The events of one watch, in batches (``batches()``) or one by one (``async for``).

    The transport says when its client stalls (``stalled()``); the access layer adds checks
    that may end the stream (``guard()``) and what to do when it ends (``on_close()``).
    """

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
        self._guards: list[Callable[[], WatchEvent | None]] = []
        self._closers: list[Callable[[], None]] = []
        self._pending: deque[WatchEvent] = deque()
        self._ended = False

        async def batches() -> AsyncGenerator[list[WatchEvent], None]:
            # Subscribed at the first event asked for: a stream never read holds nothing.
            self._subscription = hub.subscribe(query, queue_limit, after=cache.revision)
            async for batch in stream(cache, self._subscription, query, since, bookmark_interval):
                yield batch

        self._batches = batches()

    def guard(self, check: Callable[[], WatchEvent | None]) -> WatchStream:
        """Run ``check`` before each batch is handed out; an event it returns (an ERROR) is
        the stream's last."""
        self._guards.append(check)
        return self

    def on_close(self, callback: Callable[[], None]) -> WatchStream:
        """Call ``callback`` once when the stream ends or is closed."""
        self._closers.append(callback)
        return self

    async def next_batch(self) -> list[WatchEvent]:
        """The next events (at least one); ``StopAsyncIteration`` at the end."""
        if self._ended:
            raise StopAsyncIteration
        try:
            batch = await self._batches.__anext__()
        except StopAsyncIteration:
            await self.aclose()
            raise
        for check in self._guards:
            last = check()
            if last is not None:
                await self.aclose()
                return [last]
        return batch

    def deliver_through(self, sink: Sink | None) -> None:
        """While set, a live event goes to ``sink`` as it happens, if nothing is queued before
        it and ``sink`` takes it, instead of waiting in the queue for the next batch. The
        transport sets it only while it waits for the next batch (nothing of its own in flight),
        and clears it when it has one; the stream's guards run before every event it takes."""
        if self._subscription is None:
            return
        guards = self._guards
        if sink is not None and guards:
            direct = sink

            def sink(event: WatchEvent) -> bool:
                # Run for every watcher of every event: a loop, not a generator per call.
                for check in guards:
                    if check() is not None:
                        return False  # it would end the stream: queue it, next_batch ends it
                return direct(event)

        self._subscription.sink = sink

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        while not self._pending:
            self._pending.extend(await self.next_batch())
        return self._pending.popleft()

    async def aclose(self) -> None:
        if self._ended:
            return
        self._ended = True
        try:
            await self._batches.aclose()
        finally:
            for callback in self._closers:
                callback()

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
) -> AsyncIterator[list[WatchEvent]]:
    """The events of one watch, in batches. Ends after an ERROR event, or quietly at
    shutdown."""
    # Subscribing (just before, after this revision) and reading the revision happen in the
    # same step of the event loop: every change after `start` reaches the queue, every change
    # up to it is in the cache or history.
    start = subscription.after
    try:
        if since is None:
            state = cache.select(query)
            for first in range(0, len(state), INITIAL_BATCH):
                chunk = state[first : first + INITIAL_BATCH]
                yield [WatchEvent(type=EventType.ADDED, object=agent) for agent in chunk]
            yield [bookmark(start, initial_events_end=True)]
        else:
            replayed = await _replay(cache, query, since, start)
            for first in range(0, len(replayed), INITIAL_BATCH):
                yield replayed[first : first + INITIAL_BATCH]
        while True:
            live = await subscription.next_batch(bookmark_interval)
            # Not past a change still to be fanned out: this watcher may be about to get it.
            yield live or [bookmark(subscription.published_through(cache.revision))]
    except MeshError as error:
        yield [error_event(error)]
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
