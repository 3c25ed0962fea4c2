"""The examples, run as a newcomer runs them: three agents that depend on each other."""

from __future__ import annotations

import re
import signal

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from tests.sdk.conftest import StartAgent
from tests.support.agent_processes import EXAMPLES, AgentProcess
from tests.support.processes import Process, RegistryProcess

WEATHER_EU = {"MESH_AGENT_LABELS": "env=prod,region=eu", "MESH_AGENT_VERSION": "1.4.0"}
WEATHER_US = {"MESH_AGENT_LABELS": "env=prod,region=us", "MESH_AGENT_VERSION": "2.1.0"}
LINE = re.compile(r"^\d{4}-\d\d-\d\d Paris: \w+, \d+°C \(forecast by (weather-\w+)\)$")


async def report(consumer: AgentProcess) -> str:
    async with Client(consumer.endpoint) as client:
        return str((await client.call_tool("daily_report", {"city": "Paris"})).data)


async def test_the_report_prefers_the_fast_forecast_and_fails_over(
    start_agent: StartAgent, registry: RegistryProcess, ns: str
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
