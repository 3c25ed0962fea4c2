"""The OpenAPI document the registry serves, as strict tools see it: ``openapi-spec-validator``
(OpenAPI 3.1) and Redocly's linter with its recommended rules."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import httpx
from openapi_spec_validator import validate

from tests.support.mesh import Mesh


def served(mesh: Mesh) -> dict[str, Any]:
    document: dict[str, Any] = httpx.get(mesh.registry.url + "/openapi.json").json()
    return document


def test_the_document_is_valid_openapi_3_1(mesh: Mesh) -> None:
    validate(served(mesh))  # raises on the first violation


def test_redocly_recommended_rules_find_nothing(mesh: Mesh, node: Path, tmp_path: Path) -> None:
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(served(mesh)))
    done = subprocess.run(
        [str(node / "node_modules/.bin/redocly"), "lint", str(path), "--format=json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    report = json.loads(done.stdout)
    assert report["problems"] == [], json.dumps(report["problems"], indent=2)
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}
