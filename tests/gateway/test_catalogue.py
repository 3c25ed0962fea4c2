"""What the gateway exposes, from the agents it follows: a table per rule."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_agent.gateway.catalogue import ANY_OBJECT, Selection, catalogue, listing, search
from mesh_registry.model import Agent
from mesh_registry.selector import SelectorError


def agent(
    name: str,
    capabilities: dict[str, dict[str, Any]],
    *,
    namespace: str = "default",
    labels: dict[str, str] | None = None,
    phase: str = "healthy",
) -> Agent:
    return Agent.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace, "labels": labels or {}},
            "spec": {
                "endpoint": f"http://{name}:80/mcp",
                "capabilities": [{"name": c, **fields} for c, fields in capabilities.items()],
            },
            "status": {"phase": phase},
        }
    )


@pytest.mark.parametrize(
    ("globs", "capability", "admitted"),
    [
        ((), "anything.at.all", True),
        (("weather.*",), "weather.forecast", True),
        (("weather.*",), "weather", False),
        (("weather.*",), "geo.weather.x", False),
        (("*.lookup", "time"), "geo.lookup", True),
        (("*.lookup", "time"), "time", True),
        (("*.lookup", "time"), "timer", False),
        (("geo.?ookup",), "geo.lookup", True),
        (("Geo.*",), "geo.lookup", False),  # case matters, as in capability names
        (("[gt]*",), "time", True),
    ],
)
def test_capability_globs(globs: tuple[str, ...], capability: str, admitted: bool) -> None:
    assert Selection(globs).admits(capability) is admitted


def test_only_healthy_agents_contribute_capabilities() -> None:
    agents = [
        agent("a", {"x.one": {}, "x.two": {}}),
        agent("b", {"x.three": {}}, phase="unhealthy"),
        agent("c", {"x.four": {}}, phase="pending"),
        agent("d", {"y.one": {}}),
    ]
    assert Selection().capabilities(agents) == {"x.one", "x.two", "y.one"}
    assert Selection(("x.*",)).capabilities(agents) == {"x.one", "x.two"}


def test_the_best_ranked_provider_describes_the_tool() -> None:
    best = agent("best", {"geo.lookup": {"description": "new", "inputSchema": {"type": "object"}}})
    other = agent("other", {"geo.lookup": {"description": "old"}})
    bare = agent("bare", {"bare.tool": {}})
    ranked = {"geo.lookup": [best, other], "bare.tool": [bare], "gone.now": []}
    tools = catalogue(ranked, lambda name: ranked[name])
    assert list(tools) == ["bare.tool", "geo.lookup"]  # no provider, no tool
    assert tools["geo.lookup"].description == "new"
    assert tools["geo.lookup"].providers == (best, other)
    assert tools["bare.tool"].input_schema == ANY_OBJECT  # a tool's input is an object
    assert tools["bare.tool"].output_schema is None


def test_a_listing_changes_with_what_clients_see_and_not_with_who_serves() -> None:
    one = agent("one", {"geo.lookup": {"description": "d"}})
    two = agent("two", {"geo.lookup": {"description": "d"}})
    other = agent("three", {"geo.lookup": {"description": "changed"}})
    before = catalogue(["geo.lookup"], lambda _: [one])
    assert listing(catalogue(["geo.lookup"], lambda _: [one, two])) == listing(before)
    assert listing(catalogue(["geo.lookup"], lambda _: [other])) != listing(before)
    assert listing(catalogue([], lambda _: [])) != listing(before)


@pytest.mark.parametrize(
    ("arguments", "found"),
    [
        ({}, ["geo.lookup", "time.now"]),
        ({"query": "LOOKUP"}, ["geo.lookup"]),
        ({"query": "city find"}, ["geo.lookup"]),  # every word, anywhere
        ({"query": "city clock"}, []),
        ({"namespace": "ops"}, ["time.now"]),
        ({"selector": "env=prod"}, ["geo.lookup"]),
        ({"selector": "env"}, ["geo.lookup", "time.now"]),
        ({"selector": "!env"}, []),
        ({"namespace": "ops", "selector": "env=prod"}, []),
    ],
)
def test_searching_the_tools(arguments: dict[str, Any], found: list[str]) -> None:
    geo = agent("geo", {"geo.lookup": {"description": "Find a city"}}, labels={"env": "prod"})
    clock = agent(
        "clock", {"time.now": {"description": "The time"}}, namespace="ops", labels={"env": "dev"}
    )
    tools = catalogue(["geo.lookup", "time.now"], lambda name: [geo] if name[0] == "g" else [clock])
    assert [tool.name for tool in search(tools, **arguments)] == found


def test_a_bad_selector_is_refused() -> None:
    with pytest.raises(SelectorError):
        search({}, selector="env in (")
