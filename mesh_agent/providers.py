"""Providers of a dependency, and the connections to them."""

from __future__ import annotations

from dataclasses import dataclass

from mesh_agent.mcp_http import McpHttpClient
from mesh_registry.model import Agent, Capability


@dataclass(slots=True)
class Provider:
    """One agent providing a capability, with the connection its calls take."""

    agent: Agent
    capability: Capability
    channel: McpHttpClient

    @property
    def wrapped(self) -> bool:
        """FastMCP returns a non-object result as ``{"result": …}``, and says so in the schema."""
        schema = self.capability.output_schema or {}
        return bool(schema.get("x-fastmcp-wrap-result"))


class ChannelPool:
    """One kept-open client per provider endpoint, closed once no provider uses it."""

    def __init__(self) -> None:
        self._channels: dict[str, McpHttpClient] = {}

    def channel(self, endpoint: str) -> McpHttpClient:
        channel = self._channels.get(endpoint)
        if channel is None:
            channel = self._channels[endpoint] = McpHttpClient(endpoint)
        return channel

    async def keep_only(self, endpoints: set[str]) -> None:
        """Close the clients of endpoints no longer in use."""
        for endpoint in [e for e in self._channels if e not in endpoints]:
            await self._channels.pop(endpoint).aclose()

    async def aclose(self) -> None:
        await self.keep_only(set())

    def __len__(self) -> int:
        return len(self._channels)
