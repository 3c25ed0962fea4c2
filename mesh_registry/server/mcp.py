"""The registry's MCP tools (FastMCP), over the same service as REST.

Any MCP client can drive the registry with them. Inputs are typed; outputs are structured; a
failure is an MCP tool error carrying the same message the REST API would give.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from pydantic import Field, WithJsonSchema

from mesh_registry.access import Access
from mesh_registry.auth import Authenticator, Principal
from mesh_registry.errors import MeshError
from mesh_registry.model import (
    DEFAULT_NAMESPACE,
    Agent,
    AgentList,
    AgentStatus,
    HeartbeatResponse,
    ListMeta,
    MeshModel,
    agent_request_schema,
)
from mesh_registry.server.auth import MeshTokenVerifier, mcp_principal

T = TypeVar("T")


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` substituted for their ``$ref``s (the Agent schema has no
    recursive types): a schema given to ``WithJsonSchema`` cannot carry definitions."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


# Validated by the service, not by the tool layer: the tool advertises the Agent schema, and a
# bad object gets the same "Agent ... is invalid: <field>: <reason>" message as over REST.
AgentBody = Annotated[
    dict[str, Any],
    WithJsonSchema(_inlined(agent_request_schema())),
    Field(description="The agent object: metadata (name, namespace, labels) and spec."),
]
Name = Annotated[str, Field(description="The agent's name.")]
Namespace = Annotated[str, Field(description="The agent's namespace.")]


class AgentStatusReport(MeshModel):
    """One agent's identity and health."""

    name: str
    namespace: str
    resource_version: str
    generation: int | None = None
    status: AgentStatus


def create_mcp(access: Access, authenticator: Authenticator | None = None) -> FastMCP:
    """The registry's MCP server; with an ``authenticator``, bearer tokens are required and
    each tool acts as its caller's principal."""
    registry = access.registry
    mcp = FastMCP(
        "mcp-mesh-registry",
        instructions="Register MCP agents, renew their leases, and discover providers of a "
        "capability by label selector, version range and tags.",
        auth=MeshTokenVerifier(authenticator) if authenticator else None,
    )

    def caller() -> Principal:
        return _checked(lambda: mcp_principal(authenticator))

    @mcp.tool
    async def register_agent(agent: AgentBody) -> Agent:
        """Register an agent, or replace its record (create or replace).

        With ``metadata.resourceVersion`` set, only that version is replaced.
        """
        return (await _answer(access.register(caller(), agent, None, None))).agent

    @mcp.tool
    async def unregister_agent(name: Name, namespace: Namespace = DEFAULT_NAMESPACE) -> Agent:
        """Remove an agent at once; returns its last state."""
        return await _answer(access.unregister(caller(), namespace, name))

    @mcp.tool
    async def heartbeat(name: Name, namespace: Namespace = DEFAULT_NAMESPACE) -> HeartbeatResponse:
        """Renew an agent's lease; an unknown agent is an error (register it again)."""
        return await _answer(access.heartbeat(caller(), namespace, name))

    @mcp.tool
    async def get_agent_status(
        name: Name, namespace: Namespace = DEFAULT_NAMESPACE
    ) -> AgentStatusReport:
        """An agent's phase, last heartbeat and the version of its record."""
        agent = _checked(lambda: access.get(caller(), namespace, name))
        return AgentStatusReport(
            name=agent.metadata.name,
            namespace=agent.metadata.namespace,
            resource_version=agent.metadata.resource_version or "",
            generation=agent.metadata.generation,
            status=agent.status,
        )

    @mcp.tool
    async def list_agents(
        namespace: Annotated[str | None, Field(description="Only this namespace.")] = None,
        selector: Annotated[str, Field(description="A label selector.")] = "",
        capabilities: Annotated[
            list[str], Field(description="Agents providing any of these.")
        ] = [],  # noqa: B006 - FastMCP reads the default for the schema; it is never mutated
        phases: Annotated[list[str], Field(description="Agents in any of these phases.")] = [],  # noqa: B006
        limit: Annotated[int | None, Field(description="At most this many.", ge=1)] = None,
        continue_token: Annotated[
            str | None, Field(description="The continue token of the previous page.")
        ] = None,
    ) -> AgentList:
        """Registered agents in namespace and name order, paginated with limit and continue."""
        return await _answer(
            access.list_agents(
                caller(),
                namespace,
                selector=selector,
                capabilities=capabilities,
                phases=phases or None,
                limit=limit,
                continue_token=continue_token,
            )
        )

    @mcp.tool
    async def discover_services(
        capabilities: Annotated[
            list[str], Field(description="Agents must provide every one of these.")
        ] = [],  # noqa: B006
        status: Annotated[
            str, Field(description="The phase to look for (healthy by default), or 'any'.")
        ] = "healthy",
        labels: Annotated[
            dict[str, str], Field(description="Labels the agents must carry, exactly.")
        ] = {},  # noqa: B006
        namespace: Annotated[str | None, Field(description="Only this namespace.")] = None,
        selector: Annotated[str, Field(description="A label selector.")] = "",
        version: Annotated[str, Field(description="A version range, e.g. '>=1.2 <2'.")] = "",
        tags: Annotated[
            list[str], Field(description="x required, +x preferred, -x excluded.")
        ] = [],  # noqa: B006
        limit: Annotated[int | None, Field(description="At most this many.", ge=1)] = None,
    ) -> AgentList:
        """Providers, best first: preferred tags, then highest version, then name."""
        found = _checked(
            lambda: access.discover(
                caller(),
                capabilities,
                selector=selector,
                labels=labels,
                namespace=namespace,
                phases=None if status == "any" else [status],
                version=version,
                tags=tags,
                limit=limit,
            )
        )
        return AgentList(metadata=ListMeta(resource_version=str(registry.revision)), items=found)

    return mcp


async def _answer(call: Awaitable[T]) -> T:
    try:
        return await call
    except MeshError as error:
        raise ToolError(error.message) from None


def _checked(call: Callable[[], T]) -> T:
    try:
        return call()
    except MeshError as error:
        raise ToolError(error.message) from None
