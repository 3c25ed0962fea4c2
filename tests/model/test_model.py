"""The Agent model: JSON form, strict parsing, and errors that name their field."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from pydantic import ValidationError

from mesh_registry.model import (
    Agent,
    Capability,
    Limits,
    Phase,
    field_errors,
    parse_agent,
)
from tests.support.agents import agent_body

VALID = agent_body("weather-7f3a", ["weather.forecast"], labels={"team": "geo"})


def _with(path: str, value: Any) -> dict[str, Any]:
    """VALID with one field set (path like 'spec.capabilities.0.name'); None deletes it."""
    body = copy.deepcopy(VALID)
    *parents, last = path.split(".")
    node: Any = body
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    if value is None:
        del node[last]
    elif last.isdigit():
        node[int(last)] = value
    else:
        node[last] = value
    return body


def test_valid_body_parses_with_defaults() -> None:
    agent = parse_agent(VALID)
    assert agent.metadata.namespace == "default"
    assert agent.spec.transport == "streamable-http"
    assert agent.spec.capabilities[0].tool == "weather.forecast"  # the tool defaults to the name
    assert agent.status.phase is Phase.PENDING


def test_json_form_is_camel_case_and_round_trips() -> None:
    agent = parse_agent(VALID)
    data = agent.model_dump(mode="json")
    assert set(data) == {"apiVersion", "kind", "metadata", "spec", "status"}
    assert "healthInterval" in data["spec"]
    assert "inputSchema" in data["spec"]["capabilities"][0]
    assert Agent.model_validate(data) == agent


def test_status_from_a_client_is_ignored() -> None:
    body = _with("status", {"phase": "healthy", "bogus": 1})
    assert parse_agent(body).status.phase is Phase.PENDING


def test_decoding_is_lenient_about_unknown_fields() -> None:
    body = _with("spec.futureField", 1)
    assert Agent.model_validate(body).spec.endpoint == VALID["spec"]["endpoint"]


# (path, value, field named in the error, words in the message)
BAD = [
    ("metadata.name", "Weather", "metadata.name", "RFC 1123 subdomain"),
    ("metadata.name", "", "metadata.name", "RFC 1123 subdomain"),
    ("metadata.name", "a" * 254, "metadata.name", "no more than 253"),
    ("metadata.name", 5, "metadata.name", "string"),
    ("metadata.name", None, "metadata.name", "required"),
    ("metadata.namespace", "Prod", "metadata.namespace", "RFC 1123 label"),
    ("metadata.namespace", "a.b", "metadata.namespace", "RFC 1123 label"),
    ("metadata.labels", {"bad key": "x"}, "metadata.labels", "invalid label key 'bad key'"),
    ("metadata.labels", {"team": "-x"}, "metadata.labels", "value for label 'team'"),
    ("metadata.labels", {"team": 1}, "metadata.labels.team", "string"),
    ("metadata.labels", {f"k{i}": "v" for i in range(65)}, "metadata.labels", "at most 64"),
    ("metadata.annotations", {"note": "x" * 70_000}, "metadata.annotations", "at most 65536 bytes"),
    ("metadata.annotations", {"/x": "y"}, "metadata.annotations", "annotation key"),
    ("metadata.unknown", 1, "metadata.unknown", "unknown field"),
    ("spec.endpoint", "ftp://x", "spec.endpoint", "http:// or https://"),
    ("spec.endpoint", "http://", "spec.endpoint", "http:// or https://"),
    ("spec.endpoint", "not a url", "spec.endpoint", "http:// or https://"),
    ("spec.endpoint", "http://h:99999/x", "spec.endpoint", "invalid URL"),
    ("spec.endpoint", "http://h/" + "x" * 2050, "spec.endpoint", "2048"),
    ("spec.endpoint", None, "spec.endpoint", "required"),
    ("spec.transport", "stdio", "spec.transport", "streamable-http"),
    ("spec.healthInterval", 0.05, "spec.healthInterval", "greater than or equal to 0.1"),
    ("spec.healthInterval", -1, "spec.healthInterval", "greater than or equal"),
    ("spec.healthInterval", "fast", "spec.healthInterval", "number"),
    ("spec.healthInterval", 10**9, "spec.healthInterval", "less than or equal"),
    ("spec.capabilities.0.name", "bad name", "spec.capabilities[0].name", "capability name"),
    ("spec.capabilities.0.name", "", "spec.capabilities[0].name", "capability name"),
    ("spec.capabilities.0.version", "1.0", "spec.capabilities[0].version", "semantic version"),
    ("spec.capabilities.0.tags", ["Fast"], "spec.capabilities[0].tags", "invalid tag 'Fast'"),
    ("spec.capabilities.0.tags", ["t"] * 33, "spec.capabilities[0].tags", "at most 32"),
    ("spec.capabilities.0.tool", "bad tool", "spec.capabilities[0].tool", "tool name"),
    ("spec.capabilities.0.description", "d" * 5000, "spec.capabilities[0].description", "4096"),
    (
        "spec.capabilities.0.inputSchema",
        {"x": "y" * 70_000},
        "spec.capabilities[0].inputSchema",
        "at most 65536 bytes",
    ),
    ("spec.capabilities.0.extra", 1, "spec.capabilities[0].extra", "unknown field"),
    (
        "spec.capabilities",
        [{"name": "a.b"}, {"name": "a.b"}],
        "spec.capabilities",
        "declared more than once",
    ),
    ("spec.capabilities", [{"name": f"c{i}"} for i in range(257)], "spec.capabilities", "at most"),
    ("spec.dependencies", [{"capability": "x y"}], "spec.dependencies[0].capability", "capability"),
    (
        "spec.dependencies",
        [{"capability": "geo.lookup", "selector": "env in (prod"}],
        "spec.dependencies[0].selector",
        "position",
    ),
    (
        "spec.dependencies",
        [{"capability": "geo.lookup", "version": ">>1"}],
        "spec.dependencies[0].version",
        "invalid version range",
    ),
    (
        "spec.dependencies",
        [{"capability": "geo.lookup", "tags": ["+Fast"]}],
        "spec.dependencies[0].tags",
        "invalid tag '+Fast'",
    ),
    ("apiVersion", "v2", "apiVersion", "mesh/v1"),
    ("kind", "Pod", "kind", "Agent"),
    ("unexpected", True, "unexpected", "unknown field"),
]


@pytest.mark.parametrize(("path", "value", "field", "words"), BAD)
def test_invalid_fields_are_named(path: str, value: Any, field: str, words: str) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_agent(_with(path, value))
    problems = field_errors(caught.value)
    assert field in [p.field for p in problems], problems
    message = next(p.message for p in problems if p.field == field)
    assert words in message, message


@pytest.mark.parametrize("body", [None, [], "agent", 5])
def test_non_objects_are_rejected(body: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_agent(body)
    assert field_errors(caught.value)[0].field == "<body>"


def test_limits_accept_their_maximum() -> None:
    body = _with("metadata.labels", {f"k{i}": "v" for i in range(Limits.LABELS)})
    body["spec"]["capabilities"] = [{"name": f"c{i}"} for i in range(Limits.CAPABILITIES)]
    agent = parse_agent(body)
    assert len(agent.metadata.labels) == Limits.LABELS
    assert len(agent.spec.capabilities) == Limits.CAPABILITIES


def test_capability_lookup() -> None:
    agent = parse_agent(VALID)
    assert agent.spec.capability("weather.forecast") == Capability(name="weather.forecast")
    assert agent.spec.capability("nope") is None


def test_models_are_immutable() -> None:
    agent = parse_agent(VALID)
    with pytest.raises(ValidationError):
        agent.metadata.name = "other"  # type: ignore[misc]
