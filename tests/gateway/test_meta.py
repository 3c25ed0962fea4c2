"""The meta-tools' arguments: what each call asks for, and the errors that name an argument."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_agent.gateway.meta import META_TOOLS, MetaArgumentError, MetaCall


@pytest.mark.parametrize(
    ("name", "arguments", "expected"),
    [
        ("list_available_tools", {}, MetaCall()),
        (
            "list_available_tools",
            {"namespace": "ops", "selector": "env=prod", "query": "geo"},
            MetaCall(namespace="ops", selector="env=prod", query="geo"),
        ),
        ("call_tool", {"capability": "geo.lookup"}, MetaCall(capability="geo.lookup")),
        (
            "call_tool",
            {"capability": "geo.lookup", "arguments": {"city": "Paris"}, "tool": "other"},
            MetaCall(capability="geo.lookup", arguments={"city": "Paris"}, tool="other"),
        ),
    ],
)
def test_calls_that_are_understood(
    name: str, arguments: dict[str, Any], expected: MetaCall
) -> None:
    assert MetaCall.parse(name, arguments) == expected


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("list_available_tools", {"limit": 3}, "limit: not an argument"),
        ("list_available_tools", {"namespace": 3}, "namespace: must be a string"),
        ("list_available_tools", {"selector": None}, "selector: must be a string"),
        ("call_tool", {}, "capability: required"),
        ("call_tool", {"capability": ""}, "capability: required"),
        ("call_tool", {"capability": ["x"]}, "capability: must be a string"),
        ("call_tool", {"capability": "x", "arguments": [1]}, "arguments: must be an object"),
        ("call_tool", {"capability": "x", "tool": 1}, "tool: must be a string"),
        ("call_tool", {"capability": "x", "extra": 1}, "extra: not an argument"),
        ("geo.lookup", {}, "unknown tool 'geo.lookup'"),
        ("list_available_tools", {"query": "q" * 1025}, "query: at most 1024 characters"),
        ("call_tool", {"capability": "c" * 1025}, "capability: at most 1024"),
    ],
)
def test_calls_that_are_refused_name_the_argument(
    name: str, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(MetaArgumentError, match=message):
        MetaCall.parse(name, arguments)


def test_the_published_schemas_describe_the_arguments() -> None:
    schemas = {tool.name: tool.input_schema for tool in META_TOOLS}
    assert set(schemas["list_available_tools"]["properties"]) == {"namespace", "selector", "query"}
    assert set(schemas["call_tool"]["properties"]) == {"capability", "arguments", "tool"}
    assert schemas["call_tool"]["required"] == ["capability"]
    assert all(schema["additionalProperties"] is False for schema in schemas.values())
    # The limits published are the ones enforced (see the refusals above).
    assert schemas["list_available_tools"]["properties"]["query"]["maxLength"] == 1024
    assert schemas["call_tool"]["properties"]["capability"]["maxLength"] == 1024
