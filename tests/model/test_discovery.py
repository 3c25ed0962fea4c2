"""Queries and ranking (docs/design.md, "Discovery"), table-driven over a fixed population of
agents."""

from __future__ import annotations

import pytest

from mesh_registry.discovery import Match, Query, QueryError, TagFilter
from mesh_registry.model import Agent, DependencySpec, Phase

POPULATION = [
    # name, namespace, phase, labels, capabilities as (name, version, tags)
    (
        "geo-a",
        "default",
        "healthy",
        {"env": "prod", "tier": "gold"},
        [("geo.lookup", "1.4.0", ["fast"])],
    ),
    (
        "geo-b",
        "default",
        "healthy",
        {"env": "prod", "tier": "silver"},
        [("geo.lookup", "1.9.0", [])],
    ),
    ("geo-c", "default", "healthy", {"env": "dev"}, [("geo.lookup", "2.1.0", ["fast", "gpu"])]),
    ("geo-d", "default", "unhealthy", {"env": "prod"}, [("geo.lookup", "1.5.0", ["fast"])]),
    ("geo-e", "eu", "healthy", {"env": "prod"}, [("geo.lookup", "1.4.0", ["fast", "deprecated"])]),
    (
        "multi",
        "default",
        "healthy",
        {"env": "prod"},
        [("geo.lookup", "1.2.0", ["fast"]), ("weather.forecast", "3.0.0", [])],
    ),
    ("wx", "default", "pending", {}, [("weather.forecast", "1.0.0", ["fast"])]),
    ("plain", "default", "healthy", {"env": "prod"}, []),
]


def _agent(name, namespace, phase, labels, capabilities) -> Agent:
    return Agent.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {
                "endpoint": f"http://10.0.0.1/{name}",
                "capabilities": [{"name": c, "version": v, "tags": t} for c, v, t in capabilities],
            },
            "status": {"phase": phase},
        }
    )


AGENTS = [_agent(*row) for row in POPULATION]


def names(agents: list[Agent]) -> list[str]:
    return [a.metadata.name for a in agents]


# (query arguments, names ranked best first)
RANKED = [
    # default ordering: score 0 for all, then highest version, then name
    (
        {"capabilities": ["geo.lookup"], "match": Match.ALL, "phases": ["healthy"]},
        ["geo-c", "geo-b", "geo-a", "geo-e", "multi"],
    ),
    # preferred tags lift providers above higher versions
    (
        {
            "capabilities": ["geo.lookup"],
            "match": Match.ALL,
            "phases": ["healthy"],
            "tags": ["+fast"],
        },
        ["geo-c", "geo-a", "geo-e", "multi", "geo-b"],
    ),
    (
        {"capabilities": ["geo.lookup"], "phases": ["healthy"], "tags": ["+fast", "+gpu"]},
        ["geo-c", "geo-a", "geo-e", "multi", "geo-b"],
    ),
    # required and excluded tags filter
    (
        {"capabilities": ["geo.lookup"], "phases": ["healthy"], "tags": ["fast"]},
        ["geo-c", "geo-a", "geo-e", "multi"],
    ),
    (
        {"capabilities": ["geo.lookup"], "phases": ["healthy"], "tags": ["-deprecated", "fast"]},
        ["geo-c", "geo-a", "multi"],
    ),
    # selectors
    (
        {
            "capabilities": ["geo.lookup"],
            "phases": ["healthy"],
            "selector": "env=prod,tier in (gold,silver)",
        },
        ["geo-b", "geo-a"],
    ),
    (
        {"capabilities": ["geo.lookup"], "phases": ["healthy"], "selector": "tier notin (gold)"},
        ["geo-c", "geo-b", "geo-e", "multi"],
    ),
    (
        {"capabilities": ["geo.lookup"], "phases": ["healthy"], "selector": "!tier,env"},
        ["geo-c", "geo-e", "multi"],
    ),
    # version ranges
    (
        {"capabilities": ["geo.lookup"], "phases": ["healthy"], "version": ">=1.2 <2"},
        ["geo-b", "geo-a", "geo-e", "multi"],
    ),
    (
        {"capabilities": ["geo.lookup"], "phases": ["healthy"], "version": "^1.4"},
        ["geo-b", "geo-a", "geo-e"],
    ),
    (
        {"capabilities": ["geo.lookup"], "phases": ["healthy"], "version": "~1.4.0"},
        ["geo-a", "geo-e"],
    ),
    # namespaces and phases
    ({"capabilities": ["geo.lookup"], "phases": ["healthy"], "namespace": "eu"}, ["geo-e"]),
    ({"capabilities": ["geo.lookup"], "phases": ["unhealthy"]}, ["geo-d"]),
    (
        {"capabilities": ["geo.lookup"], "phases": ["healthy", "unhealthy"], "version": "1.5.0"},
        ["geo-d"],
    ),
    # ALL: every capability; ANY: at least one
    ({"capabilities": ["geo.lookup", "weather.forecast"], "match": Match.ALL}, ["multi"]),
    (
        {
            "capabilities": ["geo.lookup", "weather.forecast"],
            "match": Match.ANY,
            "selector": "env=prod",
        },
        ["multi", "geo-b", "geo-d", "geo-a", "geo-e"],
    ),
    # version and tags apply to the named capability's entry only
    ({"capabilities": ["weather.forecast"], "version": ">=2"}, ["multi"]),
    ({"capabilities": ["weather.forecast"], "tags": ["fast"]}, ["wx"]),
    # without capabilities, the selector alone decides; every entry counts for the version
    (
        {"selector": "env=prod", "phases": ["healthy"]},
        ["multi", "geo-b", "geo-a", "geo-e", "plain"],
    ),
    ({"capabilities": ["nothing.here"]}, []),
]


@pytest.mark.parametrize(("arguments", "expected"), RANKED)
def test_rank(arguments: dict, expected: list[str]) -> None:
    query = Query.build(**arguments)
    assert names(query.rank(AGENTS)) == expected
    # matches() and rank() agree on membership
    assert sorted(expected) == sorted(names([a for a in AGENTS if query.matches(a)]))


def test_default_query_matches_everything() -> None:
    assert all(Query().matches(agent) for agent in AGENTS)


def test_rank_is_independent_of_input_order() -> None:
    query = Query.build(capabilities=["geo.lookup"], tags=["+fast"])
    assert names(query.rank(AGENTS)) == names(query.rank(list(reversed(AGENTS))))


def test_for_dependency() -> None:
    dependency = DependencySpec(
        capability="geo.lookup",
        selector="env=prod",
        version=">=1.2 <2",
        tags=["+fast", "-deprecated"],
    )
    query = Query.for_dependency(dependency)
    assert query.phases == frozenset({Phase.HEALTHY})
    assert names(query.rank(AGENTS)) == ["geo-a", "multi", "geo-b"]


@pytest.mark.parametrize(
    ("tags", "required", "preferred", "excluded"),
    [
        ([], set(), set(), set()),
        (["a", "+b", "-c"], {"a"}, {"b"}, {"c"}),
        (["a", "a", "+a"], {"a"}, {"a"}, set()),
    ],
)
def test_tag_filter_parse(tags, required, preferred, excluded) -> None:
    parsed = TagFilter.parse(tags)
    assert (parsed.required, parsed.preferred, parsed.excluded) == (required, preferred, excluded)


@pytest.mark.parametrize(
    ("arguments", "parameter"),
    [
        ({"capabilities": ["bad name"]}, "capability"),
        ({"selector": "a in ("}, "labelSelector"),
        ({"namespace": "Bad"}, "namespace"),
        ({"phases": ["sleeping"]}, "phase"),
        ({"version": ">>1"}, "version"),
        ({"tags": ["+"]}, "tags"),
        ({"tags": ["Fast"]}, "tags"),
        ({"prompts": ["bad name"]}, "prompt"),
        ({"resource": "no scheme"}, "resource"),
        ({"resource": "notes://a b"}, "resource"),
    ],
)
def test_bad_queries_name_the_parameter(arguments: dict, parameter: str) -> None:
    with pytest.raises(QueryError) as caught:
        Query.build(**arguments)
    assert caught.value.parameter == parameter
    assert str(caught.value).startswith(parameter + ":")


OFFERING = [
    Agent.model_validate(
        {
            "metadata": {"name": name},
            "spec": {"endpoint": f"http://10.0.0.2/{name}", **offers},
            "status": {"phase": "healthy"},
        }
    )
    for name, offers in (
        ("writer", {"prompts": [{"name": "summarize"}, {"name": "outline"}]}),
        ("editor", {"prompts": [{"name": "summarize"}]}),
        ("notes", {"resources": [{"uri": "notes://index", "name": "Index"}]}),
        ("archive", {"resourceTemplates": [{"uriTemplate": "notes://{+path}", "name": "Any"}]}),
        ("silent", {}),
    )
]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"prompts": ["summarize"]}, {"writer", "editor"}),
        ({"prompts": ["summarize", "outline"]}, {"writer", "editor"}),  # any of them
        ({"prompts": ["summarize", "outline"], "match": Match.ALL}, {"writer"}),
        ({"prompts": ["missing"]}, set()),
        ({"resource": "notes://index"}, {"notes", "archive"}),  # a resource, or a template
        ({"resource": "notes://2026/12/01"}, {"archive"}),
        ({"resource": "other://index"}, set()),
        ({"prompts": ["summarize"], "resource": "notes://index"}, set()),  # both must hold
    ],
)
def test_agents_are_found_by_the_prompts_and_resources_they_offer(
    arguments: dict, expected: set[str]
) -> None:
    query = Query.build(**arguments)
    assert {a.metadata.name for a in OFFERING if query.matches(a)} == expected


@pytest.mark.parametrize(
    ("selector", "left"),
    [
        ("", ""),
        ("env=prod", ""),
        ("env==prod,tier in (gold,silver)", ""),
        ("env=prod,tier notin (gold)", "tier notin (gold)"),
        ("env!=dev,zone>1,!tier,region", "env!=dev,region,!tier,zone>1"),
        ("env in (prod),region", "region"),
    ],
)
def test_without_exact_labels(selector: str, left: str) -> None:
    """What a label index leaves to test: every requirement but those of exact values."""
    query = Query.build(capabilities=["geo.lookup"], selector=selector, tags=["+fast"])
    rest = query.without_exact_labels()
    assert str(rest.selector) == left
    assert (rest.capabilities, rest.tags, rest.phases) == (
        query.capabilities,
        query.tags,
        query.phases,
    )
    if str(query.selector) == left:
        assert rest is query  # nothing to drop: no copy either
