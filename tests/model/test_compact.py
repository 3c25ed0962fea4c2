"""A compacted agent is the same agent: equal, serialized alike, copied alike; it only shares."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mesh_registry.codec import decode, encode
from mesh_registry.model import Agent, AgentStatus, Condition, Phase, compact, parse_agent
from mesh_registry.model.compact import compacted
from tests.support.agents import agent_body


def bodies() -> list[dict[str, Any]]:
    plain = agent_body("plain", ["a.x"])
    rich = agent_body(
        "rich",
        ["a.x", "b.y"],
        labels={"env": "prod", "tier": "gold"},
        annotations={"note": "n" * 200, "short": "s"},
        tags=["fast", "eu"],
        dependencies=[{"capability": "c.z", "version": ">=1.0.0"}],
    )
    rich["spec"]["capabilities"][0]["inputSchema"] = {
        "type": "object",
        "properties": {"q": {"type": "string"}},
    }
    long_label = agent_body("long", [], labels={"k": "v" * 63, "w": ""})
    return [plain, rich, long_label]


def twice(body: dict[str, Any]) -> tuple[Agent, Agent]:
    agent = decode(encode(parse_agent(body)), 7)
    return agent, decode(encode(agent), 7)


@pytest.mark.parametrize("body", bodies(), ids=lambda b: b["metadata"]["name"])
def test_a_compacted_agent_equals_and_serializes_as_the_original(body: dict[str, Any]) -> None:
    original, copy = twice(body)
    assert compacted(copy) is copy
    assert copy == original
    assert copy.model_dump_json() == original.model_dump_json()
    assert copy.model_dump(exclude_unset=True) == original.model_dump(exclude_unset=True)
    assert encode(copy) == encode(original)


@pytest.mark.parametrize("body", bodies(), ids=lambda b: b["metadata"]["name"])
def test_agents_share_field_sets_and_a_copy_with_changes_leaves_them_alone(
    body: dict[str, Any],
) -> None:
    first, second = (compacted(agent) for agent in twice(body))
    assert first.metadata.model_fields_set is second.metadata.model_fields_set
    given = set(first.metadata.model_fields_set)
    changed = first.model_copy(
        update={"metadata": first.metadata.model_copy(update={"generation": 9})}
    )
    assert changed.metadata.generation == 9
    assert "generation" in changed.metadata.model_fields_set
    assert set(second.metadata.model_fields_set) == given  # the shared set is untouched
    assert second.metadata.generation != 9


def test_short_strings_are_interned_long_ones_left_alone() -> None:
    first, second = (compacted(agent) for agent in twice(bodies()[1]))
    assert first.metadata.labels["env"] is second.metadata.labels["env"]
    assert first.spec.capabilities[0].name is second.spec.capabilities[0].name
    assert first.spec.capabilities[0].tags[0] is second.spec.capabilities[0].tags[0]
    long_note = first.metadata.annotations["note"]
    assert long_note == second.metadata.annotations["note"]
    assert long_note is not second.metadata.annotations["note"]


def test_a_frozen_agent_stays_frozen() -> None:
    agent = compacted(twice(bodies()[1])[0])
    with pytest.raises(ValueError, match="frozen"):
        agent.metadata.name = "other"  # type: ignore[misc]
    assert agent.metadata.name == "rich"


def with_schema(name: str, schema: dict[str, Any]) -> Agent:
    body = agent_body(name, ["a.x"])
    body["spec"]["capabilities"][0]["inputSchema"] = schema
    return compacted(decode(encode(parse_agent(body)), 7))


def schema_of(agent: Agent) -> dict[str, Any]:
    return agent.spec.capabilities[0].input_schema


def test_equal_schemas_are_shared() -> None:
    schema = {"type": "object", "properties": {"q": {"type": "string", "maxLength": 3}}}
    first, second = with_schema("first", schema), with_schema("second", dict(schema))
    assert schema_of(first) is schema_of(second)
    again = compacted(first.model_copy(update={"status": first.status.model_copy()}))
    assert schema_of(again) is schema_of(second)  # compacted again: still the shared one


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ({"type": "object", "title": "t"}, {"title": "t", "type": "object"}),  # key order
        ({"type": "integer", "maximum": 1}, {"type": "integer", "maximum": 1.0}),
        ({"type": "boolean", "default": 1}, {"type": "boolean", "default": True}),
    ],
    ids=["key order", "1 and 1.0", "1 and true"],
)
def test_schemas_equal_only_to_python_are_not_shared(
    one: dict[str, Any], other: dict[str, Any]
) -> None:
    first, second = with_schema("first", one), with_schema("second", other)
    assert schema_of(first) is not schema_of(second)
    for agent, schema in ((first, one), (second, other)):
        capability = agent.model_dump(mode="json", by_alias=True)["spec"]["capabilities"][0]
        assert json.dumps(capability["inputSchema"]) == json.dumps(schema)


def test_a_large_schema_is_not_shared_and_the_table_stays_bounded() -> None:
    large = {"type": "object", "description": "d" * (compact._SCHEMA_BYTES + 1)}
    assert schema_of(with_schema("a", large)) is not schema_of(with_schema("b", dict(large)))
    for n in range(compact._SCHEMAS_KEPT + 50):
        with_schema(f"agent-{n}", {"type": "object", "title": f"schema {n}"})
    assert len(compact._schemas) == compact._SCHEMAS_KEPT
    assert len(compact._texts_by_id) == compact._SCHEMAS_KEPT  # evicted from both
    recent = {"type": "object", "title": f"schema {compact._SCHEMAS_KEPT + 49}"}
    assert schema_of(with_schema("again", recent)) is schema_of(with_schema("more", recent))


@pytest.mark.parametrize(("extra", "shared"), [(0, True), (1, False)], ids=["at", "one past"])
def test_schemas_are_shared_up_to_the_size_bound(extra: int, shared: bool) -> None:
    def sized(length: int) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "object", "description": ""}
        text = json.dumps(schema, separators=(",", ":"))
        schema["description"] = "d" * (length - len(text))
        return schema

    schema = sized(compact._SCHEMA_BYTES + extra)
    assert len(json.dumps(schema, separators=(",", ":"))) == compact._SCHEMA_BYTES + extra
    first, second = with_schema("first", schema), with_schema("second", dict(schema))
    assert (schema_of(first) is schema_of(second)) is shared


def test_a_record_compacted_again_walks_only_its_new_parts() -> None:
    first, second = (compacted(agent) for agent in twice(bodies()[1]))

    def new_status() -> AgentStatus:
        return AgentStatus(phase=Phase.UNHEALTHY, conditions=[Condition(type="R", status="False")])

    changed = first.model_copy(update={"status": new_status()})
    expected = changed.model_dump_json()
    assert compacted(changed) is changed
    assert changed.spec is first.spec  # left as they were
    assert changed.metadata is first.metadata
    other = compacted(second.model_copy(update={"status": new_status()}))
    assert changed.status.model_fields_set is other.status.model_fields_set  # the new part
    condition, other_condition = changed.status.conditions[0], other.status.conditions[0]
    assert condition.model_fields_set is other_condition.model_fields_set
    assert changed == first.model_copy(update={"status": new_status()})
    assert changed.model_dump_json() == expected
