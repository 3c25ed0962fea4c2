"""From watched agents to ready-to-call providers: ranking, rotation, reuse, release, and
an optional dependency whose providers stopped answering."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest

from mesh_agent.mcp_http import ProviderUnreachable
from mesh_agent.provider_set import ProviderSet
from mesh_agent.providers import Provider
from mesh_registry.client import RegistryClient
from mesh_registry.model import Agent, DependencySpec
from tests.support.processes import eventually, free_port

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
async def registry_client() -> AsyncIterator[RegistryClient]:
    # Never reached: these sets are fed by update(), as their watch would feed them.
    async with RegistryClient("http://127.0.0.1:9") as client:
        yield client


MakeSet = Callable[..., ProviderSet]


@pytest.fixture
async def providers_of(registry_client: RegistryClient) -> AsyncIterator[MakeSet]:
    made: list[ProviderSet] = []

    def make(*dependencies: DependencySpec) -> ProviderSet:
        made.append(ProviderSet(registry_client, "default", dependencies))
        return made[-1]

    yield make
    for provider_set in made:
        await provider_set.aclose()


def order(providers: ProviderSet, dependency: DependencySpec) -> list[str]:
    found = providers.dependency(dependency)
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
    providers_of: MakeSet, dependency: DependencySpec, ranked: list[str]
) -> None:
    providers = providers_of(dependency)
    providers.update(POPULATION)
    assert [a.metadata.name for a in providers.providers(dependency)] == ranked
    if not ranked:
        assert providers.dependency(dependency) is None


async def test_the_providers_are_known_after_the_first_update(providers_of: MakeSet) -> None:
    providers = providers_of(GEO)
    assert not providers.known(GEO)
    assert not await providers.ready(GEO, within=0.01)
    providers.update([])
    assert providers.known(GEO)
    assert await providers.ready(GEO, within=0)
    assert providers.dependency(GEO) is None


async def test_calls_rotate_over_the_equally_best_and_fail_over_in_rank_order(
    providers_of: MakeSet,
) -> None:
    providers = providers_of(GEO)
    providers.update([agent("x1", "2.0.0"), agent("x2", "2.0.0"), agent("y", "1.0.0")])
    orders = [order(providers, GEO) for _ in range(4)]
    assert orders == [["x1", "x2", "y"], ["x2", "x1", "y"]] * 2
    assert Counter(o[0] for o in orders) == {"x1": 2, "x2": 2}


async def test_an_identical_update_keeps_the_same_providers(providers_of: MakeSet) -> None:
    providers = providers_of(GEO)
    first = agent("a")
    providers.update([first])
    before = providers.dependency(GEO)
    assert before is not None
    # The same agent, newer record (a phase written back, say): nothing to rebuild.
    providers.update([agent("a")])
    after = providers.dependency(GEO)
    assert after is not None
    assert after._providers[0] is before._providers[0]
    assert after._providers[0].channel is before._providers[0].channel
    assert providers.connections == 1


async def test_a_moved_provider_gets_a_new_connection_and_the_old_one_is_released(
    providers_of: MakeSet,
) -> None:
    providers = providers_of(GEO)
    providers.update([agent("a", endpoint="http://old:1/mcp")])
    old = providers.dependency(GEO)
    providers.update([agent("a", endpoint="http://new:1/mcp")])
    new = providers.dependency(GEO)
    assert old is not None
    assert new is not None
    assert new._providers[0].channel is not old._providers[0].channel
    assert new._providers[0].channel.endpoint == "http://new:1/mcp"
    await providers.prune()
    assert providers.connections == 1


async def test_a_new_generation_of_a_capability_is_a_new_provider(providers_of: MakeSet) -> None:
    providers = providers_of(GEO)
    providers.update([agent("a", "1.0.0")])
    before = providers.dependency(GEO)
    providers.update([agent("a", "1.1.0", generation=2)])
    after = providers.dependency(GEO)
    assert before is not None
    assert after is not None
    assert after._providers[0] is not before._providers[0]
    assert after._providers[0].capability.version == "1.1.0"
    # Same endpoint: the connection is shared.
    assert after._providers[0].channel is before._providers[0].channel


async def test_providers_are_resolved_in_the_agents_namespace_only(providers_of: MakeSet) -> None:
    elsewhere = Agent.model_validate(
        {**agent("z").model_dump(by_alias=True), "metadata": {"name": "z", "namespace": "other"}}
    )
    providers = providers_of(GEO)
    providers.update([elsewhere, agent("a")])
    assert [a.metadata.name for a in providers.providers(GEO)] == ["a"]


async def test_several_dependencies_on_one_capability_are_kept_apart(providers_of: MakeSet) -> None:
    providers = providers_of(GEO, FAST_GEO)
    assert providers.capabilities == {"geo.lookup"}
    providers.update([agent("a", "1.0.0", tags=("fast",)), agent("b", "2.0.0")])
    assert order(providers, GEO)[0] == "b"
    assert order(providers, FAST_GEO)[0] == "a"
    assert providers.connections == 2  # one connection per endpoint, shared by both dependencies


async def test_a_dependency_added_later_is_ranked_from_what_is_known(
    providers_of: MakeSet,
) -> None:
    providers = providers_of(GEO)
    providers.update(POPULATION)
    await providers.add(FAST_GEO)  # the same capability: nothing new to follow
    assert providers.known(FAST_GEO)
    assert order(providers, FAST_GEO) == ["c", "a", "b"]
    weather = DependencySpec(capability="weather")
    await providers.add(weather)
    assert not providers.known(weather)
    assert providers.known(GEO)  # what is known of the others stays in use


OPTIONAL_GEO = DependencySpec(capability="geo.lookup")
REQUIRED_GEO = DependencySpec(capability="geo.lookup", required=True)


async def test_an_optional_dependency_whose_providers_all_failed_is_none_until_one_is_back(
    providers_of: MakeSet,
) -> None:
    port = free_port()  # nothing listens there: the provider was killed
    providers = providers_of(OPTIONAL_GEO, REQUIRED_GEO)
    providers.update([agent("a", endpoint=f"http://127.0.0.1:{port}/mcp")])
    first = providers.dependency(OPTIONAL_GEO)
    assert first is not None
    with pytest.raises(ProviderUnreachable):
        await first(city="Paris")  # the first call after the death fails...
    assert providers.dependency(OPTIONAL_GEO) is None  # ...the next ones run the fallback
    required = providers.dependency(REQUIRED_GEO)
    assert required is not None  # a required one keeps its providers and fails clearly
    with pytest.raises(ProviderUnreachable, match=r"no provider of geo\.lookup could be reached"):
        await required(city="Paris")

    # Back at the same address: found by a background check once the suspicion ends.
    server = await asyncio.start_server(answer_405, "127.0.0.1", port)
    async with server:
        for provider in required._providers:
            provider.suspect_until = 0.0  # the suspicion ended (a heartbeat interval later)
        await eventually(lambda: found(providers, OPTIONAL_GEO), within=5)


async def test_a_provider_still_away_stays_failed_after_its_check(providers_of: MakeSet) -> None:
    providers = providers_of(OPTIONAL_GEO)
    providers.update([agent("a", endpoint=f"http://127.0.0.1:{free_port()}/mcp")])
    found = providers.dependency(OPTIONAL_GEO)
    assert found is not None
    with pytest.raises(ProviderUnreachable):
        await found()
    (provider,) = found._providers
    provider.suspect_until = 0.0
    assert providers.dependency(OPTIONAL_GEO) is None  # starts the check
    await eventually(lambda: suspected(provider), within=5)  # the check failed
    assert provider.failed
    assert providers.dependency(OPTIONAL_GEO) is None


async def answer_405(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An HTTP server that answers every request "405": a server that is up."""
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n")
    await writer.drain()
    writer.close()


async def found(providers: ProviderSet, dependency: DependencySpec) -> bool:
    return providers.dependency(dependency) is not None


async def suspected(provider: Provider) -> bool:
    return provider.suspect
