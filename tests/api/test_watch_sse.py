"""Watches over SSE against the real registry process."""

from __future__ import annotations

import asyncio
from datetime import datetime

import httpx
import pytest

from mesh_registry.client import RegistryClient
from mesh_registry.errors import Gone
from mesh_registry.model import Agent, EventType, Phase, WatchEvent
from mesh_registry.query import AgentQuery
from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, running_registry, wait_until
from tests.support.watching import EventLog, has


def collection(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/agents"


def summary(events: list[WatchEvent]) -> list[tuple[str, str, int]]:
    return [(e.type.value, e.object.metadata.name, e.revision) for e in events]  # type: ignore[union-attr]


async def test_two_watchers_see_the_same_ordered_events(registry: RegistryProcess, ns: str) -> None:
    async with RegistryClient(registry.url) as client:
        first = EventLog(client.watch(AgentQuery(namespace=ns)))
        second = EventLog(client.watch(AgentQuery(namespace=ns)))
        await first.wait_for(has(1, EventType.BOOKMARK))
        await second.wait_for(has(1, EventType.BOOKMARK))
        async with httpx.AsyncClient(base_url=registry.url) as api:

            async def write(i: int) -> None:
                await api.post(collection(ns), json=agent_body(f"a{i}", ["x.y"], interval=3600))
                await api.put(
                    f"{collection(ns)}/a{i}",
                    json=agent_body(f"a{i}", ["x.y"], labels={"n": str(i)}, interval=3600),
                )

            await asyncio.gather(*(write(i) for i in range(20)))
        for collector in (first, second):
            await collector.wait_for(has(40))
        assert summary(first.changes()) == summary(second.changes())
        revisions = [e.revision for e in first.changes()]
        assert revisions == sorted(revisions)
        assert len(set(revisions)) == 40
        await first.close()
        await second.close()


async def test_resume_with_last_event_id_misses_nothing_and_repeats_nothing(
    registry: RegistryProcess, ns: str
) -> None:
    async with (
        RegistryClient(registry.url) as client,
        httpx.AsyncClient(base_url=registry.url) as api,
    ):
        for i in range(5):
            await api.post(collection(ns), json=agent_body(f"a{i}", ["x.y"], interval=3600))
        before = EventLog(client.watch(AgentQuery(namespace=ns)))
        await before.wait_for(has(1, EventType.BOOKMARK))
        await before.close()  # the client goes away
        last = before.events[-1].revision
        for i in range(5, 10):  # changes it does not see while away
            await api.post(collection(ns), json=agent_body(f"a{i}", ["x.y"], interval=3600))
        deleted = (await api.delete(f"{collection(ns)}/a0")).json()
        after = EventLog(client.watch(AgentQuery(namespace=ns), since=str(last)))
        await after.wait_for(has(6))
        assert summary(before.changes()) + summary(after.changes()) == [
            *[("ADDED", f"a{i}", r) for i, r in zip(range(5), _revisions(before), strict=True)],
            *[
                ("ADDED", f"a{i}", r)
                for i, r in zip(range(5, 10), _revisions(after)[:5], strict=True)
            ],
            ("DELETED", "a0", int(deleted["metadata"]["resourceVersion"])),
        ]
        await after.close()


def _revisions(log: EventLog) -> list[int]:
    return [e.revision for e in log.changes()]


async def test_wire_format_and_keepalive(ns: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    with running_registry(
        "--db", ":memory:", "--watch-keepalive", "0.2", "--bookmark-interval", "60"
    ) as registry:
        async with httpx.AsyncClient(base_url=registry.url, timeout=None) as api:
            await api.post(collection(ns), json=agent_body("a", ["x.y"], interval=3600))
            async with api.stream("GET", collection(ns), params={"watch": "true"}) as response:
                assert response.headers["content-type"].startswith("text/event-stream")
                lines: list[str] = []
                async for line in response.aiter_lines():
                    lines.append(line)
                    if sum(1 for x in lines if x.startswith(":")) >= 2:
                        break
        # The initial state carries no id (see test_watch_resume); its closing BOOKMARK does.
        assert lines[:2] == ["event: ADDED", lines[1]]
        assert lines[1].startswith('data: {"apiVersion":"mesh/v1","kind":"Agent"')
        bookmark = lines.index("event: BOOKMARK")
        assert lines[bookmark - 1] == "id: 1"
        assert any(line.startswith(": ping") for line in lines)  # keep-alive comments


async def test_the_client_watch_outlives_keepalive_comments(ns: str) -> None:
    """Each keep-alive comment ends in a blank line; the client must not take it for an event."""
    with running_registry("--db", ":memory:", "--watch-keepalive", "0.05") as registry:
        async with (
            RegistryClient(registry.url) as client,
            httpx.AsyncClient(base_url=registry.url, timeout=None) as api,
        ):
            await api.post(collection(ns), json=agent_body("a", ["x.y"], interval=3600))
            log = EventLog(client.watch(AgentQuery(namespace=ns)))
            await log.wait_for(has(1, EventType.BOOKMARK))
            # A second stream, opened later, counts keep-alives: by the time it has seen three,
            # the client's older stream has received at least as many.
            async with api.stream("GET", collection(ns), params={"watch": "true"}) as raw:
                pings = 0
                async for line in raw.aiter_lines():
                    pings += line.startswith(": ping")
                    if pings == 3:
                        break
            await api.put(
                f"{collection(ns)}/a",
                json=agent_body("a", ["x.y"], labels={"k": "v"}, interval=3600),
            )
            _, modified = await log.first(lambda e: e.type is EventType.MODIFIED)
            assert modified.object.metadata.labels == {"k": "v"}  # type: ignore[union-attr]
            assert not log.ended
            await log.close()


async def test_a_compacted_resume_revision_is_an_http_410(ns: str) -> None:
    with running_registry(
        "--db", ":memory:", "--history-max-events", "5", "--compaction-interval", "0.1"
    ) as registry:
        async with (
            RegistryClient(registry.url) as client,
            httpx.AsyncClient(base_url=registry.url) as api,
        ):
            for i in range(20):
                await api.post(collection(ns), json=agent_body(f"a{i}", ["x.y"], interval=3600))

            def compacted() -> bool:
                return "mesh_compacted_revision 15.0" in httpx.get(registry.url + "/metrics").text

            wait_until(compacted)
            # Refused before any stream starts: HTTP 410 with a Status body.
            response = await api.get(collection(ns), params={"watch": "true", "resourceVersion": 3})
            with pytest.raises(Gone, match="too old resource version: 3"):
                [event async for event in client.watch(AgentQuery(namespace=ns), since="3")]
        assert response.status_code == 410
        assert response.headers["content-type"] == "application/json"
        assert (response.json()["kind"], response.json()["reason"]) == ("Status", "Expired")


async def test_label_changes_move_objects_in_and_out_of_a_filtered_watch(
    registry: RegistryProcess, ns: str
) -> None:
    async with (
        RegistryClient(registry.url) as client,
        httpx.AsyncClient(base_url=registry.url) as api,
    ):
        watch = EventLog(client.watch(AgentQuery(namespace=ns, selector="env=prod")))
        await watch.wait_for(has(1, EventType.BOOKMARK))
        item = f"{collection(ns)}/a"
        await api.put(item, json=agent_body("a", ["x.y"], labels={"env": "dev"}, interval=3600))
        await api.put(item, json=agent_body("a", ["x.y"], labels={"env": "prod"}, interval=3600))
        await api.put(item, json=agent_body("a", ["x.y"], labels={"env": "dev"}, interval=3600))
        await watch.wait_for(has(2))
        assert [e.type for e in watch.changes()] == [EventType.ADDED, EventType.DELETED]
        left = watch.changes()[1].object
        assert left.metadata.labels == {"env": "prod"}  # type: ignore[union-attr]
        await watch.close()


async def test_phase_transitions_arrive_within_100ms_of_their_deadline(
    registry: RegistryProcess, ns: str
) -> None:
    async with (
        RegistryClient(registry.url) as client,
        httpx.AsyncClient(base_url=registry.url) as api,
    ):
        await api.post(collection(ns), json=agent_body("quick", ["x.y"], interval=0.2))
        watch = EventLog(client.watch(AgentQuery(namespace=ns)))
        await watch.wait_for(lambda events: len(events) >= 2)
        await api.post(f"{collection(ns)}/quick/heartbeat")

        def offline(events: list[WatchEvent]) -> bool:
            return any(
                isinstance(e.object, Agent) and e.object.status.phase is Phase.OFFLINE
                for e in events
            )

        await watch.wait_for(offline)
        lags = {}
        for received, event in zip(watch.arrivals, watch.events, strict=True):
            agent = event.object
            if isinstance(agent, Agent) and agent.status.phase in (Phase.UNHEALTHY, Phase.OFFLINE):
                assert event.type is EventType.MODIFIED
                deadline: datetime = agent.status.phase_since  # type: ignore[assignment]
                lags[agent.status.phase] = received - deadline.timestamp()
        heartbeat = next(
            e.object.status.last_heartbeat_time  # type: ignore[union-attr]
            for e in watch.events
            if isinstance(e.object, Agent) and e.object.status.phase is Phase.HEALTHY
        )
        unhealthy_at = next(
            e.object.status.phase_since  # type: ignore[union-attr]
            for e in watch.events
            if isinstance(e.object, Agent) and e.object.status.phase is Phase.UNHEALTHY
        )
        # The deadline is exact: 2.5 intervals after the heartbeat...
        assert (unhealthy_at - heartbeat).total_seconds() == pytest.approx(0.5, abs=1e-3)
        # ...and the events reach the watcher within 100 ms of it.
        assert set(lags) == {Phase.UNHEALTHY, Phase.OFFLINE}
        assert all(0 <= lag < 0.1 for lag in lags.values()), lags
        await watch.close()
