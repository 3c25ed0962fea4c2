"""The child's tools, served again by the sidecar's own MCP server (streamable HTTP)."""

from __future__ import annotations

import logging
from typing import Any

import mcp_types
from fastmcp import FastMCP
from fastmcp.tools.base import Tool, ToolResult
from pydantic import PrivateAttr

from mesh_agent.sidecar.child import ChildServer
from mesh_registry.validation import capability_name_errors, tool_name_errors

log = logging.getLogger(__name__)


class ForwardedTool(Tool):
    """One of the child's tools: the same name and schemas; a call is passed on to the child
    and its result (or error result) passed back unchanged."""

    _child: ChildServer = PrivateAttr()

    @classmethod
    def of(cls, tool: mcp_types.Tool, child: ChildServer) -> ForwardedTool:
        forwarded = cls(
            name=tool.name,
            title=tool.title,
            description=tool.description,
            parameters=tool.input_schema,
            output_schema=tool.output_schema,
            annotations=tool.annotations,
        )
        forwarded._child = child
        return forwarded

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        result = await self._child.call(self.name, arguments)
        return ToolResult(
            content=result.content,
            structured_content=result.structured_content,
            meta=result.meta,
            is_error=result.is_error,
        )


class ToolMirror:
    """Keeps an MCP server's tools the same as the child's."""

    def __init__(self, server: FastMCP, child: ChildServer, *, prefix: str = "") -> None:
        self.server = server
        self.child = child
        self.prefix = prefix
        self.served: set[str] = set()

    def update(self, tools: list[mcp_types.Tool]) -> list[str]:
        """Serve ``tools`` (and no others); return the names served. A tool whose name cannot
        be registered (as a tool, or as a capability after the prefix) is left out, with a
        warning."""
        served = set()
        for name in self.served:
            self.server.local_provider.remove_tool(name)
        for tool in tools:
            problems = tool_name_errors(tool.name) or capability_name_errors(
                self.prefix + tool.name
            )
            if problems:
                log.warning("not serving the child's tool %r: %s", tool.name, problems[0])
                continue
            self.server.add_tool(ForwardedTool.of(tool, self.child))
            served.add(tool.name)
        self.served = served
        return sorted(served)
