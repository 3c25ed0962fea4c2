"""The read side of the official MCP registry API (``/v0.1/servers``) against a registry
process, every answer checked against the official document's schemas
(tests/support/specs/mcp-registry-2025-12-01.yaml)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import jsonschema
import pytest
import yaml

from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, running_registry
from tests.support.tokens import TOKENS, bearer, write_tokens

SPEC = yaml.safe_load(
    (Path(__file__).parents[1] / "support" / "specs" / "mcp-registry-2025-12-01.yaml").read_text()
)


def conforms(instance: Any, component: str) -> None:
    """Raise unless ``instance`` validates against the official ``component`` schema."""
    schema = {"$ref": f"#/components/schemas/{component}", "components": SPEC["components"]}
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(instance)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    tokens = write_tokens(tmp_path_factory.mktemp("tokens") / "tokens.json", TOKENS)
    with running_registry("--db", ":memory:", "--tokens-file", str(tokens)) as process:
        api = httpx.Client(base_url=process.url, headers=bearer("admin-all"))
        agents = [
            ("team-a", "weather", ["weather.forecast", "weather.alerts"], "1.4.0", True),
            ("team-a", "geo", ["geo.lookup"], "2.0.0", True),
            ("team-b", "notes", [], "1.0.0", True),
            ("team-b", "quiet", ["quiet.thing"], "1.0.0", False),  # never heartbeats
            ("team-b", "x" * 200, ["long.name"], "1.0.0", True),  # too long a server name
        ]
        for namespace, name, capabilities, version, beats in agents:
            body = agent_body(name, capabilities, version=version, interval=3600)
            api.post(f"/api/v1/namespaces/{namespace}/agents", json=body).raise_for_status()
            if beats:
                api.post(f"/api/v1/namespaces/{namespace}/agents/{name}/heartbeat")
        yield process


def get(registry: RegistryProcess, path: str, subject: str = "reader-all", **params: Any) -> Any:
    return httpx.get(registry.url + path, params=params, headers=bearer(subject))


def names(listing: dict[str, Any]) -> list[str]:
    return [entry["server"]["name"] for entry in listing["servers"]]


def test_every_healthy_agent_is_one_server(registry: RegistryProcess) -> None:
    response = get(registry, "/v0.1/servers")
    assert response.status_code == 200
    listing = response.json()
    conforms(listing, "ServerList")
    assert names(listing) == ["mesh.team-a/geo", "mesh.team-a/weather", "mesh.team-b/notes"]
    weather = listing["servers"][1]
    assert weather["server"]["version"] == "1.4.0"
    assert weather["server"]["remotes"][0]["type"] == "streamable-http"
    assert weather["server"]["description"] == ("mcp-mesh agent: weather.forecast, weather.alerts")
    official = weather["_meta"]["io.modelcontextprotocol.registry/official"]
    assert official["status"] == "active"
    assert official["isLatest"] is True
    assert weather["_meta"]["dev.mcp-mesh/agent"]["phase"] == "healthy"


def test_pages_follow_the_cursor_and_filters_narrow(registry: RegistryProcess) -> None:
    seen, cursor = [], None
    while True:
        page = get(registry, "/v0.1/servers", limit=1, **({"cursor": cursor} if cursor else {}))
        conforms(page.json(), "ServerList")
        seen += names(page.json())
        cursor = page.json()["metadata"].get("nextCursor")
        if not cursor:
            break
    assert seen == names(get(registry, "/v0.1/servers").json())
    assert names(get(registry, "/v0.1/servers", search="team-a/").json()) == [
        "mesh.team-a/geo",
        "mesh.team-a/weather",
    ]
    assert names(get(registry, "/v0.1/servers", version="2.0.0").json()) == ["mesh.team-a/geo"]
    assert len(names(get(registry, "/v0.1/servers", version="latest").json())) == 3
    future = get(registry, "/v0.1/servers", updated_since="2999-01-01T00:00:00Z").json()
    assert future["servers"] == []
    past = get(registry, "/v0.1/servers", updated_since="2000-01-01T00:00:00Z").json()
    assert len(past["servers"]) == 3


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit: must be between 1 and 100"),
        ({"limit": "abc"}, "limit: 'abc' is not a whole number"),
        ({"limit": "101"}, "limit: must be between 1 and 100"),
        ({"cursor": "%%%"}, "cursor: not a cursor this registry gave"),
        ({"updated_since": "yesterday"}, "updated_since: 'yesterday' is not an RFC 3339 time"),
        ({"updated_since": "2025-01-01T00:00:00"}, "updated_since: give a time zone"),
    ],
)
def test_bad_parameters_are_named(
    registry: RegistryProcess, params: dict[str, str], message: str
) -> None:
    response = get(registry, "/v0.1/servers", **params)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)


def test_one_server_its_versions_and_a_version(registry: RegistryProcess) -> None:
    name = quote("mesh.team-a/weather", safe="")
    versions = get(registry, f"/v0.1/servers/{name}/versions")
    assert versions.status_code == 200
    conforms(versions.json(), "ServerList")
    assert names(versions.json()) == ["mesh.team-a/weather"]
    for version in ("latest", "1.4.0"):
        one = get(registry, f"/v0.1/servers/{name}/versions/{version}")
        assert one.status_code == 200
        conforms(one.json(), "ServerResponse")
        assert one.json()["server"]["name"] == "mesh.team-a/weather"
    assert get(registry, f"/v0.1/servers/{name}/versions/9.9.9").json() == {
        "error": "Server version not found"
    }
    for missing in ("mesh.team-b/quiet", "mesh.nowhere/x", "not-ours"):
        response = get(registry, f"/v0.1/servers/{quote(missing, safe='')}/versions")
        assert (response.status_code, response.json()) == (404, {"error": "Server not found"})


def test_publishing_through_it_answers_501(registry: RegistryProcess) -> None:
    name = quote("mesh.team-a/weather", safe="")
    api = httpx.Client(base_url=registry.url, headers=bearer("admin-all"))
    for method, path in (
        ("POST", "/v0.1/publish"),
        ("PUT", f"/v0.1/servers/{name}/versions/1.4.0"),
        ("DELETE", f"/v0.1/servers/{name}/versions/1.4.0"),
        ("PATCH", f"/v0.1/servers/{name}/versions/1.4.0/status"),
        ("PATCH", f"/v0.1/servers/{name}/status"),
    ):
        response = api.request(method, path, json={"name": "x/y"})
        assert response.status_code == 501, (method, path)
        assert "not supported by this registry" in response.json()["error"]


def test_it_shows_only_what_the_token_may_read(registry: RegistryProcess) -> None:
    assert names(get(registry, "/v0.1/servers", subject="reader-a").json()) == [
        "mesh.team-a/geo",
        "mesh.team-a/weather",
    ]
    hidden = quote("mesh.team-b/notes", safe="")
    assert get(registry, f"/v0.1/servers/{hidden}/versions", subject="reader-a").status_code == 404
    anonymous = httpx.get(registry.url + "/v0.1/servers")
    assert anonymous.status_code == 401
