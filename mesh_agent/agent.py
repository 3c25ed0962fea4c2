"""An agent: an MCP server whose tools provide capabilities, registered in the mesh.

    agent = MeshAgent("weather", labels={"region": "eu"})

    @agent.tool(capabilities=["weather.forecast"], dependencies=["geo.lookup"])
    async def forecast(city: str, geo: Dependency | None = None) -> str: ...

    agent.run()

Serving starts the MCP server (streamable HTTP at ``/mcp``), registers the agent with every
capability's input and output schemas, heartbeats, and follows the providers of its dependencies
through one watch. Any MCP client can call the tools, registry or not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeVar

import uvicorn
from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from pydantic import ValidationError

from mesh_agent.calltokens import AUTH_ANNOTATION, CallTokenCache, RegistryTokenVerifier
from mesh_agent.dependency import Dependency
from mesh_agent.informer import Informer
from mesh_agent.injection import declared_dependencies, match_slots, tool_function
from mesh_agent.lifecycle import Lifecycle, Probe
from mesh_agent.providers import ChannelPool
from mesh_agent.resolver import Resolver
from mesh_agent.settings import AgentSettings, ResolvedSettings
from mesh_registry.client import RegistryClient
from mesh_registry.logs import configure_unless_configured
from mesh_registry.model import Agent, DependencySpec, field_errors, parse_agent
from mesh_registry.serving import listen, server_config, signals_end_the_serve_loop

if TYPE_CHECKING:
    from mesh_agent.wasm.runtime import Runtime

log = logging.getLogger(__name__)
F = TypeVar("F", bound=Callable[..., Any])
DependencyInput = str | Mapping[str, Any] | DependencySpec

# How long a stopping agent waits for the registry to acknowledge its departure, then keeps
# serving while the news reaches its consumers (a watch event: milliseconds; as Kubernetes'
# endpoints need a moment to propagate before a pod stops), then waits for calls in flight.
UNREGISTER_TIMEOUT = 2.0
PROPAGATION_DELAY = 0.25
DRAIN_TIMEOUT = 5.0
# How long a first call waits for the providers of its dependencies to be known.
FIRST_SYNC_TIMEOUT = 2.0


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
        self._resolver: Resolver | None = None
        self._lifecycle: Lifecycle | None = None
        self._settings: ResolvedSettings | None = None
        self._server: _AgentServer | None = None
        self.endpoint: str | None = None

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
            specs = declared_dependencies(function, [_dependency(d) for d in dependencies or ()])
            slots = match_slots(function, specs)
            tool_name = name or function.__name__
            wrapper = tool_function(function, slots, self._resolve)
            self.mcp.tool(wrapper, name=tool_name, description=description)
            provided = list(capabilities) if capabilities else [tool_name]
            self._provided.append(
                _Provided(tool_name, provided, version, list(tags or ()), description, specs)
            )
            return function

        return decorate(fn) if fn is not None else decorate

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
            if dependency.capability == capability and self._resolver is not None:
                return self._resolver.providers(dependency)
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
        """Serve, registered in the mesh, until a shutdown signal (or cancellation)."""
        settings = self.settings.with_environment().overridden_by(self._overrides).resolved()
        listener = listen(settings.host, settings.port)
        port = listener.getsockname()[1]
        self.endpoint = f"http://{_url_host(settings.advertise_host)}:{port}/mcp"
        self._settings = settings
        record = await self.record(settings, self.endpoint)
        self._announce(settings)
        await self._install_schema_lookup()
        registry_client = RegistryClient(
            settings.registry_url,
            timeout=5.0,
            token=settings.token,
            ca_bundle=settings.ca_bundle,
        )
        if settings.require_token and self.mcp.auth is None:
            self.mcp.auth = RegistryTokenVerifier(registry_client, record.key)
        # Stateless, as the registry: no client can make an agent hold sessions (see
        # docs/design.md for what that leaves to clients of older protocol versions).
        app = self.mcp.http_app(path="/mcp", stateless_http=True)
        config = server_config(app, access_log=False, timeout_graceful_shutdown=int(DRAIN_TIMEOUT))
        pool = ChannelPool(CallTokenCache(registry_client))
        async with registry_client as registry:
            self._lifecycle = Lifecycle(
                registry, record, settings.health_interval, probe=self._probe
            )
            self._resolver = Resolver(self.dependencies, settings.namespace, pool)
            self._server = _AgentServer(config, self._leave)
            self._lifecycle.start()
            background = []
            if self.dependencies:
                informer = Informer(
                    registry,
                    settings.namespace,
                    self._resolver.capabilities,
                    lambda agents: self._providers_changed(agents.values(), pool),
                )
                background.append(asyncio.create_task(informer.run(), name="mesh-informer"))
            else:
                self._resolver.synced.set()
            log.info("agent %s/%s serving on %s", settings.namespace, settings.name, self.endpoint)
            try:
                with signals_end_the_serve_loop():
                    await self._server.serve(sockets=[listener])
            finally:
                await self._lifecycle.leave(within=UNREGISTER_TIMEOUT)  # once, if not yet
                for task in background:
                    task.cancel()
                await asyncio.gather(*background, return_exceptions=True)
                await pool.aclose()
                if self._wasm is not None:
                    self._wasm.close()
                    self._wasm = None

    async def refresh(self) -> bool:
        """Register again if the tools changed since (an attached server's, say); return
        whether they had. A no-op before the agent serves."""
        if self._lifecycle is None or self._settings is None or self.endpoint is None:
            return False
        record = await self.record(self._settings, self.endpoint)
        if record.spec == self._lifecycle.record.spec:
            return False
        await self._install_schema_lookup()
        self._lifecycle.replace(record)
        return True

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
            },
        }
        try:
            return parse_agent(body)
        except ValidationError as error:
            problems = "; ".join(f"{e.field}: {e.message}" for e in field_errors(error))
            raise ValueError(f"this agent's record is invalid: {problems}") from None

    # -- internals -------------------------------------------------------------------------

    async def _resolve(
        self, dependency: DependencySpec, loop: asyncio.AbstractEventLoop
    ) -> Dependency | None:
        resolver = self._resolver
        if resolver is not None and not resolver.synced.is_set():
            # The first calls after start: give the watch a moment to report the providers.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(resolver.synced.wait(), FIRST_SYNC_TIMEOUT)
        found = resolver.dependency(dependency, loop) if resolver is not None else None
        if found is None and dependency.required:
            raise ToolError(_missing(dependency))
        return found

    def _providers_changed(self, agents: Iterable[Agent], pool: ChannelPool) -> None:
        resolver = self._resolver
        assert resolver is not None
        resolver.update(agents)

        async def prune() -> None:
            # The endpoints in use when the pruning runs: later updates may have added some.
            await pool.keep_only(resolver.endpoints())

        # Providers that left: close their connections (on the loop, not in this callback).
        asyncio.get_running_loop().create_task(prune())

    async def _leave(self) -> bool:
        """Stop heartbeating and unregister; ``True`` if the registry acknowledged it."""
        if self._lifecycle is None:
            return False
        return await self._lifecycle.leave(within=UNREGISTER_TIMEOUT)

    def _announce(self, settings: ResolvedSettings) -> None:
        """Name the MCP server after the agent (its ``serverInfo``): a client that connects
        sees which agent of the mesh it reached, and its version."""
        low_level = getattr(self.mcp, "_mcp_server", None)
        if low_level is not None:
            low_level.name = settings.name
            low_level.version = settings.version_override or settings.version

    async def _install_schema_lookup(self) -> None:
        """Let the MCP server look a tool's input schema up directly.

        Without it, the server lists every tool on each call to validate ``Mcp-Param-*``
        headers: about a third of the cost of a call. The lookup answers from the same tools.
        """
        schemas = {tool.name: tool.parameters for tool in await self.mcp.list_tools()}
        low_level = getattr(self.mcp, "_mcp_server", None)
        if low_level is not None and hasattr(low_level, "get_tool_input_schema"):
            low_level.get_tool_input_schema = schemas.get


class _AgentServer(uvicorn.Server):
    """uvicorn, which on the first SIGTERM/SIGINT unregisters before it stops accepting calls,
    so that consumers move to another provider while this one still answers."""

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


def _dependency(value: DependencyInput) -> DependencySpec:
    if isinstance(value, DependencySpec):
        return value
    if isinstance(value, str):
        return DependencySpec(capability=value)
    try:
        return DependencySpec.model_validate(value, extra="forbid")
    except ValidationError as error:
        problems = "; ".join(f"{e.field}: {e.message}" for e in field_errors(error))
        raise ValueError(f"invalid dependency {dict(value)!r}: {problems}") from None


def _missing(dependency: DependencySpec) -> str:
    wanted = [f"capability {dependency.capability!r}"]
    if dependency.selector:
        wanted.append(f"selector {dependency.selector!r}")
    if dependency.version:
        wanted.append(f"version {dependency.version!r}")
    if dependency.tags:
        wanted.append(f"tags {','.join(dependency.tags)!r}")
    return "no healthy provider of required dependency: " + ", ".join(wanted)


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
