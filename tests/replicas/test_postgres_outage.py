"""PostgreSQL stopped for a few seconds under load, then started again, with two registry
replicas on it (a server of the test's own, so that nobody else's database goes away).

While it is away: every replica says it is not ready, and a write gets a 503, never a 500 nor
a half-applied change; heartbeats are still answered. Once it is back: the replicas are ready
again by themselves (no restart), nothing acknowledged is lost, a watcher resumes with every
change once and in order, and no agent that kept heartbeating was marked unhealthy.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator

import httpx
import pytest

from mesh_registry.model import Phase
from tests.replicas.cluster import Cluster
from tests.replicas.test_replica_crashes import (
    COLLECTION,
    Pause,
    Watcher,
    heartbeats,
    stored_versions,
    watch,
    writer,
)
from tests.store.ledger import Ledger
from tests.support.agents import agent_body
from tests.support.postgres import PrivateServer, require_server
from tests.support.processes import eventually

OUTAGE = 3.0  # seconds


@pytest.fixture
def server() -> Iterator[PrivateServer]:
    require_server()  # the machine's PostgreSQL is there: so are its binaries
    private = PrivateServer()
    try:
        private.start()
        yield private
    finally:
        private.close()


async def test_a_database_outage_costs_availability_and_nothing_else(
    server: PrivateServer,
) -> None:
    cluster = Cluster(server.dsn, 2, "--leader-lease", "1", "--bookmark-interval", "0.5")
    cluster.start()
    tasks: list[asyncio.Task[None]] = []
    try:
        async with httpx.AsyncClient(timeout=10) as api:
            for i in range(6):
                body = agent_body(f"live{i}", ["live.x"], interval=1.0)
                assert (
                    await api.put(cluster.url(0) + f"{COLLECTION}/live{i}", json=body)
                ).is_success
            start = int((await api.get(cluster.url(0) + "/readyz")).json()["revision"])
            ledger, pause, watcher = Ledger(), Pause(2), Watcher()
            tasks += [
                asyncio.create_task(heartbeats(cluster, random.Random(1))),
                asyncio.create_task(watch(cluster, watcher, start, random.Random(2))),
                *(
                    asyncio.create_task(writer(cluster, w, ledger, pause, random.Random(w)))
                    for w in range(2)
                ),
            ]

            async def written(count: int) -> bool:
                return ledger.count >= count

            await eventually(lambda: written(50), within=20)
            acknowledged_before = ledger.count
            server.stop()

            async def not_ready() -> bool:
                answers = [await api.get(url + "/readyz") for url in cluster.urls]
                return all(a.status_code == 503 for a in answers)

            await eventually(not_ready, within=10)
            # Writes answer 503 (the writers skip them); reads too; heartbeats still work.
            refused = await api.put(
                cluster.url(1) + f"{COLLECTION}/during", json=agent_body("during", ["x.y"])
            )
            assert refused.status_code == 503, refused.text
            assert (await api.get(cluster.url(0) + COLLECTION)).status_code == 503
            beat = await api.post(cluster.url(0) + f"{COLLECTION}/live0/heartbeat")
            assert beat.status_code == 200, beat.text
            await asyncio.sleep(OUTAGE)
            await asyncio.to_thread(server.start)

            async def ready() -> bool:
                answers = [await api.get(url + "/readyz") for url in cluster.urls]
                return all(a.status_code == 200 for a in answers)

            await eventually(ready, within=20)
            await eventually(lambda: written(acknowledged_before + 50), within=20)

            await pause.hold(tasks[-2:])
            _, stored = await stored_versions(cluster.url(1))
            assert not ledger.problems(stored), ledger.problems(stored)
            ledger.settle(stored)
            for task in tasks[-2:]:
                task.cancel()
            await asyncio.gather(*tasks[-2:], return_exceptions=True)
            final = int(
                (await api.get(cluster.url(0) + COLLECTION)).json()["metadata"]["resourceVersion"]
            )

            async def caught_up() -> bool:
                seen = watcher.stream.revisions
                return bool(seen) and seen[-1] >= final - start

            await eventually(caught_up, within=20)
            assert not watcher.stream.problems(final - start)
            wrongly = [
                (name, phase)
                for name, phase in watcher.phases
                if name.startswith("live") and phase in (Phase.UNHEALTHY, Phase.OFFLINE)
            ]
            assert not wrongly, wrongly
            # Nothing of the refused write was applied.
            assert "during" not in stored
            assert (await api.get(cluster.url(0) + f"{COLLECTION}/during")).status_code == 404
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        cluster.close()
