"""Collect a watch stream in the background and wait for conditions on it, with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from mesh_registry.model import INITIAL_EVENTS_END, Agent, EventType, Phase, WatchEvent


class EventLog:
    """Every event of one stream, as it arrives."""

    def __init__(self, stream: AsyncIterator[WatchEvent]) -> None:
        self.events: list[WatchEvent] = []
        self.arrivals: list[float] = []  # when each event arrived (epoch seconds)
        self.ended = False
        self._changed = asyncio.Event()
        self._task = asyncio.create_task(self._pump(stream))

    async def _pump(self, stream: AsyncIterator[WatchEvent]) -> None:
        try:
            async for event in stream:
                self.arrivals.append(time.time())
                self.events.append(event)
                self._changed.set()
        finally:
            self.ended = True
            self._changed.set()

    async def wait_for(
        self, condition: Callable[[list[WatchEvent]], bool], within: float = 5.0
    ) -> list[WatchEvent]:
        """Wait until ``condition(events)`` holds; fail after ``within`` seconds."""
        async with asyncio.timeout(within):
            while not condition(self.events):
                if self.ended:
                    raise AssertionError(
                        f"stream ended before the condition held: {self.summary()}"
                    )
                self._changed.clear()
                await self._changed.wait()
        return self.events

    async def first(
        self, predicate: Callable[[WatchEvent], bool], within: float = 5.0
    ) -> tuple[float, WatchEvent]:
        """Wait for the first event that satisfies ``predicate``; return when it arrived and it."""
        await self.wait_for(lambda events: any(map(predicate, events)), within)
        index = next(i for i, event in enumerate(self.events) if predicate(event))
        return self.arrivals[index], self.events[index]

    async def wait_for_end(self, within: float = 5.0) -> None:
        async with asyncio.timeout(within):
            await asyncio.shield(self._task)

    def changes(self) -> list[WatchEvent]:
        """The ADDED / MODIFIED / DELETED events."""
        return [e for e in self.events if e.type not in (EventType.BOOKMARK, EventType.ERROR)]

    def summary(self) -> list[tuple[str, str, str]]:
        """(type, name or reason, resourceVersion) per event: readable in assertion output."""
        rows = []
        for event in self.events:
            obj = event.object
            if isinstance(obj, Agent):
                rows.append(
                    (event.type.value, obj.metadata.name, obj.metadata.resource_version or "")
                )
            elif event.type is EventType.ERROR:
                rows.append((event.type.value, getattr(obj, "reason", ""), ""))
            else:
                rows.append((event.type.value, "", obj.metadata.resource_version or ""))  # type: ignore[union-attr]
        return rows

    async def close(self) -> None:
        self._task.cancel()
        try:
            await self._task
        except asyncio.CancelledError:
            pass


def has(count: int, *types: EventType) -> Callable[[list[WatchEvent]], bool]:
    """A condition: at least ``count`` events of the given types have arrived."""
    wanted = set(types) or {EventType.ADDED, EventType.MODIFIED, EventType.DELETED}
    return lambda events: sum(e.type in wanted for e in events) >= count


def initial_events_ended(events: list[WatchEvent]) -> bool:
    """A condition: the stream has delivered the current state and now follows changes."""
    return any(
        e.type is EventType.BOOKMARK and e.object.metadata.annotations.get(INITIAL_EVENTS_END)  # type: ignore[union-attr]
        for e in events
    )


def about(name: str, kind: EventType, phase: Phase | None = None) -> Callable[[WatchEvent], bool]:
    """A predicate: an event of ``kind`` about agent ``name`` (in ``phase``, if given)."""

    def matches(event: WatchEvent) -> bool:
        agent = event.object
        return (
            event.type is kind
            and isinstance(agent, Agent)
            and agent.metadata.name == name
            and (phase is None or agent.status.phase is phase)
        )

    return matches
