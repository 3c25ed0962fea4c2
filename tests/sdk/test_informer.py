"""Where watches resume from (``ResumePoint``) and the informer that follows them, with a
scripted registry: a stream cut during its initial state starts over, never resumes from one
of its objects."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mesh_agent.informer import Informer
from mesh_registry.client import ResumePoint
from mesh_registry.codec import with_revision
from mesh_registry.errors import Gone, Unavailable
from mesh_registry.model import Agent, EventType, ObjectKey, WatchEvent, parse_agent
from mesh_registry.query import AgentQuery
from mesh_registry.watch import bookmark
from tests.support.agents import agent_body


def agent(name: str, revision: int) -> Agent:
    return with_revision(parse_agent(agent_body(name, ["x.y"])), revision)


def added(name: str, revision: int) -> WatchEvent:
    return WatchEvent(type=EventType.ADDED, object=agent(name, revision))


def modified(name: str, revision: int) -> WatchEvent:
    return WatchEvent(type=EventType.MODIFIED, object=agent(name, revision))


END = bookmark(9, initial_events_end=True)

# (events of a stream started from the current state, where it resumes afterwards)
RESUME_POINTS = [
    ([], None),
    ([added("b", 7)], None),
    ([added("b", 7), added("a", 3)], None),
    ([added("b", 7), added("a", 3), END], 9),
    ([added("b", 7), END, modified("a", 10)], 10),
    ([added("b", 7), END, bookmark(12)], 12),
    ([bookmark(4), added("b", 7)], None),  # a periodic bookmark is not the end of the list
]


@pytest.mark.parametrize(("events", "resumes_at"), RESUME_POINTS)
def test_a_resume_point_moves_only_after_the_initial_state(
    events: list[WatchEvent], resumes_at: int | None
) -> None:
    point = ResumePoint()
    for event in events:
        point.observe(event)
    assert point.revision == resumes_at
    assert point.since == (None if resumes_at is None else str(resumes_at))


def test_a_resumed_stream_moves_with_every_event() -> None:
    point = ResumePoint(5)
    for event, expected in ((modified("a", 6), 6), (bookmark(8), 8), (added("c", 9), 9)):
        point.observe(event)
        assert point.revision == expected
    point.restart()
    assert point.since is None
    point.observe(added("a", 20))
    assert point.revision is None


class ScriptedRegistry:
    """A registry client whose watches play scripts: events, then an error or the end."""

    def __init__(self, *streams: tuple[list[WatchEvent], Exception | None]) -> None:
        self._streams = list(streams)
        self.asked: list[str | None] = []
        self.done = asyncio.Event()

    async def watch(self, query: AgentQuery, *, since: str | None) -> AsyncIterator[WatchEvent]:
        self.asked.append(since)
        if not self._streams:
            self.done.set()
            await asyncio.Event().wait()  # an idle stream, until cancelled
        events, error = self._streams.pop(0)
        for event in events:
            yield event
        if error is not None:
            raise error


async def follow(registry: ScriptedRegistry) -> dict[ObjectKey, Agent]:
    """What an informer holds once the registry's scripts have played."""
    informer = Informer(registry, None, ["x.y"], lambda agents: None)  # type: ignore[arg-type]
    task = asyncio.create_task(informer.run())
    await asyncio.wait_for(registry.done.wait(), 10)
    task.cancel()
    return dict(informer.agents)


async def test_a_stream_cut_during_its_initial_state_starts_over() -> None:
    registry = ScriptedRegistry(
        ([added("b", 7)], Unavailable("cut")),
        ([added("a", 3), added("b", 7), added("c", 8), END], Unavailable("cut")),
        ([modified("a", 10)], None),
    )
    agents = await follow(registry)
    # Not from b's revision: the first stream never finished its initial state.
    assert registry.asked == [None, None, "9", "10"]
    assert {key.name: a.revision for key, a in agents.items()} == {"a": 10, "b": 7, "c": 8}


async def test_a_410_answer_starts_over_from_the_current_state() -> None:
    registry = ScriptedRegistry(
        ([added("a", 3), END], Unavailable("cut")),
        ([], Gone("too old resource version: 9")),
        ([added("a", 30), END], None),
    )
    agents = await follow(registry)
    assert registry.asked == [None, "9", None, "9"]
    assert {key.name: a.revision for key, a in agents.items()} == {"a": 30}


async def test_an_error_that_is_not_the_registrys_does_not_end_the_informer() -> None:
    registry = ScriptedRegistry(
        ([added("a", 3), END], ValueError("an event that does not decode")),
        ([modified("a", 10)], None),
    )
    agents = await follow(registry)
    assert registry.asked == [None, "9", "10"]
    assert {key.name: a.revision for key, a in agents.items()} == {"a": 10}
