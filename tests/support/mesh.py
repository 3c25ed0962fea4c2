"""The mesh the interoperability tests run against, and the calls every client makes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.agent_processes import AgentProcess
from tests.support.processes import RegistryProcess, running_registry


@dataclass(frozen=True)
class Mesh:
    registry: RegistryProcess
    namespace: str
    agents: list[AgentProcess]

    @property
    def mcp(self) -> str:
        return self.registry.url + "/mcp"


def plan(mesh: Mesh, suffix: str) -> list[tuple[str, dict[str, Any]]]:
    """A call of every tool, in both argument shapes where a tool takes two."""
    ns = mesh.namespace
    port = 54321  # a five-digit port, and a user@ part: both are valid endpoints
    return [
        ("list_agents", {"namespace": ns}),
        ("list_agents", {"selector": {"matchLabels": {"team": "interop"}}, "version": ">=1"}),
        ("list_agents", {"selector": "team=interop", "tags": ["-slow"], "limit": 1}),
        ("discover_services", {"capabilities": ["echo.say"], "status": "healthy"}),
        ("discover_services", {"labels": {"team": "interop"}, "namespace": ns}),
        (
            "discover_services",
            {
                "selector": {
                    "matchExpressions": [
                        {"key": "replica", "operator": "In", "values": ["r0", "r1"]},
                        {"key": "canary", "operator": "DoesNotExist"},
                    ]
                },
                "namespace": ns,
            },
        ),
        ("get_agent_status", {"name": "echo-0", "namespace": ns}),
        (
            "register_agent",
            {
                "name": f"flat-{suffix}",
                "namespace": ns,
                "endpoint": f"http://127.0.0.1:{port}/mcp",
                "capabilities": ["flat.echo", {"name": "flat.other", "version": "3.0.0"}],
                "dependencies": ["echo.say"],
                "labels": {"shape": "flat"},
                "version": "2.1.0",
                "tags": ["fast"],
                "health_interval": 30,
            },
        ),
        (
            "register_agent",
            {
                "agent": {
                    "metadata": {"name": f"object-{suffix}", "namespace": ns},
                    "spec": {
                        "endpoint": f"https://mesh@agents.example:{port}/mcp",
                        "capabilities": [{"name": "object.echo"}],
                    },
                }
            },
        ),
        ("heartbeat", {"name": f"flat-{suffix}", "namespace": ns}),
        ("unregister_agent", {"name": f"flat-{suffix}", "namespace": ns}),
        ("unregister_agent", {"name": f"object-{suffix}", "namespace": ns}),
    ]


@contextmanager
def running_mesh(database: Path) -> Iterator[Mesh]:
    """A registry process with two agents on ephemeral ports."""
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
