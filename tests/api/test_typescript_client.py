"""The official MCP TypeScript SDK (``@modelcontextprotocol/sdk``, which validates structured
content against output schemas with ajv) calls every registry tool, and an agent's tool."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mesh_registry import __version__
from tests.support.mesh import Mesh, plan
from tests.support.node import run_node


def typescript(node: Path, url: str, calls: list[tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    body = json.dumps([{"tool": tool, "arguments": arguments} for tool, arguments in calls])
    done = run_node(node, "mcp_client.mjs", url, stdin=body)
    assert done.returncode == 0, done.stderr
    answer: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_every_tool_answers_the_typescript_sdk(mesh: Mesh, node: Path) -> None:
    calls = plan(mesh, "typescript")
    answer = typescript(node, mesh.mcp, calls)
    assert answer["serverInfo"]["name"] == "mcp-mesh-registry"
    assert answer["serverInfo"]["version"] == __version__
    hints = {tool["name"]: tool["annotations"] for tool in answer["tools"]}
    assert hints["discover_services"]["readOnlyHint"] is True
    assert hints["register_agent"]["idempotentHint"] is True
    for (tool, arguments), result in zip(calls, answer["calls"], strict=True):
        assert "exception" not in result, (tool, arguments, result)
        assert result["isError"] is False, (tool, arguments, result)
        assert result["structuredContent"] is not None
    discovered = answer["calls"][3]["structuredContent"]["items"]
    assert {agent["metadata"]["name"] for agent in discovered} >= {"echo-0", "echo-1"}


def test_an_agent_answers_the_typescript_sdk(mesh: Mesh, node: Path) -> None:
    record = mesh.agents[1].record()
    assert record is not None
    answer = typescript(node, record["spec"]["endpoint"], [("say", {"text": "from node"})])
    assert answer["serverInfo"]["name"] == "echo-1"
    [said] = answer["calls"]
    assert said["isError"] is False, said
    assert said["structuredContent"] == {"text": "from node", "served_by": "echo-1"}
