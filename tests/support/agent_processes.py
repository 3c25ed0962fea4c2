"""Agents as real processes: the test agents under tests/agents, and the examples."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support.processes import ROOT, SERVING, Process, wait_until

AGENTS = ROOT / "tests" / "agents"
EXAMPLES = ROOT / "examples"
MCP_MESH = Path(sys.executable).parent / "mcp-mesh"


class AgentProcess(Process):
    """An agent script run as ``python SCRIPT``, configured through the environment."""

    def __init__(
        self,
        script: str | Path,
        *,
        registry: str,
        name: str,
        namespace: str,
        interval: float = 0.5,
        env: dict[str, str] | None = None,
        cli: bool = False,
        token: str | None = None,
        verify: Any = True,
        command: list[str] | None = None,
    ) -> None:
        """``cli``: start it as ``mcp-mesh run SCRIPT`` instead of ``python SCRIPT``;
        ``command``: as ``mcp-mesh COMMAND…`` (``script`` is then ignored); ``token`` (and
        ``verify``, for an https registry): how the test reads its record."""
        path = Path(script) if Path(script).is_absolute() else AGENTS / script
        settings = {
            "MESH_REGISTRY_URL": registry,
            "MESH_AGENT_NAME": name,
            "MESH_NAMESPACE": namespace,
            "MESH_HEALTH_INTERVAL": str(interval),
        }
        argv = [str(MCP_MESH), "run", str(path)] if cli else [str(path)]
        if command is not None:
            argv = [str(MCP_MESH), *command]
        super().__init__(argv, {**settings, **(env or {})})
        self.registry, self.name, self.namespace = registry, name, namespace
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._verify = verify

    @property
    def record_path(self) -> str:
        return f"/api/v1/namespaces/{self.namespace}/agents/{self.name}"

    def record(self) -> dict[str, Any] | None:
        response = httpx.get(
            self.registry + self.record_path, headers=self._headers, verify=self._verify
        )
        return response.json() if response.status_code == 200 else None

    def wait_healthy(self, timeout: float = 30.0) -> dict[str, Any]:
        def healthy() -> dict[str, Any] | None:
            if not self.alive():
                raise AssertionError(f"agent {self.name} exited:\n{self.output}")
            record = self.record()
            return record if record and record["status"]["phase"] == "healthy" else None

        return wait_until(healthy, timeout)

    def wait_serving(self, timeout: float = 30.0) -> str:
        """The endpoint the agent serves on, from its log: known before it registers."""
        return served_url(self, f"agent {self.name}", timeout)

    @property
    def endpoint(self) -> str:
        record = self.record()
        assert record is not None, f"{self.name} is not registered"
        return str(record["spec"]["endpoint"])


# The ``start_agent`` fixture: ``start_agent(script, name, **AgentProcess options)``.
StartAgent = Callable[..., AgentProcess]


class GatewayProcess(Process):
    """``mcp-mesh gateway`` as a process, on an ephemeral port, for ``registry``."""

    def __init__(self, registry: str, *options: str, env: dict[str, str] | None = None) -> None:
        argv = [str(MCP_MESH), "--registry", registry, "gateway", "--port", "0", *options]
        super().__init__(argv, env)

    def wait_serving(self, timeout: float = 30.0) -> str:
        """The gateway's MCP endpoint, from its log."""
        return served_url(self, "the gateway", timeout)


def served_url(process: Process, what: str, timeout: float) -> str:
    """The URL ``process`` says it serves on (its log line), once it does."""

    def serving() -> str | None:
        if not process.alive():
            raise AssertionError(f"{what} exited:\n{process.output}")
        return next((m.group(1) for line in process.lines if (m := SERVING.search(line))), None)

    return wait_until(serving, timeout)


def mcp_mesh(registry: str, *args: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run ``mcp-mesh ARGS`` against ``registry`` (its URL), to completion."""
    return subprocess.run(
        [str(MCP_MESH), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MESH_REGISTRY_URL": registry},
        cwd=ROOT,
    )
