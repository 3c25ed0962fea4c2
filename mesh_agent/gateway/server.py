"""The gateway: every capability of the mesh it selects as a tool of one MCP server, and the
prompts and resources of the same agents as its own.

One watch of the registry (``Informer``) feeds one ``ProviderSet``, the SDK's own choice of
providers: a call through the gateway is routed exactly as an injected dependency's call
(ranked providers, round robin over equals, failover, call tokens). When the tools a client
would list change, connected clients are told at once: on a ``subscriptions/listen`` stream
(protocol 2026-07-28), or as ``notifications/tools/list_changed`` on the session of a client
of an earlier protocol version (its standalone stream, over HTTP; stdio).
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions, Server
from mcp.server.models import InitializationOptions
from mcp.server.session import ServerSession
from mcp.server.subscriptions import (
    InMemorySubscriptionBus,
    ListenHandler,
    PromptsListChanged,
    ResourcesListChanged,
    ServerEvent,
    ToolsListChanged,
)
from mcp.shared.exceptions import MCPError
from mcp_types.version import MODERN_PROTOCOL_VERSIONS

from mesh_agent.calltokens import CallTokenCache
from mesh_agent.dependency import MAX_ATTEMPTS
from mesh_agent.gateway.catalogue import ExposedTool, Selection, catalogue, listing, search
from mesh_agent.gateway.meta import META_TOOLS, MetaArgumentError, MetaCall
from mesh_agent.gateway.offered import Offerings
from mesh_agent.informer import Informer
from mesh_agent.mcp_http import McpHttpClient, McpProtocolError, ProviderUnreachable, ToolCallError
from mesh_agent.provider_set import ProviderSet
from mesh_agent.tracing import call_span
from mesh_registry import __version__
from mesh_registry.client import RegistryClient
from mesh_registry.model import (
    Agent,
    DependencySpec,
    ObjectKey,
    Prompt,
    Resource,
    ResourceTemplate,
)
from mesh_registry.selector import SelectorError
from mesh_registry.waiting import wait_set

log = logging.getLogger(__name__)

# The MCP error of a resource no agent serves (the specification's "Resource not found").
RESOURCE_NOT_FOUND = -32002
_EVENTS: dict[str, ServerEvent] = {
    "tools": ToolsListChanged(),
    "prompts": PromptsListChanged(),
    "resources": ResourcesListChanged(),
}
_EVERY_LIST_CHANGES = NotificationOptions(
    tools_changed=True, prompts_changed=True, resources_changed=True
)
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

    @property
    def selection(self) -> Selection:
        return Selection(self.capabilities)


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
        self._offerings = Offerings()
        self._specs: dict[str, DependencySpec] = {}
        self._ready = asyncio.Event()
        self._bus = InMemorySubscriptionBus()
        self._listen = ListenHandler(
            self._bus, max_subscriptions=MAX_SUBSCRIPTIONS, max_buffered_events=MAX_BUFFERED_EVENTS
        )
        # Connections of clients of handshake-era protocols that listed the tools: they are
        # told of changes on their standalone stream (gone with the connection).
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self.server = _Server(
            options.name,
            version=__version__,
            on_list_tools=self._list_tools,
            # Without it the server lists every tool on each call to check the call's headers.
            get_tool_input_schema=self._input_schema,
            on_call_tool=self._call_tool,
            on_list_prompts=self._list_prompts,
            on_get_prompt=self._get_prompt,
            on_list_resources=self._list_resources,
            on_list_resource_templates=self._list_templates,
            on_read_resource=self._read_resource,
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
        return await wait_set(self._ready, within)

    # -- keeping current -------------------------------------------------------------------

    def _on_agents(self, agents: Mapping[ObjectKey, Agent]) -> None:
        capabilities = self._options.selection.capabilities(agents.values())
        specs = {name: DependencySpec(capability=name, required=True) for name in capabilities}
        self._providers.replace(specs.values())
        self._providers.update(agents.values(), capabilities)
        tools = catalogue(capabilities, lambda name: self._providers.providers(specs[name]))
        changed: set[str] = set()
        if listing(tools) != listing(self._tools):
            self._listed = [_tool(tool) for tool in tools.values()]
            if not self._options.meta_tools:
                changed.add("tools")
        self._tools = tools
        self._specs = specs
        offerings = Offerings.of(agents.values())
        for kind, before, after in zip(
            ("prompts", "resources", "resources"),
            self._offerings.listings(),
            offerings.listings(),
            strict=True,
        ):
            if before != after:
                changed.add(kind)
        self._offerings = offerings
        self._ready.set()
        if changed:
            asyncio.get_running_loop().create_task(self._notify(changed))

    async def _notify(self, changed: set[str]) -> None:
        """Tell the listening clients which of their lists changed."""
        for kind in sorted(changed):
            await self._bus.publish(_EVENTS[kind])
        for connection in list(self._connections):
            try:
                for kind in sorted(changed):
                    await getattr(connection, f"send_{kind[:-1]}_list_changed")()
            except Exception as error:  # a client that went away: forget it
                log.debug("list_changed not sent: %r", error)
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
        self._follow_changes(context)
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

    async def _list_prompts(
        self, context: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        self._follow_changes(context)
        return types.ListPromptsResult(
            prompts=[_prompt(o.item) for o in self._offerings.prompts.values()]
        )

    async def _get_prompt(
        self, context: ServerRequestContext[Any], params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        offered = self._offerings.prompts.get(params.name)
        if offered is None:
            raise MCPError(types.INVALID_PARAMS, f"no healthy agent offers prompt {params.name!r}")
        arguments = dict(params.arguments or {})
        answer = await self._first_answer(
            offered.agents,
            ("prompts/get", params.name),
            lambda channel: channel.get_prompt(params.name, arguments),
        )
        return types.GetPromptResult.model_validate(answer)

    async def _list_resources(
        self, context: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        self._follow_changes(context)
        return types.ListResourcesResult(
            resources=[_resource(o.item) for o in self._offerings.resources.values()]
        )

    async def _list_templates(
        self, context: ServerRequestContext[Any], params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        self._follow_changes(context)
        return types.ListResourceTemplatesResult(
            resource_templates=[_template(o.item) for o in self._offerings.templates.values()]
        )

    async def _read_resource(
        self, context: ServerRequestContext[Any], params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        agents = self._offerings.readers(uri)
        if not agents:
            raise MCPError(RESOURCE_NOT_FOUND, f"no healthy agent serves resource {uri!r}")
        answer = await self._first_answer(
            agents, ("resources/read", uri), lambda channel: channel.read_resource(uri)
        )
        return types.ReadResourceResult.model_validate(answer)

    async def _first_answer(
        self,
        agents: Sequence[Agent],
        what: tuple[str, str],
        request: Callable[[McpHttpClient], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """The answer of the first of ``agents`` that can be reached to ``request`` (``what``:
        its method and target); a refusal is the client's error, as the agent put it."""
        method, target = what
        unreachable = []
        for agent in agents[:MAX_ATTEMPTS]:
            with call_span(target, str(agent.key), method):
                try:
                    return await request(self._providers.reach(agent))
                except ProviderUnreachable:
                    unreachable.append(str(agent.key))
                except McpProtocolError as error:
                    raise MCPError(error.code, str(error)) from None
        raise MCPError(types.INTERNAL_ERROR, f"no agent could be reached: {', '.join(unreachable)}")

    def _follow_changes(self, context: ServerRequestContext[Any]) -> None:
        """A client of a handshake-era protocol that lists: told of changes from now on."""
        if context.protocol_version not in MODERN_PROTOCOL_VERSIONS:
            self._connections.add(_connection(context.session))

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
            notification_options or _EVERY_LIST_CHANGES,
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


def _prompt(prompt: Prompt) -> types.Prompt:
    return types.Prompt(
        name=prompt.name,
        description=prompt.description or None,
        arguments=[
            types.PromptArgument(
                name=a.name, description=a.description or None, required=a.required
            )
            for a in prompt.arguments
        ],
    )


def _resource(resource: Resource) -> types.Resource:
    return types.Resource(
        uri=resource.uri,
        name=resource.name,
        description=resource.description or None,
        mime_type=resource.mime_type or None,
    )


def _template(template: ResourceTemplate) -> types.ResourceTemplate:
    return types.ResourceTemplate(
        uri_template=template.uri_template,
        name=template.name,
        description=template.description or None,
        mime_type=template.mime_type or None,
    )


def _summary(tool: ExposedTool) -> dict[str, Any]:
    return {
        "capability": tool.name,
        "description": tool.description,
        "inputSchema": tool.input_schema,
        "outputSchema": tool.output_schema,
        "providers": [str(agent.key) for agent in tool.providers],
    }
