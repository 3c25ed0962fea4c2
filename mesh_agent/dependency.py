"""The object a tool receives for a dependency: ready-to-call providers of one capability."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.trace import Span

from mesh_agent.mcp_http import ProviderUnreachable, ToolResult
from mesh_agent.providers import Provider
from mesh_agent.tracing import call_span
from mesh_registry.model import Agent

log = logging.getLogger(__name__)

# A call moves to the next provider when one cannot be reached, this many times at most.
MAX_ATTEMPTS = 3


class Dependency:
    """Providers of a capability, best first, ready to call.

    In an ``async`` tool, ``await weather(city="Paris")``; in a plain (``def``) tool, which
    runs in a worker thread, ``weather(city="Paris")`` returns the result directly. A provider
    that cannot be reached is skipped for the next one, and tried after the others for one
    heartbeat interval; an error raised by the tool itself is
    not retried (it reaches the caller as ``ToolCallError``).
    """

    __slots__ = ("_loop", "_providers", "_served_by", "capability")

    def __init__(
        self,
        capability: str,
        providers: Sequence[Provider],
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not providers:
            raise ValueError("a Dependency needs at least one provider")
        self.capability = capability
        # Providers that just could not be reached go last, in their order: still tried when
        # every other one fails too. (Built for every call: one clock read, one pass.)
        now = time.monotonic()
        trusted: list[Provider] = []
        suspects: list[Provider] = []
        for provider in providers:
            (suspects if provider.suspect_until > now else trusted).append(provider)
        self._providers = trusted + suspects
        self._served_by = self._providers[0]
        self._loop = loop

    @property
    def agent(self) -> Agent:
        """The provider's record: the one the next call goes to, or that served the last."""
        return self._served_by.agent

    def __call__(self, **arguments: Any) -> Any:
        """Call the provider's tool for this capability with ``arguments``."""
        return self._dispatch(None, arguments)

    def call_tool(self, name: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """Call another tool, ``name``, of the same provider."""
        return self._dispatch(name, dict(arguments or {}))

    def __repr__(self) -> str:
        return f"<Dependency {self.capability} → {self._served_by.agent.key}>"

    def _dispatch(self, tool: str | None, arguments: dict[str, Any]) -> Any:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            # A plain tool in a worker thread: run the call on the agent's loop and wait for it.
            if self._loop is None:
                raise RuntimeError("this Dependency was made outside a running agent") from None
            future = asyncio.run_coroutine_threadsafe(self._call(tool, arguments), self._loop)
            return future.result()
        return self._call(tool, arguments)

    async def _call(self, tool: str | None, arguments: dict[str, Any]) -> Any:
        result = await self.result(arguments, tool)
        return result.value(wrapped=tool is None and self._served_by.wrapped)

    async def result(self, arguments: Mapping[str, Any], tool: str | None = None) -> ToolResult:
        """The provider's MCP result as it came (content and structured content), for callers
        that pass it on (the gateway); ``tool``: another tool of the same provider."""
        arguments = dict(arguments)
        with call_span(self.capability, str(self._providers[0].agent.key)) as span:
            result, provider = await self._first_answer(tool, arguments, span)
        self._served_by = provider
        return result

    async def _first_answer(
        self, tool: str | None, arguments: dict[str, Any], span: Span
    ) -> tuple[ToolResult, Provider]:
        """The answer of the first provider that can be reached, and who gave it."""
        unreachable: list[str] = []
        for provider in self._providers[:MAX_ATTEMPTS]:
            capability = provider.capability
            name = tool or capability.tool
            schema = capability.input_schema if tool is None else None
            try:
                result = await provider.channel.call_tool(name, arguments, input_schema=schema)
            except ProviderUnreachable as error:
                provider.unreachable()
                log.warning(
                    "provider %s of %s unreachable (%s); trying the next",
                    provider.agent.key,
                    self.capability,
                    error,
                )
                unreachable.append(str(provider.agent.key))
                span.add_event("provider unreachable", {"mesh.provider": str(provider.agent.key)})
                continue
            provider.reached()
            return result, provider
        raise ProviderUnreachable(
            f"no provider of {self.capability} could be reached: {', '.join(unreachable)}"
        )
