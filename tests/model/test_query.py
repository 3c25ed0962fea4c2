"""The query type and its edges: REST parameters, MCP arguments, and back, all to one value."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_registry.discovery import Match, QueryError
from mesh_registry.query import (
    EVERY_PHASE,
    MAX_LIST_LIMIT,
    AgentQuery,
    Operation,
    from_arguments,
    from_params,
    openapi_parameters,
    to_params,
    tool_schema,
)

FULL = AgentQuery(
    namespace="geo",
    selector="env=prod,tier in (a,b)",
    capabilities=("weather.forecast", "geo.lookup"),
    phases=("healthy", "pending"),
    version=">=1.2 <2",
    tags=("+fast", "-old"),
    limit=5,
)


def getlist(params: dict[str, Any]):  # type: ignore[no-untyped-def]
    return lambda name: [str(v) for v in _listed(params.get(name, []))]


def _listed(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("operation", [Operation.LIST, Operation.DISCOVER])
def test_rest_parameters_round_trip(operation: Operation) -> None:
    params = to_params(FULL, operation)
    namespace = None if operation is Operation.DISCOVER else "geo"  # else the path's
    assert from_params(getlist(params), operation, namespace) == FULL


def test_comma_separated_and_repeated_values_are_alike() -> None:
    params = {"capability": ["a.b,c.d", "e.f"], "tags": "+x, -y"}
    query = from_params(getlist(params), Operation.LIST, None)
    assert query.capabilities == ("a.b", "c.d", "e.f")
    assert query.tags == ("+x", "-y")


@pytest.mark.parametrize(
    ("params", "words"),
    [({"limit": "ten"}, "limit"), ({"limit": "-1"}, "limit"), ({"limit": "0"}, "limit")],
)
def test_unreadable_parameters_name_themselves(params: dict[str, Any], words: str) -> None:
    with pytest.raises(QueryError, match=words):
        from_params(getlist(params), Operation.LIST, None)


def test_mcp_arguments_make_the_same_query() -> None:
    arguments = {
        "namespace": "geo",
        "selector": {"matchLabels": {"env": "prod"}},
        "capabilities": ["weather.forecast"],
        "phases": ["healthy"],
        "version": "^1",
        "tags": ["fast"],
        "limit": 3,
        "continue_token": None,  # null: absent
    }
    query = from_arguments(arguments, Operation.LIST)
    assert str(query.selector) == "env=prod"
    assert (query.namespace, query.capabilities, query.limit) == ("geo", ("weather.forecast",), 3)
    assert from_arguments({"namespace": "", "selector": ""}, Operation.LIST) == AgentQuery()


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        ({"capabilities": "a.b"}, "list of strings"),
        ({"limit": "5"}, "not an integer"),
        ({"limit": True}, "not an integer"),
        ({"version": 1}, "not a string"),
        ({"selector": 5}, "LabelSelector object"),
        ({"selector": {"matchLabels": []}}, "matchLabels"),
    ],
)
def test_bad_mcp_arguments_name_themselves(arguments: dict[str, Any], words: str) -> None:
    with pytest.raises(QueryError, match=words):
        from_arguments(arguments, Operation.LIST)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        (AgentQuery(limit=0), "limit"),
        (AgentQuery(limit=MAX_LIST_LIMIT + 1), "limit"),
        (AgentQuery(capabilities=("bad name",)), "capability"),
        (AgentQuery(phases=("asleep",)), "phase"),
        (AgentQuery(namespace="Bad"), "namespace"),
        (AgentQuery(selector="a in ("), "labelSelector"),
        (AgentQuery(labels={"bad key": "v"}), "labels"),
        (AgentQuery(version=">>1"), "version"),
        (AgentQuery(tags=("Fast",)), "tags"),
    ],
)
def test_compiling_checks_every_parameter(query: AgentQuery, words: str) -> None:
    with pytest.raises(QueryError, match=words):
        query.compile(Match.ANY, max_limit=MAX_LIST_LIMIT)


def test_phases_default_to_the_operations_own() -> None:
    assert AgentQuery().compile(Match.ANY).phases is None  # any phase
    discovery = AgentQuery().compile(Match.ALL, default_phases=("healthy",))
    assert discovery.phases is not None
    assert {p.value for p in discovery.phases} == {"healthy"}
    everything = AgentQuery(phases=EVERY_PHASE).compile(Match.ALL, default_phases=("healthy",))
    assert everything.phases is not None
    assert len(everything.phases) == 4


@pytest.mark.parametrize("operation", [Operation.LIST, Operation.DISCOVER])
def test_openapi_and_mcp_are_made_of_the_same_declarations(operation: Operation) -> None:
    rest = {p["name"] for p in openapi_parameters(operation)}
    mcp = set(tool_schema(operation, {})["properties"])
    renamed = {"labelSelector": "selector", "capability": "capabilities", "phase": "phases"}
    renamed["prompt"] = "prompts"
    renamed["continue"] = "continue_token"
    assert {renamed.get(name, name) for name in rest} <= mcp
    assert ("namespace" in rest) == (operation is Operation.DISCOVER)  # else the path's
