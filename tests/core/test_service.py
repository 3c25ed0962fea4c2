"""The registry service: writes with Kubernetes semantics, reads, pagination, errors."""

from __future__ import annotations

import asyncio
import sqlite3
from dataclasses import replace

import pytest

from mesh_registry.clock import ManualClock
from mesh_registry.config import RegistryConfig
from mesh_registry.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotFound,
    Unavailable,
)
from mesh_registry.model import Agent, EventType, Phase
from mesh_registry.query import EVERY_PHASE, AgentQuery
from mesh_registry.service import Registry
from mesh_registry.store import Retention
from tests.support.agents import agent_body
from tests.support.watching import EventLog, has


async def test_create_sets_the_server_fields(service: Registry, clock: ManualClock) -> None:
    agent = await service.create(agent_body("weather-1", ["weather.forecast"]))
    meta = agent.metadata
    assert (meta.namespace, meta.resource_version, meta.generation) == ("default", "1", 1)
    assert meta.uid
    assert len(meta.uid) == 36
    assert meta.creation_timestamp is not None
    assert meta.creation_timestamp.timestamp() == clock.now()
    assert agent.status.phase is Phase.PENDING
    assert agent.status.observed_generation == 1
    assert await service.get("default", "weather-1") == agent


async def test_client_values_for_server_fields_are_ignored(service: Registry) -> None:
    body = agent_body("a", ["x.y"])
    body["metadata"].update(uid="mine", generation=42, creationTimestamp="2000-01-01T00:00:00Z")
    agent = await service.create(body)
    assert agent.metadata.uid != "mine"
    assert agent.metadata.generation == 1
    assert agent.metadata.creation_timestamp.year > 2000  # type: ignore[union-attr]


async def test_create_twice_is_already_exists(service: Registry) -> None:
    await service.create(agent_body("a", ["x.y"]))
    with pytest.raises(AlreadyExists) as caught:
        await service.create(agent_body("a", ["x.y"]))
    assert caught.value.code == 409
    assert caught.value.to_status().reason == "AlreadyExists"
    # Same name, other namespace: another object.
    assert (await service.create(agent_body("a", ["x.y"], namespace="other"))).revision == 2


async def test_register_creates_or_replaces(service: Registry) -> None:
    registration = await service.register(agent_body("a", ["x.y"]))
    assert registration.created
    first = registration.agent
    assert first.metadata.generation == 1
    again = await service.register(agent_body("a", ["x.y"]))
    assert not again.created
    same = again.agent
    assert same.metadata.resource_version == first.metadata.resource_version  # nothing written
    assert service.revision == 1
    changed = (await service.register(agent_body("a", ["x.y", "z.w"]))).agent
    assert (changed.metadata.generation, changed.metadata.resource_version) == (2, "2")
    assert changed.metadata.uid == first.metadata.uid
    assert changed.metadata.creation_timestamp == first.metadata.creation_timestamp
    relabelled = (await service.register(agent_body("a", ["x.y", "z.w"], labels={"t": "1"}))).agent
    assert relabelled.metadata.generation == 3
    assert relabelled.status.observed_generation == 3


async def test_status_changes_do_not_bump_the_generation(service: Registry) -> None:
    await service.create(agent_body("a", ["x.y"]))
    await service.renew("default", "a")
    agent = await service.get("default", "a")
    assert (agent.metadata.generation, agent.metadata.resource_version) == (1, "2")


async def test_optimistic_concurrency(service: Registry) -> None:
    created = await service.create(agent_body("a", ["x.y"]))
    body = agent_body("a", ["x.y"], labels={"v": "1"})
    body["metadata"]["resourceVersion"] = created.metadata.resource_version
    updated = (await service.register(body)).agent
    assert updated.metadata.resource_version == "2"
    stale = agent_body("a", ["x.y"], labels={"v": "2"})
    stale["metadata"]["resourceVersion"] = created.metadata.resource_version
    with pytest.raises(Conflict) as caught:
        await service.register(stale)
    assert "the object has been modified" in caught.value.message
    assert (await service.get("default", "a")).metadata.labels == {"v": "1"}
    missing = agent_body("b", ["x.y"])
    missing["metadata"]["resourceVersion"] = "1"
    with pytest.raises(NotFound):
        await service.register(missing)


async def test_uid_precondition(service: Registry) -> None:
    created = await service.create(agent_body("a", ["x.y"]))
    body = agent_body("a", ["x.y"], labels={"v": "1"})
    body["metadata"]["uid"] = "not-the-uid"
    with pytest.raises(Conflict, match="uid"):
        await service.register(body)
    body["metadata"]["uid"] = created.metadata.uid
    assert (await service.register(body)).agent.metadata.labels == {"v": "1"}


async def test_path_namespace_and_name(service: Registry) -> None:
    created = await service.create(agent_body("a", ["x.y"]), namespace="prod")
    assert created.metadata.namespace == "prod"
    with pytest.raises(BadRequest, match="namespace"):
        await service.create(agent_body("b", ["x.y"], namespace="dev"), namespace="prod")
    with pytest.raises(BadRequest, match="name"):
        await service.register(agent_body("b", ["x.y"]), namespace="prod", name="c")


async def test_invalid_bodies_name_every_bad_field_and_write_nothing(service: Registry) -> None:
    body = agent_body("Bad_Name", ["x y"], labels={"k": "-v"})
    with pytest.raises(Invalid) as caught:
        await service.create(body)
    status = caught.value.to_status()
    assert (status.code, status.reason) == (422, "Invalid")
    assert status.details is not None
    fields = {cause.field for cause in status.details.causes}
    assert fields == {"metadata.name", "metadata.labels", "spec.capabilities[0].name"}
    assert 'Agent "Bad_Name" is invalid' in status.message
    assert service.revision == 0
    with pytest.raises(Invalid, match="unknown field"):
        await service.create({**agent_body("a", ["x.y"]), "bogus": 1})
    with pytest.raises(Invalid):
        await service.create([])  # type: ignore[arg-type]


async def test_unregister(service: Registry) -> None:
    created = await service.create(agent_body("a", ["x.y"]))
    with pytest.raises(Conflict):
        await service.unregister("default", "a", resource_version="99")
    with pytest.raises(Conflict):
        await service.unregister("default", "a", uid="other")
    deleted = await service.unregister(
        "default", "a", resource_version="1", uid=created.metadata.uid
    )
    assert deleted.metadata.resource_version == "2"  # the deletion's revision
    assert deleted.metadata.uid == created.metadata.uid
    with pytest.raises(NotFound):
        await service.get("default", "a")
    with pytest.raises(NotFound):
        await service.unregister("default", "a")
    with pytest.raises(NotFound):
        await service.renew("default", "a")


async def test_concurrent_registrations_of_one_name_converge(service: Registry) -> None:
    bodies = [agent_body("a", ["x.y"], labels={"n": str(i)}) for i in range(50)]
    results = [r.agent for r in await asyncio.gather(*(service.register(b) for b in bodies))]
    assert len({r.metadata.uid for r in results}) == 1
    final = await service.get("default", "a")
    assert final.metadata.labels in [b["metadata"]["labels"] for b in bodies]
    # Every acknowledged write is in the history, once, in order.
    assert service.revision == len({r.metadata.resource_version for r in results})


async def test_many_concurrent_registrations(service: Registry) -> None:
    log = EventLog(await service.watch())
    await log.wait_for(has(1, EventType.BOOKMARK))
    results = await asyncio.gather(
        *(service.create(agent_body(f"a{i}", ["x.y"])) for i in range(1000))
    )
    revisions = sorted(r.revision for r in results)
    assert revisions == list(range(1, 1001))
    await log.wait_for(has(1000))
    assert [e.revision for e in log.changes()] == list(range(1, 1001))
    assert service.stats().store.commits < 1000
    await log.close()


async def _populate(service: Registry) -> None:
    rows = [
        ("a1", "default", {"env": "prod"}, ["geo.lookup"]),
        ("a2", "default", {"env": "dev"}, ["geo.lookup", "weather.forecast"]),
        ("a3", "default", {}, ["weather.forecast"]),
        ("b1", "eu", {"env": "prod"}, ["geo.lookup"]),
        ("b2", "eu", {"env": "prod", "tier": "gold"}, []),
    ]
    for name, namespace, labels, capabilities in rows:
        await service.create(agent_body(name, capabilities, namespace=namespace, labels=labels))


def _names(agents: list[Agent]) -> list[str]:
    return [f"{a.metadata.namespace}/{a.metadata.name}" for a in agents]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({}, ["default/a1", "default/a2", "default/a3", "eu/b1", "eu/b2"]),
        ({"namespace": "eu"}, ["eu/b1", "eu/b2"]),
        ({"namespace": "none"}, []),
        ({"selector": "env=prod"}, ["default/a1", "eu/b1", "eu/b2"]),
        ({"selector": "env!=prod"}, ["default/a2", "default/a3"]),
        ({"selector": "!env"}, ["default/a3"]),
        ({"capabilities": ["weather.forecast"]}, ["default/a2", "default/a3"]),
        (
            {"capabilities": ["weather.forecast", "geo.lookup"]},
            ["default/a1", "default/a2", "default/a3", "eu/b1"],
        ),
        ({"capabilities": ["geo.lookup"], "namespace": "eu"}, ["eu/b1"]),
        ({"phases": ["pending"]}, ["default/a1", "default/a2", "default/a3", "eu/b1", "eu/b2"]),
        ({"phases": ["healthy"]}, []),
    ],
)
async def test_list_filters(service: Registry, arguments: dict, expected: list[str]) -> None:
    await _populate(service)
    result = await service.list_agents(AgentQuery(**arguments))
    assert _names(result.items) == expected
    assert result.metadata.resource_version == "5"
    assert result.metadata.continue_ is None


async def test_pages_reflect_the_first_pages_revision(service: Registry) -> None:
    for i in range(10):
        await service.create(agent_body(f"a{i}", ["x.y"], labels={"keep": "yes"}))
    first = await service.list_agents(AgentQuery(selector="keep=yes", limit=3))
    assert _names(first.items) == ["default/a0", "default/a1", "default/a2"]
    assert first.metadata.continue_ is not None
    # The world changes between pages...
    await service.unregister("default", "a4")
    await service.register(agent_body("a5", ["x.y"], labels={"keep": "no"}))
    await service.create(agent_body("a45", ["x.y"], labels={"keep": "yes"}))
    await service.register(agent_body("a6", ["x.y"], labels={"keep": "yes", "new": "1"}))
    # ...but every page shows the list as it was at the first page's revision.
    names = _names(first.items)
    token = first.metadata.continue_
    while token is not None:
        page = await service.list_agents(
            AgentQuery(selector="keep=yes", limit=3, continue_token=token)
        )
        assert page.metadata.resource_version == first.metadata.resource_version
        names += _names(page.items)
        token = page.metadata.continue_
        for agent in page.items:
            assert int(agent.metadata.resource_version or 0) <= 10
            assert "new" not in agent.metadata.labels
    assert names == [f"default/a{i}" for i in range(10)]
    # A fresh list sees the new state.
    fresh = await service.list_agents(AgentQuery(selector="keep=yes"))
    assert "default/a45" in _names(fresh.items)
    assert "default/a4" not in _names(fresh.items)


async def test_pagination_exact_sizes(service: Registry) -> None:
    for i in range(6):
        await service.create(agent_body(f"a{i}", ["x.y"]))
    page = await service.list_agents(AgentQuery(limit=6))
    assert len(page.items) == 6
    assert page.metadata.continue_ is None
    page = await service.list_agents(AgentQuery(limit=3))
    second = await service.list_agents(AgentQuery(limit=3, continue_token=page.metadata.continue_))
    assert len(second.items) == 3
    assert second.metadata.continue_ is None


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 10_001}, "limit"),
        ({"continue_token": "garbage!"}, "continue"),
        ({"continue_token": "eyJydiI6IDF9"}, "continue"),  # valid base64 JSON, wrong shape
        ({"selector": "a in ("}, "labelSelector"),
        ({"capabilities": ["bad name"]}, "capability"),
        ({"phases": ["asleep"]}, "phase"),
        ({"namespace": "Bad"}, "namespace"),
    ],
)
async def test_bad_list_queries(service: Registry, arguments: dict, words: str) -> None:
    await service.create(agent_body("a", ["x.y"]))
    with pytest.raises(BadRequest, match=words):
        await service.list_agents(AgentQuery(**arguments))


async def test_continue_token_from_the_future_is_gone(service: Registry) -> None:
    # A token of a revision the registry never reached (its data was restored from an older
    # copy, say): as for a compacted one, the client must start the list again.
    await service.create(agent_body("a", ["x.y"]))
    with pytest.raises(Gone, match="future"):
        await service.list_agents(
            AgentQuery(continue_token="eyJydiI6IDk5OSwgIm5zIjogImEiLCAibmFtZSI6ICJiIn0")
        )


async def test_continue_token_past_the_history_is_gone(
    config: RegistryConfig, clock: ManualClock
) -> None:
    async with Registry(replace(config, retention=Retention(max_events=2)), clock=clock) as service:
        for i in range(4):
            await service.create(agent_body(f"a{i}", ["x.y"]))
        page = await service.list_agents(AgentQuery(limit=1))
        for i in range(4, 8):
            await service.create(agent_body(f"a{i}", ["x.y"]))
        await service._store.compact()
        with pytest.raises(Gone, match="start the list again"):
            await service.list_agents(AgentQuery(limit=1, continue_token=page.metadata.continue_))


@pytest.mark.parametrize("since", ["abc", "-1", "1.5", "99999999999999999999", " 1"])
async def test_bad_resume_revisions(service: Registry, since: str) -> None:
    with pytest.raises(BadRequest, match="resourceVersion"):
        await service.watch(since=since)


async def test_discovery_ranks_healthy_providers(service: Registry) -> None:
    await service.create(agent_body("slow", ["geo.lookup"], version="2.0.0"))
    await service.create(agent_body("fast", ["geo.lookup"], version="1.0.0", tags=["fast"]))
    await service.create(agent_body("old", ["geo.lookup"], version="0.9.0"))
    await service.create(agent_body("sick", ["geo.lookup"], version="9.0.0"))
    for name in ("slow", "fast", "old"):
        await service.renew("default", name)
    assert _names(await service.discover(AgentQuery(capabilities=("geo.lookup",)))) == [
        "default/slow",
        "default/fast",
        "default/old",
    ]
    assert (
        _names(await service.discover(AgentQuery(capabilities=("geo.lookup",), tags=("+fast",))))[0]
        == "default/fast"
    )
    assert _names(
        await service.discover(
            AgentQuery(capabilities=("geo.lookup",), version="^1 || ^2", limit=1)
        )
    ) == ["default/slow"]
    assert (
        _names(
            await service.discover(AgentQuery(capabilities=("geo.lookup",), phases=EVERY_PHASE))
        )[0]
        == "default/sick"
    )
    with pytest.raises(BadRequest):
        await service.discover(AgentQuery(capabilities=("geo.lookup",), limit=0))


async def test_discovery_with_exact_labels(service: Registry) -> None:
    await service.create(
        agent_body("pg", ["db.query"], labels={"type": "database"}, namespace="production")
    )
    await service.create(
        agent_body("redis", ["db.query"], labels={"type": "cache"}, namespace="production")
    )
    await service.create(agent_body("dev-pg", ["db.query"], labels={"type": "database"}))
    found = await service.discover(
        AgentQuery(labels={"type": "database"}, namespace="production", phases=EVERY_PHASE)
    )
    assert _names(found) == ["production/pg"]
    both = await service.discover(
        AgentQuery(
            capabilities=("db.query",),
            labels={"type": "database"},
            selector="!tier",
            phases=EVERY_PHASE,
        )
    )
    assert _names(both) == ["default/dev-pg", "production/pg"]
    with pytest.raises(BadRequest, match="labels"):
        await service.discover(AgentQuery(labels={"bad key": "x"}))


async def test_discovery_needs_every_capability(service: Registry) -> None:
    await service.create(agent_body("both", ["a.b", "c.d"]))
    await service.create(agent_body("one", ["a.b"]))
    assert _names(
        await service.discover(AgentQuery(capabilities=("a.b", "c.d"), phases=EVERY_PHASE))
    ) == ["default/both"]
    assert _names(
        await service.discover(AgentQuery(capabilities=("a.b",), phases=EVERY_PHASE))
    ) == [
        "default/both",
        "default/one",
    ]


async def test_a_store_damaged_while_serving_makes_the_registry_not_ready(
    service: Registry, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    await service.create(agent_body("a", ["x.y"]))
    assert service.ready

    async def malformed(*args: object) -> None:
        error = sqlite3.DatabaseError("database disk image is malformed")
        error.sqlite_errorcode = sqlite3.SQLITE_CORRUPT  # type: ignore[attr-defined]
        raise error

    monkeypatch.setattr("mesh_registry.store.sqlite._persist", malformed)
    with pytest.raises(Unavailable, match="malformed"):
        await service.create(agent_body("b", ["x.y"]))
    assert not service.ready
    assert "is damaged" in (service.stats().damaged or "")
    assert any("no longer ready" in record.message for record in caplog.records)


async def test_an_ordinary_storage_failure_leaves_the_registry_ready(
    service: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def full(*args: object) -> None:
        error = sqlite3.OperationalError("database or disk is full")
        error.sqlite_errorcode = sqlite3.SQLITE_FULL  # type: ignore[attr-defined]
        raise error

    monkeypatch.setattr("mesh_registry.store.sqlite._persist", full)
    with pytest.raises(Unavailable, match="full"):
        await service.create(agent_body("b", ["x.y"]))
    assert service.ready
