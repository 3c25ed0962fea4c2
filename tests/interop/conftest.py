"""A registry process with real agents on ephemeral ports, for clients this project did not
write."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.mesh import Mesh
from tests.support.agent_processes import AgentProcess
from tests.support.node import node_tools
from tests.support.processes import running_registry


@pytest.fixture(scope="package")  # one mesh for every client of the package
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    database = tmp_path_factory.mktemp("interop") / "mesh.db"
    namespace = "interop-" + uuid.uuid4().hex[:8]
    with running_registry("--db", str(database)) as registry:
        agents = [
            AgentProcess(
                "provider.py",
                registry=registry.url,
                name=f"echo-{index}",
                namespace=namespace,
                interval=1.0,
                env={"MESH_AGENT_LABELS": f"team=interop,replica=r{index}"},
            )
            for index in range(2)
        ]
        try:
            for agent in agents:
                record = agent.wait_healthy()
                # Ephemeral ports: five digits, which the published schemas once refused.
                assert int(record["spec"]["endpoint"].rsplit(":", 1)[1].split("/")[0]) > 9999
            yield Mesh(registry, namespace, agents)
        finally:
            for agent in agents:
                agent.stop()


@pytest.fixture(scope="session")
def node() -> Path:
    return node_tools()
