"""The gateway: every capability of the mesh it selects as a tool of one MCP server.

One watch of the registry (``Informer``) feeds one ``ProviderSet``, the SDK's own choice of
providers: a call through the gateway is routed exactly as an injected dependency's call
(ranked providers, round robin over equals, failover, call tokens). When the tools a client
would list change, connected clients are told at once: on a ``subscriptions/listen`` stream
(protocol 2026-07-28), or as ``notifications/tools/list_changed`` on the session of a client
of an earlier protocol version (its standalone stream, over HTTP; stdio).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.subscriptions import InMemorySubscriptionBus, ListenHandler, ToolsListChanged
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mesh_agent.calltokens import CallTokenCache
from mesh_agent.gateway.catalogue import ExposedTool, Selection, catalogue, listing, search
from mesh_agent.gateway.meta import META_TOOLS, MetaArgumentError, MetaCall
from mesh_agent.informer import Informer
from mesh_agent.mcp_http import McpProtocolError, ProviderUnreachable, ToolCallError
from mesh_agent.provider_set import ProviderSet
from mesh_registry import __version__
from mesh_registry.client import RegistryClient
from mesh_registry.model import Agent, DependencySpec, ObjectKey
from mesh_registry.selector import SelectorError

log = logging.getLogger(__name__)

# Open subscriptions/listen streams, and the events each may hold unread.
MAX_SUBSCRIPTIONS = 1024
MAX_BUFFERED_EVENTS = 64


@dataclass(frozen=True)
class GatewayOptions:
    """What the gateway exposes: the agents of ``namespace`` (``None``: every namespace its
    token may read) that match ``selector``, their capabilities matching ``capabilities``
    (globs; none: all); ``meta_tools``: two tools that reach everything instead."""

    namespace: str | None = None
    selector: str = ""
    capabilities: tuple[str, ...] = ()
    meta_tools: bool = False
    name: str = "mcp-mesh-gateway"
    selection: Selection = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "selection", Selection(self.capabilities))


class Gateway:
    """The mesh as one MCP server (:attr:`server`). :meth:`run` follows the registry."""

    def __init__(self, registry: RegistryClient, options: GatewayOptions) -> None:
        self._options = options
        self._providers = ProviderSet(registry, options.namespace, tokens=CallTokenCache(registry))
        self._informer = Informer(
            registry, options.namespace, (), self._on_agents, selector=options.selector
        )
        self._tools: dict[str, ExposedTool] = {}
        self._listed: list[types.Tool] = []  # made once per change, not once per tools/list
        self._specs: dict[str, DependencySpec] = {}
        self._ready = asyncio.Event()
        self._bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(
            self._bus, max_subscriptions=MAX_SUBSCRIPTIONS, max_buffered_events=MAX_BUFFERED_EVENTS
        )
        # Connections of clients of handshake-era protocols that listed the tools: they are
        # told of changes on their standalone stream (gone with the connection).
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._notifying: asyncio.Task[None] | None = None
        self.server = _Server(
            options.name,
            version=__version__,
            on_list_tools=self._list_tools,
            # Without it the server lists every tool on each call to check the call's headers.
            get_tool_input_schema=self._input_schema,
            on_call_tool=self._call_tool,
            on_subscriptions_listen=self._listen,
        )

    @property
    def tools(self) -> Mapping[str, ExposedTool]:
        """The capabilities exposed now, by name."""
        return self._tools

    async def run(self) -> None:
        """Follow the registry until cancelled; then close every provider connection."""
        try:
            await self._informer.run()
        finally:
            self._listen.close()
            await self._providers.aclose()

    async def ready(self, within: float) -> bool:
        """Wait up to ``within`` seconds for the first full state of the mesh."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._ready.wait(), within)
        return self._ready.is_set()

    # -- keeping current -------------------------------------------------------------------

    def _on_agents(self, agents: Mapping[ObjectKey, Agent]) -> None:
        capabilities = self._options.selection.capabilities(agents.values())
        specs = {name: DependencySpec(capability=name, required=True) for name in capabilities}
        self._providers.replace(specs.values())
        self._providers.update(agents.values(), capabilities)
        tools = catalogue(capabilities, lambda name: self._providers.providers(specs[name]))
        changed = listing(tools) != listing(self._tools)
        if changed:
            self._listed = [_tool(tool) for tool in tools.values()]
        self._tools = tools
        self._specs = specs
        self._ready.set()
        if changed and not self._options.meta_tools:
            self._tools_changed()

    def _tools_changed(self) -> None:
        if self._notifying is None or self._notifying.done():
            self._notifying = asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        await self._bus.publish(ToolsListChanged())
        for connection in list(self._connections):
            try:
                await connection.send_tool_list_changed()
            except Exception as error:  # a client that went away: forget it
                log.debug("tools/list_changed not sent: %r", error)
                self._connections.discard(connection)

    # -- MCP -------------------------------------------------------------------------------

    def _input_schema(self, name: str) -> Mapping[str, Any] | None:
        if self._options.meta_tools:
            return next((t.input_schema for t in META_TOOLS if t.name == name), None)
        tool = self._tools.get(name)
        return None if tool is None else tool.input_schema

    async def _list_tools(
        self, context: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        if context.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self._connections.add(_connection(context.session))
        if self._options.meta_tools:
            return types.ListToolsResult(tools=list(META_TOOLS))
        return types.ListToolsResult(tools=self._listed)

    async def _call_tool(
        self, context: ServerRequestContext[Any], params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        arguments = dict(params.arguments or {})
        if not self._options.meta_tools:
            return await self.call(params.name, arguments)
        try:
            meta = MetaCall.parse(params.name, arguments)
        except MetaArgumentError as error:
            return error_result(str(error))
        if meta.capability is None:
            return self._available(meta.namespace, meta.selector, meta.query)
        return await self.call(meta.capability, meta.arguments, tool=meta.tool)

    async def call(
        self, capability: str, arguments: Mapping[str, Any], tool: str | None = None
    ) -> types.CallToolResult:
        """Call ``capability`` (or ``tool`` of its provider) as a dependency would."""
        spec = self._specs.get(capability) if capability in self._tools else None
        dependency = None if spec is None else self._providers.dependency(spec)
        if dependency is None:
            return error_result(f"no healthy provider of capability {capability!r} now")
        try:
            result = await dependency.result(arguments, tool)
        except ToolCallError as error:
            return error_result(str(error))
        except (ProviderUnreachable, McpProtocolError) as error:
            return error_result(f"{capability}: {error}")
        # Passed on as the provider answered: its content blocks and structured content.
        answer: dict[str, Any] = {"content": result.content}
        if result.structured is not None:
            answer["structuredContent"] = result.structured
        return types.CallToolResult.model_validate(answer)

    def _available(self, namespace: str | None, selector: str, query: str) -> types.CallToolResult:
        try:
            found = search(self._tools, namespace=namespace, selector=selector, query=query)
        except SelectorError as error:
            return error_result(f"selector: {error}")
        items = [_summary(tool) for tool in found]
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=f"{len(items)} tools")],
            structured_content={"tools": items},
        )


class _Server(Server[Any]):
    """A low-level MCP server that says, to clients of every protocol version, that its
    lists change."""

    def create_initialization_options(
        self,
        notification_options: NotificationOptions | None = None,
        experimental_capabilities: dict[str, dict[str, Any]] | None = None,
        extensions: dict[str, dict[str, Any]] | None = None,
    ) -> InitializationOptions:
        return super().create_initialization_options(
            notification_options or NotificationOptions(tools_changed=True),
            experimental_capabilities,
            extensions,
        )


def _connection(session: ServerSession) -> Any:
    """The connection a request came on: a ``ServerSession`` lasts one request, its
    connection as long as the client's session (mcp 2.x keeps it as ``_connection``)."""
    return getattr(session, "_connection", session)


def error_result(message: str) -> types.CallToolResult:
    """A tool error: what the client's model reads, not a protocol error."""
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=message)], is_error=True
    )


def _tool(tool: ExposedTool) -> types.Tool:
    return types.Tool(
        name=tool.name,
        description=tool.description or None,
        input_schema=dict(tool.input_schema),
        output_schema=None if tool.output_schema is None else dict(tool.output_schema),
    )


def _summary(tool: ExposedTool) -> dict[str, Any]:
    return {
        "capability": tool.name,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "outputSchema": tool.output_schema,
        "providers": [str(agent.key) for agent in tool.providers],
    }
