"""The mesh as one MCP server: ``mcp-mesh gateway`` (see docs/gateway.md)."""

from mesh_agent.gateway.server import Gateway, GatewayOptions

__all__ = ["Gateway", "GatewayOptions"]
