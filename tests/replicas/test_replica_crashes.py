"""SIGKILL registry replicas at random moments, the leader included, under write, heartbeat and
watch load, many times; each comes back on its port.

Checked: no acknowledged write is lost and revisions never go backwards (after each kill);
every watcher, reconnecting to a random live replica with the last revision it saw, sees every
change once and in order; no agent whose heartbeats kept flowing to live replicas is ever
marked unhealthy or offline; no two replicas ever led the same term. ``make soak`` runs ten
times as many kills with a fresh seed; ``MESH_REPLICA_KILLS`` sets the number.
"""

from __future__ import annotations

import asyncio
import os
import random
from dataclasses import dataclass, field

import httpx
import pytest

from mesh_registry.client import RegistryClient
from mesh_registry.errors import MeshError
from mesh_registry.model import Agent, EventType, Phase
from tests.replicas.cluster import Cluster
from tests.store.ledger import Ledger, StreamLog
from tests.support.agents import agent_body
from tests.support.postgres import fresh_database
from tests.support.processes import eventually

KILLS = int(os.environ.get("MESH_REPLICA_KILLS", "20"))
SOAK_SECONDS = 1800
REPLICAS = 3
WRITERS = 3
LIVE_AGENTS = 6  # heartbeating all along: never to be marked unhealthy
INTERVAL = 1.0  # their heartbeat interval
COLLECTION = "/api/v1/namespaces/default/agents"


class Pause:
    """Lets the writers run, or holds them between two writes (to check the ledger against a
    listing that nothing is writing to)."""

    def __init__(self, writers: int) -> None:
        self._running = asyncio.Event()
        self._running.set()
        self._writers = writers
        self._parked = 0
        self._all_parked = asyncio.Event()

    async def between_writes(self) -> None:
        if self._running.is_set():
            return
        self._parked += 1
        if self._parked == self._writers:
            self._all_parked.set()
        await self._running.wait()
        self._parked -= 1

    async def hold(self, writers: list[asyncio.Task[None]]) -> None:
        """Hold every writer between two writes; a writer that ended raises its error here."""
        self._all_parked.clear()
        self._running.clear()
        parked = asyncio.ensure_future(self._all_parked.wait())
        done, _ = await asyncio.wait(
            [parked, *writers], timeout=30, return_when=asyncio.FIRST_COMPLETED
        )
        for writer in writers:
            if writer in done:
                parked.cancel()
                writer.result()  # its error, not a timeout that hides it
                raise AssertionError("a writer ended")
        if parked not in done:
            parked.cancel()
            raise TimeoutError("the writers did not stop between two writes within 30 s")

    def release(self) -> None:
        self._running.set()


@dataclass
class Watcher:
    stream: StreamLog = field(default_factory=StreamLog)
    phases: list[tuple[str, Phase]] = field(default_factory=list)  # (agent, phase) per event


async def writer(
    cluster: Cluster, worker: int, ledger: Ledger, pause: Pause, rng: random.Random
) -> None:
    """Creates, replaces and deletes its own agents through random live replicas, for ever."""
    async with httpx.AsyncClient(timeout=5) as api:
        for n in range(10_000_000):
            await pause.between_writes()
            name = f"w{worker}-{rng.randrange(25)}"
            history = ledger.keys.get(name)
            exists = history is not None and not history.deleted and history.acknowledged
            action = rng.choice(["put", "put", "delete"]) if exists else "put"
            url = cluster.any_url(rng) + f"{COLLECTION}/{name}"
            uncertain = history is not None and history.in_flight
            ledger.sent(name)
            try:
                if action == "put":
                    body = agent_body(name, ["x.y"], labels={"n": str(n)}, interval=3600)
                    response = await api.put(url, json=body)
                else:
                    response = await api.delete(url)
            except httpx.TransportError:
                continue  # that replica died: the write may or may not have committed
            if response.status_code == 503:
                continue  # the replica is stopping or starting: not applied
            if response.status_code == 404 and action == "delete" and uncertain:
                continue  # the delete before, whose answer was lost, had committed
            assert response.status_code in (200, 201), response.text
            revision = int(response.json()["metadata"]["resourceVersion"])
            ledger.acknowledged(name, revision, deleted=action == "delete")


async def heartbeats(cluster: Cluster, rng: random.Random) -> None:
    """The live agents' heartbeats, each to a random live replica, a few per interval."""
    async with httpx.AsyncClient(timeout=2) as api:
        while True:
            for i in range(LIVE_AGENTS):
                for _ in range(3):  # a replica that just died: the next one
                    url = cluster.any_url(rng) + f"{COLLECTION}/live{i}/heartbeat"
                    try:
                        if (await api.post(url)).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
            await asyncio.sleep(INTERVAL / 4)


async def watch(cluster: Cluster, watcher: Watcher, since: int, rng: random.Random) -> None:
    """One watcher for the whole run, resuming after the last revision it saw."""
    resume = str(since)
    while True:
        try:
            async with RegistryClient(cluster.any_url(rng), timeout=2) as client:
                async for event in client.watch(since=resume):
                    agent = event.object
                    if isinstance(agent, Agent) and event.type is not EventType.BOOKMARK:
                        watcher.stream.revisions.append(event.revision - since)
                        watcher.phases.append((agent.metadata.name, agent.status.phase))
                    if event.revision:
                        resume = str(event.revision)
        except (MeshError, httpx.HTTPError):
            await asyncio.sleep(0.02)  # that replica died: another one


async def stored_versions(url: str) -> tuple[int, dict[str, int]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as api:
        listing = (await api.get(COLLECTION)).json()
    versions = {
        a["metadata"]["name"]: int(a["metadata"]["resourceVersion"])
        for a in listing["items"]
        if a["metadata"]["name"].startswith("w")
    }
    return int(listing["metadata"]["resourceVersion"]), versions


@pytest.mark.heavy
async def test_random_replica_kills_lose_nothing(ns: str) -> None:
    await kill_and_check(KILLS, seed=20261201)


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS)  # its own budget, not the suite's per-test one
async def test_random_replica_kills_soak(ns: str) -> None:
    seed = random.randrange(1 << 30)
    await kill_and_check(10 * KILLS, seed=seed)
    print(f"\nsoak: {10 * KILLS} SIGKILLs of replicas, nothing lost (seed {seed})")


async def kill_and_check(kills: int, seed: int) -> None:
    rng = random.Random(seed)
    with fresh_database() as dsn:
        cluster = Cluster(dsn, REPLICAS, "--leader-lease", "1", "--bookmark-interval", "0.5")
        cluster.start()
        tasks: list[asyncio.Task[None]] = []
        try:
            await run(cluster, kills, seed, rng, tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            cluster.close()


async def run(
    cluster: Cluster, kills: int, seed: int, rng: random.Random, tasks: list[asyncio.Task[None]]
) -> None:
    async with httpx.AsyncClient(base_url=cluster.url(0), timeout=10) as api:
        for i in range(LIVE_AGENTS):
            body = agent_body(f"live{i}", ["live.x"], interval=INTERVAL)
            assert (await api.put(f"{COLLECTION}/live{i}", json=body)).status_code == 201
        start = int((await api.get("/readyz")).json()["revision"])
    ledger, pause = Ledger(), Pause(WRITERS)
    watchers = [Watcher() for _ in range(2)]
    tasks.append(asyncio.create_task(heartbeats(cluster, random.Random(rng.random()))))
    tasks += [
        asyncio.create_task(watch(cluster, w, start, random.Random(rng.random()))) for w in watchers
    ]
    writers = [
        asyncio.create_task(writer(cluster, w, ledger, pause, random.Random(rng.random())))
        for w in range(WRITERS)
    ]
    tasks += writers
    previous = 0
    restarts: list[asyncio.Task[None]] = []
    for kill in range(kills):
        target = ledger.count + rng.randint(5, 60)

        async def loaded(target: int = target) -> bool:
            return ledger.count >= target

        await eventually(loaded, within=30)
        # Two replicas live at least, so that one stays up after the kill (the others start
        # again meanwhile, in the background).
        await asyncio.wait_for(_until_live(cluster, 2), 60)
        leader = cluster.leader()
        # Every third kill is the leader's; the others, any replica.
        victim = leader if kill % 3 == 0 and leader is not None else rng.choice(cluster.live())
        cluster.kill(victim)
        await asyncio.sleep(rng.uniform(0, 0.3))
        await pause.hold(writers)
        revision, stored = await stored_versions(cluster.any_url(rng))
        where = f"seed {seed}, kill {kill}"
        assert revision >= previous, where
        assert not ledger.problems(stored), f"{where}: {ledger.problems(stored)}"
        previous = revision
        ledger.settle(stored)
        pause.release()
        restarts.append(asyncio.create_task(asyncio.to_thread(cluster.start, victim)))
    await asyncio.gather(*restarts)

    for task in tasks[-WRITERS:]:
        task.cancel()
    await asyncio.gather(*tasks[-WRITERS:], return_exceptions=True)
    final, stored = await stored_versions(cluster.url(0))
    for watcher in watchers:

        async def caught_up(watcher: Watcher = watcher) -> bool:
            seen = watcher.stream.revisions
            return bool(seen) and seen[-1] >= final - start

        await eventually(caught_up, within=30)
        assert not watcher.stream.problems(final - start), watcher.stream.problems(final - start)[
            :10
        ]
        wrongly = [
            (name, phase)
            for name, phase in watcher.phases
            if name.startswith("live") and phase in (Phase.UNHEALTHY, Phase.OFFLINE)
        ]
        assert not wrongly, f"seed {seed}: heartbeating agents marked {wrongly}"
    terms = [term for term, _ in cluster.terms()]
    assert len(terms) == len(set(terms)), f"a term led twice: {cluster.terms()}"
    assert len(terms) >= kills // 3  # the leader was killed, and replaced, that often


async def _until_live(cluster: Cluster, count: int) -> None:
    while len(cluster.live()) < count:  # noqa: ASYNC110 - processes starting: nothing to await
        await asyncio.sleep(0.05)
