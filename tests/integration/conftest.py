"""One registry process per test module; each test works in a namespace of its own."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.processes import RegistryProcess, running_registry


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    database = tmp_path_factory.mktemp("registry") / "mesh.db"
    with running_registry("--db", str(database), "--bookmark-interval", "0.5") as process:
        yield process


@pytest.fixture
def ns() -> str:
    return "t-" + uuid.uuid4().hex[:10]


@pytest.fixture
def api(registry: RegistryProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=registry.url, timeout=10) as client:
        yield client


def revision(api: httpx.Client) -> int:
    return int(api.get("/readyz").json()["revision"])


def database_path(tmp_path: Path) -> str:
    return str(tmp_path / "mesh.db")
