"""The cache's indexes only narrow: every query answers exactly what a full scan answers."""

from __future__ import annotations

import asyncio
import functools
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh_registry import cache as cache_module
from mesh_registry.config import RegistryConfig
from mesh_registry.discovery import Match, Query
from mesh_registry.postings import Postings
from mesh_registry.service import Registry
from tests.support.agents import agent_body

CAPABILITIES = ["a.x", "b.y", "c.z"]
LABELS = {"env": ["prod", "dev", ""], "tier": ["gold", "silver"], "zone": ["1", "2"]}
SELECTORS = [
    "",
    "env=prod",
    "env==dev",
    "env=",
    "tier in (gold,silver)",
    "tier in (gold),env!=prod",
    "env notin (prod)",
    "zone,!tier",
    "env=prod,tier=gold,zone=1",
    "zone>1",
    "env in (prod,dev),zone in (2)",
]


def random_labels(rng: random.Random) -> dict[str, str]:
    return {k: rng.choice(v) for k, v in LABELS.items() if rng.random() < 0.7}


async def churn(registry: Registry, rng: random.Random, operations: int) -> None:
    """Register, re-register (other labels and capabilities) and remove agents at random."""
    names = [f"n{i}" for i in range(25)]
    for _ in range(operations):
        name = rng.choice(names)
        capabilities = rng.sample(CAPABILITIES, rng.randint(0, 2))
        if rng.random() < 0.2:
            try:
                await registry.unregister("default", name)
            except Exception:  # not registered: nothing to remove
                pass
        else:
            body = agent_body(name, capabilities, labels=random_labels(rng))
            await registry.register(body)


async def check(seed: int, operations: int) -> None:
    rng = random.Random(seed)
    async with Registry(RegistryConfig(database=":memory:")) as registry:
        await churn(registry, rng, operations)
        everyone = list(registry._cache.objects())
        for selector in SELECTORS:
            for capabilities in ([], ["a.x"], ["a.x", "b.y"]):
                for match in (Match.ANY, Match.ALL):
                    query = Query.build(capabilities=capabilities, match=match, selector=selector)
                    expected = sorted(a.key for a in everyone if query.matches(a))
                    assert [a.key for a in registry._cache.select(query)] == expected
                    # Discovery's way: the candidates in any order, tested for what the
                    # indexes left, rank exactly as every object tested in full does.
                    found = registry._cache.candidates(query, in_key_order=False)
                    ranked = found.rest.rank(found.objects)
                    assert [a.key for a in ranked] == [a.key for a in query.rank(everyone)]


# The index reads bitmaps for entries many objects hold: with these thresholds, the small
# registries here have them for most entries, and gain and lose them as agents change.
BITMAPS = functools.partial(Postings, dense_min=2, dense_share=4)
# The fixture below holds for all of a test's examples, as it should.
examples = functools.partial(
    settings,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.fixture(params=["sets", "bitmaps"])
def index(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "bitmaps":
        monkeypatch.setattr(cache_module, "Postings", BITMAPS)
    return str(request.param)


@examples(max_examples=15)
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_indexed_queries_equal_full_scans(index: str, seed: int) -> None:
    asyncio.run(check(seed, operations=120))


async def check_pages(seed: int) -> None:
    """Every list, page by page, is the matching objects as they were at its first page, while
    agents change between its pages."""
    rng = random.Random(seed)
    async with Registry(RegistryConfig(database=":memory:")) as registry:
        await churn(registry, rng, 60)
        cache = registry._cache
        for selector in SELECTORS:
            for capabilities, namespace in CAPABILITIES_AND_NAMESPACES:
                query = Query.build(
                    capabilities=capabilities,
                    match=Match.ANY,
                    selector=selector,
                    namespace=namespace,
                )
                for limit in (1, 3, None):
                    expected = sorted(a.key for a in cache.objects() if query.matches(a))
                    page = await cache.page(query, limit, None)
                    listed = [a.key for a in page.items]
                    while page.continue_token is not None:
                        await churn(registry, rng, 3)
                        page = await cache.page(query, limit, page.continue_token)
                        listed += [a.key for a in page.items]
                    assert listed == expected, (selector, capabilities, namespace, limit)


# The agents live in "default": a namespace keeps them all, or none.
CAPABILITIES_AND_NAMESPACES = [
    ([], None),
    (["a.x"], None),
    (["a.x", "b.y"], None),
    (["a.x"], "default"),
    ([], "other"),
]


# A page is served from the indexes or by a scan in key order, by their estimated costs:
# both ways must give the same pages.
@pytest.mark.parametrize("scan_cost", [0, 10**9], ids=["scan", "indexes"])
@examples(max_examples=5)  # x 4 variants
@given(seed=st.integers(min_value=0, max_value=10**6))
def test_pages_from_indexes_equal_pages_from_scans(
    index: str, scan_cost: int, seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache_module, "_SCAN_COST", scan_cost)
    asyncio.run(check_pages(seed))
