"""The registry's MCP tools, driven by a plain fastmcp.Client over HTTP; REST must agree."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.exceptions import ToolError

from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess


def without_nulls(value: Any) -> Any:
    """REST leaves out null fields, MCP's structured output spells them: compare the content."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value]
    return value


TOOLS = {
    "register_agent",
    "unregister_agent",
    "discover_services",
    "heartbeat",
    "get_agent_status",
    "list_agents",
}


async def test_an_mcp_client_drives_the_registry(registry: RegistryProcess, ns: str) -> None:
    rest = httpx.AsyncClient(base_url=registry.url)
    item = f"/api/v1/namespaces/{ns}/agents/pg-1"
    async with Client(registry.url + "/mcp") as mcp:
        tools = {tool.name: tool for tool in await mcp.list_tools()}
        assert set(tools) >= TOOLS
        schema = tools["register_agent"].input_schema["properties"]["agent"]
        assert {"metadata", "spec"} <= set(schema["properties"])  # typed input

        body = agent_body(
            "pg-1", ["db.query"], namespace=ns, labels={"type": "database"}, interval=3600
        )
        registered = await mcp.call_tool("register_agent", {"agent": body})
        agent = registered.structured_content
        assert agent is not None
        assert agent["metadata"]["name"] == "pg-1"
        assert (await rest.get(item)).json()["metadata"]["uid"] == agent["metadata"]["uid"]

        beat = await mcp.call_tool("heartbeat", {"name": "pg-1", "namespace": ns})
        assert beat.structured_content["phase"] == "healthy"
        assert (await rest.get(item)).json()["status"]["phase"] == "healthy"

        status = await mcp.call_tool("get_agent_status", {"name": "pg-1", "namespace": ns})
        assert status.structured_content["status"]["phase"] == "healthy"
        assert (
            status.structured_content["resourceVersion"]
            == (await rest.get(item)).json()["metadata"]["resourceVersion"]
        )

        # Both query forms users already write.
        by_capability = await mcp.call_tool(
            "discover_services", {"capabilities": ["db.query"], "status": "healthy"}
        )
        assert ns in {a["metadata"]["namespace"] for a in by_capability.structured_content["items"]}
        by_labels = await mcp.call_tool(
            "discover_services", {"labels": {"type": "database"}, "namespace": ns}
        )
        assert [a["metadata"]["name"] for a in by_labels.structured_content["items"]] == ["pg-1"]
        rest_discovery = (
            await rest.get(
                "/api/v1/discover", params={"labelSelector": "type=database", "namespace": ns}
            )
        ).json()
        assert rest_discovery["items"] == without_nulls(by_labels.structured_content["items"])

        listed = await mcp.call_tool("list_agents", {"namespace": ns})
        rest_list = (await rest.get(f"/api/v1/namespaces/{ns}/agents")).json()["items"]
        assert without_nulls(listed.structured_content["items"]) == rest_list

        removed = await mcp.call_tool("unregister_agent", {"name": "pg-1", "namespace": ns})
        assert removed.structured_content["metadata"]["name"] == "pg-1"
        assert (await rest.get(item)).status_code == 404


async def test_tool_errors_carry_the_rest_messages(registry: RegistryProcess, ns: str) -> None:
    rest = httpx.AsyncClient(base_url=registry.url)
    bad = agent_body("Bad_Name", ["x.y"], namespace=ns)
    rest_error = (await rest.post(f"/api/v1/namespaces/{ns}/agents", json=bad)).json()["message"]
    async with Client(registry.url + "/mcp") as mcp:
        with pytest.raises(ToolError) as invalid:
            await mcp.call_tool("register_agent", {"agent": bad})
        assert str(invalid.value) == rest_error

        missing = (await rest.post(f"/api/v1/namespaces/{ns}/agents/nobody/heartbeat")).json()[
            "message"
        ]
        with pytest.raises(ToolError) as not_found:
            await mcp.call_tool("heartbeat", {"name": "nobody", "namespace": ns})
        assert str(not_found.value) == missing

        with pytest.raises(ToolError, match="selector"):
            await mcp.call_tool("discover_services", {"selector": "a in ("})
