"""An agent: an MCP server whose tools provide capabilities, registered in the mesh.

    agent = MeshAgent("weather", labels={"region": "eu"})

    @agent.tool(capabilities=["weather.forecast"], dependencies=["geo.lookup"])
    async def forecast(city: str, geo: Dependency | None = None) -> str: ...

    @agent.tool(capabilities=["trip.plan"])
    async def plan(city: str, geo: Annotated[Dependency, Requires("geo.lookup")]) -> str: ...

    agent.run()

``MeshAgent`` declares the agent: its tools, the capabilities they provide, their dependencies
and its settings. Serving it makes an ``AgentRuntime`` (``runtime.py``): the MCP server
(streamable HTTP at ``/mcp``), the registration with every capability's input and output
schemas, the heartbeats, and the providers of its dependencies. Any MCP client can call the
tools, registry or not.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from pydantic import ValidationError

from mesh_agent.calltokens import AUTH_ANNOTATION
from mesh_agent.dependency import Dependency
from mesh_agent.injection import DependencyInput, dependency_spec, tool_dependencies, tool_function
from mesh_agent.lifecycle import Probe
from mesh_agent.runtime import AgentRuntime, missing
from mesh_agent.settings import AgentSettings, ResolvedSettings
from mesh_registry.logs import configure_unless_configured
from mesh_registry.model import Agent, DependencySpec, field_errors, parse_agent
from mesh_registry.serving import listen

if TYPE_CHECKING:
    from mesh_agent.wasm.runtime import Runtime

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class _Provided:
    """Capabilities one tool provides."""

    tool: str
    capabilities: list[str]
    version: str | None
    tags: list[str]
    description: str | None = None
    dependencies: list[DependencySpec] = field(default_factory=list)


class MeshAgent:
    """An agent of the mesh: a FastMCP server plus registration, heartbeats and dependencies.

    ``mcp`` attaches an existing FastMCP server; its tools are offered as capabilities named
    after them (with ``capability_prefix`` before the name), or as ``capabilities`` maps them
    (capability name → tool name). ``probe`` says whether the agent can serve; while it says
    no, the agent stops heartbeating (see :class:`Lifecycle`).
    """

    def __init__(
        self,
        name: str | None = None,
        *,
        namespace: str | None = None,
        registry_url: str | None = None,
        labels: Mapping[str, str] | None = None,
        health_interval: float | None = None,
        token: str | None = None,
        require_token: bool | None = None,
        version: str | None = None,
        host: str | None = None,
        port: int | None = None,
        advertise_host: str | None = None,
        mcp: FastMCP | None = None,
        capabilities: Mapping[str, str] | None = None,
        capability_prefix: str = "",
        probe: Probe | None = None,
        default_name: str | None = None,
    ) -> None:
        self.settings = AgentSettings(
            name=name,
            namespace=namespace,
            registry_url=registry_url,
            labels=dict(labels or {}),
            health_interval=health_interval,
            token=token,
            require_token=require_token,
            version=version,
            host=host,
            port=port,
            advertise_host=advertise_host,
            default_name=default_name,
        )
        self._overrides = AgentSettings()
        self._attached = mcp is not None
        self.mcp = mcp if mcp is not None else FastMCP(name or "mcp-mesh-agent")
        self._provided: list[_Provided] = []
        if capabilities:
            for capability, tool in capabilities.items():
                self._provided.append(_Provided(tool, [capability], None, []))
        self._capability_prefix = capability_prefix
        self._probe = probe
        self._wasm: Runtime | None = None
        self._runtime: AgentRuntime | None = None
        self.endpoint: str | None = None  # where it serves, once it does

    # -- declaring -------------------------------------------------------------------------

    def configure(self, settings: AgentSettings, *, source: str = "") -> None:
        """Add agent-wide settings (from another decorator, say); a conflict is an error."""
        self.settings = self.settings.merged(settings, source=source)

    def override(self, settings: AgentSettings) -> None:
        """Settings that win over the environment's (a program's command-line options)."""
        self._overrides = self._overrides.overridden_by(settings)

    def tool(
        self,
        fn: F | None = None,
        *,
        capabilities: Sequence[str] | None = None,
        dependencies: Sequence[DependencyInput] | None = None,
        version: str | None = None,
        tags: Sequence[str] | None = None,
        name: str | None = None,
        description: str | None = None,
    ) -> Any:
        """Make ``fn`` a tool of this agent that provides ``capabilities`` (default: one named
        like the tool). ``fn`` itself is returned unchanged: it stays directly callable."""

        def decorate(function: F) -> F:
            listed = [dependency_spec(d) for d in dependencies or ()]
            declared = tool_dependencies(function, listed)
            tool_name = name or function.__name__
            wrapper = tool_function(function, declared.slots, self._resolve)
            self.mcp.tool(wrapper, name=tool_name, description=description)
            provided = list(capabilities) if capabilities else [tool_name]
            self._provided.append(
                _Provided(
                    tool_name, provided, version, list(tags or ()), description, declared.declared
                )
            )
            return function

        return decorate(fn) if fn is not None else decorate

    def prompt(
        self, fn: F | None = None, *, name: str | None = None, description: str | None = None
    ) -> Any:
        """Make ``fn`` an MCP prompt of this agent (its arguments the prompt's), advertised
        in its record: discoverable, and served through the gateway. ``fn`` is returned
        unchanged."""

        def decorate(function: F) -> F:
            self.mcp.prompt(function, name=name, description=description)
            return function

        return decorate(fn) if fn is not None else decorate

    def resource(
        self,
        uri: str,
        *,
        name: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
    ) -> Callable[[F], F]:
        """Make the decorated function the MCP resource at ``uri`` (an RFC 6570 template
        when it has ``{parameters}``, which the function takes), advertised in the record."""

        def decorate(function: F) -> F:
            self.mcp.resource(uri, name=name, description=description, mime_type=mime_type)(
                function
            )
            return function

        return decorate

    def add_wasm(
        self,
        path: str | Path,
        *,
        capabilities: Sequence[str] = (),
        runtime: Runtime | None = None,
    ) -> list[str]:
        """Serve the WebAssembly module(s) at ``path`` (a ``tool.toml``/``tool.json``
        manifest, a module's directory, or a directory of them) as tools of this agent, beside
        its Python tools; return their names. ``capabilities`` overrides the manifests'
        (``TOOL=CAPABILITY``, or ``CAPABILITY`` for a single tool). See :mod:`mesh_agent.wasm`.
        """
        from mesh_agent.wasm.runtime import Runtime, default_cache_dir
        from mesh_agent.wasm.tools import capabilities_for, load_tools

        if runtime is None:
            if self._wasm is None:
                self._wasm = Runtime(default_cache_dir())
            runtime = self._wasm
        loaded = load_tools(path, runtime)
        chosen = capabilities_for(loaded, capabilities)
        taken = {entry.tool for entry in self._provided}
        for wasm_tool in loaded:
            if wasm_tool.name in taken:
                raise ValueError(f"{path}: this agent already has a tool {wasm_tool.name!r}")
        for wasm_tool in loaded:
            self.mcp.add_tool(wasm_tool.tool)
            self._provided.append(
                _Provided(
                    wasm_tool.name,
                    chosen[wasm_tool.name],
                    wasm_tool.version,
                    wasm_tool.tags,
                    wasm_tool.tool.description,
                )
            )
        return [t.name for t in loaded]

    @property
    def provided(self) -> bool:
        """Whether any capability is declared yet."""
        return bool(self._provided)

    @property
    def dependencies(self) -> list[DependencySpec]:
        """Every declared dependency, each once, in declaration order."""
        return list(dict.fromkeys(d for p in self._provided for d in p.dependencies))

    def providers(self, capability: str) -> list[Agent]:
        """The providers this agent knows now for its dependency on ``capability``, best
        first (empty before it serves, or while there is none)."""
        for dependency in self.dependencies:
            if dependency.capability == capability and self._runtime is not None:
                return self._runtime.providers(dependency)
        return []

    # -- running ---------------------------------------------------------------------------

    def run(self) -> None:
        """Serve until SIGTERM or SIGINT; then unregister and return (exit code 0)."""
        from mesh_registry.serving import run

        configure_unless_configured()
        try:
            run(self.serve())
        except (OSError, ValueError) as error:
            print(f"mcp-mesh agent: {error}", file=sys.stderr)
            raise SystemExit(1) from None

    async def serve(self) -> None:
        """Serve, registered in the mesh, until a shutdown signal (or cancellation).

        Once its app is built it freezes the process's heap (``gc.freeze``): what exists by then
        is never rescanned by the garbage collector (see ``mesh_registry.memory``)."""
        settings = self.settings.with_environment().overridden_by(self._overrides).resolved()
        listener = listen(settings.host, settings.port)
        runtime = self._runtime = AgentRuntime(self, settings, listener, probe=self._probe)
        self.endpoint = runtime.endpoint
        try:
            await runtime.serve()
        finally:
            self._runtime = None
            listener.close()
            if self._wasm is not None:
                self._wasm.close()
                self._wasm = None

    async def refresh(self) -> bool:
        """Register again if the tools changed since (an attached server's, say); return
        whether they had. A no-op unless the agent serves."""
        return self._runtime is not None and await self._runtime.refresh()

    async def record(self, settings: ResolvedSettings, endpoint: str) -> Agent:
        """The record this agent registers, validated as the registry will validate it."""
        tools = {tool.name: tool for tool in await self.mcp.list_tools()}
        provided = self._provided
        if self._attached and not provided:
            prefix = self._capability_prefix
            provided = [_Provided(name, [prefix + name], None, []) for name in tools]
        capabilities = []
        for entry in provided:
            tool = tools.get(entry.tool)
            if tool is None:
                raise ValueError(
                    f"capability {entry.capabilities} names tool {entry.tool!r},"
                    " which the server does not have"
                )
            for capability in entry.capabilities:
                capabilities.append(
                    {
                        "name": capability,
                        "tool": tool.name,
                        "version": settings.version_override or entry.version or settings.version,
                        "tags": list(settings.tags_override)
                        if settings.tags_override is not None
                        else entry.tags,
                        "description": entry.description or tool.description or "",
                        "inputSchema": tool.parameters,
                        "outputSchema": tool.output_schema,
                    }
                )
        body = {
            "metadata": {
                "name": settings.name,
                "namespace": settings.namespace,
                "labels": settings.labels,
                # Consumers read it, and bring a call token (see calltokens.py).
                "annotations": {AUTH_ANNOTATION: "bearer"} if settings.require_token else {},
            },
            "spec": {
                "endpoint": endpoint,
                "healthInterval": settings.health_interval,
                "capabilities": capabilities,
                "dependencies": [d.model_dump(mode="json") for d in self.dependencies],
                **await self._offerings(),
            },
        }
        try:
            return parse_agent(body)
        except ValidationError as error:
            problems = "; ".join(f"{e.field}: {e.message}" for e in field_errors(error))
            raise ValueError(f"this agent's record is invalid: {problems}") from None

    # -- internals -------------------------------------------------------------------------

    async def _offerings(self) -> dict[str, Any]:
        """The prompts, resources and resource templates of the MCP server, as the record
        advertises them."""
        prompts = [
            {
                "name": prompt.name,
                "description": prompt.description or "",
                "arguments": [
                    {
                        "name": argument.name,
                        "description": argument.description or "",
                        "required": bool(argument.required),
                    }
                    for argument in prompt.arguments or ()
                ],
            }
            for prompt in await self.mcp.list_prompts()
        ]
        resources = [
            {
                "uri": str(resource.uri),
                "name": resource.name,
                "description": resource.description or "",
                "mimeType": resource.mime_type or "",
            }
            for resource in await self.mcp.list_resources()
        ]
        templates = [
            {
                "uriTemplate": template.uri_template,
                "name": template.name,
                "description": template.description or "",
                "mimeType": template.mime_type or "",
            }
            for template in await self.mcp.list_resource_templates()
        ]
        return {"prompts": prompts, "resources": resources, "resourceTemplates": templates}

    async def _resolve(
        self, dependency: DependencySpec, loop: asyncio.AbstractEventLoop
    ) -> Dependency | None:
        if self._runtime is not None:
            return await self._runtime.resolve(dependency, loop)
        if dependency.required:  # called in-process, before the agent serves
            raise ToolError(missing(dependency))
        return None
