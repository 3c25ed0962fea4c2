"""Dependency injection between real agent processes."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from tests.support.agent_processes import StartAgent
from tests.support.processes import eventually


async def test_a_consumer_calls_its_provider_through_the_injected_proxy(
    start_agent: StartAgent,
) -> None:
    provider = start_agent("provider.py", "echo-1")
    consumer = start_agent("consumer.py", "relay-1")
    provider.wait_healthy()
    consumer.wait_healthy()
    async with Client(consumer.endpoint) as client:
        tools = {tool.name: tool for tool in await client.list_tools()}
        # The dependency parameter is not part of the tool's interface.
        assert set(tools["relay"].input_schema["properties"]) == {"text"}
        assert set(tools["relay_sync"].input_schema["properties"]) == {"text"}
        result = await client.call_tool("relay", {"text": "hello"})
        assert result.structured_content == {"text": "hello", "served_by": "echo-1"}
        # A plain (def) tool calls its dependency without await, from its worker thread.
        synced = await client.call_tool("relay_sync", {"text": "from a thread"})
        assert synced.structured_content == {"text": "from a thread", "served_by": "echo-1"}


async def test_the_registered_record_describes_the_tools(start_agent: StartAgent) -> None:
    consumer = start_agent("consumer.py", "relay-2", env={"MESH_AGENT_LABELS": "team=ops"})
    record = consumer.wait_healthy()
    assert record["metadata"]["labels"] == {"team": "ops"}
    capabilities = {c["name"]: c for c in record["spec"]["capabilities"]}
    relay = capabilities["echo.relay"]
    assert relay["tool"] == "relay"
    assert set(relay["inputSchema"]["properties"]) == {"text"}
    assert relay["outputSchema"]["type"] == "object"
    assert relay["description"].startswith("Ask the best provider")
    assert record["spec"]["dependencies"] == [
        {"capability": "echo.say", "selector": "", "version": "", "tags": [], "required": False}
    ]
    assert record["spec"]["endpoint"].startswith("http://127.0.0.1:")


async def test_any_mcp_client_can_call_an_agent(start_agent: StartAgent) -> None:
    provider = start_agent("provider.py", "echo-3")
    provider.wait_healthy()
    async with Client(provider.endpoint) as client:  # a client that knows nothing of the mesh
        assert {tool.name for tool in await client.list_tools()} == {"say", "fail", "count"}
        result = await client.call_tool("say", {"text": "plain"})
        assert result.data["text"] == "plain"


async def test_optional_dependency_without_provider_injects_none(start_agent: StartAgent) -> None:
    consumer = start_agent("consumer.py", "relay-4")
    consumer.wait_healthy()
    async with Client(consumer.endpoint) as client:
        result = await client.call_tool("relay", {"text": "anyone?"})
        assert result.structured_content == {"text": None, "served_by": None}


async def test_required_dependency_without_provider_is_a_clear_error(
    start_agent: StartAgent,
) -> None:
    dependency = {"capability": "echo.say", "selector": "env=prod", "required": True}
    consumer = start_agent(
        "consumer.py", "relay-5", env={"TEST_DEPENDENCY": json.dumps(dependency)}
    )
    consumer.wait_healthy()
    async with Client(consumer.endpoint) as client:
        with pytest.raises(ToolError) as caught:
            await client.call_tool("relay", {"text": "anyone?"})
    message = str(caught.value)
    assert "no healthy provider of required dependency" in message
    assert "'echo.say'" in message
    assert "'env=prod'" in message


async def test_a_tool_error_is_not_retried_on_another_provider(start_agent: StartAgent) -> None:
    providers = [start_agent("provider.py", f"echo-6{n}") for n in "ab"]
    consumer = start_agent("consumer.py", "relay-6")
    for agent in [*providers, consumer]:
        agent.wait_healthy()
    async with Client(consumer.endpoint) as client:
        with pytest.raises(ToolError, match="the reason it broke"):
            await client.call_tool("relay_fail", {"reason": "the reason it broke"})
    ran = 0
    for provider in providers:
        async with Client(provider.endpoint) as client:
            ran += (await client.call_tool("count", {})).structured_content["fail"]
    assert ran == 1


RULES = [
    # The preferred tag wins over a higher version...
    ({"capability": "echo.say", "selector": "env=prod", "tags": ["+fast"]}, "fast-14"),
    # ...the version range rules out...
    ({"capability": "echo.say", "selector": "env=prod", "version": "^2"}, "plain-21"),
    # ...excluded tags and the selector rule out...
    ({"capability": "echo.say", "tags": ["-fast"], "selector": "env in (prod,dev)"}, "plain-21"),
    ({"capability": "echo.say", "selector": "env=dev"}, "dev-19"),
    # ...and without preferences the highest version wins.
    ({"capability": "echo.say"}, "plain-21"),
]


@pytest.mark.heavy
async def test_selector_version_and_tags_pick_the_right_provider(start_agent: StartAgent) -> None:
    providers = [
        start_agent("provider.py", "fast-14", env=_settings("env=prod", "1.4.0", tags="fast")),
        start_agent("provider.py", "plain-21", env=_settings("env=prod", "2.1.0")),
        start_agent("provider.py", "dev-19", env=_settings("env=dev", "1.9.0")),
    ]
    consumers = [
        start_agent("consumer.py", f"chooser-{n}", env={"TEST_DEPENDENCY": json.dumps(rule)})
        for n, (rule, _) in enumerate(RULES)
    ]
    for agent in [*providers, *consumers]:
        agent.wait_healthy()
    for consumer, (rule, chosen) in zip(consumers, RULES, strict=True):
        async with Client(consumer.endpoint) as client:
            for _ in range(3):  # always the same one: it is strictly the best
                result = await client.call_tool("relay", {"text": "x"})
                assert result.structured_content["served_by"] == chosen, rule


def _settings(labels: str, version: str, tags: str = "") -> dict[str, str]:
    settings = {"MESH_AGENT_LABELS": labels, "MESH_AGENT_VERSION": version}
    if tags:
        settings["MESH_AGENT_TAGS"] = tags
    return settings


async def test_dependencies_resolve_in_the_consumers_namespace(
    start_agent: StartAgent, ns: str
) -> None:
    elsewhere = start_agent("provider.py", "echo-7x", namespace=ns + "-other")
    consumer = start_agent("consumer.py", "relay-7")
    elsewhere.wait_healthy()
    consumer.wait_healthy()
    async with Client(consumer.endpoint) as client:
        assert (await client.call_tool("known", {})).data == []
        result = await client.call_tool("relay", {"text": "x"})
        assert result.structured_content == {"text": None, "served_by": None}


async def test_dependencies_declared_on_parameters_with_requires(start_agent: StartAgent) -> None:
    planner = start_agent("planner.py", "planner-1")
    record = planner.wait_healthy()
    assert record["spec"]["dependencies"] == [
        {
            "capability": "echo.say",
            "selector": "env=prod",
            "version": ">=1.2",
            "tags": [],
            "required": True,  # annotated ``Dependency``: it cannot be None
        },
        {
            "capability": "echo.say",
            "selector": "env=dev",
            "version": "",
            "tags": [],
            "required": False,
        },
    ]
    async with Client(planner.endpoint) as client:
        (tool,) = await client.list_tools()
        assert set(tool.input_schema["properties"]) == {"text"}
        with pytest.raises(ToolError, match="no healthy provider of required dependency"):
            await client.call_tool("plan", {"text": "x"})
        started = [
            start_agent("provider.py", "old-11", env=_settings("env=prod", "1.1.0")),
            start_agent("provider.py", "prod-13", env=_settings("env=prod", "1.3.0")),
        ]
        for provider in started:  # started together: they import at the same time
            provider.wait_healthy()
        # (The planner hears of a new provider through its watch: a moment after the registry.)
        await eventually(lambda: planned(client, {"prod": "prod-13", "dev": None}))
        start_agent("provider.py", "dev-10", env=_settings("env=dev", "1.0.0")).wait_healthy()
        await eventually(lambda: planned(client, {"prod": "prod-13", "dev": "dev-10"}))


async def planned(client: Client[Any], expected: dict[str, Any]) -> bool:
    try:
        result = await client.call_tool("plan", {"text": "x"})
    except ToolError:
        return False
    assert result.structured_content in (expected, {**expected, "dev": None})
    return result.structured_content == expected
