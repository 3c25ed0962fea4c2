"""``mcp-mesh run FILE``: which agent a file defines, and running it with no boilerplate."""

from __future__ import annotations

import signal
import textwrap
from pathlib import Path

import pytest
from fastmcp import Client

from mesh_agent import MeshAgent
from mesh_agent.runner import load
from tests.support.agent_processes import EXAMPLES, MCP_MESH, StartAgent
from tests.support.processes import Process, RegistryProcess

FILES = {
    "explicit.py": """
        from mesh_agent import MeshAgent
        agent = MeshAgent("explicit")

        @agent.tool
        def hello() -> str:
            return "hi"
    """,
    "decorated.py": """
        from mesh_agent import mesh_agent

        @mesh_agent(capabilities=["greeting"], name="decorated")
        def hello() -> str:
            return "hi"

        if __name__ == "__main__":
            raise SystemExit("the file's own main guard must not run")
    """,
    "plain_fastmcp.py": """
        from fastmcp import FastMCP
        server = FastMCP("plain")

        @server.tool
        def hello() -> str:
            return "hi"
    """,
    "with_helper.py": """
        import helper_module  # a sibling file: importable, as when run with python
        from mesh_agent import MeshAgent
        agent = MeshAgent(helper_module.NAME)
    """,
}


pytestmark = pytest.mark.usefixtures("fresh_default_agent")


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize("name", ["explicit", "decorated"])
def test_a_file_with_an_agent_gives_that_agent(tmp_path: Path, name: str) -> None:
    agent = load(write(tmp_path, f"{name}.py", FILES[f"{name}.py"]))
    assert isinstance(agent, MeshAgent)
    assert agent.provided
    assert agent.settings.name == name


async def test_a_plain_fastmcp_server_is_attached_with_its_tools_as_capabilities(
    tmp_path: Path,
) -> None:
    agent = load(write(tmp_path, "plain_fastmcp.py", FILES["plain_fastmcp.py"]))
    record = await agent.record(agent.settings.resolved(), "http://127.0.0.1:1/mcp")
    assert [(c.name, c.tool) for c in record.spec.capabilities] == [("hello", "hello")]


def test_the_files_own_imports_work(tmp_path: Path) -> None:
    (tmp_path / "helper_module.py").write_text('NAME = "helped"\n')
    assert (
        load(write(tmp_path, "with_helper.py", FILES["with_helper.py"])).settings.name == "helped"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x = 1\n", "defines no agent"),
        (
            "from mesh_agent import MeshAgent\na = MeshAgent('a')\nb = MeshAgent('b')\n",
            "defines 2 MeshAgent objects",
        ),
    ],
)
def test_a_file_without_exactly_one_agent_is_refused(
    tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        load(write(tmp_path, "agentless.py", text))


def test_an_unnamed_agent_is_named_after_its_file(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "weather_agent.py",
        """
        from mesh_agent import mesh_agent

        @mesh_agent(capabilities=["weather.forecast"])
        def forecast(city: str) -> str:
            return city
        """,
    )
    settings = load(path).settings.with_environment({}).resolved()
    assert settings.name.startswith("weather-agent-")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load(str(tmp_path / "absent.py"))


async def test_mcp_mesh_run_serves_registers_and_stops_cleanly(
    start_agent: StartAgent, registry: RegistryProcess
) -> None:
    agent = start_agent(EXAMPLES / "date_agent.py", "today", cli=True)
    record = agent.wait_healthy()
    assert [c["name"] for c in record["spec"]["capabilities"]] == ["date.today"]
    async with Client(agent.endpoint) as client:
        result = await client.call_tool("today", {"timezone": "UTC"})
    assert len(result.data) == len("2026-01-01")
    assert agent.stop(signal.SIGTERM) == 0  # the agent's own exit status, through the CLI
    assert agent.record() is None


def test_mcp_mesh_run_of_a_file_without_an_agent_says_so(tmp_path: Path) -> None:
    path = write(tmp_path, "agentless.py", "x = 1\n")
    process = Process([str(MCP_MESH), "run", path])
    assert process.wait_exit() == 1
    assert "defines no agent" in process.output
    missing = Process([str(MCP_MESH), "run", str(tmp_path / "absent.py")])
    assert missing.wait_exit() == 2
    assert "does not exist" in missing.output
