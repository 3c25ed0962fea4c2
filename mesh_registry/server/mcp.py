"""The registry's MCP tools (FastMCP), over the same service as REST.

Any MCP client can drive the registry with them. Inputs are typed; outputs are structured; a
failure is an MCP tool error carrying the same message the REST API would give.

Each input schema is made from the declarations the edge parses with: ``query.py`` for the
list and discovery tools, ``mcp_input.py`` for ``register_agent``'s two forms. Those tools take
their arguments untyped (``Any``) and parse them themselves, so that a bad one gets the REST
API's message; the others are validated strictly by FastMCP (no "5" for 5).
"""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import WithJsonSchema
from pydantic.json_schema import PydanticJsonSchemaWarning

from mesh_registry import __version__, validation
from mesh_registry.access import Access
from mesh_registry.auth import Authenticator, Principal
from mesh_registry.errors import BadRequest, MeshError
from mesh_registry.model import (
    DEFAULT_NAMESPACE,
    Agent,
    AgentList,
    AgentStatus,
    HeartbeatResponse,
    MeshModel,
    Phase,
)
from mesh_registry.query import EVERY_PHASE, AgentQuery, Operation, from_arguments, tool_schema
from mesh_registry.selector import MAX_REQUIREMENTS
from mesh_registry.server.auth import MeshTokenVerifier, mcp_principal
from mesh_registry.server.mcp_input import (
    UNSET,
    agent_from_arguments,
    flat_schemas,
    register_schema,
)

T = TypeVar("T")

Name = Annotated[
    str, WithJsonSchema({**validation.DNS1123_SUBDOMAIN.schema(), "description": "The name."})
]
Namespace = Annotated[
    str, WithJsonSchema({**validation.DNS1123_LABEL.schema(), "description": "The namespace."})
]

_PHASES = [phase.value for phase in Phase]
# discover_services' own arguments, beside a query's: the shapes of the mesh's original design.
_DISCOVER_EXTRA: dict[str, dict[str, Any]] = {
    "status": {
        "type": "string",
        "enum": [*_PHASES, "any"],
        "description": "The phase to look for (healthy by default), or 'any'; instead of phases.",
    },
    "labels": {
        "type": "object",
        "maxProperties": MAX_REQUIREMENTS,
        "propertyNames": validation.QUALIFIED_NAME.schema(),
        "additionalProperties": validation.LABEL_VALUE.schema(),
        "description": "Labels the agents must carry, exactly (Kubernetes' matchLabels).",
    },
}
_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)
_WRITE = ToolAnnotations(
    readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False
)


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
    mcp = FastMCP(
        "mcp-mesh-registry",
        instructions="Register MCP agents, renew their leases, and discover providers of a "
        "capability by label selector, version range and tags.",
        version=__version__,
        auth=MeshTokenVerifier(authenticator) if authenticator else None,
        strict_input_validation=True,
    )

    def caller() -> Principal:
        return _checked(lambda: mcp_principal(authenticator))

    _add_lifecycle_tools(mcp, access, caller)
    _add_reading_tools(mcp, access, caller)
    return mcp


def _add_lifecycle_tools(mcp: FastMCP, access: Access, caller: Callable[[], Principal]) -> None:
    """The tools an agent's life goes through: register, heartbeat, unregister."""

    async def register_agent(
        agent: Any = UNSET,
        name: Any = UNSET,
        namespace: Any = UNSET,
        endpoint: Any = UNSET,
        capabilities: Any = UNSET,
        dependencies: Any = UNSET,
        labels: Any = UNSET,
        annotations: Any = UNSET,
        version: Any = UNSET,
        tags: Any = UNSET,
        health_interval: Any = UNSET,
    ) -> Agent:
        """Register an agent, or replace its record (create or replace).

        Give either `agent`, the Agent object (with metadata.resourceVersion set, only that
        version is replaced), or the flat form: name and endpoint, and optionally namespace,
        capabilities (names or objects), dependencies (names or objects), labels, annotations,
        version and tags (for capabilities given by name) and health_interval.
        """
        flat = {
            "name": name,
            "namespace": namespace,
            "endpoint": endpoint,
            "capabilities": capabilities,
            "dependencies": dependencies,
            "labels": labels,
            "annotations": annotations,
            "version": version,
            "tags": tags,
            "health_interval": health_interval,
        }
        given = _checked(lambda: agent_from_arguments(agent, flat))
        return (await _answer(access.register(caller(), given, None, None))).agent

    _add(mcp, register_agent, register_schema(flat_schemas()), _WRITE)

    @mcp.tool(annotations=_WRITE)
    async def unregister_agent(name: Name, namespace: Namespace = DEFAULT_NAMESPACE) -> Agent:
        """Remove an agent at once; returns its last state."""
        return await _answer(access.unregister(caller(), namespace, name))

    @mcp.tool(
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=False, idempotentHint=True, openWorldHint=False
        )
    )
    async def heartbeat(name: Name, namespace: Namespace = DEFAULT_NAMESPACE) -> HeartbeatResponse:
        """Renew an agent's lease; an unknown agent is an error (register it again)."""
        return await _answer(access.heartbeat(caller(), namespace, name))


def _add_reading_tools(mcp: FastMCP, access: Access, caller: Callable[[], Principal]) -> None:
    """The tools that read: one agent's status, lists, and discovery."""

    @mcp.tool(annotations=_READ)
    async def get_agent_status(
        name: Name, namespace: Namespace = DEFAULT_NAMESPACE
    ) -> AgentStatusReport:
        """An agent's phase, last heartbeat and the version of its record."""
        agent = await _answer(access.get(caller(), namespace, name))
        return AgentStatusReport(
            name=agent.metadata.name,
            namespace=agent.metadata.namespace,
            resource_version=agent.metadata.resource_version or "",
            generation=agent.metadata.generation,
            status=agent.status,
        )

    async def list_agents(
        namespace: Any = UNSET,
        selector: Any = UNSET,
        capabilities: Any = UNSET,
        phases: Any = UNSET,
        version: Any = UNSET,
        tags: Any = UNSET,
        limit: Any = UNSET,
        continue_token: Any = UNSET,
    ) -> AgentList:
        """Registered agents in namespace and name order, paginated with limit and continue."""
        arguments = _given(locals())
        query = _checked(lambda: from_arguments(arguments, Operation.LIST))
        return (await _answer(access.list_records(caller(), query))).as_list()

    _add(mcp, list_agents, tool_schema(Operation.LIST, {}), _READ)

    async def discover_services(
        capabilities: Any = UNSET,
        status: Any = UNSET,
        labels: Any = UNSET,
        namespace: Any = UNSET,
        selector: Any = UNSET,
        phases: Any = UNSET,
        version: Any = UNSET,
        tags: Any = UNSET,
        limit: Any = UNSET,
    ) -> AgentList:
        """Providers, best first: preferred tags, then highest version, then name."""
        arguments = _given(locals())
        query = _checked(lambda: _discovery(arguments))
        return (await _answer(access.discover_records(caller(), query))).as_list()

    _add(mcp, discover_services, tool_schema(Operation.DISCOVER, _DISCOVER_EXTRA), _READ)


def _add(
    mcp: FastMCP,
    function: Callable[..., Awaitable[Any]],
    schema: dict[str, Any],
    annotations: ToolAnnotations,
) -> None:
    """Add a tool whose arguments it parses itself, with the schema of what it accepts."""
    with warnings.catch_warnings():
        # UNSET has no JSON form: pydantic says so while building a schema replaced below.
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
        tool = Tool.from_function(function, annotations=annotations)
    tool.parameters = schema
    mcp.add_tool(tool)


def _given(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """The arguments a call gave (a JSON null included)."""
    return {name: value for name, value in arguments.items() if value is not UNSET}


def _discovery(arguments: dict[str, Any]) -> AgentQuery:
    """discover_services' query: a query's arguments, plus ``status`` and ``labels``."""
    status = arguments.pop("status", None)
    labels = arguments.pop("labels", None)
    query = from_arguments(arguments, Operation.DISCOVER)
    if status is not None:
        if query.phases is not None:
            raise BadRequest("give status or phases, not both")
        if status not in (*_PHASES, "any"):
            raise BadRequest(f"status: {status!r} is not a phase ({', '.join(_PHASES)}) or 'any'")
        query = replace(query, phases=EVERY_PHASE if status == "any" else (status,))
    if labels is not None:
        if not isinstance(labels, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in labels.items()
        ):
            raise BadRequest("labels: must be an object of strings")
        query = replace(query, labels=dict(labels))
    return query


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
