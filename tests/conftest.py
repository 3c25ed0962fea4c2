"""The fixtures shared across the suite, each defined once.

Process level: ``registry`` (a registry process per test module), ``api`` (an httpx client on
it), ``ns`` (a namespace of the test's own), ``start_agent`` (agent processes, killed at the
end of the test), ``secured`` (a registry with authentication on), ``mesh`` (a registry with
two agents, for clients this project did not write) and ``node`` (the Node.js tools).
In process: ``service`` (the registry's service core on an in-memory store), driven by a
manual ``clock``, configured by ``config``.
"""

from __future__ import annotations

import gc
import sys
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from mesh_agent import decorator
from mesh_registry.clock import ManualClock
from mesh_registry.config import RegistryConfig
from mesh_registry.service import Registry
from tests.support.agent_processes import AgentProcess, StartAgent
from tests.support.core import START, core_config
from tests.support.mesh import Mesh, running_mesh
from tests.support.node import node_tools
from tests.support.processes import RegistryProcess, running_registry
from tests.support.tokens import TOKENS, write_tokens


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules with a test marked ``heavy`` first. The workers take whole modules, in order:
    the longest ones start at once instead of last, and the workers finish together."""
    _refuse_shared_node_ids(items)
    heavy = {item.module.__name__ for item in items if item.get_closest_marker("heavy")}  # type: ignore[attr-defined]
    items.sort(key=lambda item: item.module.__name__ not in heavy)  # type: ignore[attr-defined]


def _refuse_shared_node_ids(items: list[pytest.Item]) -> None:
    """Refuse to run tests that share a node ID: xdist's ``--dist loadscope`` (``make test``)
    keeps one test per node ID and silently drops the others. (Schemathesis names the tests
    of one function after their operations but leaves them the function's node ID, which
    is why its fuzz tests are one function per operation.)"""
    counts = Counter(item.nodeid for item in items)
    repeated = sorted(node_id for node_id, count in counts.items() if count > 1)
    if repeated:
        raise pytest.UsageError(f"tests with the same node ID would not all run: {repeated}")


def pytest_collection_finish(session: pytest.Session) -> None:
    """What importing and collecting built (every module, item and schema) lives until the
    session ends: frozen, full collections never rescan it (the workers of the API, model,
    core and security tests spent a tenth less CPU). Collections still run when they did."""
    gc.freeze()


# -- process level ---------------------------------------------------------------------------


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


@pytest.fixture(scope="module")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tokens(tmp_path_factory.mktemp("auth") / "tokens.json", TOKENS)


@pytest.fixture(scope="module")
def secured(tokens_file: Path) -> Iterator[RegistryProcess]:
    """A registry with authentication on: the tokens of ``tests.support.tokens``."""
    with running_registry(
        "--db", ":memory:", "--tokens-file", str(tokens_file), "--bookmark-interval", "0.2"
    ) as process:
        yield process


@pytest.fixture(scope="session")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """One mesh for every client this project did not write."""
    with running_mesh(tmp_path_factory.mktemp("interop") / "mesh.db") as running:
        yield running


@pytest.fixture(scope="session")
def node() -> Path:
    return node_tools()


# -- in process ------------------------------------------------------------------------------


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture
def config() -> RegistryConfig:
    return core_config()


@pytest.fixture
async def service(config: RegistryConfig, clock: ManualClock) -> AsyncIterator[Registry]:
    async with Registry(config, clock=clock) as registry:
        yield registry


@pytest.fixture
def fresh_default_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """A new process-wide agent for ``@mesh_agent``, as in a fresh process."""
    monkeypatch.setattr(decorator, "_default", None)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the runner adds the file's folder
    monkeypatch.setattr(sys, "argv", list(sys.argv))  # … and names the file in argv[0]
