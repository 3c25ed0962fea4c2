"""``mcp-mesh export`` and ``mcp-mesh import``: 1,000 agents in several namespaces out of one
registry process and into an empty one, equal record for record; what an import says of
records that exist, differ or are refused."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.support.agent_processes import mcp_mesh
from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, running_registry

NAMESPACES = ("default", "team-a", "team-b", "team-c")
REGISTRY_SET = ("uid", "resourceVersion", "generation", "creationTimestamp")


def mesh(registry: RegistryProcess, *args: str) -> subprocess.CompletedProcess[str]:
    return mcp_mesh(registry.url, *args, timeout=120)


def records(registry: RegistryProcess) -> dict[str, dict[str, Any]]:
    """Every record, by namespace/name, without what the registry sets."""
    found = {}
    for agent in httpx.get(registry.url + "/api/v1/agents", timeout=30).json()["items"]:
        metadata = {k: v for k, v in agent["metadata"].items() if k not in REGISTRY_SET}
        found[f"{metadata['namespace']}/{metadata['name']}"] = {
            "metadata": metadata,
            "spec": agent["spec"],
        }
    return found


def source_record(n: int) -> dict[str, Any]:
    namespace = NAMESPACES[n % len(NAMESPACES)]
    body = agent_body(
        f"agent-{n}",
        [f"cap.c{n % 7}", f"other.o{n % 3}"],
        namespace=namespace,
        labels={"shard": str(n % 5), "team": namespace},
        annotations={"owner": f"person-{n % 11}"},
        interval=3600,
        version=f"1.{n % 4}.0",
        tags=["fast"] if n % 2 else [],
        dependencies=[{"capability": "cap.c1", "selector": "shard in (1,2)"}],
    )
    body["spec"]["prompts"] = [{"name": "p", "arguments": [{"name": "x"}]}] if n % 9 else []
    return body


@pytest.fixture(scope="module")
def source() -> Iterator[RegistryProcess]:
    with (
        running_registry("--db", ":memory:") as registry,
        httpx.Client(base_url=registry.url, timeout=30) as api,
        ThreadPoolExecutor(8) as pool,  # in parallel, as agents register: the commits group
    ):

        def register(n: int) -> None:
            body = source_record(n)
            namespace = body["metadata"]["namespace"]
            api.post(f"/api/v1/namespaces/{namespace}/agents", json=body).raise_for_status()

        list(pool.map(register, range(1000)))
        yield registry


@pytest.mark.heavy
@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_a_round_trip_keeps_every_record(source: RegistryProcess, tmp_path: Path, fmt: str) -> None:
    exported = tmp_path / f"mesh.{fmt}"
    result = mesh(source, "export", "-A", "-o", str(exported))
    assert result.returncode == 0, result.stderr
    assert "exported 1000 agents" in result.stderr
    text = exported.read_text()
    document = (
        yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        if fmt == "yaml"
        else json.loads(text)
    )
    assert document["kind"] == "AgentList"
    assert "uid" not in document["items"][0]["metadata"]
    assert "status" not in document["items"][0]
    with running_registry("--db", ":memory:") as target:
        result = mesh(target, "import", str(exported))
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "created 1000, replaced 0, unchanged 0, refused 0"
        assert records(target) == records(source)
        again = mesh(target, "import", str(exported))  # idempotent
        assert again.stdout.strip() == "created 0, replaced 0, unchanged 1000, refused 0"


def test_an_import_refuses_what_differs_or_is_invalid_and_says_why(tmp_path: Path) -> None:
    with running_registry("--db", ":memory:") as registry:
        api = httpx.Client(base_url=registry.url)
        api.post("/api/v1/namespaces/default/agents", json=agent_body("kept", ["a.b"]))
        changed = agent_body("kept", ["a.c"])
        invalid = agent_body("broken", ["a.b"])
        invalid["spec"]["endpoint"] = "not a url"
        fresh = agent_body("fresh", ["a.b"], namespace="other")
        path = tmp_path / "import.json"
        path.write_text(json.dumps({"kind": "AgentList", "items": [changed, invalid, fresh]}))

        dry = mesh(registry, "import", str(path), "--dry-run")
        assert dry.returncode == 1
        assert dry.stdout.strip() == (
            "created 1, replaced 0, unchanged 0, refused 2 (dry run: nothing written)"
        )
        assert "refused default/kept: exists and differs (--overwrite replaces it)" in dry.stderr
        assert "refused default/broken: spec.endpoint:" in dry.stderr
        assert api.get("/api/v1/namespaces/other/agents/fresh").status_code == 404

        done = mesh(registry, "import", str(path), "--overwrite")
        assert done.returncode == 1  # the invalid one is still refused
        assert done.stdout.strip() == "created 1, replaced 1, unchanged 0, refused 1"
        kept = api.get("/api/v1/namespaces/default/agents/kept").json()
        assert [c["name"] for c in kept["spec"]["capabilities"]] == ["a.c"]
        assert api.get("/api/v1/namespaces/other/agents/fresh").status_code == 200


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not: [json", "neither JSON nor YAML"),
        ('{"kind": "AgentList", "items": 3}', "items are not a list"),
        ('"just a string"', "expected an AgentList"),
    ],
)
def test_a_file_that_is_not_an_export_is_refused(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with running_registry("--db", ":memory:") as registry:
        result = mesh(registry, "import", str(path))
    assert result.returncode == 2
    assert message in result.stderr
