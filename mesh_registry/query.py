"""What a list, a watch or a discovery asks for, as one typed value (Kubernetes' ListOptions).

Each edge reads its own form into an :class:`AgentQuery` once: REST query parameters
(:func:`from_params`), MCP tool arguments (:func:`from_arguments`), the command line (by
constructing one), and the client writes one back as parameters (:func:`to_params`). The query
travels whole through ``Access`` to the service, which compiles it (:meth:`AgentQuery.compile`)
into the filter that lists, watches and discovery share (``discovery.Query``).

The parameters are declared once, in :data:`PARAMETERS`: the OpenAPI document's parameters
(:func:`openapi_parameters`) and the MCP tools' input schemas (:func:`tool_schema`) are made
from the declarations, and the parsers read the same ones.

Pure: no transport, no FastMCP.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mesh_registry import validation
from mesh_registry.discovery import Match, Query, QueryError
from mesh_registry.model import Phase
from mesh_registry.selector import (
    MAX_REQUIREMENTS,
    MAX_SELECTOR_LENGTH,
    MAX_VALUES,
    Selector,
    SelectorError,
    parse_selector,
    selector_from_label_selector,
    selector_from_labels,
)

MAX_LIST_LIMIT = 10_000  # items in one page of a list
EVERY_PHASE = tuple(phase.value for phase in Phase)


class Operation(enum.Enum):
    """What a query is for: each takes some of the parameters."""

    LIST = "list"  # a page of agents (REST list, MCP list_agents)
    WATCH = "watch"  # a stream of changes (REST ?watch=true)
    DISCOVER = "discover"  # providers, best first (REST /discover, MCP discover_services)


@dataclass(frozen=True, slots=True)
class AgentQuery:
    """A list, watch or discovery request, before it is checked.

    ``phases`` ``None`` is the operation's default: any phase for lists and watches, healthy
    for discovery. ``capabilities`` match as :meth:`compile` is told: any of them for lists
    and watches, all of them for discovery. ``labels`` are exact matches (Kubernetes'
    ``matchLabels``), ANDed with ``selector``.
    """

    namespace: str | None = None
    selector: str | Selector = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    capabilities: tuple[str, ...] = ()
    phases: tuple[str, ...] | None = None
    version: str = ""
    tags: tuple[str, ...] = ()
    prompts: tuple[str, ...] = ()
    resource: str = ""
    limit: int | None = None
    continue_token: str | None = None

    def compile(
        self,
        match: Match,
        *,
        scope: frozenset[str] | None = None,
        default_phases: tuple[str, ...] | None = None,
        max_limit: int | None = None,
    ) -> Query:
        """The filter this query asks for; :class:`QueryError` naming the parameter.
        ``scope``: the namespaces the asker may see (``None``: all)."""
        if self.limit is not None and (
            self.limit < 1 or (max_limit is not None and self.limit > max_limit)
        ):
            most = f" and {max_limit}" if max_limit is not None else ""
            raise QueryError("limit", f"must be between 1{most}" if most else "must be at least 1")
        return Query.build(
            capabilities=self.capabilities,
            match=match,
            selector=self._selector(),
            namespace=self.namespace,
            scope=scope,
            phases=self.phases if self.phases is not None else default_phases,
            version=self.version,
            tags=self.tags,
            prompts=self.prompts,
            resource=self.resource,
        )

    def _selector(self) -> str | Selector:
        if not self.labels:
            return self.selector
        try:
            parsed = (
                parse_selector(self.selector) if isinstance(self.selector, str) else self.selector
            )
            exact = selector_from_labels(self.labels)
            return Selector.of([*parsed.requirements, *exact.requirements])
        except SelectorError as error:
            part = "labels" if error.position is None else "labelSelector"
            raise QueryError(part, str(error)) from None


# -- the parameters ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parameter:
    """One parameter of a query: its field, its names on each edge, and what it accepts."""

    field: str  # the AgentQuery attribute
    rest: str  # its query parameter
    mcp: str  # its tool argument
    schema: dict[str, Any]  # the schema of one value
    description: str
    operations: frozenset[Operation]
    repeated: bool = False  # REST: repeat it, or separate values with commas; MCP: a list
    in_path: frozenset[Operation] = frozenset()  # REST: given by the path, not the query


_ANY = frozenset(Operation)
_LISTS = frozenset({Operation.LIST, Operation.WATCH})
_SELECTOR_TEXT = (
    "A label selector in Kubernetes' grammar (`env=prod,tier in (gold,silver),!canary`), of at"
    f" most {MAX_REQUIREMENTS} requirements and {MAX_VALUES} values in a set."
)

PARAMETERS: tuple[Parameter, ...] = (
    Parameter(
        "selector",
        "labelSelector",
        "selector",
        {"type": "string", "maxLength": MAX_SELECTOR_LENGTH},
        _SELECTOR_TEXT,
        _ANY,
    ),
    Parameter(
        "capabilities",
        "capability",
        "capabilities",
        validation.CAPABILITY_NAME.schema(),
        "Agents providing these capabilities: any of them in a list or a watch, every one of"
        " them in a discovery.",
        _ANY,
        repeated=True,
    ),
    Parameter(
        "phases",
        "phase",
        "phases",
        {"type": "string", "enum": [phase.value for phase in Phase]},
        "Agents in any of these phases (default: any phase in a list or a watch, healthy in a"
        " discovery).",
        _ANY,
        repeated=True,
    ),
    Parameter(
        "version",
        "version",
        "version",
        {"type": "string"},
        "A version range (npm syntax: `>=1.2 <2`, `^1.2`) the capability must satisfy.",
        _ANY,
    ),
    Parameter(
        "tags",
        "tags",
        "tags",
        validation.TAG_FILTER.schema(),
        "Tags of the capability: `x` required, `+x` preferred, `-x` excluded.",
        _ANY,
        repeated=True,
    ),
    Parameter(
        "prompts",
        "prompt",
        "prompts",
        validation.TOOL_NAME.schema(),
        "Agents offering these MCP prompts: any of them in a list or a watch, every one of them"
        " in a discovery.",
        _ANY,
        repeated=True,
    ),
    Parameter(
        "resource",
        "resource",
        "resource",
        validation.RESOURCE_URI.schema(),
        "Agents serving the MCP resource at this URI (a resource of theirs, or one of their"
        " resource templates fits it).",
        _ANY,
    ),
    Parameter(
        "namespace",
        "namespace",
        "namespace",
        validation.DNS1123_LABEL.schema(optional=True),
        "Only this namespace (default, or empty: every namespace the caller may read).",
        _ANY,
        in_path=_LISTS,
    ),
    Parameter(
        "limit",
        "limit",
        "limit",
        {"type": "integer", "minimum": 1, "maximum": MAX_LIST_LIMIT},
        "At most this many items.",
        frozenset({Operation.LIST}),
    ),
    Parameter(
        "limit",
        "limit",
        "limit",
        {"type": "integer", "minimum": 1},
        "At most this many providers.",
        frozenset({Operation.DISCOVER}),
    ),
    Parameter(
        "continue_token",
        "continue",
        "continue_token",
        {"type": "string"},
        "The continue token of the previous page.",
        frozenset({Operation.LIST}),
    ),
)


def parameters(operation: Operation, *, rest: bool = False) -> list[Parameter]:
    """The parameters of ``operation``; ``rest``: only those of the query string."""
    return [
        p for p in PARAMETERS if operation in p.operations and not (rest and operation in p.in_path)
    ]


# -- REST ------------------------------------------------------------------------------------------

GetList = Callable[[str], list[str]]


def from_params(getlist: GetList, operation: Operation, namespace: str | None) -> AgentQuery:
    """A query from REST query parameters (``getlist(name)``: every value given for ``name``);
    ``namespace`` comes from the path for lists and watches. :class:`QueryError` for a
    parameter that cannot be read."""
    values: dict[str, Any] = {"namespace": namespace}
    for parameter in parameters(operation, rest=True):
        given = getlist(parameter.rest)
        if parameter.repeated:
            # ?x=a&x=b, or ?x=a,b
            items = [part.strip() for raw in given for part in raw.split(",") if part.strip()]
            if items:
                values[parameter.field] = tuple(items)
        elif given and given[0] != "":
            values[parameter.field] = _scalar(parameter, given[0])
    return AgentQuery(**values)


def _scalar(parameter: Parameter, text: str) -> Any:
    if parameter.schema.get("type") == "integer":
        if not (text.isascii() and text.isdigit()) or len(text) > 9 or int(text) < 1:
            raise QueryError(parameter.rest, f"{text!r} is not a positive integer")
        return int(text)
    return text


def to_params(query: AgentQuery, operation: Operation) -> dict[str, Any]:
    """The REST query parameters of ``query`` (for the client): what :func:`from_params` reads
    back to the same query."""
    if query.labels:
        raise ValueError("exact labels travel in the selector over REST: use selector")
    params: dict[str, Any] = {}
    for parameter in parameters(operation, rest=True):
        value = getattr(query, parameter.field)
        if isinstance(value, Selector):
            value = str(value)
        if value is None or value == "" or value == ():
            continue
        params[parameter.rest] = list(value) if parameter.repeated else value
    return params


# -- MCP -------------------------------------------------------------------------------------------


def tool_schema(operation: Operation, extra: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """The input schema of the MCP tool for ``operation``: its parameters (a list for the
    repeated ones, and the selector as a string or a ``LabelSelector`` object), plus
    ``extra`` properties of the tool's own."""
    properties: dict[str, Any] = {}
    for parameter in parameters(operation):
        schema: dict[str, Any]
        if parameter.field == "selector":
            schema = {"anyOf": [parameter.schema, label_selector_schema()]}
        elif parameter.repeated:
            schema = {"type": "array", "items": parameter.schema}
        else:
            schema = {"anyOf": [parameter.schema, {"type": "null"}]}
        properties[parameter.mcp] = {**schema, "description": parameter.description}
    properties.update(extra)
    return {"type": "object", "additionalProperties": False, "properties": properties}


def from_arguments(arguments: Mapping[str, Any], operation: Operation) -> AgentQuery:
    """A query from MCP tool arguments (absent, ``None`` and ``""`` are alike, as over REST);
    :class:`QueryError` naming the argument."""
    values: dict[str, Any] = {}
    names = {p.mcp: p for p in parameters(operation)}
    for name, value in arguments.items():
        parameter = names.get(name)
        if parameter is None or value is None or value == "":
            continue
        if parameter.field == "selector":
            values["selector"] = _selector_argument(value)
        elif parameter.repeated:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise QueryError(name, "must be a list of strings")
            values[parameter.field] = tuple(value)
        elif parameter.field == "limit":
            if not isinstance(value, int) or isinstance(value, bool):
                raise QueryError(name, f"{value!r} is not an integer")
            values["limit"] = value
        else:
            if not isinstance(value, str):
                raise QueryError(name, f"{value!r} is not a string")
            values[parameter.field] = value
    return AgentQuery(**values)


def _selector_argument(value: Any) -> Selector:
    """A selector from a string or a ``LabelSelector`` object."""
    try:
        if isinstance(value, str):
            return parse_selector(value)
        if isinstance(value, Mapping):
            return selector_from_label_selector(value)
    except SelectorError as error:
        raise QueryError("selector", str(error)) from None
    raise QueryError("selector", "must be a label selector string or a LabelSelector object")


def label_selector_schema() -> dict[str, Any]:
    """Kubernetes' ``LabelSelector`` object, as a selector argument accepts it."""
    key = validation.QUALIFIED_NAME.schema()
    value = validation.LABEL_VALUE.schema()
    expression = {
        "type": "object",
        "additionalProperties": False,
        "required": ["key", "operator"],
        "properties": {"key": key},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "description": "Kubernetes' LabelSelector: every matchLabels entry and every"
        f" matchExpressions requirement must hold; at most {MAX_REQUIREMENTS} of them in all.",
        "properties": {
            "matchLabels": {
                "type": ["object", "null"],
                "maxProperties": MAX_REQUIREMENTS,
                "propertyNames": key,
                "additionalProperties": value,
            },
            "matchExpressions": {
                "type": ["array", "null"],
                "maxItems": MAX_REQUIREMENTS,
                "items": {
                    "anyOf": [
                        _with_properties(
                            expression,
                            required=["values"],
                            operator={"enum": ["In", "NotIn"]},
                            values={
                                "type": "array",
                                "minItems": 1,
                                "maxItems": MAX_VALUES,
                                "items": value,
                            },
                        ),
                        _with_properties(
                            expression,
                            operator={"enum": ["Exists", "DoesNotExist"]},
                            values={"type": ["array", "null"], "maxItems": 0},
                        ),
                    ]
                },
            },
        },
    }


def _with_properties(
    base: dict[str, Any], *, required: Iterable[str] = (), **properties: Any
) -> dict[str, Any]:
    return {
        **base,
        "required": [*base["required"], *required],
        "properties": {**base["properties"], **properties},
    }


# -- OpenAPI ---------------------------------------------------------------------------------------


def openapi_parameters(operation: Operation) -> list[dict[str, Any]]:
    """The OpenAPI query parameters of ``operation``."""
    found = []
    for parameter in parameters(operation, rest=True):
        description = parameter.description
        schema = parameter.schema
        entry: dict[str, Any] = {"name": parameter.rest, "in": "query", "required": False}
        if parameter.repeated:
            description += " Repeat the parameter, or separate values with commas."
            schema = {"type": "array", "items": schema}
            entry |= {"style": "form", "explode": True}
        found.append({**entry, "description": description, "schema": schema})
    return found
