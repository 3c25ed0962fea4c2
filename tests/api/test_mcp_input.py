"""The argument shapes of the registry's MCP tools: register_agent's flat form and selector
objects, parsed into what the service takes, with errors that name the argument."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_registry.errors import BadRequest, Invalid, MeshError
from mesh_registry.model import Agent
from mesh_registry.server.mcp_input import UNSET, agent_from_arguments

BASE = {"name": "weather", "endpoint": "http://10.0.0.5:54321/mcp"}


def test_the_flat_form_builds_the_agent_object() -> None:
    agent = agent_from_arguments(
        UNSET,
        {
            **BASE,
            "namespace": "geo",
            "capabilities": ["weather.forecast", {"name": "weather.alerts", "version": "3.0.0"}],
            "dependencies": ["geo.lookup", {"capability": "maps.tiles", "required": True}],
            "labels": {"env": "prod"},
            "annotations": {"owner.example/team": "geo"},
            "version": "1.4.0",
            "tags": ["fast"],
            "health_interval": 2.5,
        },
    )
    assert isinstance(agent, Agent)
    assert (agent.metadata.namespace, agent.metadata.name) == ("geo", "weather")
    assert [(c.name, c.version, c.tags) for c in agent.spec.capabilities] == [
        ("weather.forecast", "1.4.0", ["fast"]),
        ("weather.alerts", "3.0.0", ["fast"]),  # its own version wins; tags by default
    ]
    assert [(d.capability, d.required) for d in agent.spec.dependencies] == [
        ("geo.lookup", False),
        ("maps.tiles", True),
    ]
    assert agent.spec.health_interval == 2.5
    assert agent.metadata.labels == {"env": "prod"}


def test_the_agent_object_passes_through_for_the_service_to_validate() -> None:
    body = {"metadata": {"name": "x"}, "spec": {"endpoint": "http://h:54321/"}}
    assert agent_from_arguments(body, {}) is body


FLAT_ERRORS: list[tuple[dict[str, Any], type[MeshError], str]] = [
    ({"name": "x"}, BadRequest, "missing endpoint"),
    ({}, BadRequest, "missing name and endpoint"),
    ({**BASE, "endpoint": "ftp://h/"}, Invalid, "endpoint: invalid URL"),
    ({**BASE, "name": "Bad_Name"}, Invalid, "name: invalid name"),
    ({**BASE, "namespace": None}, Invalid, "namespace:"),
    ({**BASE, "labels": {"k": "-v"}}, Invalid, "labels:"),
    ({**BASE, "health_interval": "10"}, Invalid, "health_interval:"),
    ({**BASE, "health_interval": True}, Invalid, "health_interval:"),
    ({**BASE, "capabilities": "a.b"}, Invalid, "capabilities: must be a list"),
    ({**BASE, "capabilities": [5]}, Invalid, "capabilities[0]: must be a capability name"),
    ({**BASE, "capabilities": ["ok", "no spaces"]}, Invalid, "capabilities[1]: invalid"),
    ({**BASE, "capabilities": [{"name": "a", "bogus": 1}]}, Invalid, "capabilities[0].bogus"),
    ({**BASE, "dependencies": ["a b"]}, Invalid, "dependencies[0]: invalid"),
    ({**BASE, "version": "1.2"}, Invalid, "version: invalid version"),
    ({**BASE, "tags": ["Fast"]}, Invalid, "tags: invalid tag"),
    ({**BASE, "tags": None}, Invalid, "tags:"),
]


@pytest.mark.parametrize(("flat", "error", "words"), FLAT_ERRORS)
def test_flat_form_errors_name_the_argument(
    flat: dict[str, Any], error: type[MeshError], words: str
) -> None:
    with pytest.raises(error) as caught:
        agent_from_arguments(UNSET, flat)
    assert words in caught.value.message, caught.value.message


def test_the_two_forms_are_not_mixed() -> None:
    with pytest.raises(BadRequest, match="not both: got agent and labels"):
        agent_from_arguments({"metadata": {}}, {"labels": {"a": "b"}})
    with pytest.raises(BadRequest, match="agent: must be an object"):
        agent_from_arguments(None, {})
