"""The mesh the interoperability tests run against, and the calls every client makes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.agent_processes import AgentProcess
from tests.support.processes import RegistryProcess


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
