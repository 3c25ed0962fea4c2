"""Agents as the official MCP registry API's servers: names, versions, descriptions, pages."""

from __future__ import annotations

import pytest

from mesh_registry.errors import BadRequest
from mesh_registry.model import Agent, ObjectKey
from mesh_registry.official import (
    MAX_DESCRIPTION,
    ServerQuery,
    agent_key,
    server_name,
    server_response,
    version_of,
)


def agent(name: str, versions: list[str], namespace: str = "default") -> Agent:
    return Agent.model_validate(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {
                "endpoint": f"http://{name}:80/mcp",
                "capabilities": [
                    {"name": f"cap.c{n}", "version": v} for n, v in enumerate(versions)
                ],
            },
            "status": {"phase": "healthy"},
        }
    )


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("mesh.default/echo", ObjectKey("default", "echo")),
        ("mesh.team-a/a.b.c", ObjectKey("team-a", "a.b.c")),
        ("io.github.user/weather", None),  # not one of ours
        ("mesh.default", None),
        ("mesh.default/", None),
        ("mesh./x", ObjectKey("", "x")),  # parsed; no such namespace will match
    ],
)
def test_server_names_and_back(name: str, key: ObjectKey | None) -> None:
    assert agent_key(name) == key
    if key is not None and key.namespace:
        assert server_name(key) == name


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        ([], "1.0.0"),
        (["1.2.0"], "1.2.0"),
        (["1.10.0", "1.9.0"], "1.10.0"),  # semver order, not text order
        (["2.0.0-rc.1", "1.9.0"], "2.0.0-rc.1"),
        (["2.0.0-rc.1", "2.0.0"], "2.0.0"),
    ],
)
def test_a_server_version_is_its_newest_capability_version(
    versions: list[str], expected: str
) -> None:
    assert version_of(agent("a", versions)) == expected


def test_a_long_description_is_shortened_to_the_limit() -> None:
    many = agent("many", ["1.0.0"] * 40)
    description = server_response(many)["server"]["description"]
    assert len(description) == MAX_DESCRIPTION
    assert description.endswith("…")


def test_pages_are_in_name_order_and_resume_after_the_cursor() -> None:
    agents = [agent(name, ["1.0.0"]) for name in ("c", "a", "b", "d")]
    first, cursor = ServerQuery(limit=3).page(agents)
    assert [a.metadata.name for a in first] == ["a", "b", "c"]
    assert cursor is not None
    rest, last = ServerQuery.parse({"limit": "3", "cursor": cursor}).page(agents)
    assert [a.metadata.name for a in rest] == ["d"]
    assert last is None


@pytest.mark.parametrize("cursor", ["%%%", "////", "a"])
def test_a_cursor_it_did_not_give_is_refused(cursor: str) -> None:
    with pytest.raises(BadRequest, match="cursor"):
        ServerQuery.parse({"cursor": cursor})
