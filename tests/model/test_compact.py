"""A compacted agent is the same agent: equal, serialized alike, copied alike; it only shares."""

from __future__ import annotations

from typing import Any

import pytest

from mesh_registry.codec import decode, encode
from mesh_registry.model import Agent, parse_agent
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
