"""Properties of the pure parts, on generated input (hypothesis).

Selectors and version ranges have their own in test_selector.py and test_versions.py (parse
or fail cleanly, canonical forms round-trip, precedence agrees with semver). Here: agent
records (anything either parses or fails with field errors; what parses round-trips and
satisfies the published JSON Schema) and resume ids (anything is a revision or a clean 400).
"""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from mesh_registry.errors import BadRequest
from mesh_registry.incoming import parse_revision
from mesh_registry.model import agent_request_schema, field_errors, parse_agent

# -- records -----------------------------------------------------------------------------------

dns_label = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,10}[a-z0-9])?", fullmatch=True)
capability = st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,2}", fullmatch=True)
tag = st.from_regex(r"[a-z0-9]([-a-z0-9_.]{0,6}[a-z0-9])?", fullmatch=True)
semver = st.builds(
    lambda a, b, c, pre: f"{a}.{b}.{c}" + (f"-{pre}" if pre else ""),
    st.integers(0, 20),
    st.integers(0, 20),
    st.integers(0, 20),
    st.sampled_from(["", "alpha", "rc.1", "beta.2"]),
)
label_key = st.one_of(
    st.from_regex(r"[a-z]([-a-z0-9_.]{0,8}[a-z0-9])?", fullmatch=True),
    st.builds(lambda p, n: f"{p}.io/{n}", dns_label, dns_label),
)
label_value = st.from_regex(r"([A-Za-z0-9]([-A-Za-z0-9_.]{0,8}[A-Za-z0-9])?)?", fullmatch=True)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.text(max_size=8)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)

capabilities = st.fixed_dictionaries(
    {"name": capability},
    optional={
        "tool": st.from_regex(r"[A-Za-z0-9_.-]{1,12}", fullmatch=True),
        "version": semver,
        "tags": st.lists(tag, max_size=3, unique=True),
        "description": st.text(max_size=20),
        "inputSchema": st.just({"type": "object", "properties": {"x": {"type": "string"}}}),
    },
)
dependencies = st.fixed_dictionaries(
    {"capability": capability},
    optional={
        "selector": st.sampled_from(["", "env=prod", "tier in (gold,silver)", "!canary"]),
        "version": st.sampled_from(["", "^1.2", ">=1.0 <2", "~0.3.1"]),
        "tags": st.lists(
            st.builds(lambda s, t: s + t, st.sampled_from(["", "+", "-"]), tag),
            max_size=2,
            unique=True,
        ),
        "required": st.booleans(),
    },
)
agents = st.fixed_dictionaries(
    {
        "metadata": st.fixed_dictionaries(
            {"name": dns_label},
            optional={
                "namespace": dns_label,
                "labels": st.dictionaries(label_key, label_value, max_size=4),
                "annotations": st.dictionaries(label_key, st.text(max_size=10), max_size=2),
            },
        ),
        "spec": st.fixed_dictionaries(
            {
                "endpoint": st.builds(
                    lambda host, port: f"http://{host}:{port}/mcp",
                    st.sampled_from(["127.0.0.1", "agent.local", "[::1]"]),
                    st.integers(1, 9999),
                )
            },
            optional={
                "healthInterval": st.floats(0.1, 3600, allow_nan=False),
                "capabilities": st.lists(capabilities, max_size=3, unique_by=lambda c: c["name"]),
                "dependencies": st.lists(
                    dependencies, max_size=2, unique_by=lambda d: d["capability"]
                ),
            },
        ),
    }
)


def mutated(record: dict[str, Any], path: list[str], value: Any) -> dict[str, Any]:
    copy = json.loads(json.dumps(record))
    target = copy
    for key in path[:-1]:
        target = target.setdefault(key, {})
        if not isinstance(target, dict):
            return copy
    target[path[-1]] = value
    return copy


PATHS = [
    ["metadata", "name"],
    ["metadata", "namespace"],
    ["metadata", "labels"],
    ["spec", "endpoint"],
    ["spec", "healthInterval"],
    ["spec", "capabilities"],
    ["spec", "dependencies"],
    ["spec", "transport"],
    ["kind"],
    ["apiVersion"],
]
REQUEST_SCHEMA = agent_request_schema()
# Built once: jsonschema.validate() would check the schema itself at every call.
VALIDATOR = jsonschema.validators.validator_for(REQUEST_SCHEMA)(REQUEST_SCHEMA)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(agents)
def test_a_valid_record_round_trips_and_fits_the_published_schema(record: dict[str, Any]) -> None:
    agent = parse_agent(record)
    dumped = agent.model_dump(mode="json", by_alias=True, exclude_none=True)
    dumped.pop("status", None)
    assert parse_agent(dumped) == agent
    VALIDATOR.validate(record)


@SETTINGS
@given(agents, st.sampled_from(PATHS), json_values)
def test_any_record_parses_or_fails_with_field_errors(
    record: dict[str, Any], path: list[str], value: Any
) -> None:
    candidate = mutated(record, path, value)
    try:
        agent = parse_agent(candidate)
    except ValidationError as error:
        problems = field_errors(error)
        assert problems
        assert all(p.field and p.message for p in problems)
    else:
        # The server is never more lenient than the schema it publishes.
        VALIDATOR.validate(candidate)
        assert agent.metadata.name == candidate["metadata"]["name"]


@settings(max_examples=300, deadline=None)
@given(json_values)
def test_arbitrary_json_is_refused_cleanly(value: Any) -> None:
    with pytest.raises(ValidationError) as error:
        parse_agent(value)  # type: ignore[arg-type]
    assert field_errors(error.value)


# -- resume ids --------------------------------------------------------------------------------


@settings(max_examples=1000, deadline=None)
@given(st.one_of(st.text(max_size=24), st.integers(-5, 10**19).map(str)))
def test_a_resume_id_is_a_revision_or_a_clean_bad_request(text: str) -> None:
    well_formed = text == "" or (text.isascii() and text.isdigit() and len(text) <= 18)
    if not well_formed:
        with pytest.raises(BadRequest, match="resourceVersion"):
            parse_revision(text)
        return
    revision = parse_revision(text)
    assert revision == (int(text) or None if text else None)


@given(st.integers(0, 10**18 - 1))
def test_every_revision_a_registry_can_reach_is_accepted(revision: int) -> None:
    assert parse_revision(str(revision)) == (revision or None)
