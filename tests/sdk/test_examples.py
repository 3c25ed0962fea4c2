"""The examples, run as a newcomer runs them: three agents that depend on each other."""

from __future__ import annotations

import re
import signal
from pathlib import Path

import pytest
import yaml
from fastmcp import Client
from fastmcp.exceptions import ToolError

from tests.support.agent_processes import EXAMPLES, AgentProcess, StartAgent
from tests.support.processes import (
    ROOT,
    Process,
    RegistryProcess,
    eventually,
    running_registry,
)

WEATHER_EU = {"MESH_AGENT_LABELS": "env=prod,region=eu", "MESH_AGENT_VERSION": "1.4.0"}
WEATHER_US = {"MESH_AGENT_LABELS": "env=prod,region=us", "MESH_AGENT_VERSION": "2.1.0"}
LINE = re.compile(r"^\d{4}-\d\d-\d\d Paris: \w+, \d+°C \(forecast by (weather-\w+)\)$")


async def report(consumer: AgentProcess) -> str:
    async with Client(consumer.endpoint) as client:
        return str((await client.call_tool("daily_report", {"city": "Paris"})).data)


def readme_python_after(marker: str) -> str:
    """The first Python block of the README after the line that contains ``marker``."""
    text = (ROOT / "README.md").read_text()
    after = text[text.index(marker) :]
    return after.split("```python\n", 1)[1].split("```", 1)[0]


@pytest.mark.heavy
async def test_the_report_prefers_the_fast_forecast_and_fails_over(
    start_agent: StartAgent, registry: RegistryProcess, ns: str, tmp_path: Path
) -> None:
    date = start_agent(EXAMPLES / "date_agent.py", "date", cli=True)
    eu = start_agent(
        EXAMPLES / "weather_agent.py", "weather-eu", env={**WEATHER_EU, "MESH_AGENT_TAGS": "fast"}
    )
    us = start_agent(EXAMPLES / "weather_agent.py", "weather-us", env=WEATHER_US)
    consumer = start_agent(EXAMPLES / "report_agent.py", "report")
    for agent in (date, eu, us, consumer):
        agent.wait_healthy()

    line = await report(consumer)
    match = LINE.match(line)
    assert match, line
    assert match.group(1) == "weather-eu"  # the fast one, though its version is lower

    # The way the walk-through calls it: found in the registry, called like any MCP client.
    caller = Process(
        [str(EXAMPLES / "call_report.py"), "Paris"],
        {"MESH_REGISTRY_URL": registry.url, "MESH_NAMESPACE": ns},
    )
    assert caller.wait_exit() == 0, caller.output
    assert LINE.match(caller.lines[-1]), caller.output

    # The README's MCP example, as a newcomer pastes it, against these agents (on ephemeral
    # ports: a strict client once refused their records).
    snippet = readme_python_after("Any MCP client can drive the registry")
    script = tmp_path / "readme_mcp.py"
    script.write_text(snippet.replace("http://127.0.0.1:8000", registry.url))
    pasted = Process([str(script)])
    assert pasted.wait_exit() == 0, pasted.output
    assert "weather-eu" in pasted.lines[-1], pasted.output

    eu.stop(signal.SIGTERM)
    line = await report(consumer)
    assert LINE.match(line), line
    assert "weather-us" in line

    # Killed outright: its record may still say healthy for a moment; the report copes.
    us.kill()
    assert (await report(consumer)).endswith("Paris: no forecast available")

    date.stop(signal.SIGTERM)
    with pytest.raises(ToolError, match="no healthy provider of required dependency: capability"):
        await report(consumer)


def test_the_example_agents_fail_clearly_on_bad_settings(
    ns: str, registry: RegistryProcess
) -> None:
    agent = AgentProcess(
        EXAMPLES / "date_agent.py",
        registry=registry.url,
        name="Bad_Name",
        namespace=ns,
    )
    assert agent.wait_exit() == 1
    assert "metadata.name" in agent.output
    assert "Traceback" not in agent.output


async def test_the_examples_run_with_tokens() -> None:
    """The walk-through of examples/README.md, with the registry's authentication on."""
    tokens = yaml.safe_load((EXAMPLES / "tokens.yaml").read_text())["tokens"]
    secret = {entry["subject"]: entry["token"] for entry in tokens}
    with running_registry(
        "--db", ":memory:", "--tokens-file", str(EXAMPLES / "tokens.yaml")
    ) as secured:
        common = {"registry": secured.url, "namespace": "default", "token": secret["viewer"]}
        date = AgentProcess(
            EXAMPLES / "date_agent.py",
            name="date",
            env={"MESH_TOKEN": secret["date-agent"]},
            **common,
        )
        consumer = AgentProcess(
            EXAMPLES / "report_agent.py",
            name="report",
            env={"MESH_TOKEN": secret["report-agent"]},
            **common,
        )
        # The weather agent's token may not claim another agent's capability.
        impostor = AgentProcess(
            EXAMPLES / "date_agent.py",
            name="impostor",
            env={"MESH_TOKEN": secret["weather-agent"]},
            **common,
        )
        try:
            for agent in (date, consumer):
                agent.wait_healthy()
            caller = Process(
                [str(EXAMPLES / "call_report.py"), "Paris"],
                {"MESH_REGISTRY_URL": secured.url, "MESH_TOKEN": secret["viewer"]},
            )
            assert caller.wait_exit() == 0, caller.output
            assert caller.lines[-1].endswith("Paris: no forecast available")
            await eventually(
                lambda: _said(impostor, 'may not claim capability "date.today"'), within=20
            )
            assert impostor.record() is None
        finally:
            for agent in (date, consumer, impostor):
                agent.stop()


async def _said(process: Process, words: str) -> bool:
    return any(words in line for line in process.lines)
