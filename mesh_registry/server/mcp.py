"""The registry's MCP tools (FastMCP), over the same service as REST.

Any MCP client can drive the registry with them. Inputs are typed; outputs are structured; a
failure is an MCP tool error carrying the same message the REST API would give. Each input
schema is built from the rules the service checks (see ``mcp_input.py``), and inputs are
validated strictly (no "5" for 5), so that a client that follows the schemas is never refused
for the shape of what it sends, and one that does not is refused with a message naming the field.
"""

# No `from __future__ import annotations`: the tools' annotations refer to values of
# create_mcp (the list limit), which FastMCP could not resolve from strings.
import warnings
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError
from fastmcp.tools import Tool
from mcp.types import ToolAnnotations
from pydantic import Field, WithJsonSchema
from pydantic.json_schema import PydanticJsonSchemaWarning

from mesh_registry import __version__, validation
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
    Phase,
)
from mesh_registry.selector import MAX_REQUIREMENTS
from mesh_registry.server.auth import MeshTokenVerifier, mcp_principal
from mesh_registry.server.mcp_input import (
    UNSET,
    agent_from_arguments,
    flat_schemas,
    parse_selector_argument,
    register_schema,
    selector_schema,
)

T = TypeVar("T")


def _described(schema: dict[str, Any], description: str) -> WithJsonSchema:
    return WithJsonSchema({**schema, "description": description})


def _list_of(item: dict[str, Any], description: str) -> WithJsonSchema:
    return WithJsonSchema({"type": "array", "items": item, "description": description})


_PHASES = [phase.value for phase in Phase]
Name = Annotated[str, _described(validation.DNS1123_SUBDOMAIN.schema(), "The agent's name.")]
Namespace = Annotated[str, _described(validation.DNS1123_LABEL.schema(), "The agent's namespace.")]
OnlyNamespace = Annotated[
    str | None,
    WithJsonSchema(
        {
            "anyOf": [validation.DNS1123_LABEL.schema(), {"type": "null"}],
            "description": "Only this namespace (default: every namespace).",
        }
    ),
]
SelectorArgument = Annotated[
    Any,
    WithJsonSchema(
        {
            **selector_schema(),
            "description": "A label selector: a string in Kubernetes' grammar, or a"
            " LabelSelector object (matchLabels, matchExpressions).",
        }
    ),
]
_CAPABILITY = validation.CAPABILITY_NAME.schema()
Phases = Annotated[
    list[str], _list_of({"type": "string", "enum": _PHASES}, "Agents in any of these phases.")
]
Version = Annotated[
    str,
    Field(description="A version range (npm syntax, e.g. '>=1.2 <2') the capability satisfies."),
]
Tags = Annotated[
    list[str],
    _list_of(validation.TAG_FILTER.schema(), "Tags: x required, +x preferred, -x excluded."),
]
Labels = Annotated[
    dict[str, str],
    WithJsonSchema(
        {
            "type": "object",
            "maxProperties": MAX_REQUIREMENTS,
            "propertyNames": validation.QUALIFIED_NAME.schema(),
            "additionalProperties": validation.LABEL_VALUE.schema(),
            "description": "Labels the agents must carry, exactly (Kubernetes' matchLabels).",
        }
    ),
]

_READ = ToolAnnotations(readOnlyHint=True, openWorldHint=False)


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
    max_limit = registry.config.max_list_limit
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
        given = _checked(
            lambda: agent_from_arguments(
                agent,
                {
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
                },
            )
        )
        return (await _answer(access.register(caller(), given, None, None))).agent

    with warnings.catch_warnings():
        # UNSET has no JSON form: pydantic says so while building a schema replaced below.
        warnings.simplefilter("ignore", PydanticJsonSchemaWarning)
        tool = Tool.from_function(
            register_agent,
            annotations=ToolAnnotations(
                readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False
            ),
        )
    # Validated by the service and mcp_input, not by FastMCP (the arguments are typed Any), so
    # that a bad field gets the REST API's message; the schema says what they accept.
    tool.parameters = register_schema(flat_schemas())
    mcp.add_tool(tool)

    @mcp.tool(
        annotations=ToolAnnotations(
            readOnlyHint=False, destructiveHint=True, idempotentHint=True, openWorldHint=False
        )
    )
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

    @mcp.tool(annotations=_READ)
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

    @mcp.tool(annotations=_READ)
    async def list_agents(
        namespace: OnlyNamespace = None,
        selector: SelectorArgument = "",
        capabilities: Annotated[
            list[str], _list_of(_CAPABILITY, "Agents providing any of these capabilities.")
        ] = [],  # noqa: B006 - FastMCP reads the default for the schema; it is never mutated
        phases: Phases = [],  # noqa: B006
        version: Version = "",
        tags: Tags = [],  # noqa: B006
        limit: Annotated[
            int | None, Field(description="At most this many.", ge=1, le=max_limit)
        ] = None,
        continue_token: Annotated[
            str | None, Field(description="The continue token of the previous page.")
        ] = None,
    ) -> AgentList:
        """Registered agents in namespace and name order, paginated with limit and continue."""
        return await _answer(
            access.list_agents(
                caller(),
                namespace,
                selector=_checked(lambda: parse_selector_argument(selector)),
                capabilities=capabilities,
                phases=phases or None,
                version=version,
                tags=tags,
                limit=limit,
                continue_token=continue_token,
            )
        )

    @mcp.tool(annotations=_READ)
    async def discover_services(
        capabilities: Annotated[
            list[str], _list_of(_CAPABILITY, "Agents must provide every one of these.")
        ] = [],  # noqa: B006
        status: Annotated[
            str,
            WithJsonSchema(
                {
                    "type": "string",
                    "enum": [*_PHASES, "any"],
                    "description": "The phase to look for (healthy by default), or 'any'.",
                }
            ),
        ] = "healthy",
        labels: Labels = {},  # noqa: B006
        namespace: OnlyNamespace = None,
        selector: SelectorArgument = "",
        version: Version = "",
        tags: Tags = [],  # noqa: B006
        limit: Annotated[int | None, Field(description="At most this many.", ge=1)] = None,
    ) -> AgentList:
        """Providers, best first: preferred tags, then highest version, then name."""
        if status not in (*_PHASES, "any"):
            raise ToolError(f"status: {status!r} is not a phase ({', '.join(_PHASES)}) or 'any'")
        found = _checked(
            lambda: access.discover(
                caller(),
                capabilities,
                selector=parse_selector_argument(selector),
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
