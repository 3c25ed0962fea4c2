"""What the registry publishes is what it accepts (hypothesis).

For every field that the published schemas constrain, a value the registry's validators accept
validates against the schemas, and a value they refuse does not: in the input schema of the MCP
tool ``register_agent`` (its Agent object and its flat form) and in the OpenAPI document. Every
record the registry accepts validates, as it is served back, against the output schemas.

Two validators check each schema: ``jsonschema_rs`` (Rust's regex engine, which agrees with
ECMA-262 on these patterns) and ``jsonschema`` (Python's ``re``, whose ``$`` also matches
before a final newline: with it, and only there, a value with a string that ends in one
newline, a map's key included, passes the schema and is refused by the registry).

Beyond the schemas the registry also checks what JSON Schema cannot say: the grammar of label
selectors and version ranges in dependencies, unique capability names, and the byte sizes of
annotations and tool schemas. The generated records stay inside those.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import jsonschema
import jsonschema_rs
from fastmcp import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mesh_registry import validation
from mesh_registry.access import Access
from mesh_registry.config import RegistryConfig
from mesh_registry.errors import MeshError
from mesh_registry.model import Agent, AgentStatus, Phase, parse_agent
from mesh_registry.server.mcp import create_mcp
from mesh_registry.server.mcp_input import UNSET, agent_from_arguments
from mesh_registry.server.openapi import document
from mesh_registry.service import Registry

SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


# -- the published schemas, as clients receive them ---------------------------------------------


async def _tools() -> dict[str, Any]:
    registry = Registry(RegistryConfig(database=":memory:"))
    async with Client(create_mcp(Access(registry))) as client:
        return {tool.name: tool for tool in await client.list_tools()}


TOOLS = asyncio.run(_tools())
DOCUMENT = document()


class Schema:
    """One published schema, checked by both validators."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.rust = jsonschema_rs.validator_for(schema)
        self.python = jsonschema.validators.validator_for(schema)(schema)

    def accepts(self, instance: Any) -> tuple[bool, bool]:
        return self.rust.is_valid(instance), self.python.is_valid(instance)


def _component(name: str) -> Schema:
    return Schema({**DOCUMENT, "$ref": f"#/components/schemas/{name}"})


REGISTER_INPUT = Schema(TOOLS["register_agent"].input_schema)
AGENT_IN_MCP = Schema(TOOLS["register_agent"].input_schema["properties"]["agent"])
AGENT_IN_OPENAPI = _component("Agent-Input")
OUTPUTS = {
    "register_agent": Schema(TOOLS["register_agent"].output_schema),
    "unregister_agent": Schema(TOOLS["unregister_agent"].output_schema),
}
AGENT_OUT_OPENAPI = _component("Agent-Output")
LIST_OUT = Schema(TOOLS["list_agents"].output_schema)


# -- values ------------------------------------------------------------------------------------

# Characters next to the rules' edges: separators, case, other scripts' digits and letters,
# whitespace and control characters.
EDGES = "aZ09.-_/:@%~!?#[]+ \t\n\x00\u0661\u00e9A"


@st.composite
def mutated(draw: st.DrawFn, valid: st.SearchStrategy[str]) -> str:
    value = draw(valid)
    position = draw(st.integers(0, len(value)))
    edit = draw(st.sampled_from(["insert", "replace", "delete", "append"]))
    char = draw(st.sampled_from(EDGES))
    if edit == "insert":
        return value[:position] + char + value[position:]
    if edit == "replace" and value:
        position = min(position, len(value) - 1)
        return value[:position] + char + value[position + 1 :]
    if edit == "delete" and value:
        position = min(position, len(value) - 1)
        return value[:position] + value[position + 1 :]
    return value + char


def strings(rule: validation.Rule) -> st.SearchStrategy[str]:
    """Values that follow ``rule``, values next to it, and anything."""
    valid = st.from_regex(rule.fmt, fullmatch=True)
    return st.one_of(
        valid,
        mutated(valid),
        st.text(alphabet=EDGES, max_size=12),
        st.text(max_size=300),
        valid.map(lambda value: value * 8),  # past the length limits
    )


ANY_JSON = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 10**6),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
NUMBERS = st.one_of(
    st.floats(allow_nan=False),
    st.integers(-10, 10**6),
    st.sampled_from([0.1, 0.09999, 86400, 86400.5, True, "10", None]),
)


def base_record() -> dict[str, Any]:
    return {
        "metadata": {"name": "agent", "labels": {"team": "geo"}, "annotations": {"a": "b"}},
        "spec": {
            "endpoint": "http://127.0.0.1:54321/mcp",
            "capabilities": [{"name": "geo.lookup", "tags": ["fast"]}],
            "dependencies": [{"capability": "weather.forecast", "tags": ["+eu"]}],
            "prompts": [{"name": "summarize", "arguments": [{"name": "text", "required": True}]}],
            "resources": [{"uri": "notes://all", "name": "All notes", "mimeType": "text/plain"}],
            "resourceTemplates": [{"uriTemplate": "notes://{id}", "name": "A note"}],
        },
    }


def _set(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """``record`` with ``value`` at ``path``: dotted keys, list indexes, and ``{key}`` for a
    mapping's key (the value is then the key, mapped to a valid value)."""
    copied = copy.deepcopy(record)
    *parents, last = path.split(".")
    target: Any = copied
    for part in parents:
        target = target[int(part)] if part.isdigit() else target[part]
    if last == "{key}":
        target.clear()
        if isinstance(value, str):
            target[value] = "v"
        return copied
    target[int(last) if last.isdigit() else last] = value
    return copied


# Each constrained field of an Agent, and the values to try there.
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "metadata.name": strings(validation.DNS1123_SUBDOMAIN),
    "metadata.namespace": strings(validation.DNS1123_LABEL),
    "metadata.labels.{key}": strings(validation.QUALIFIED_NAME),
    "metadata.labels.team": strings(validation.LABEL_VALUE),
    "metadata.annotations.{key}": strings(validation.QUALIFIED_NAME),
    "spec.endpoint": strings(validation.ENDPOINT),
    "spec.healthInterval": NUMBERS,
    "spec.transport": st.one_of(st.sampled_from(["sse", "streamable-http", "SSE", ""]), ANY_JSON),
    "spec.capabilities.0.name": strings(validation.CAPABILITY_NAME),
    "spec.capabilities.0.tool": strings(validation.TOOL_NAME),
    "spec.capabilities.0.version": strings(validation.SEMVER),
    "spec.capabilities.0.tags.0": strings(validation.TAG),
    "spec.capabilities.0.description": st.text(max_size=5000).map(lambda t: t * 2),
    "spec.dependencies.0.capability": strings(validation.CAPABILITY_NAME),
    "spec.dependencies.0.tags.0": strings(validation.TAG_FILTER),
    "spec.dependencies.0.required": st.one_of(st.booleans(), ANY_JSON),
    "spec.prompts.0.name": strings(validation.TOOL_NAME),
    "spec.prompts.0.description": st.text(max_size=5000).map(lambda t: t * 2),
    "spec.prompts.0.arguments.0.name": strings(validation.TOOL_NAME),
    "spec.prompts.0.arguments.0.required": st.one_of(st.booleans(), ANY_JSON),
    "spec.resources.0.uri": strings(validation.RESOURCE_URI),
    "spec.resources.0.name": st.one_of(st.text(max_size=300), ANY_JSON),
    "spec.resources.0.mimeType": st.one_of(strings(validation.MIME_TYPE), st.just("")),
    "spec.resourceTemplates.0.uriTemplate": strings(validation.RESOURCE_URI),
    "spec.resourceTemplates.0.mimeType": strings(validation.MIME_TYPE),
    "metadata.generation": ANY_JSON,  # set by the registry: anything is accepted, and ignored
    "metadata.creationTimestamp": ANY_JSON,
    "status": ANY_JSON,
}


def _accepted(parse: Callable[[], object]) -> bool:
    try:
        parse()
    except (ValidationError, MeshError):
        return False
    return True


def _agrees(accepted: bool, verdicts: tuple[bool, bool], value: Any, where: str) -> None:
    rust, python = verdicts
    assert rust == accepted, f"{where}: registry {'accepts' if accepted else 'refuses'} {value!r}"
    if python != accepted:
        # Python's $ before a final newline (see the module's docstring), and nothing else.
        assert not accepted
        newline_ended = any(text.endswith("\n") for text in _strings_in(value))
        assert newline_ended, f"{where}: jsonschema disagrees on {value!r}"


def _strings_in(value: Any) -> list[str]:
    """Every string in ``value``: itself, the items of its lists, the keys and values of its
    maps (a pattern checks a map's keys too)."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for k, v in value.items() for text in (*_strings_in(k), *_strings_in(v))]
    if isinstance(value, list):
        return [text for item in value for text in _strings_in(item)]
    return []


# -- the Agent object ----------------------------------------------------------------------------


@SETTINGS
@given(st.data())
def test_each_constrained_field_is_accepted_exactly_as_published(data: st.DataObject) -> None:
    path = data.draw(st.sampled_from(sorted(FIELDS)))
    value = data.draw(FIELDS[path])
    record = _set(base_record(), path, value)
    accepted = _accepted(lambda: parse_agent(record))
    for name, schema in (("MCP", AGENT_IN_MCP), ("OpenAPI", AGENT_IN_OPENAPI)):
        _agrees(accepted, schema.accepts(record), value, f"{name} {path}")
    if accepted:
        _check_outputs(parse_agent(record))


def _check_outputs(agent: Agent) -> None:
    """The record as the registry serves it back fits every output schema."""
    now = datetime.now(UTC)
    stored = agent.model_copy(
        update={
            "metadata": agent.metadata.model_copy(
                update={
                    "uid": "5f0c5a3e-8f6b-4d55-a3d6-2f1ab1f0c0de",
                    "resource_version": "42",
                    "generation": 1,
                    "creation_timestamp": now,
                }
            ),
            "status": AgentStatus(
                phase=Phase.HEALTHY, phase_since=now, last_heartbeat_time=now, observed_generation=1
            ),
        }
    )
    structured = stored.model_dump(mode="json")  # FastMCP's structured content: nulls spelled
    for name, schema in OUTPUTS.items():
        assert schema.accepts(structured) == (True, True), name
    rest = stored.model_dump(mode="json", exclude_none=True)  # REST leaves nulls out
    assert AGENT_OUT_OPENAPI.accepts(rest) == (True, True)
    listed = {"apiVersion": "mesh/v1", "kind": "AgentList", "metadata": {"resourceVersion": "42"}}
    assert LIST_OUT.accepts({**listed, "items": [structured]}) == (True, True)


# -- register_agent's flat form ------------------------------------------------------------------


def name_or_object(key: str, max_size: int) -> st.SearchStrategy[list[Any]]:
    """Lists of capability names, objects with one under ``key``, or anything."""
    name = strings(validation.CAPABILITY_NAME)
    entry = st.one_of(name, st.fixed_dictionaries({key: name}), ANY_JSON)
    return st.lists(entry, max_size=max_size)


FLAT: dict[str, st.SearchStrategy[Any]] = {
    "name": strings(validation.DNS1123_SUBDOMAIN),
    "namespace": strings(validation.DNS1123_LABEL),
    "endpoint": strings(validation.ENDPOINT),
    "capabilities": name_or_object("name", max_size=3),
    "dependencies": name_or_object("capability", max_size=2),
    "labels": st.dictionaries(
        strings(validation.QUALIFIED_NAME), strings(validation.LABEL_VALUE), max_size=2
    ),
    "annotations": st.dictionaries(strings(validation.QUALIFIED_NAME), st.text(), max_size=2),
    "version": strings(validation.SEMVER),
    "tags": st.lists(strings(validation.TAG), max_size=2),
    "health_interval": NUMBERS,
}


@SETTINGS
@given(st.data())
def test_the_flat_form_is_accepted_exactly_as_published(data: st.DataObject) -> None:
    field = data.draw(st.sampled_from(sorted(FLAT)))
    value = data.draw(st.one_of(FLAT[field], st.none()))
    arguments = {"name": "agent", "endpoint": "http://127.0.0.1:54321/mcp", field: value}
    entries = arguments.get("capabilities")
    names = [e.get("name") if isinstance(e, dict) else e for e in entries or ()]
    if isinstance(entries, list) and len(names) != len({repr(n) for n in names}):
        return  # unique capability names: a rule beyond the schema
    accepted = _accepted(lambda: agent_from_arguments(UNSET, arguments))
    _agrees(accepted, REGISTER_INPUT.accepts(arguments), value, f"flat {field}")


@given(st.sampled_from(["name", "endpoint"]))
def test_the_flat_form_needs_a_name_and_an_endpoint(missing: str) -> None:
    arguments = {"name": "agent", "endpoint": "http://127.0.0.1:54321/mcp"}
    del arguments[missing]
    assert not _accepted(lambda: agent_from_arguments(UNSET, arguments))
    assert REGISTER_INPUT.accepts(arguments) == (False, False)


def test_the_two_forms_exclude_each_other() -> None:
    agent = base_record()
    both = {"agent": agent, "name": "agent", "endpoint": "http://127.0.0.1:54321/mcp"}
    assert not _accepted(lambda: agent_from_arguments(agent, {"name": "agent"}))
    assert not _accepted(lambda: agent_from_arguments(None, {"name": "a", "endpoint": "http://h/"}))
    assert REGISTER_INPUT.accepts({"agent": None, "name": "a", "endpoint": "http://h/"}) == (
        False,
        False,
    )
    assert REGISTER_INPUT.accepts(both) == (False, False)
    assert REGISTER_INPUT.accepts({"agent": agent, "labels": {"a": "b"}}) == (False, False)
    assert REGISTER_INPUT.accepts({"agent": agent}) == (True, True)
