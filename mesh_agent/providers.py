"""Providers of a dependency, and the connections to them."""

from __future__ import annotations

import time
from dataclasses import dataclass

from mesh_agent.calltokens import CallTokenCache
from mesh_agent.mcp_http import McpHttpClient
from mesh_registry.model import Agent, Capability, ObjectKey

# How long a provider that could not be reached goes to the back of the line, at most.
MAX_SUSPICION = 30.0


@dataclass(slots=True)
class Provider:
    """One agent providing a capability, with the connection its calls take."""

    agent: Agent
    capability: Capability
    channel: McpHttpClient
    # Until then (monotonic time), calls try this provider only after the others.
    suspect_until: float = 0.0
    # Its last try failed, and nothing reached it since.
    failed: bool = False

    @property
    def suspect(self) -> bool:
        return self.suspect_until > time.monotonic()

    def unreachable(self) -> None:
        """This provider could not be reached: others first, for one heartbeat interval.

        The registry marks a provider that stopped heartbeating unhealthy within a few
        intervals; until then, each caller pays for a dead provider about once an interval
        rather than on every call (a connect timeout can take seconds)."""
        pause = min(max(self.agent.spec.health_interval, 1.0), MAX_SUSPICION)
        self.suspect_until = time.monotonic() + pause
        self.failed = True

    def reached(self) -> None:
        self.suspect_until = 0.0
        self.failed = False

    @property
    def wrapped(self) -> bool:
        """FastMCP returns a non-object result as ``{"result": …}``, and says so in the schema."""
        schema = self.capability.output_schema or {}
        return bool(schema.get("x-fastmcp-wrap-result"))


class ChannelPool:
    """One kept-open client per provider endpoint, closed once no provider uses it.

    A provider that requires tokens (``audience`` given) gets call tokens from ``tokens``."""

    def __init__(self, tokens: CallTokenCache | None = None) -> None:
        self._channels: dict[tuple[str, ObjectKey | None], McpHttpClient] = {}
        self._tokens = tokens

    def channel(self, endpoint: str, audience: ObjectKey | None = None) -> McpHttpClient:
        key = (endpoint, audience)
        channel = self._channels.get(key)
        if channel is None:
            authorization = (
                self._tokens.authorization(audience)
                if audience is not None and self._tokens is not None
                else None
            )
            channel = self._channels[key] = McpHttpClient(endpoint, authorization=authorization)
        return channel

    async def keep_only(self, endpoints: set[str]) -> None:
        """Close the clients of endpoints no longer in use."""
        for key in [k for k in self._channels if k[0] not in endpoints]:
            await self._channels.pop(key).aclose()

    async def aclose(self) -> None:
        await self.keep_only(set())

    def __len__(self) -> int:
        return len(self._channels)
