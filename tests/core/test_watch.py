"""Watches: initial state, exact resume, Gone, filtered membership, slow watchers, bookmarks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from mesh_registry import watch
from mesh_registry.cache import ObjectChange
from mesh_registry.clock import ManualClock
from mesh_registry.config import RegistryConfig
from mesh_registry.discovery import Match, Query
from mesh_registry.errors import Gone
from mesh_registry.model import (
    INITIAL_EVENTS_END,
    Agent,
    Bookmark,
    EventType,
    Status,
    WatchEvent,
    parse_agent,
)
from mesh_registry.query import AgentQuery
from mesh_registry.service import Registry
from mesh_registry.store import Retention
from mesh_registry.watch import Hub, QueueLimit
from tests.support.agents import agent_body
from tests.support.watching import EventLog, has

ADDED, MODIFIED, DELETED = EventType.ADDED, EventType.MODIFIED, EventType.DELETED
BOOKMARK, ERROR = EventType.BOOKMARK, EventType.ERROR


async def test_initial_state_then_bookmark_then_live(service: Registry) -> None:
    await service.create(agent_body("a", ["geo.lookup"]))
    await service.create(agent_body("b", ["geo.lookup"]))
    log = EventLog(await service.watch())
    await log.wait_for(has(1, BOOKMARK))
    assert log.summary() == [("ADDED", "a", "1"), ("ADDED", "b", "2"), ("BOOKMARK", "", "2")]
    mark = log.events[-1].object
    assert isinstance(mark, Bookmark)
    assert mark.metadata.annotations == {INITIAL_EVENTS_END: "true"}
    await service.create(agent_body("c", ["geo.lookup"]))
    await service.unregister("default", "a")
    await log.wait_for(has(4))
    assert log.summary()[3:] == [("ADDED", "c", "3"), ("DELETED", "a", "4")]
    await log.close()


async def test_resume_yields_exactly_the_events_after_the_revision(service: Registry) -> None:
    for i in range(5):
        await service.create(agent_body(f"a{i}", ["x.y"]))
    await service.renew("default", "a0")
    await service.register(agent_body("a1", ["x.y"], labels={"v": "2"}))
    await service.unregister("default", "a2")
    final = service.revision
    assert final == 8
    logs = {since: EventLog(await service.watch(since=str(since))) for since in range(1, final + 1)}
    # A fence: once each watch has this write, everything before it has arrived too.
    await service.create(agent_body("fence", ["x.y"]))
    for since, log in logs.items():
        await log.wait_for(lambda events: bool(events) and events[-1].revision == final + 1)
        assert [e.revision for e in log.events] == [*range(since + 1, final + 1), final + 1]
        await log.close()


async def test_resume_splices_history_and_live_changes_without_gaps(service: Registry) -> None:
    for i in range(20):
        await service.create(agent_body(f"a{i}", ["x.y"]))
    since = service.revision

    async def churn() -> None:
        for i in range(60):
            await service.register(agent_body(f"a{i % 20}", ["x.y"], labels={"n": str(i)}))

    writer = asyncio.create_task(churn())
    await asyncio.sleep(0)  # the watch starts while writes are in flight
    log = EventLog(await service.watch(since=since))
    await writer
    final = service.revision
    await log.wait_for(lambda events: events and events[-1].revision >= final)
    revisions = [e.revision for e in log.changes()]
    assert revisions == list(range(since + 1, final + 1))
    await log.close()


@pytest.fixture
async def compacting(config: RegistryConfig, clock: ManualClock) -> AsyncIterator[Registry]:
    """A registry at revision 10 that keeps three changes of history."""
    config = replace(config, retention=Retention(max_events=3))
    async with Registry(config, clock=clock) as service:
        for i in range(10):
            await service.create(agent_body(f"a{i}", ["x.y"]))
        yield service


async def test_a_compacted_revision_is_refused_before_the_stream_starts(
    compacting: Registry,
) -> None:
    await compacting._store.compact()
    # Refused at once (over HTTP: a 410 response), not as an event of a stream.
    with pytest.raises(Gone, match="too old resource version: 2"):
        await compacting.watch(since=2)
    # From the compacted revision itself, nothing is missing: it works.
    ok = EventLog(await compacting.watch(since=7))
    await ok.wait_for(has(3))
    assert [e.revision for e in ok.events] == [8, 9, 10]
    await ok.close()


async def test_compaction_after_the_watch_was_accepted_gives_error_410_then_end(
    compacting: Registry,
) -> None:
    events = await compacting.watch(since=2)  # accepted: the history still holds revision 3
    await compacting._store.compact()  # ... and loses it before the stream replays it
    log = EventLog(events)
    await log.wait_for_end()
    assert [e.type for e in log.events] == [ERROR]
    status = log.events[0].object
    assert isinstance(status, Status)
    assert (status.code, status.reason) == (410, "Expired")
    assert "too old resource version: 2" in status.message


async def test_a_future_revision_is_refused_before_the_stream_starts(service: Registry) -> None:
    await service.create(agent_body("a", ["x.y"]))
    with pytest.raises(Gone, match="newer than the registry's revision 1"):
        await service.watch(since=99)


async def test_filtered_watch_reports_membership_changes(service: Registry) -> None:
    log = EventLog(await service.watch(AgentQuery(selector="env=prod")))
    await log.wait_for(has(1, BOOKMARK))
    await service.create(agent_body("a", ["x.y"], labels={"env": "dev"}))  # not seen
    await service.register(agent_body("a", ["x.y"], labels={"env": "prod"}))  # moves in
    await service.register(agent_body("a", ["x.y"], labels={"env": "prod", "t": "1"}))
    await service.register(agent_body("a", ["x.y"], labels={"env": "dev"}))  # moves out
    await service.create(agent_body("b", ["x.y"], labels={"env": "prod"}))
    await service.unregister("default", "b")
    await log.wait_for(has(5))
    assert log.summary()[1:] == [
        ("ADDED", "a", "2"),
        ("MODIFIED", "a", "3"),
        ("DELETED", "a", "4"),
        ("ADDED", "b", "5"),
        ("DELETED", "b", "6"),
    ]
    # Leaving the filter shows the last matching state, at the revision of the change.
    left = log.events[3].object
    assert isinstance(left, Agent)
    assert left.metadata.labels == {"env": "prod", "t": "1"}
    await log.close()


async def test_resumed_filtered_watch_has_the_same_membership_semantics(service: Registry) -> None:
    await service.create(agent_body("a", ["x.y"], labels={"env": "dev"}))
    await service.register(agent_body("a", ["x.y"], labels={"env": "prod"}))
    await service.register(agent_body("a", ["x.y"], labels={"env": "dev"}))
    log = EventLog(await service.watch(AgentQuery(selector="env=prod"), since=1))
    await log.wait_for(has(2))
    assert log.summary() == [("ADDED", "a", "2"), ("DELETED", "a", "3")]
    await log.close()


async def test_capability_watch_ignores_other_capabilities(service: Registry) -> None:
    log = EventLog(await service.watch(AgentQuery(capabilities=("geo.lookup", "date.today"))))
    await log.wait_for(has(1, BOOKMARK))
    await service.create(agent_body("w", ["weather.forecast"]))
    await service.create(agent_body("g", ["geo.lookup"]))
    await service.create(agent_body("d", ["date.today", "weather.forecast"]))
    await service.register(agent_body("w", ["weather.forecast", "geo.lookup"]))  # gains one
    await service.register(agent_body("g", ["weather.forecast"]))  # loses it
    await log.wait_for(has(4))
    assert log.summary()[1:] == [
        ("ADDED", "g", "2"),
        ("ADDED", "d", "3"),
        ("ADDED", "w", "4"),
        ("DELETED", "g", "5"),
    ]
    await log.close()


async def test_phase_filtered_watch_follows_health(service: Registry, clock: ManualClock) -> None:
    await service.create(agent_body("a", ["x.y"], interval=1.0))
    log = EventLog(await service.watch(AgentQuery(phases=("healthy",))))
    await log.wait_for(has(1, BOOKMARK))
    await service.renew("default", "a")
    await log.wait_for(has(1, ADDED))
    clock.advance(2.5)
    await log.wait_for(has(1, DELETED))
    assert log.summary()[1:] == [("ADDED", "a", "2"), ("DELETED", "a", "3")]
    await log.close()


async def test_a_slow_watcher_is_ended_and_others_are_unaffected(
    config: RegistryConfig, clock: ManualClock
) -> None:
    async with Registry(replace(config, watch_queue_limit=5), clock=clock) as service:
        slow_stream = await service.watch()
        slow_first = await anext(slow_stream)  # the initial bookmark; then it stops reading
        assert slow_first.type is BOOKMARK
        fast = EventLog(await service.watch())
        await fast.wait_for(has(1, BOOKMARK))
        assert service.stats().watchers == 2
        for i in range(20):
            await service.create(agent_body(f"a{i}", ["x.y"]))
            await fast.wait_for(has(i + 1))
        assert [e.revision for e in fast.changes()] == list(range(1, 21))
        assert service.stats().watchers == 1  # the slow one was dropped, not waited for
        # When it reads again, it learns that it fell behind: an ERROR, then the end.
        error = await anext(slow_stream)
        assert error.type is ERROR
        assert isinstance(error.object, Status)
        assert error.object.code == 410
        assert "fell behind" in error.object.message
        async for _ in slow_stream:
            raise AssertionError("the stream should have ended")
        await fast.close()


async def test_a_watcher_holding_too_many_bytes_is_ended_before_its_event_limit(
    config: RegistryConfig, clock: ManualClock
) -> None:
    # Large records: the stalled watcher's queue keeps each version alive, so it is bounded
    # in bytes too, long before its event limit.
    limits = replace(config, watch_queue_limit=1000, watch_queue_bytes=20_000)
    async with Registry(limits, clock=clock) as service:
        slow_stream = await service.watch()
        assert (await anext(slow_stream)).type is BOOKMARK  # then it stops reading
        fast = EventLog(await service.watch())
        await fast.wait_for(has(1, BOOKMARK))
        before = service.stats().watchers_dropped
        for i in range(10):
            body = agent_body(f"big{i}", ["x.y"])
            body["spec"]["capabilities"][0]["description"] = "d" * 3000
            await service.create(body)
            await fast.wait_for(has(i + 1))
        assert service.stats().watchers == 1  # the slow one was ended, after ~6 records
        assert service.stats().watchers_dropped == before + 1
        error = await anext(slow_stream)
        assert error.type is ERROR
        assert isinstance(error.object, Status)
        assert "fell behind by more than 20000 bytes" in error.object.message
        await fast.close()


async def test_idle_watchers_get_periodic_bookmarks(
    config: RegistryConfig, clock: ManualClock
) -> None:
    async with Registry(replace(config, bookmark_interval=0.05), clock=clock) as service:
        await service.create(agent_body("a", ["x.y"]))
        log = EventLog(await service.watch(AgentQuery(capabilities=("other.cap",))))
        await log.wait_for(has(3, BOOKMARK))
        await service.create(agent_body("b", ["x.y"]))  # filtered out, but moves the revision
        await log.wait_for(lambda events: events[-1].type is BOOKMARK and events[-1].revision == 2)
        assert log.changes() == []
        await log.close()


async def test_shutdown_ends_watches_quietly(config: RegistryConfig, clock: ManualClock) -> None:
    service = Registry(config, clock=clock)
    await service.start()
    log = EventLog(await service.watch())
    await log.wait_for(has(1, BOOKMARK))
    await service.stop()
    await log.wait_for_end()
    assert [e.type for e in log.events] == [BOOKMARK]


# -- the fan-out, on the event loop's next turn -------------------------------------------------


async def test_a_writer_is_answered_before_its_change_is_fanned_out(service: Registry) -> None:
    log = EventLog(await service.watch())
    await log.wait_for(has(1, BOOKMARK))
    delivered = service.stats().events_delivered
    await service.create(agent_body("a", ["x.y"]))
    # The writer has its answer and the cache has the change; no watcher has it yet.
    assert service.stats().events_delivered == delivered
    assert [agent.metadata.name for agent in (await service.list_records()).records] == ["a"]
    await log.wait_for(has(1))
    assert service.stats().events_delivered == delivered + 1
    await log.close()


async def test_a_watch_begun_between_a_commit_and_its_fan_out_gets_the_change_once(
    service: Registry,
) -> None:
    first = EventLog(await service.watch())  # a watcher the fan-out has to reach
    await first.wait_for(has(1, BOOKMARK))
    delivered = service.stats().events_delivered
    await service.create(agent_body("a", ["x.y"]))
    stream = await service.watch()
    initial = await anext(stream)  # subscribed now: "a" is in the state it starts from
    assert service.stats().events_delivered == delivered  # before the fan-out, indeed
    late = EventLog(stream)
    await service.create(agent_body("b", ["x.y"]))
    await late.wait_for(has(1))
    await first.wait_for(has(2))
    assert (initial.type, initial.object.metadata.name) == (ADDED, "a")
    assert late.summary() == [("BOOKMARK", "", "1"), ("ADDED", "b", "2")]
    assert first.summary()[1:] == [("ADDED", "a", "1"), ("ADDED", "b", "2")]
    await first.close()
    await late.close()


async def test_a_bookmark_never_passes_a_change_still_to_be_fanned_out() -> None:
    hub = Hub()
    agents = [parse_agent(agent_body(name, ["x.y"])) for name in ("a", "b")]
    assert hub.published_through(7) == 7
    hub.publish_soon(ObjectChange(revision=8, type=ADDED, object=agents[0], prev=None))
    hub.publish_soon(ObjectChange(revision=9, type=ADDED, object=agents[1], prev=None))
    assert hub.published_through(9) == 7  # neither is fanned out yet
    subscription = hub.subscribe(AgentQuery().compile(Match.ANY), QueueLimit(10, 10_000), after=8)
    batch = await subscription.next_batch(idle_after=5)  # waits for the fan-out
    assert [event.object.metadata.name for event in batch] == ["b"]  # after 8 only
    assert hub.published_through(9) == 9


async def test_a_change_that_fails_to_fan_out_does_not_stop_the_next(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    hub = Hub()
    agents = [parse_agent(agent_body(name, ["x.y"])) for name in ("a", "b")]
    subscription = hub.subscribe(AgentQuery().compile(Match.ANY), QueueLimit(10, 10_000))
    real = watch.event_for

    def failing_for_a(change: ObjectChange, query: Query) -> WatchEvent | None:
        if change.object.metadata.name == "a":
            raise RuntimeError("broken")
        return real(change, query)

    monkeypatch.setattr(watch, "event_for", failing_for_a)
    for revision, agent in enumerate(agents, 1):
        hub.publish_soon(ObjectChange(revision=revision, type=ADDED, object=agent, prev=None))
    batch = await subscription.next_batch(idle_after=5)
    assert [event.object.metadata.name for event in batch] == ["b"]
    assert hub.published_through(2) == 2
    assert "fanning out the change of revision 1 failed" in caplog.text
    # And later changes are still fanned out: nothing was left stuck in the queue.
    hub.publish_soon(ObjectChange(revision=3, type=ADDED, object=agents[0], prev=None))
    hub.publish_soon(ObjectChange(revision=4, type=MODIFIED, object=agents[1], prev=agents[1]))
    batch = await subscription.next_batch(idle_after=5)
    assert [(event.type, event.object.metadata.name) for event in batch] == [(MODIFIED, "b")]


async def test_a_bookmark_never_goes_back_before_what_a_watch_started_from() -> None:
    """A watch that starts while a change it already has is still to be fanned out: its
    bookmark names at least the revision it started from."""
    hub = Hub()
    agent = parse_agent(agent_body("a", ["x.y"]))
    hub.publish_soon(ObjectChange(revision=5, type=ADDED, object=agent, prev=None))
    subscription = hub.subscribe(AgentQuery().compile(Match.ANY), QueueLimit(10, 10_000), after=5)
    assert hub.published_through(5) == 4
    assert subscription.published_through(5) == 5
