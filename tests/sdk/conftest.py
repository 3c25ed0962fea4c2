"""A registry process per module; each test's agents run in a namespace of their own."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.agent_processes import AgentProcess
from tests.support.processes import RegistryProcess, running_registry

StartAgent = Callable[..., AgentProcess]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryProcess]:
    database = tmp_path_factory.mktemp("registry") / "mesh.db"
    with running_registry("--db", str(database)) as process:
        yield process


@pytest.fixture
def ns() -> str:
    return "sdk-" + uuid.uuid4().hex[:8]


@pytest.fixture
def start_agent(registry: RegistryProcess, ns: str) -> Iterator[StartAgent]:
    """Start an agent process (``script``, ``name``, …) in the test's namespace; every agent
    started is killed at the end of the test."""
    started: list[AgentProcess] = []

    def start(script: str, name: str, **options: Any) -> AgentProcess:
        options.setdefault("registry", registry.url)
        options.setdefault("namespace", ns)
        agent = AgentProcess(script, name=name, **options)
        started.append(agent)
        return agent

    yield start
    for agent in started:
        agent.kill()
