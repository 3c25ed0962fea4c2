"""The `mcp-mesh-registry` command, run as a real process on a loopback port."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import ROOT, running_registry, spawn_registry


def test_serves_health_readiness_and_lists(tmp_path: Path) -> None:
    with running_registry("--db", str(tmp_path / "mesh.db")) as registry:
        assert httpx.get(registry.url + "/healthz").json() == {"status": "ok"}
        ready = httpx.get(registry.url + "/readyz").json()
        assert ready == {"ready": True, "revision": "0", "selfPreservation": False}
        listed = httpx.get(registry.url + "/api/v1/agents").json()
        assert (listed["kind"], listed["items"], listed["metadata"]["resourceVersion"]) == (
            "AgentList",
            [],
            "0",
        )
        missing = httpx.get(registry.url + "/api/v1/namespaces/default/agents/nope")
        assert missing.status_code == 404
        assert missing.json()["kind"] == "Status"
        assert missing.json()["reason"] == "NotFound"
        bad = httpx.get(registry.url + "/api/v1/agents", params={"labelSelector": "a in ("})
        assert bad.status_code == 400
        assert "position" in bad.json()["message"]
        assert httpx.get(registry.url + "/api/v1/agents?limit=x").status_code == 400
        assert registry.stop() == 0


def test_a_second_registry_on_the_same_file_is_refused(tmp_path: Path) -> None:
    db = str(tmp_path / "mesh.db")
    with running_registry("--db", db):
        process, _ = spawn_registry("--db", db)
        output, _ = process.communicate(timeout=30)
        assert process.returncode != 0
        assert "in use by another registry process" in output
        assert "Traceback" not in output


def test_an_unusable_database_path_is_one_clear_line(tmp_path: Path) -> None:
    process, _ = spawn_registry("--db", str(tmp_path / "missing" / "dir" / "mesh.db"))
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 1
    assert "cannot open database" in output
    assert "Traceback" not in output


def test_sigint_stops_cleanly(tmp_path: Path) -> None:
    with running_registry("--db", ":memory:") as registry:
        assert registry.stop(signal.SIGINT) == 0


def test_module_and_console_script_agree() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mesh_registry", "--help"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0
    assert "mcp-mesh-registry" in result.stdout
