"""Mass expiry against a real registry: when most agents go quiet at once, the registry assumes
it is the one cut off, deletes nobody, and lets go when the heartbeats return."""

from __future__ import annotations

import asyncio
import contextlib
import time

import httpx

from tests.support.agents import agent_body
from tests.support.processes import eventually, running_registry

INTERVAL = 0.2  # seconds between heartbeats
AGENTS = 20
QUIET = 12  # 60% stop at once
COLLECTION = "/api/v1/namespaces/default/agents"


async def beat(api: httpx.AsyncClient, names: list[str], quiet: set[str]) -> None:
    while True:
        await asyncio.gather(
            *(api.post(f"{COLLECTION}/{n}/heartbeat") for n in names if n not in quiet)
        )
        await asyncio.sleep(INTERVAL / 2)


async def test_sixty_percent_going_quiet_deletes_nobody() -> None:
    # Offline after 5 intervals (1 s), deleted 0.3 s later: all of it well inside the test.
    with running_registry("--db", ":memory:", "--delete-after", "0.3") as registry:
        async with httpx.AsyncClient(base_url=registry.url, timeout=10) as api:
            names = [f"a{i:02}" for i in range(AGENTS)]
            for name in names:
                body = agent_body(name, ["x.y"], interval=INTERVAL)
                assert (await api.put(f"{COLLECTION}/{name}", json=body)).status_code == 201
            quiet: set[str] = set()
            heartbeats = asyncio.create_task(beat(api, names, quiet))

            async def phases() -> dict[str, str]:
                items = (await api.get(COLLECTION)).json()["items"]
                return {a["metadata"]["name"]: a["status"]["phase"] for a in items}

            async def engaged() -> bool:
                return bool((await api.get("/readyz")).json()["selfPreservation"])

            async def released() -> bool:
                return not await engaged()

            async def all_healthy() -> bool:
                found = await phases()
                return len(found) == AGENTS and set(found.values()) == {"healthy"}

            try:
                await eventually(all_healthy, within=10)
                assert not await engaged()

                quiet.update(names[:QUIET])

                async def quiet_ones_unhealthy() -> bool:
                    now = await phases()
                    return {now[n] for n in names[:QUIET]} == {"unhealthy"}

                # Engaged once 11 of 20 are overdue: the twelfth may be a moment behind.
                await eventually(engaged, within=5)
                await eventually(quiet_ones_unhealthy, within=5)
                metrics = (await api.get("/metrics")).text
                assert "mesh_self_preservation 1.0" in metrics
                # Past the offline and deletion deadlines of the quiet ones, with a margin:
                # nobody is taken offline or deleted while self-preservation holds.
                held_until = time.monotonic() + 5 * INTERVAL + 0.3 + 1.0
                while time.monotonic() < held_until:
                    now = await phases()
                    assert set(now) == set(names), "an agent was deleted"
                    assert {now[n] for n in names[:QUIET]} == {"unhealthy"}
                    assert {now[n] for n in names[QUIET:]} == {"healthy"}
                    await asyncio.sleep(INTERVAL)

                quiet.clear()  # they come back
                await eventually(all_healthy, within=10)
                await eventually(released, within=5)
            finally:
                heartbeats.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await heartbeats
