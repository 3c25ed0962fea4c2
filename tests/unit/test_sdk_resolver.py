"""From watched agents to ready-to-call providers: ranking, rotation, reuse, release."""

from __future__ import annotations

import itertools
from collections import Counter
from typing import Any

import pytest

from mesh_agent.providers import ChannelPool
from mesh_agent.resolver import Resolver
from mesh_registry.model import Agent, DependencySpec

GEO = DependencySpec(capability="geo.lookup")
FAST_GEO = DependencySpec(capability="geo.lookup", tags=("+fast",))
PROD_GEO_V1 = DependencySpec(capability="geo.lookup", selector="env=prod", version="^1")
_uids = itertools.count(1)


def agent(
    name: str,
    version: str = "1.0.0",
    *,
    tags: tuple[str, ...] = (),
    labels: dict[str, str] | None = None,
    phase: str = "healthy",
    endpoint: str | None = None,
    uid: str | None = None,
    generation: int = 1,
) -> Agent:
    return Agent.model_validate(
        {
            "metadata": {
                "name": name,
                "namespace": "default",
                "labels": labels or {"env": "prod"},
                "uid": uid or f"uid-{name}",
                "generation": generation,
                "resourceVersion": str(next(_uids)),
            },
            "spec": {
                "endpoint": endpoint or f"http://{name}:80/mcp",
                "capabilities": [
                    {"name": "geo.lookup", "tool": "lookup", "version": version, "tags": list(tags)}
                ],
            },
            "status": {"phase": phase},
        }
    )


@pytest.fixture
async def pool() -> Any:
    channels = ChannelPool()
    yield channels
    await channels.aclose()


def order(resolver: Resolver, dependency: DependencySpec) -> list[str]:
    found = resolver.dependency(dependency)
    assert found is not None
    return [provider.agent.metadata.name for provider in found._providers]


POPULATION = [
    agent("a", "1.2.0", tags=("fast",)),
    agent("b", "1.9.0"),
    agent("c", "2.0.0", tags=("fast",), labels={"env": "dev"}),
    agent("d", "1.5.0", tags=("fast",), phase="unhealthy"),
]


@pytest.mark.parametrize(
    ("dependency", "ranked"),
    [
        # Highest version first; unhealthy agents are never offered.
        (GEO, ["c", "b", "a"]),
        # A preferred tag outranks a higher version.
        (FAST_GEO, ["c", "a", "b"]),
        (PROD_GEO_V1, ["b", "a"]),
        (DependencySpec(capability="geo.lookup", tags=("-fast",)), ["b"]),
        (DependencySpec(capability="geo.lookup", selector="env=staging"), []),
        (DependencySpec(capability="weather"), []),
    ],
)
async def test_providers_are_ranked_as_the_registry_ranks(
    pool: ChannelPool, dependency: DependencySpec, ranked: list[str]
) -> None:
    resolver = Resolver([dependency], "default", pool)
    resolver.update(POPULATION)
    assert [a.metadata.name for a in resolver.providers(dependency)] == ranked
    if not ranked:
        assert resolver.dependency(dependency) is None


async def test_the_resolver_is_synced_after_its_first_update(pool: ChannelPool) -> None:
    resolver = Resolver([GEO], "default", pool)
    assert not resolver.synced.is_set()
    resolver.update([])
    assert resolver.synced.is_set()
    assert resolver.dependency(GEO) is None


async def test_calls_rotate_over_the_equally_best_and_fail_over_in_rank_order(
    pool: ChannelPool,
) -> None:
    resolver = Resolver([GEO], "default", pool)
    resolver.update([agent("x1", "2.0.0"), agent("x2", "2.0.0"), agent("y", "1.0.0")])
    orders = [order(resolver, GEO) for _ in range(4)]
    assert orders == [["x1", "x2", "y"], ["x2", "x1", "y"]] * 2
    assert Counter(o[0] for o in orders) == {"x1": 2, "x2": 2}


async def test_an_identical_update_keeps_the_same_providers(pool: ChannelPool) -> None:
    resolver = Resolver([GEO], "default", pool)
    first = agent("a")
    resolver.update([first])
    before = resolver.dependency(GEO)
    assert before is not None
    # The same agent, newer record (a phase written back, say): nothing to rebuild.
    resolver.update([agent("a")])
    after = resolver.dependency(GEO)
    assert after is not None
    assert after._providers[0] is before._providers[0]
    assert after._providers[0].channel is before._providers[0].channel
    assert len(pool) == 1


async def test_a_moved_provider_gets_a_new_connection_and_the_old_one_is_released(
    pool: ChannelPool,
) -> None:
    resolver = Resolver([GEO], "default", pool)
    resolver.update([agent("a", endpoint="http://old:1/mcp")])
    old = resolver.dependency(GEO)
    resolver.update([agent("a", endpoint="http://new:1/mcp")])
    new = resolver.dependency(GEO)
    assert old is not None
    assert new is not None
    assert new._providers[0].channel is not old._providers[0].channel
    assert new._providers[0].channel.endpoint == "http://new:1/mcp"
    assert resolver.endpoints() == {"http://new:1/mcp"}
    await pool.keep_only(resolver.endpoints())
    assert len(pool) == 1


async def test_a_new_generation_of_a_capability_is_a_new_provider(pool: ChannelPool) -> None:
    resolver = Resolver([GEO], "default", pool)
    resolver.update([agent("a", "1.0.0")])
    before = resolver.dependency(GEO)
    resolver.update([agent("a", "1.1.0", generation=2)])
    after = resolver.dependency(GEO)
    assert before is not None
    assert after is not None
    assert after._providers[0] is not before._providers[0]
    assert after._providers[0].capability.version == "1.1.0"
    # Same endpoint: the connection is shared.
    assert after._providers[0].channel is before._providers[0].channel


async def test_providers_are_resolved_in_the_agents_namespace_only(pool: ChannelPool) -> None:
    elsewhere = Agent.model_validate(
        {**agent("z").model_dump(by_alias=True), "metadata": {"name": "z", "namespace": "other"}}
    )
    resolver = Resolver([GEO], "default", pool)
    resolver.update([elsewhere, agent("a")])
    assert [a.metadata.name for a in resolver.providers(GEO)] == ["a"]


async def test_several_dependencies_on_one_capability_are_kept_apart(pool: ChannelPool) -> None:
    resolver = Resolver([GEO, FAST_GEO], "default", pool)
    assert resolver.capabilities == {"geo.lookup"}
    resolver.update([agent("a", "1.0.0", tags=("fast",)), agent("b", "2.0.0")])
    assert order(resolver, GEO)[0] == "b"
    assert order(resolver, FAST_GEO)[0] == "a"
    assert len(pool) == 2  # one connection per endpoint, shared by both dependencies
