"""kill -9 of the registry under write load: nothing acknowledged is lost; watchers resume."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import httpx

from mesh_registry.client import RegistryClient
from mesh_registry.errors import Unavailable
from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, wait_until

WRITERS = 8


async def test_sigkill_under_write_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    database = str(tmp_path / "mesh.db")
    first = RegistryProcess("--port", "0", "--db", database).wait_ready()
    port = str(first.port)
    seen: list[int] = []
    acked: dict[str, int] = {}
    enough_acked = asyncio.Event()
    stop_watching = asyncio.Event()

    async def watcher() -> None:
        """Follows every agent; reconnects with the last revision it saw."""
        async with RegistryClient(first.url, timeout=2) as client:
            since: str | None = None
            while not stop_watching.is_set():
                try:
                    async for event in client.watch(since=since):
                        if event.object.kind == "Agent" and event.type.value != "BOOKMARK":
                            seen.append(event.revision)
                        if event.revision:
                            since = str(event.revision)
                except Unavailable:
                    await asyncio.sleep(0.05)  # the registry is down: try again

    async def writer(worker: int) -> None:
        async with httpx.AsyncClient(base_url=first.url, timeout=5) as api:
            for n in range(10_000):
                name = f"w{worker}-{n}"
                body = agent_body(name, ["x.y"], interval=3600)
                try:
                    response = await api.put(f"/api/v1/namespaces/default/agents/{name}", json=body)
                except httpx.TransportError:
                    return  # the registry died: this write was never acknowledged
                assert response.status_code == 201, response.text
                acked[name] = int(response.json()["metadata"]["resourceVersion"])
                if len(acked) >= 300:
                    enough_acked.set()

    watching = asyncio.create_task(watcher())
    writing = [asyncio.create_task(writer(w)) for w in range(WRITERS)]
    async with asyncio.timeout(30):
        await enough_acked.wait()
    first.process.send_signal(signal.SIGKILL)  # mid-storm
    await asyncio.gather(*writing)
    first.wait_exit()
    highest_acknowledged = max(acked.values())

    second = RegistryProcess("--port", port, "--db", database).wait_ready()
    try:
        async with httpx.AsyncClient(base_url=second.url) as api:
            final = int((await api.get("/readyz")).json()["revision"])
            assert final >= highest_acknowledged  # the revision never went backwards
            for name, revision in acked.items():
                response = await api.get(f"/api/v1/namespaces/default/agents/{name}")
                assert response.status_code == 200, f"acknowledged write of {name} was lost"
                assert int(response.json()["metadata"]["resourceVersion"]) == revision
        # The watcher resumes after the restart and catches up: ordered, once, no gaps.
        await asyncio.to_thread(wait_until, lambda: seen and seen[-1] >= final, 20)
        assert seen == list(range(1, final + 1))
    finally:
        stop_watching.set()
        watching.cancel()
        await asyncio.gather(watching, return_exceptions=True)
        second.kill()
