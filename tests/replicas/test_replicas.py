"""Three registry replicas on one PostgreSQL database, as real processes on loopback ports:
any replica serves any request, in one revision order; conflicts hold across them; watches on
each see every change; a watcher hops between them; health is decided by one leader, whichever
replica the heartbeats reach; call tokens of one are good at the others."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from mesh_registry.client import RegistryClient
from mesh_registry.model import Agent, EventType, Phase, WatchEvent
from mesh_registry.query import AgentQuery
from tests.replicas.cluster import Cluster
from tests.store.ledger import StreamLog
from tests.support.agents import agent_body
from tests.support.postgres import fresh_database
from tests.support.processes import eventually
from tests.support.watching import EventLog, about, initial_events_ended

COLLECTION = "/api/v1/namespaces/{ns}/agents"


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    with fresh_database() as dsn:
        replicas = Cluster(dsn, 3, "--bookmark-interval", "0.5", "--leader-lease", "1")
        replicas.start()
        try:
            yield replicas
        finally:
            replicas.close()


@pytest.fixture
async def apis(cluster: Cluster) -> AsyncIterator[list[httpx.AsyncClient]]:
    clients = [httpx.AsyncClient(base_url=url, timeout=10) for url in cluster.urls]
    yield clients
    for client in clients:
        await client.aclose()


async def test_a_write_through_one_replica_is_read_through_the_others_at_once(
    apis: list[httpx.AsyncClient], ns: str
) -> None:
    path = COLLECTION.format(ns=ns)
    for n, writer in enumerate(apis):
        created = await writer.post(path, json=agent_body(f"a{n}", ["x.y"], interval=3600))
        assert created.status_code == 201, created.text
        version = created.json()["metadata"]["resourceVersion"]
        for reader in apis:  # no wait: a read sees every write acknowledged before it
            got = await reader.get(f"{path}/a{n}")
            assert got.status_code == 200, got.text
            assert got.json()["metadata"]["resourceVersion"] == version
    listed = [(await api.get(path)).json() for api in apis]
    assert {tuple(a["metadata"]["name"] for a in page["items"]) for page in listed} == {
        ("a0", "a1", "a2")
    }


async def test_conflicts_hold_across_replicas(apis: list[httpx.AsyncClient], ns: str) -> None:
    path = COLLECTION.format(ns=ns)
    first = await apis[0].put(f"{path}/c", json=agent_body("c", ["x.y"], interval=3600))
    stale = first.json()
    second = await apis[1].put(
        f"{path}/c", json=agent_body("c", ["x.y"], labels={"v": "2"}, interval=3600)
    )
    assert second.status_code == 200
    # A write based on the first version, through a third replica: 409.
    stale["metadata"]["labels"] = {"v": "stale"}
    refused = await apis[2].put(f"{path}/c", json=stale)
    assert refused.status_code == 409, refused.text
    # Two replicas racing to create one name: one 201, one 409, every time.
    for n in range(10):
        body = agent_body(f"race{n}", ["x.y"], interval=3600)
        answers = await asyncio.gather(
            apis[n % 3].post(path, json=body), apis[(n + 1) % 3].post(path, json=body)
        )
        assert sorted(a.status_code for a in answers) == [201, 409]


async def test_watches_on_every_replica_see_every_change_in_order(
    cluster: Cluster, apis: list[httpx.AsyncClient], ns: str
) -> None:
    path = COLLECTION.format(ns=ns)
    clients = [RegistryClient(url) for url in cluster.urls]
    logs = [EventLog(client.watch(AgentQuery(namespace=ns))) for client in clients]
    try:
        for log in logs:
            await log.wait_for(initial_events_ended)
        writes = [
            apis[n % 3].put(
                f"{path}/w{n % 7}",
                json=agent_body(f"w{n % 7}", ["x.y"], labels={"n": str(n)}, interval=3600),
            )
            for n in range(60)
        ]
        for write in writes:  # one at a time: each replica sees the same, known sequence
            assert (await write).status_code in (200, 201)
        last = int((await apis[0].get(path)).json()["metadata"]["resourceVersion"])

        for log in logs:
            reached = revisions_reach(log, last)
            await log.wait_for(reached)
        seen = [revisions(log) for log in logs]
        assert seen[0] == seen[1] == seen[2]
        assert len(seen[0]) == 60
        assert seen[0] == sorted(set(seen[0]))
    finally:
        for log in logs:
            await log.close()
        for client in clients:
            await client.aclose()


async def test_a_watcher_hopping_between_replicas_misses_nothing_and_repeats_nothing(
    cluster: Cluster, apis: list[httpx.AsyncClient], ns: str
) -> None:
    path = COLLECTION.format(ns=ns)
    first = int((await apis[0].get("/readyz")).json()["revision"])
    stream, stop = StreamLog(), asyncio.Event()
    rng = random.Random(7)

    async def hop() -> None:
        """Reads a few events from one replica, then resumes on another (Last-Event-ID)."""
        since = str(first)
        while not stop.is_set():
            async with RegistryClient(cluster.any_url(rng)) as client:
                taken = 0
                async for event in client.watch(AgentQuery(namespace=ns), since=since):
                    if isinstance(event.object, Agent) and event.type is not EventType.BOOKMARK:
                        stream.revisions.append(event.revision - first)
                    if event.revision:
                        since = str(event.revision)
                    taken += 1
                    if taken >= rng.randint(1, 5) or stop.is_set():
                        break

    hopping = asyncio.create_task(hop())
    try:
        for n in range(80):
            body = agent_body(f"h{n % 9}", ["x.y"], labels={"n": str(n)}, interval=3600)
            assert (await apis[n % 3].put(f"{path}/h{n % 9}", json=body)).status_code in (200, 201)
        final = int((await apis[1].get(path)).json()["metadata"]["resourceVersion"]) - first

        async def caught_up() -> bool:
            return bool(stream.revisions) and stream.revisions[-1] >= final

        await eventually(caught_up, within=20)
    finally:
        stop.set()
        await asyncio.wait_for(hopping, 10)
    assert stream.problems(final) == []


async def test_health_is_decided_once_whichever_replica_the_heartbeats_reach(
    cluster: Cluster, apis: list[httpx.AsyncClient], ns: str
) -> None:
    path = COLLECTION.format(ns=ns)
    leaders = [bool((await api.get("/readyz")).json()["leader"]) for api in apis]
    assert sum(leaders) == 1
    interval = 0.4
    assert (
        await apis[0].post(path, json=agent_body("hb", ["x.y"], interval=interval))
    ).status_code == 201
    async with RegistryClient(cluster.url(2)) as client:
        log = EventLog(client.watch(AgentQuery(namespace=ns)))
        await log.wait_for(initial_events_ended)
        try:
            # Heartbeats spread over every replica, for a while: always healthy.
            replicas = itertools.cycle(apis)
            loop = asyncio.get_running_loop()
            until = loop.time() + 8 * interval
            while loop.time() < until:
                beat = await next(replicas).post(f"{path}/hb/heartbeat")
                assert beat.status_code == 200, beat.text
                await asyncio.sleep(interval / 2)
            phases = [_phase(e) for e in log.events if isinstance(e.object, Agent)]
            assert Phase.UNHEALTHY not in phases, phases
            assert phases[-1] is Phase.HEALTHY
            # Then silence: unhealthy once (one leader decided it), then offline once.
            await log.first(about("hb", EventType.MODIFIED, Phase.OFFLINE), within=10)
            after = [_phase(e) for e in log.events if isinstance(e.object, Agent)]
            assert after.count(Phase.UNHEALTHY) == 1
            assert after.count(Phase.OFFLINE) == 1
        finally:
            await log.close()


async def test_a_call_token_from_one_replica_is_good_at_the_others(
    apis: list[httpx.AsyncClient], ns: str
) -> None:
    path = COLLECTION.format(ns=ns)
    assert (
        await apis[0].post(path, json=agent_body("t", ["x.y"], interval=3600))
    ).status_code == 201
    issued = await apis[1].post(f"{path}/t/token")
    assert issued.status_code == 201, issued.text
    review: dict[str, Any] = {"spec": {"token": issued.json()["token"]}}
    for api in apis:
        answer = (await api.post("/api/v1/tokenreviews", json=review)).json()
        assert answer["status"]["authenticated"] is True, answer


def revisions(log: EventLog) -> list[int]:
    return [e.revision for e in log.events if isinstance(e.object, Agent)]


def revisions_reach(log: EventLog, last: int) -> Callable[[list[WatchEvent]], bool]:
    return lambda events: bool(revisions(log)) and revisions(log)[-1] == last


def _phase(event: Any) -> Phase:
    return event.object.status.phase  # type: ignore[no-any-return]
