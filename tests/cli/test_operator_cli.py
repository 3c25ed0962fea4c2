"""`mcp-mesh` against a live registry: output checked."""

from __future__ import annotations

import json
import os
import subprocess
import threading

import httpx
import pytest
import yaml

from tests.support.agent_processes import MCP_MESH, mcp_mesh
from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, wait_until

MESH = MCP_MESH


def mesh(registry: RegistryProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return mcp_mesh(registry.url, *args)


@pytest.fixture
def populated(registry: RegistryProcess, ns: str) -> str:
    api = httpx.Client(base_url=registry.url)
    rows = [
        ("weather-eu", {"env": "prod", "region": "eu"}, "1.4.0", ["fast"]),
        ("weather-us", {"env": "prod", "region": "us"}, "2.0.0", []),
        ("weather-dev", {"env": "dev"}, "1.0.0", []),
    ]
    for name, labels, version, tags in rows:
        body = agent_body(
            name, ["weather.forecast"], labels=labels, version=version, tags=tags, interval=3600
        )
        api.post(f"/api/v1/namespaces/{ns}/agents", json=body)
        api.post(f"/api/v1/namespaces/{ns}/agents/{name}/heartbeat")
    api.post(
        f"/api/v1/namespaces/{ns}/agents", json=agent_body("date", ["date.today"], interval=3600)
    )
    return ns


def test_get_agents_table(registry: RegistryProcess, populated: str) -> None:
    result = mesh(registry, "get", "agents", "-n", populated)
    assert result.returncode == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["NAME", "PHASE", "CAPABILITIES", "LAST", "HEARTBEAT", "AGE"]
    assert [row.split()[:3] for row in rows] == [
        ["date", "pending", "date.today@1.0.0"],
        ["weather-dev", "healthy", "weather.forecast@1.0.0"],
        ["weather-eu", "healthy", "weather.forecast@1.4.0"],
        ["weather-us", "healthy", "weather.forecast@2.0.0"],
    ]


def test_get_agents_filters_and_formats(registry: RegistryProcess, populated: str) -> None:
    selected = mesh(registry, "get", "agents", "-n", populated, "-l", "env=prod,region!=us")
    assert [r.split()[0] for r in selected.stdout.splitlines()[1:]] == ["weather-eu"]
    by_capability = mesh(registry, "get", "agents", "-n", populated, "--capability", "date.today")
    assert [r.split()[0] for r in by_capability.stdout.splitlines()[1:]] == ["date"]
    wide = mesh(registry, "get", "agents", "-n", populated, "-o", "wide", "-l", "region=eu")
    assert "ENDPOINT" in wide.stdout
    assert "env=prod,region=eu" in wide.stdout
    everywhere = mesh(registry, "get", "agents", "-A", "-l", "region=eu")
    assert everywhere.stdout.splitlines()[0].split()[0] == "NAMESPACE"
    as_json = json.loads(mesh(registry, "get", "agents", "-n", populated, "-o", "json").stdout)
    assert as_json["kind"] == "AgentList"
    assert len(as_json["items"]) == 4
    as_yaml = yaml.safe_load(mesh(registry, "get", "agents", "-n", populated, "-o", "yaml").stdout)
    assert as_yaml == as_json | {"metadata": as_yaml["metadata"]}
    empty = mesh(registry, "get", "agents", "-n", "nobody-here")
    assert empty.returncode == 0
    assert "No agents found in namespace nobody-here" in empty.stderr


def test_describe_agent(registry: RegistryProcess, populated: str) -> None:
    result = mesh(registry, "describe", "agent", "weather-eu", "-n", populated)
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "Name:              weather-eu" in text
    assert f"Namespace:         {populated}" in text
    assert "Labels:            env=prod" in text
    assert "region=eu" in text
    assert "Phase:           healthy" in text
    assert "weather.forecast   weather.forecast   1.4.0     fast" in text
    missing = mesh(registry, "describe", "agent", "nope", "-n", populated)
    assert missing.returncode == 1
    assert f'agent "{populated}/nope" not found' in missing.stderr


def test_discover(registry: RegistryProcess, populated: str) -> None:
    ranked = mesh(registry, "discover", "weather.forecast", "-n", populated, "--tags", "+fast")
    assert [row.split()[:3] for row in ranked.stdout.splitlines()[1:]] == [
        ["1", populated, "weather-eu"],
        ["2", populated, "weather-us"],
        ["3", populated, "weather-dev"],
    ]
    narrowed = mesh(
        registry,
        "discover",
        "weather.forecast",
        "-n",
        populated,
        "-l",
        "env=prod",
        "--version",
        "^1",
    )
    assert [row.split()[2] for row in narrowed.stdout.splitlines()[1:]] == ["weather-eu"]
    bad = mesh(registry, "discover", "weather.forecast", "--version", ">>1")
    assert bad.returncode == 1
    assert "invalid version range" in bad.stderr


def test_discover_as_json_is_an_agent_list(registry: RegistryProcess, populated: str) -> None:
    # As `get agents -o json` and /api/v1/discover give it: the same kind, the same order.
    found = mesh(registry, "discover", "weather.forecast", "-n", populated, "-o", "json")
    assert found.returncode == 0, found.stderr
    as_json = json.loads(found.stdout)
    assert as_json["kind"] == "AgentList"
    assert as_json["metadata"]["resourceVersion"]
    rest = httpx.get(
        registry.url + "/api/v1/discover",
        params={"capability": "weather.forecast", "namespace": populated},
    ).json()
    assert [a["metadata"]["name"] for a in as_json["items"]] == [
        a["metadata"]["name"] for a in rest["items"]
    ]
    as_yaml = yaml.safe_load(
        mesh(registry, "discover", "weather.forecast", "-n", populated, "-o", "yaml").stdout
    )
    assert as_yaml["kind"] == "AgentList"


def test_get_agents_by_name(registry: RegistryProcess, populated: str) -> None:
    one = mesh(registry, "get", "agents", "weather-eu", "-n", populated)
    assert one.returncode == 0, one.stderr
    assert [row.split()[0] for row in one.stdout.splitlines()] == ["NAME", "weather-eu"]
    as_json = json.loads(
        mesh(registry, "get", "agents", "weather-eu", "-n", populated, "-o", "json").stdout
    )
    assert (as_json["kind"], as_json["metadata"]["name"]) == ("Agent", "weather-eu")
    two = mesh(registry, "get", "agents", "weather-eu", "date", "-n", populated, "-o", "json")
    listed = json.loads(two.stdout)
    assert listed["kind"] == "AgentList"
    assert [a["metadata"]["name"] for a in listed["items"]] == ["weather-eu", "date"]
    # A missing one: the others are shown, the error is said, the exit status is 1.
    partly = mesh(registry, "get", "agents", "weather-eu", "nobody", "-n", populated)
    assert partly.returncode == 1
    assert "weather-eu" in partly.stdout
    assert "nobody" in partly.stderr
    assert "not found" in partly.stderr
    refused = mesh(registry, "get", "agents", "weather-eu", "-A")
    assert refused.returncode == 2
    assert "names cannot be given with --all-namespaces" in refused.stderr


def test_watch_prints_events_as_they_come(registry: RegistryProcess, populated: str) -> None:
    process = subprocess.Popen(
        [str(MESH), "watch", "agents", "-n", populated],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "MESH_REGISTRY_URL": registry.url},
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout or []), daemon=True)
    reader.start()
    try:
        wait_until(lambda: sum("ADDED" in line for line in lines) == 4)
        api = httpx.Client(base_url=registry.url)
        api.delete(f"/api/v1/namespaces/{populated}/agents/date")
        wait_until(lambda: any(line.startswith("DELETED") for line in lines))
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert lines[0].split() == ["EVENT", "NAME", "PHASE", "REVISION"]
    assert [line.split()[:2] for line in lines[1:]] == [
        ["ADDED", "date"],
        ["ADDED", "weather-dev"],
        ["ADDED", "weather-eu"],
        ["ADDED", "weather-us"],
        ["DELETED", "date"],
    ]


def test_an_unreachable_registry_is_one_clear_line() -> None:
    result = subprocess.run(
        [str(MESH), "--registry", "http://127.0.0.1:9", "get", "agents"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error from http://127.0.0.1:9: registry at")
    assert "unreachable" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        ("run-wasm", "Usage: mcp-mesh run-wasm [OPTIONS] PATH"),
        ("sidecar", "Usage: mcp-mesh sidecar [OPTIONS] COMMAND..."),
    ],
)
def test_agent_commands_answer_help_themselves(
    registry: RegistryProcess, command: str, expected: str
) -> None:
    result = mesh(registry, command, "--help")
    assert result.returncode == 0, result.stderr
    assert expected in result.stdout
    assert "--labels" in result.stdout
