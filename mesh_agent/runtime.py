"""One run of an agent: its MCP server on a socket, its registration and its providers.

``MeshAgent`` declares an agent (tools, capabilities, dependencies, settings); serving it makes
an :class:`AgentRuntime`, which starts the MCP server (streamable HTTP at ``/mcp``), registers
the record, heartbeats (``lifecycle.py``) and follows the providers of the dependencies
(``provider_set.py``) until a shutdown signal. On the first SIGTERM or SIGINT it unregisters
before it stops accepting calls, so that consumers move to another provider while this one
still answers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Awaitable, Callable
from types import FrameType
from typing import Any, Protocol

import uvicorn
from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from mcp.shared.inbound import find_invalid_x_mcp_header, x_mcp_header_map

from mesh_agent import tracing
from mesh_agent.calltokens import CallTokenCache, RegistryTokenVerifier
from mesh_agent.dependency import Dependency
from mesh_agent.lifecycle import Lifecycle, Probe
from mesh_agent.provider_set import ProviderSet
from mesh_agent.settings import ResolvedSettings
from mesh_agent.tool_call_path import ToolCallPath
from mesh_registry.client import RegistryClient
from mesh_registry.fastmcp_spans import spans_only_when_recorded
from mesh_registry.memory import freeze_heap
from mesh_registry.model import Agent, DependencySpec
from mesh_registry.serving import server_config, signals_end_the_serve_loop

log = logging.getLogger(__name__)

# How long a stopping agent waits for the registry to acknowledge its departure, then keeps
# serving while the news reaches its consumers (a watch event: milliseconds; as Kubernetes'
# endpoints need a moment to propagate before a pod stops), then waits for calls in flight.
UNREGISTER_TIMEOUT = 2.0
PROPAGATION_DELAY = 0.25
DRAIN_TIMEOUT = 5.0
# How long a first call waits for the providers of its dependencies to be known.
FIRST_SYNC_TIMEOUT = 2.0


class Declaration(Protocol):
    """What a runtime needs of an agent's declaration (``MeshAgent`` is one)."""

    mcp: FastMCP

    @property
    def dependencies(self) -> list[DependencySpec]: ...

    async def record(self, settings: ResolvedSettings, endpoint: str) -> Agent: ...


class AgentRuntime:
    """``declaration`` served on ``listener`` with ``settings``, until :meth:`serve` returns."""

    def __init__(
        self,
        declaration: Declaration,
        settings: ResolvedSettings,
        listener: socket.socket,
        *,
        probe: Probe | None = None,
    ) -> None:
        self._declaration = declaration
        self.settings = settings
        self._listener = listener
        self._probe = probe
        port = listener.getsockname()[1]
        self.endpoint = f"http://{url_host(settings.advertise_host)}:{port}/mcp"
        self._lifecycle: Lifecycle | None = None
        self._providers: ProviderSet | None = None

    async def serve(self) -> None:
        """Serve, registered in the mesh, until a shutdown signal (or cancellation)."""
        settings = self.settings
        tracing.configure(settings.name)
        mcp = self._declaration.mcp
        record = await self._declaration.record(settings, self.endpoint)
        self._announce(mcp)
        await install_schema_lookup(mcp)
        registry_client = RegistryClient(
            settings.registry_url, timeout=5.0, token=settings.token, ca_bundle=settings.ca_bundle
        )
        if settings.require_token and mcp.auth is None:
            mcp.auth = RegistryTokenVerifier(registry_client, record.key)
        # Stateless, as the registry: no client can make an agent hold sessions (see
        # docs/design.md for what that leaves to clients of older protocol versions).
        app = spans_only_when_recorded(
            ToolCallPath(mcp.http_app(path="/mcp", stateless_http=True), "/mcp")
        )
        freeze_heap()  # what is built by now is never garbage (see memory.py)
        config = server_config(app, access_log=False, timeout_graceful_shutdown=int(DRAIN_TIMEOUT))
        async with registry_client as registry:
            lifecycle = self._lifecycle = Lifecycle(
                registry, record, settings.health_interval, probe=self._probe
            )
            providers = self._providers = ProviderSet(
                registry,
                settings.namespace,
                self._declaration.dependencies,
                CallTokenCache(registry),
            )
            server = _AgentServer(config, self._leave)
            lifecycle.start()
            providers.start()
            log.info("agent %s/%s serving on %s", settings.namespace, settings.name, self.endpoint)
            try:
                with signals_end_the_serve_loop():
                    await server.serve(sockets=[self._listener])
            finally:
                await lifecycle.leave(within=UNREGISTER_TIMEOUT)  # once, if not yet
                await providers.aclose()

    async def resolve(
        self, dependency: DependencySpec, loop: asyncio.AbstractEventLoop
    ) -> Dependency | None:
        """The providers of ``dependency`` for one call; a required one without any is a
        ``ToolError`` that says what is missing."""
        found = None
        if self._providers is not None:
            # The first calls after start: give the watch a moment to report the providers.
            await self._providers.ready(dependency, within=FIRST_SYNC_TIMEOUT)
            found = self._providers.dependency(dependency, loop)
        if found is None and dependency.required:
            raise ToolError(missing(dependency))
        return found

    def providers(self, dependency: DependencySpec) -> list[Agent]:
        """The providers known now for ``dependency``, best first."""
        return [] if self._providers is None else self._providers.providers(dependency)

    async def refresh(self) -> bool:
        """Register again if the tools changed since; return whether they had."""
        if self._lifecycle is None:
            return False
        record = await self._declaration.record(self.settings, self.endpoint)
        if record.spec == self._lifecycle.record.spec:
            return False
        await install_schema_lookup(self._declaration.mcp)
        self._lifecycle.replace(record)
        return True

    async def _leave(self) -> bool:
        """Stop heartbeating and unregister; ``True`` if the registry acknowledged it."""
        if self._lifecycle is None:
            return False
        return await self._lifecycle.leave(within=UNREGISTER_TIMEOUT)

    def _announce(self, mcp: FastMCP) -> None:
        """Name the MCP server after the agent (its ``serverInfo``): a client that connects
        sees which agent of the mesh it reached, and its version."""
        low_level = getattr(mcp, "_mcp_server", None)
        if low_level is not None:
            low_level.name = self.settings.name
            low_level.version = self.settings.version_override or self.settings.version


async def install_schema_lookup(mcp: FastMCP) -> None:
    """Let the MCP server look a tool's input schema up directly.

    Without it, the server lists every tool on each call to validate ``Mcp-Param-*`` headers:
    about a third of the cost of a call. The lookup answers from the same tools, and ``None``
    (nothing to validate, in the SDK's words for the lookup) for a tool whose schema declares
    no such header: the SDK's validation passes every request against that schema, after
    walking it twice per call.
    """
    schemas = {
        tool.name: tool.parameters
        for tool in await mcp.list_tools()
        if _declares_param_headers(tool.parameters)
    }
    low_level = getattr(mcp, "_mcp_server", None)
    if low_level is not None and hasattr(low_level, "get_tool_input_schema"):
        low_level.get_tool_input_schema = schemas.get


def _declares_param_headers(schema: dict[str, Any]) -> bool:
    """Whether ``Mcp-Param-*`` headers can fail against ``schema``: the SDK validates nothing
    against a schema with an invalid ``x-mcp-header`` or with none."""
    return find_invalid_x_mcp_header(schema) is None and bool(x_mcp_header_map(schema))


class _AgentServer(uvicorn.Server):
    """uvicorn, which on the first SIGTERM/SIGINT unregisters before it stops accepting calls."""

    def __init__(self, config: uvicorn.Config, leave: Callable[[], Awaitable[bool]]) -> None:
        super().__init__(config)
        self._leave = leave
        self._loop = asyncio.get_running_loop()
        self._leaving = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._leaving:  # a second signal: stop now
            super().handle_exit(sig, frame)
            return
        self._leaving = True
        self._loop.call_soon_threadsafe(lambda: self._loop.create_task(self._depart()))

    async def _depart(self) -> None:
        if await self._leave():
            await asyncio.sleep(PROPAGATION_DELAY)
        self.should_exit = True


def missing(dependency: DependencySpec) -> str:
    """Why a call of a tool with the required ``dependency`` fails: what has no provider."""
    wanted = [f"capability {dependency.capability!r}"]
    if dependency.selector:
        wanted.append(f"selector {dependency.selector!r}")
    if dependency.version:
        wanted.append(f"version {dependency.version!r}")
    if dependency.tags:
        wanted.append(f"tags {','.join(dependency.tags)!r}")
    return "no healthy provider of required dependency: " + ", ".join(wanted)


def url_host(host: str) -> str:
    """``host`` as it goes in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
