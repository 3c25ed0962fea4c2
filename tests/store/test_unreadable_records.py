"""Records and files the registry cannot read never stop it: a record nested too deep is refused
before it is stored; one that is stored anyway (by an older registry, or by hand) is set aside
at start and the rest is served; a damaged database is refused at start with one line, and one
damaged while serving turns the registry not ready."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from mesh_registry.model import Limits
from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, running_registry

COLLECTION = "/api/v1/namespaces/default/agents"


def nested(depth: int) -> dict[str, Any]:
    """``{"x": {"x": … 1}}`` with ``depth`` levels of objects."""
    value: Any = 1
    for _ in range(depth):
        value = {"x": value}
    return dict(value)


def deep_agent(name: str, depth: int) -> dict[str, Any]:
    body = agent_body(name, ["deep.tool"], interval=3600)
    body["spec"]["capabilities"][0]["inputSchema"] = nested(depth)
    return body


@pytest.mark.parametrize("depth", [Limits.SCHEMA_DEPTH + 1, 199, 254])
def test_a_schema_nested_too_deep_is_refused_naming_the_field(tmp_path: Path, depth: int) -> None:
    with running_registry("--db", str(tmp_path / "mesh.db")) as registry:
        refused = httpx.put(f"{registry.url}{COLLECTION}/deep", json=deep_agent("deep", depth))
        assert refused.status_code == 422, refused.text
        causes = refused.json()["details"]["causes"]
        assert causes[0]["field"] == "spec.capabilities[0].inputSchema"
        assert "at most 64 levels" in causes[0]["message"]
        accepted = httpx.put(
            f"{registry.url}{COLLECTION}/deep", json=deep_agent("deep", Limits.SCHEMA_DEPTH)
        )
        assert accepted.status_code == 201


def test_a_body_nested_too_deep_anywhere_is_a_400(tmp_path: Path) -> None:
    with running_registry("--db", ":memory:") as registry:
        body = agent_body("a", ["x.y"])
        body["metadata"]["annotations"] = nested(600)  # wrong type too, but first: too deep
        refused = httpx.put(f"{registry.url}{COLLECTION}/a", json=body)
        assert refused.status_code == 400
        assert "nests more than" in refused.json()["message"]


def test_an_unreadable_stored_record_is_set_aside_and_the_rest_served(tmp_path: Path) -> None:
    database = tmp_path / "mesh.db"
    with running_registry("--db", str(database)) as registry:
        for name in ("a", "b", "c"):
            httpx.put(f"{registry.url}{COLLECTION}/{name}", json=agent_body(name, ["x.y"]))
        before = httpx.get(registry.url + "/api/v1/agents", params={"limit": 1}).json()
        assert registry.stop() == 0
    # What an older registry could store: a record nested 254 levels deep, as "b".
    with sqlite3.connect(database) as db:
        (value,) = db.execute("SELECT value FROM objects WHERE name = 'b'").fetchone()
        record = json.loads(value)
        record["spec"]["capabilities"][0]["inputSchema"] = nested(254)
        db.execute("UPDATE objects SET value = ? WHERE name = 'b'", (json.dumps(record),))

    with running_registry("--db", str(database)) as registry:
        ready = httpx.get(registry.url + "/readyz").json()
        assert (ready["ready"], ready["agents"], ready["quarantined"]) == (True, 2, 1)
        listed = httpx.get(registry.url + "/api/v1/agents").json()["items"]
        assert [agent["metadata"]["name"] for agent in listed] == ["a", "c"]
        assert any("record default/b at revision" in line for line in registry.lines)
        # Every resume point from before is gone: watchers and pages list again, cleanly.
        resumed = httpx.get(
            registry.url + "/api/v1/agents", params={"watch": "true", "resourceVersion": "1"}
        )
        assert resumed.status_code == 410
        page = httpx.get(
            registry.url + "/api/v1/agents", params={"continue": before["metadata"]["continue"]}
        )
        assert page.status_code == 410
        # The name is free again; the record is kept aside for an operator.
        again = httpx.put(f"{registry.url}{COLLECTION}/b", json=agent_body("b", ["x.y"]))
        assert again.status_code == 201
        assert registry.stop() == 0
    with sqlite3.connect(database) as db:
        assert db.execute("SELECT name FROM quarantine").fetchall() == [("b",)]


def filled_database(tmp_path: Path, agents: int = 1000) -> Path:
    database = tmp_path / "mesh.db"
    with running_registry("--db", str(database)) as registry, httpx.Client() as client:
        for index in range(agents):
            client.put(
                f"{registry.url}{COLLECTION}/a{index}", json=agent_body(f"a{index}", ["x.y"])
            )
        assert registry.stop() == 0
    return database


def test_a_damaged_database_is_refused_at_start_with_one_line(tmp_path: Path) -> None:
    database = filled_database(tmp_path)
    with open(database, "r+b") as file:
        file.seek(-64 * 1024, os.SEEK_END)
        file.write(os.urandom(64 * 1024))
    started = RegistryProcess("--db", str(database), "--port", "0")
    assert started.wait_exit() == 1
    [line] = [line for line in started.lines if line.strip()]
    assert line.startswith("mcp-mesh-registry: database")
    assert "is damaged" in line
    assert "restore it from a backup" in line
