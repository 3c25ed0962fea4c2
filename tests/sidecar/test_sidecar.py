"""``mcp-mesh sidecar``: a stdio MCP server (tests/agents/stdio_server.py) joins the mesh,
as real processes against a real registry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from tests.support.agent_processes import AGENTS, MCP_MESH, AgentProcess, StartAgent
from tests.support.processes import Process, RegistryProcess, eventually, wait_until

SERVER = [sys.executable, str(AGENTS / "stdio_server.py")]
TOOLS = {"echo", "pid", "environment", "add_tool", "crash", "sleep", "freeze"}


def start_sidecar(start_agent: StartAgent, name: str, *options: str, **kwargs: Any) -> AgentProcess:
    command = ["sidecar", "--capability-prefix", "test.", *options, "--", *SERVER]
    return start_agent("", name, command=command, **kwargs)


def capabilities(record: dict[str, Any]) -> set[str]:
    return {c["name"] for c in record["spec"]["capabilities"]}


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def child_pid(endpoint: str) -> int:
    async with Client(endpoint) as client:
        return int((await client.call_tool("pid", {})).data)


@pytest.mark.heavy
async def test_each_tool_becomes_a_capability_and_a_consumer_calls_one(
    start_agent: StartAgent,
) -> None:
    environment = {"MESH_TOKEN": "secret", "OTHER": "x"}
    sidecar = start_sidecar(start_agent, "stdio", "--labels", "kind=stdio", env=environment)
    record = sidecar.wait_healthy()
    assert capabilities(record) == {f"test.{tool}" for tool in TOOLS}
    assert record["metadata"]["labels"] == {"kind": "stdio"}
    echo = next(c for c in record["spec"]["capabilities"] if c["name"] == "test.echo")
    assert echo["tool"] == "echo"
    assert echo["inputSchema"]["required"] == ["text"]  # the child's own schema
    consumer = start_agent("relay.py", "relay", env={"TEST_DEPENDENCY": "test.echo"})
    consumer.wait_healthy()
    async with Client(consumer.endpoint) as client:
        result = await client.call_tool("relay", {"arguments": {"text": "hello"}})
    assert result.structured_content == {"result": "hello", "served_by": "stdio"}
    async with Client(sidecar.endpoint) as client:  # the environment, less the credentials
        assert (await client.call_tool("environment", {"name": "OTHER"})).data == "x"
        assert (await client.call_tool("environment", {"name": "MESH_TOKEN"})).data is None


async def test_the_childs_prompts_and_resources_are_served_and_advertised(
    start_agent: StartAgent,
) -> None:
    sidecar = start_sidecar(start_agent, "stdio-offers")
    spec = sidecar.wait_healthy()["spec"]
    assert [p["name"] for p in spec["prompts"]] == ["greet"]
    assert [r["uri"] for r in spec["resources"]] == ["memo://today"]
    assert [t["uriTemplate"] for t in spec["resourceTemplates"]] == ["memo://{day}"]
    async with Client(sidecar.endpoint) as client:
        greeting = await client.get_prompt("greet", {"name": "Ada"})
        assert greeting.messages[0].content.text == "Say hello to Ada."
        (today,) = await client.read_resource("memo://today")
        assert today.text == "nothing planned"
        (monday,) = await client.read_resource("memo://monday")
        assert monday.text == "memo of monday"


async def test_a_crashed_child_is_restarted_and_heartbeats_stop_meanwhile(
    start_agent: StartAgent,
) -> None:
    # Down for the backoff (1-2 s) and a start (1-2 s): longer than the 1.25 s of silence
    # after which the registry says unhealthy.
    sidecar = start_sidecar(start_agent, "crashy", "--restart-backoff", "1")
    sidecar.wait_healthy()
    endpoint = sidecar.endpoint
    first = await child_pid(endpoint)
    async with Client(endpoint) as client:
        with pytest.raises(ToolError, match="crash: the server stopped during the call"):
            await client.call_tool("crash", {})
        with pytest.raises(ToolError, match="not running"):
            await client.call_tool("echo", {"text": "anyone?"})
    wait_until(lambda: sidecar.record()["status"]["phase"] == "unhealthy", 15)  # type: ignore[index]
    sidecar.wait_healthy()
    second = await child_pid(endpoint)
    assert second != first
    assert sidecar.alive()
    # Killed from outside, not during a call: the sidecar's probe notices.
    os.kill(second, signal.SIGKILL)
    wait_until(lambda: not pid_alive(second))
    assert await new_child_pid(endpoint, second) != first
    async with Client(endpoint) as client:
        assert (await client.call_tool("echo", {"text": "back"})).data == "back"


async def new_child_pid(endpoint: str, old: int, within: float = 30.0) -> int:
    """The child's pid, once it is not ``old`` (the child was restarted)."""

    async def changed() -> int | None:
        try:
            pid = await child_pid(endpoint)
        except Exception:  # being restarted
            return None
        return pid if pid != old else None

    return await eventually(changed, within, interval=0.1)


async def test_a_child_that_stops_answering_is_restarted(start_agent: StartAgent) -> None:
    sidecar = start_sidecar(start_agent, "frozen", "--call-timeout", "0.5")
    sidecar.wait_healthy()
    endpoint = sidecar.endpoint
    first = await child_pid(endpoint)
    async with Client(endpoint) as client:
        with pytest.raises(ToolError, match=r"freeze: no answer within 0\.5 s"):
            await client.call_tool("freeze", {})
    await new_child_pid(endpoint, first)
    wait_until(lambda: not pid_alive(first), 10)  # the hung one was stopped, not left behind
    assert "does not answer: restarting it" in sidecar.output


async def test_changed_tools_are_registered_again_and_shutdown_stops_the_child(
    start_agent: StartAgent,
) -> None:
    sidecar = start_sidecar(start_agent, "growing")
    sidecar.wait_healthy()
    async with Client(sidecar.endpoint) as client:
        assert (await client.call_tool("add_tool", {"name": "fresh"})).data == "fresh"

    def registered_again() -> dict[str, Any] | None:
        record = sidecar.record()
        return record if record and "test.fresh" in capabilities(record) else None

    record = wait_until(registered_again)
    assert capabilities(record) == {f"test.{tool}" for tool in TOOLS | {"fresh"}}
    async with Client(sidecar.endpoint) as client:
        result = await client.call_tool("fresh", {})
    assert result.content[0].text == "fresh"  # type: ignore[union-attr]
    # SIGTERM: the sidecar unregisters, stops the child and exits 0.
    pid = await child_pid(sidecar.endpoint)
    try:
        code = sidecar.stop(signal.SIGTERM)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the sidecar did not stop after SIGTERM:\n{sidecar.output}")
    assert code == 0, sidecar.output
    assert sidecar.record() is None
    wait_until(lambda: not pid_alive(pid), 10)


async def test_it_gives_up_after_max_restarts_and_leaves_the_mesh(
    start_agent: StartAgent,
) -> None:
    sidecar = start_sidecar(start_agent, "fragile", "--max-restarts", "0")
    sidecar.wait_healthy()
    async with Client(sidecar.endpoint) as client:
        with pytest.raises(ToolError):
            await client.call_tool("crash", {})
    assert sidecar.wait_exit() == 1
    assert "gave up after 0 restart(s) in a row" in sidecar.output
    assert sidecar.record() is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            [
                "--max-restarts",
                "1",
                "--restart-backoff",
                "0.05",
                "--",
                sys.executable,
                "-c",
                "raise SystemExit(3)",
            ],
            "gave up after 1 restart(s)",
        ),
        (["--max-restarts", "0", "--", "/nonexistent/program"], "gave up after 0 restart(s)"),
        (["--call-timeout", "0", "--", *SERVER], "--call-timeout"),
    ],
)
def test_a_child_that_cannot_start(
    registry: RegistryProcess, arguments: list[str], message: str
) -> None:
    process = Process([str(MCP_MESH), "--registry", registry.url, "sidecar", *arguments])
    assert process.wait_exit(60) in (1, 2)
    assert message in process.output
    assert "Traceback" not in process.output
    names = [
        a["metadata"]["name"] for a in httpx.get(registry.url + "/api/v1/agents").json()["items"]
    ]
    assert not [n for n in names if n.startswith(("c-", "nonexistent", "program"))]
