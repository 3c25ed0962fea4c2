"""SIGKILL the registry at random moments under write, heartbeat and watch load, many times.

After every restart: no acknowledged write is lost, revisions never go backwards; at the end,
a watcher that followed the whole run (reconnecting across every crash) saw every revision
exactly once, in order. ``make soak`` runs ten times as many crashes with a fresh seed;
``MESH_CRASH_ITERATIONS`` sets the number.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
from pathlib import Path

import httpx
import pytest

from mesh_registry.client import RegistryClient
from mesh_registry.errors import Unavailable
from mesh_registry.model import Agent, EventType
from tests.store.ledger import Ledger, StreamLog
from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, eventually, free_port

ITERATIONS = int(os.environ.get("MESH_CRASH_ITERATIONS", "20"))
SOAK_SECONDS = 1800
WRITERS = 4
COLLECTION = "/api/v1/namespaces/default/agents"


async def writer(url: str, worker: int, ledger: Ledger, rng: random.Random) -> None:
    """Creates, replaces, heartbeats and deletes its own agents until the registry dies."""
    async with httpx.AsyncClient(base_url=url, timeout=5) as api:
        for n in range(1_000_000):
            name = f"w{worker}-{rng.randrange(40)}"
            history = ledger.keys.get(name)
            exists = history is not None and not history.deleted and history.acknowledged
            action = rng.choice(["put", "put", "heartbeat", "delete"]) if exists else "put"
            ledger.sent(name)  # a heartbeat may write too (pending -> healthy)
            try:
                if action == "put":
                    body = agent_body(name, ["x.y"], labels={"n": str(n)}, interval=3600)
                    response = await api.put(f"{COLLECTION}/{name}", json=body)
                elif action == "delete":
                    response = await api.delete(f"{COLLECTION}/{name}")
                else:
                    response = await api.post(f"{COLLECTION}/{name}/heartbeat")
            except httpx.TransportError:
                return  # the registry died: this write was never acknowledged
            assert response.status_code in (200, 201), response.text
            answer = response.json()
            # A heartbeat answers with the record's version after it, like a write does.
            revision = int(answer.get("resourceVersion") or answer["metadata"]["resourceVersion"])
            ledger.acknowledged(name, revision, deleted=action == "delete")


async def follow(url: str, log: StreamLog, stop: asyncio.Event) -> None:
    """One watcher for the whole run: it resumes after the last revision it saw."""
    async with RegistryClient(url, timeout=2) as client:
        since: str | None = None
        while not stop.is_set():
            try:
                async for event in client.watch(since=since):
                    if isinstance(event.object, Agent) and event.type is not EventType.BOOKMARK:
                        log.revisions.append(event.revision)
                    if event.revision:
                        since = str(event.revision)
            except Unavailable:
                await asyncio.sleep(0.02)  # down: try again


async def stored_versions(url: str) -> tuple[int, dict[str, int]]:
    async with httpx.AsyncClient(base_url=url, timeout=10) as api:
        listing = (await api.get(COLLECTION)).json()
    versions = {
        a["metadata"]["name"]: int(a["metadata"]["resourceVersion"]) for a in listing["items"]
    }
    return int(listing["metadata"]["resourceVersion"]), versions


@pytest.mark.heavy
async def test_random_sigkills_lose_nothing_acknowledged(tmp_path: Path) -> None:
    await crash_and_check(tmp_path, ITERATIONS, seed=20261121)


@pytest.mark.soak
@pytest.mark.timeout(SOAK_SECONDS)  # its own budget, not the suite's per-test one
async def test_random_sigkills_soak(tmp_path: Path) -> None:
    seed = random.randrange(1 << 30)
    await crash_and_check(tmp_path, 10 * ITERATIONS, seed=seed)
    print(f"\nsoak: {10 * ITERATIONS} SIGKILLs of the registry, nothing lost (seed {seed})")


async def crash_and_check(tmp_path: Path, iterations: int, seed: int) -> None:
    rng = random.Random(seed)
    database, port = str(tmp_path / "mesh.db"), str(free_port())
    ledger, log, stop = Ledger(), StreamLog(), asyncio.Event()
    registry = RegistryProcess("--port", port, "--db", database).wait_ready()
    watching = asyncio.create_task(follow(registry.url, log, stop))
    previous = 0
    try:
        for iteration in range(iterations):
            writing = [
                asyncio.create_task(writer(registry.url, w, ledger, random.Random(rng.random())))
                for w in range(WRITERS)
            ]
            # A random moment under load: after some acknowledged writes, between two of them.
            target = ledger.count + rng.randint(1, 150)

            async def loaded(target: int = target) -> bool:
                return ledger.count >= target

            await eventually(loaded, within=30)
            await asyncio.sleep(rng.uniform(0, 0.02))
            registry.process.send_signal(signal.SIGKILL)
            await asyncio.gather(*writing)
            registry.wait_exit()

            registry = RegistryProcess("--port", port, "--db", database).wait_ready()
            revision, stored = await stored_versions(registry.url)
            assert revision >= max(previous, ledger.highest), f"seed {seed}, iteration {iteration}"
            problems = ledger.problems(stored)
            assert not problems, f"seed {seed}, iteration {iteration}: {problems}"
            previous = revision
            ledger.settle(stored)
        final, _ = await stored_versions(registry.url)

        async def caught_up() -> bool:
            return bool(log.revisions) and log.revisions[-1] >= final

        await eventually(caught_up, within=20)
        assert not log.problems(final), log.problems(final)[:10]
    finally:
        stop.set()
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        registry.kill()
