"""``mcp-mesh run-wasm`` and ``MeshAgent.add_wasm`` as real processes against a real registry."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from tests.support.agent_processes import MCP_MESH, StartAgent
from tests.support.processes import ROOT, Process, RegistryProcess

MODULES = Path(__file__).parent / "modules"
EXAMPLES = ROOT / "examples" / "wasm"


@pytest.fixture
def wasm_env(tmp_path: Path) -> dict[str, str]:
    return {"MESH_WASM_CACHE": str(tmp_path / "wasm-cache")}


def capabilities(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in record["spec"]["capabilities"]}


async def test_run_wasm_serves_modules_as_capabilities(
    start_agent: StartAgent, wasm_env: dict[str, str]
) -> None:
    agent = start_agent(
        "", "wasm", command=["run-wasm", str(EXAMPLES), "--labels", "lang=wasm"], env=wasm_env
    )
    record = agent.wait_healthy()
    assert record["metadata"]["labels"] == {"lang": "wasm"}
    found = capabilities(record)
    assert set(found) == {"math.add", "math.fib", "math.hypot", "text.echo"}
    assert found["math.add"]["tool"] == "add"
    assert found["math.add"]["inputSchema"]["required"] == ["a", "b"]
    assert found["text.echo"]["inputSchema"]["required"] == ["text"]
    async with Client(agent.endpoint) as client:
        assert (await client.call_tool("add", {"a": 40, "b": 2})).data == 42
        echoed = await client.call_tool("echo", {"text": "hi"})
        assert echoed.structured_content == {"echo": {"text": "hi"}}
    cache = Path(wasm_env["MESH_WASM_CACHE"])
    assert len(os.listdir(cache)) == 2  # both modules compiled, and cached


async def test_hostile_modules_never_take_the_agent_down(
    start_agent: StartAgent, wasm_env: dict[str, str], tmp_path: Path
) -> None:
    agent = start_agent("", "hostile", command=["run-wasm", str(MODULES)], env=wasm_env)
    agent.wait_healthy()
    async with Client(agent.endpoint) as client:
        for tool, arguments, message in [
            ("spin", {}, "took longer than 0.2 s"),
            ("burn", {"n": 10**12}, "ran out of fuel"),
            ("grow", {"pages": 64}, "memory limit"),
            ("divide", {"a": 1, "b": 0}, "integer division by zero"),
            ("boom", {}, "unreachable"),
            ("readfile", {}, "exited with status 8"),
            ("garbage", {}, "malformed output"),
        ]:
            with pytest.raises(ToolError, match=message):
                await client.call_tool(tool, arguments)
            assert (await client.call_tool("burn", {"n": 3})).data == 3  # still serving
    assert agent.alive()
    assert agent.wait_healthy()["status"]["phase"] == "healthy"


async def test_a_consumer_calls_a_wasm_capability_through_dependency_injection(
    start_agent: StartAgent, wasm_env: dict[str, str]
) -> None:
    provider = start_agent("", "arith", command=["run-wasm", str(EXAMPLES / "arith")], env=wasm_env)
    provider.wait_healthy()
    consumer = start_agent("relay.py", "relay", env={"TEST_DEPENDENCY": "math.fib"})
    consumer.wait_healthy()
    async with Client(consumer.endpoint) as client:
        result = await client.call_tool("relay", {"arguments": {"n": 20}})
    assert result.structured_content == {"result": 6765, "served_by": "arith"}


async def test_wasm_tools_beside_python_tools(
    start_agent: StartAgent, wasm_env: dict[str, str]
) -> None:
    agent = start_agent("wasm_beside_python.py", "both", env=wasm_env)
    record = agent.wait_healthy()
    assert {"math.double", "math.add", "math.fib", "math.hypot"} == set(capabilities(record))
    async with Client(agent.endpoint) as client:
        assert (await client.call_tool("double", {"x": 21})).data == 42
        assert (await client.call_tool("hypot", {"x": 6, "y": 8})).data == 10.0


async def test_capability_option_renames(start_agent: StartAgent, wasm_env: dict[str, str]) -> None:
    command = ["run-wasm", str(EXAMPLES / "echo"), "--capability", "say.back"]
    record = start_agent("", "renamed", command=command, env=wasm_env).wait_healthy()
    assert set(capabilities(record)) == {"say.back"}


@pytest.mark.parametrize(
    ("manifest", "arguments", "message"),
    [
        ({"limits": {"fuel": -1}}, [], "limits.fuel"),
        ({"functions": {"nope": {}}}, [], "functions.nope: the module exports no function"),
        ({}, ["--capability", "x y"], "capabilit"),
    ],
)
def test_bad_modules_stop_it_with_a_message(
    registry: RegistryProcess,
    tmp_path: Path,
    wasm_env: dict[str, str],
    manifest: dict[str, Any],
    arguments: list[str],
    message: str,
) -> None:
    (tmp_path / "m.wat").write_text('(module (func (export "f") (result i32) i32.const 1))')
    (tmp_path / "tool.json").write_text(json.dumps(manifest))
    process = Process(
        [str(MCP_MESH), "--registry", registry.url, "run-wasm", str(tmp_path), *arguments],
        env=wasm_env,
    )
    assert process.wait_exit() == 1
    assert message in process.output
    assert "Traceback" not in process.output
    agents = httpx.get(registry.url + "/api/v1/agents").json()["items"]
    assert not [a for a in agents if a["metadata"]["name"].startswith("tmp")]
