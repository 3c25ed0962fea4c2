"""Health over time, driven by a manual clock: exact deadlines, grace, self-preservation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mesh_registry.clock import ManualClock
from mesh_registry.config import RegistryConfig
from mesh_registry.errors import NotFound
from mesh_registry.model import Agent, EventType, Phase
from mesh_registry.service import Registry
from tests.support.agents import agent_body
from tests.support.core import START, with_health
from tests.support.watching import EventLog, has

MODIFIED, DELETED = EventType.MODIFIED, EventType.DELETED


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def agents(log: EventLog) -> list[Agent]:
    """The objects of the change events, without the fence agents."""
    found = []
    for event in log.changes():
        agent = event.object
        assert isinstance(agent, Agent)
        if not agent.metadata.name.startswith("fence"):
            found.append(agent)
    return found


def phases(log: EventLog) -> list[tuple[str, str, str | None]]:
    rows = []
    for event in log.changes():
        agent = event.object
        assert isinstance(agent, Agent)
        if agent.metadata.name.startswith("fence"):
            continue
        rows.append((event.type.value, agent.metadata.name, agent.status.phase.value))
    return rows


async def wait_agents(log: EventLog, count: int) -> list[Agent]:
    """Wait until ``count`` change events about non-fence agents have arrived."""
    await log.wait_for(lambda _: len(agents(log)) >= count)
    return agents(log)


async def fence(service: Registry, log: EventLog, name: str = "fence") -> None:
    """Make a write and wait for its event: every event before it has arrived by then."""
    await service.create(agent_body(name, ["fence.marker"], interval=3600))
    await log.wait_for(
        lambda events: any(
            e.object.metadata.name == name for e in events if isinstance(e.object, Agent)
        )
    )


@pytest.fixture
async def log(service: Registry) -> AsyncIterator[EventLog]:
    log = EventLog(await service.watch())
    await log.wait_for(has(1, EventType.BOOKMARK))
    yield log
    await log.close()


async def test_transitions_happen_exactly_at_their_deadlines(
    service: Registry, clock: ManualClock, log: EventLog
) -> None:
    await service.create(agent_body("a", ["x.y"], interval=2.0))
    clock.advance(1.0)
    beat = clock.now()
    assert (await service.renew("default", "a")).phase is Phase.HEALTHY

    clock.advance(5.0 - 0.001)  # just before 2.5 intervals
    await fence(service, log, "fence-1")
    assert phases(log) == [("ADDED", "a", "pending"), ("MODIFIED", "a", "healthy")]

    clock.advance(0.001)
    await wait_agents(log, 3)
    unhealthy = agents(log)[2]
    assert unhealthy.status.phase is Phase.UNHEALTHY
    assert unhealthy.status.phase_since == at(beat + 5.0)

    clock.advance(5.0)  # 5 intervals after the heartbeat
    await wait_agents(log, 4)
    offline = agents(log)[3]
    assert isinstance(offline, Agent)
    assert (offline.status.phase, offline.status.phase_since) == (Phase.OFFLINE, at(beat + 10.0))

    clock.advance(30.0 - 0.001)  # delete_after is 30 s in these tests
    await fence(service, log, "fence-2")
    assert len(phases(log)) == 4
    clock.advance(0.001)
    await log.wait_for(lambda _: len(phases(log)) == 5)
    assert phases(log)[4] == ("DELETED", "a", "offline")
    with pytest.raises(NotFound):
        await service.renew("default", "a")


async def test_a_heartbeat_that_changes_nothing_writes_nothing(
    service: Registry, clock: ManualClock, log: EventLog
) -> None:
    await service.create(agent_body("a", ["x.y"]))
    first = await service.renew("default", "a")
    commits = service.stats().store.commits
    for _ in range(10):
        clock.advance(0.5)
        again = await service.renew("default", "a")
        assert again == first
    assert service.stats().store.commits == commits
    await fence(service, log)
    assert phases(log) == [("ADDED", "a", "pending"), ("MODIFIED", "a", "healthy")]


async def test_last_heartbeat_time_is_live_but_not_versioned(
    service: Registry, clock: ManualClock
) -> None:
    await service.create(agent_body("a", ["x.y"]))
    await service.renew("default", "a")
    before = await service.get("default", "a")
    clock.advance(0.7)
    await service.renew("default", "a")
    after = await service.get("default", "a")
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.status.last_heartbeat_time == at(clock.now())
    assert before.status.last_heartbeat_time == at(clock.now() - 0.7)


async def test_a_heartbeat_revives_unhealthy_and_offline_agents(
    service: Registry, clock: ManualClock, log: EventLog
) -> None:
    await service.create(agent_body("a", ["x.y"]))
    await service.renew("default", "a")
    clock.advance(2.5)
    await log.wait_for(has(3))
    assert (await service.renew("default", "a")).phase is Phase.HEALTHY
    clock.advance(5.0)
    await log.wait_for(has(6))
    response = await service.renew("default", "a")
    assert response.phase is Phase.HEALTHY
    assert str(response.revision) == (await service.get("default", "a")).metadata.resource_version
    await log.wait_for(has(7))
    assert [p for _, _, p in phases(log)] == [
        "pending",
        "healthy",
        "unhealthy",
        "healthy",
        "unhealthy",
        "offline",
        "healthy",
    ]


async def test_an_agent_that_never_heartbeats_ages_from_its_registration(
    service: Registry, clock: ManualClock, log: EventLog
) -> None:
    clock.advance(10.0)  # well past the startup grace
    created = clock.now()
    await service.create(agent_body("a", ["x.y"], interval=1.0))
    clock.advance(2.5)
    await log.wait_for(has(2))
    agent = agents(log)[1]
    assert isinstance(agent, Agent)
    assert (agent.status.phase, agent.status.phase_since) == (Phase.UNHEALTHY, at(created + 2.5))


async def test_a_shorter_interval_moves_the_deadline_forward(
    service: Registry, clock: ManualClock, log: EventLog
) -> None:
    clock.advance(100.0)
    await service.create(agent_body("a", ["x.y"], interval=10.0))
    await service.renew("default", "a")
    beat = clock.now()
    await service.register(agent_body("a", ["x.y"], interval=1.0))
    clock.advance(2.5)
    await log.wait_for(
        lambda events: any(
            isinstance(e.object, Agent) and e.object.status.phase is Phase.UNHEALTHY for e in events
        )
    )
    unhealthy = agents(log)[-1]
    assert isinstance(unhealthy, Agent)
    assert unhealthy.status.phase_since == at(beat + 2.5)


async def test_status_is_written_by_the_registry_only(service: Registry) -> None:
    body = agent_body("a", ["x.y"])
    body["status"] = {"phase": "healthy"}
    created = await service.create(body)
    assert created.status.phase is Phase.PENDING
    await service.renew("default", "a")
    replaced = (
        await service.register({**agent_body("a", ["x.y", "z.w"]), "status": {"phase": "offline"}})
    ).agent
    assert replaced.status.phase is Phase.HEALTHY
    assert replaced.status.observed_generation == replaced.metadata.generation == 2


async def test_startup_grace_gives_every_agent_a_full_window(
    tmp_path: Path, config: RegistryConfig, clock: ManualClock
) -> None:
    config = replace(config, database=str(tmp_path / "mesh.db"))
    async with Registry(config, clock=clock) as first:
        await first.create(agent_body("a", ["x.y"], interval=1.0))
        await first.create(agent_body("b", ["x.y"], interval=4.0))
        await first.renew("default", "a")
        beat = clock.now()
        await first.renew("default", "b")
    clock.advance(60.0)  # the registry was away for a minute; the agents were not
    restarted_at = clock.now()
    async with Registry(config, clock=clock) as second:
        log = EventLog(await second.watch(since=second.revision))
        # The checkpointed heartbeat time survived the restart.
        assert (await second.get("default", "a")).status.last_heartbeat_time == at(beat)
        clock.advance(2.5 - 0.001)
        await fence(second, log)
        assert phases(log) == []
        clock.advance(0.001)
        agent = (await wait_agents(log, 1))[0]
        assert isinstance(agent, Agent)
        assert agent.metadata.name == "a"
        assert agent.status.phase_since == at(restarted_at + 2.5)
        # An agent that heartbeats within its window never goes unhealthy.
        await second.renew("default", "b")
        clock.advance(9.0)
        assert (await second.get("default", "b")).status.phase is Phase.HEALTHY
        await log.close()


async def test_without_startup_grace_overdue_agents_turn_at_once(
    tmp_path: Path, config: RegistryConfig, clock: ManualClock
) -> None:
    config = replace(with_health(config, startup_grace=False), database=str(tmp_path / "mesh.db"))
    async with Registry(config, clock=clock) as first:
        await first.create(agent_body("a", ["x.y"], interval=1.0))
        await first.renew("default", "a")
        beat = clock.now()
    clock.advance(3.0)
    async with Registry(config, clock=clock) as second:
        log = EventLog(await second.watch(since=second.revision))
        clock.advance(0)  # the deadline passed while the registry was away: due at once
        await log.wait_for(has(1))
        agent = agents(log)[0]
        assert isinstance(agent, Agent)
        assert (agent.status.phase, agent.status.phase_since) == (Phase.UNHEALTHY, at(beat + 2.5))
        await log.close()


async def test_a_heartbeat_storm_commits_nothing(service: Registry, clock: ManualClock) -> None:
    names = [f"a{i}" for i in range(100)]
    await asyncio.gather(*(service.create(agent_body(n, ["x.y"])) for n in names))
    await asyncio.gather(*(service.renew("default", n) for n in names))  # pending → healthy
    before = service.stats()
    for _ in range(50):
        clock.advance(0.1)
        await asyncio.gather(*(service.renew("default", n) for n in names))
    after = service.stats()
    assert after.heartbeats - before.heartbeats == 5000
    assert after.store.commits == before.store.commits
    assert after.revision == before.revision
    # Lease times reach the disk only in checkpoints: one for the whole storm.
    await service.checkpoint_leases()
    assert service.stats().store.lease_checkpoints == before.store.lease_checkpoints + 1


class TestSelfPreservation:
    @pytest.fixture
    def config(self, config: RegistryConfig) -> RegistryConfig:
        return with_health(config, self_preservation_min_agents=10, delete_after=5.0)

    async def test_mass_expiry_holds_offline_and_deletion_until_recovery(
        self, service: Registry, clock: ManualClock
    ) -> None:
        names = [f"a{i:02}" for i in range(20)]
        for name in names:
            await service.create(agent_body(name, ["x.y"], interval=1.0))
        dead, alive = names[:12], names[12:]  # 60% stop heartbeating at once

        async def beat(group: list[str]) -> None:
            await asyncio.gather(*(service.renew("default", n) for n in group))

        await beat(names)
        for _ in range(40):  # 20 s: far past the offline and deletion deadlines
            clock.advance(0.5)
            await beat(alive)
            await asyncio.sleep(0)
        await _settled(service)
        assert service.self_preservation
        assert service.stats().agents == 20  # nothing deleted
        assert {(await service.get("default", n)).status.phase for n in dead} == {Phase.UNHEALTHY}
        assert {(await service.get("default", n)).status.phase for n in alive} == {Phase.HEALTHY}

        # Heartbeats come back: self-preservation releases, and nobody was lost.
        await beat(dead)
        await _settled(service)
        assert not service.self_preservation
        assert {(await service.get("default", n)).status.phase for n in names} == {Phase.HEALTHY}

    async def test_release_lets_held_agents_go_offline(
        self, service: Registry, clock: ManualClock
    ) -> None:
        names = [f"a{i:02}" for i in range(20)]
        for name in names:
            await service.create(agent_body(name, ["x.y"], interval=1.0))
        dead, returning, alive = names[:9], names[9:12], names[12:]
        await asyncio.gather(*(service.renew("default", n) for n in names))
        for _ in range(20):
            clock.advance(0.5)
            await asyncio.gather(*(service.renew("default", n) for n in alive))
            await asyncio.sleep(0)
        await _settled(service)
        assert service.self_preservation  # 12 of 20 overdue
        released_at = clock.now()
        await asyncio.gather(*(service.renew("default", n) for n in returning))
        await _settled(service)
        assert not service.self_preservation  # 9 of 20
        held = await service.get("default", dead[0])
        assert (held.status.phase, held.status.phase_since) == (Phase.OFFLINE, at(released_at))
        for _ in range(10):  # the deletion deadline passes while the others keep beating
            clock.advance(0.5)
            await asyncio.gather(*(service.renew("default", n) for n in alive + returning))
            await asyncio.sleep(0)
        await _settled(service)
        assert not service.self_preservation
        assert service.stats().agents == 11  # the 9 that never came back are gone

    async def test_normal_churn_does_not_engage_it(
        self, service: Registry, clock: ManualClock
    ) -> None:
        names = [f"a{i:02}" for i in range(20)]
        for name in names:
            await service.create(agent_body(name, ["x.y"], interval=1.0))
        await asyncio.gather(*(service.renew("default", n) for n in names))
        for _ in range(30):
            clock.advance(0.5)
            await asyncio.gather(*(service.renew("default", n) for n in names[3:]))
            await asyncio.sleep(0)
        await _settled(service)
        assert not service.self_preservation
        assert service.stats().agents == 17

    async def test_small_registries_never_engage_it(
        self, service: Registry, clock: ManualClock
    ) -> None:
        for name in ("a", "b", "c"):
            await service.create(agent_body(name, ["x.y"], interval=1.0))
            await service.renew("default", name)
        clock.advance(20.0)
        await _settled(service)
        assert not service.self_preservation
        assert service.stats().agents == 0


async def _settled(service: Registry) -> None:
    """Wait until the status writes that deadlines triggered have all committed."""
    async with asyncio.timeout(5):
        await service.status_written()


def test_start_constant_is_the_clock_start() -> None:
    assert ManualClock(start=START).now() == START


async def test_agents_that_never_heartbeat_do_not_engage_self_preservation(
    config: RegistryConfig, clock: ManualClock
) -> None:
    config = with_health(config, self_preservation_min_agents=3)
    async with Registry(config, clock=clock) as service:
        await service.create(agent_body("alive", ["x.y"], interval=1.0))
        for i in range(5):
            await service.create(agent_body(f"silent{i}", ["x.y"], interval=1.0))
        for _ in range(10):
            clock.advance(0.5)
            await service.renew("default", "alive")
        await _settled(service)
        assert not service.self_preservation
        assert (await service.get("default", "silent0")).status.phase is Phase.OFFLINE
