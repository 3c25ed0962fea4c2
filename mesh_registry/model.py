"""The Agent object and the other API types, as pydantic models.

The JSON form follows Kubernetes' conventions (camelCase, ``metadata / spec / status``). Models
are frozen: the registry shares one instance between its cache, its watchers and its responses.
Decoding is lenient (unknown fields are ignored, so an older client can read a newer registry);
:func:`parse_agent` is the strict form used for requests.

This module imports nothing server-side: the SDK uses it too.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Literal, NamedTuple

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import PydanticCustomError, PydanticSerializationError, core_schema, to_json

from mesh_registry import validation
from mesh_registry.selector import (
    MAX_REQUIREMENTS,
    MAX_SELECTOR_LENGTH,
    SelectorError,
    parse_selector,
)
from mesh_registry.validation import tool_name_errors
from mesh_registry.versions import VersionError, parse_version, parse_version_range

API_VERSION: Literal["mesh/v1"] = "mesh/v1"
DEFAULT_NAMESPACE = "default"


class Limits:
    """Size limits on one Agent object (documented in docs/api.md)."""

    LABELS = 64
    ANNOTATIONS_BYTES = 64 * 1024
    CAPABILITIES = 256
    DEPENDENCIES = 128
    TAGS = 32
    SCHEMA_BYTES = 64 * 1024
    # Arrays and objects within arrays and objects: far more than any real schema needs, and
    # far from the depth at which parsers give up (and a stored record could not be read).
    SCHEMA_DEPTH = 64
    DESCRIPTION_CHARS = 4096
    ENDPOINT_CHARS = validation.ENDPOINT_MAX_LENGTH
    HEALTH_INTERVAL_MIN = 0.1
    HEALTH_INTERVAL_MAX = 86400.0


class Phase(enum.StrEnum):
    """An agent's health, derived by the registry from the age of its last heartbeat."""

    PENDING = "pending"
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    OFFLINE = "offline"


class Transport(enum.StrEnum):
    STREAMABLE_HTTP = "streamable-http"
    SSE = "sse"


# Validation context for records the registry wrote itself: they were checked on the way in.
TRUSTED: Mapping[str, bool] = {"trusted": True}


def checked(*fields: str) -> Callable[[Callable[[Any], Any]], Any]:
    """A field check for client input; skipped when decoding trusted records (``TRUSTED``)."""

    def decorate(check: Callable[[Any], Any]) -> Any:
        def validator(cls: type, value: Any, info: ValidationInfo) -> Any:
            return value if info.context is TRUSTED else check(value)

        validator.__name__ = check.__name__
        return field_validator(*fields)(classmethod(validator))

    return decorate


def _invalid(reason: str) -> PydanticCustomError:
    # The reason travels in the context so that braces in it are never read as a template.
    return PydanticCustomError("invalid", "{reason}", {"reason": reason})


def _check(problems: list[str], what: str, value: str) -> None:
    if problems:
        raise _invalid(f"invalid {what} {value!r}: {'; '.join(problems)}")


class MeshModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


# JSON-Schema annotations for the published schemas (OpenAPI, MCP), built from the same rules
# the validators below check (see validation.Rule); they do not validate anything themselves.
_NAME = validation.DNS1123_SUBDOMAIN.schema()
_NAMESPACE = validation.DNS1123_LABEL.schema()
_CAPABILITY_NAME = validation.CAPABILITY_NAME.schema()
_SET_BY_REGISTRY = "Set by the registry; a client's value is ignored."


class ObjectMeta(MeshModel):
    """Standard object metadata. ``uid``, ``resourceVersion``, ``generation`` and
    ``creationTimestamp`` are set by the registry; in a write, ``resourceVersion`` and ``uid``
    are preconditions, and the other two are ignored."""

    name: str = Field(json_schema_extra=_NAME)
    namespace: str = Field(default=DEFAULT_NAMESPACE, json_schema_extra=_NAMESPACE)
    uid: str | None = Field(
        default=None,
        description="Set by the registry when the agent is created. In a write, a precondition:"
        " the write applies only to the object with this uid (409 Conflict otherwise).",
    )
    resource_version: str | None = Field(
        default=None,
        description="The revision of the object's last change, set by the registry. In a"
        " replace, a precondition: only this version is replaced (409 Conflict if the stored"
        " one is newer, 404 if there is none).",
    )
    generation: int | None = Field(
        default=None,
        description="Set by the registry: increases when spec, labels or annotations change."
        " A client's value is ignored.",
    )
    creation_timestamp: datetime | None = Field(default=None, description=_SET_BY_REGISTRY)
    labels: dict[str, str] = Field(
        default_factory=dict,
        json_schema_extra={
            "maxProperties": Limits.LABELS,
            "propertyNames": validation.QUALIFIED_NAME.schema(),
            "additionalProperties": validation.LABEL_VALUE.schema(),
        },
    )
    annotations: dict[str, str] = Field(
        default_factory=dict,
        description=f"At most {Limits.ANNOTATIONS_BYTES} bytes of keys and values in all.",
        json_schema_extra={"propertyNames": validation.QUALIFIED_NAME.schema()},
    )

    @checked("name")
    def _valid_name(name: str) -> str:
        _check(validation.dns1123_subdomain_errors(name), "name", name)
        return name

    @checked("namespace")
    def _valid_namespace(namespace: str) -> str:
        _check(validation.dns1123_label_errors(namespace), "namespace", namespace)
        return namespace

    @checked("labels")
    def _valid_labels(labels: dict[str, str]) -> dict[str, str]:
        if len(labels) > Limits.LABELS:
            raise _invalid(f"must have at most {Limits.LABELS} labels, got {len(labels)}")
        for key, value in labels.items():
            _check(validation.qualified_name_errors(key), "label key", key)
            _check(validation.label_value_errors(value), f"value for label {key!r}", value)
        return labels

    @checked("annotations")
    def _valid_annotations(annotations: dict[str, str]) -> dict[str, str]:
        size = 0
        for key, value in annotations.items():
            _check(validation.qualified_name_errors(key), "annotation key", key)
            size += len(key.encode()) + len(value.encode())
        if size > Limits.ANNOTATIONS_BYTES:
            raise _invalid(
                f"annotations may hold at most {Limits.ANNOTATIONS_BYTES} bytes, got {size}"
            )
        return annotations


def _check_tags(tags: list[str]) -> list[str]:
    if len(tags) > Limits.TAGS:
        raise _invalid(f"must have at most {Limits.TAGS} tags, got {len(tags)}")
    for tag in tags:
        _check(validation.tag_errors(tag), "tag", tag)
    return tags


def _check_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    depth = validation.nesting_depth(schema, Limits.SCHEMA_DEPTH)
    if depth > Limits.SCHEMA_DEPTH:
        raise _invalid(
            f"a schema may nest at most {Limits.SCHEMA_DEPTH} levels of arrays and objects,"
            f" got more than {Limits.SCHEMA_DEPTH}"
        )
    try:
        size = len(to_json(schema))
    except (PydanticSerializationError, ValueError, RecursionError):
        raise _invalid("must be JSON") from None
    if size > Limits.SCHEMA_BYTES:
        raise _invalid(f"a schema may hold at most {Limits.SCHEMA_BYTES} bytes, got {size}")
    return schema


class Capability(MeshModel):
    """A capability the agent provides, served by one MCP tool of the agent."""

    name: str = Field(json_schema_extra=_CAPABILITY_NAME)
    # When omitted, the tool is named like the capability.
    tool: str = Field(
        default="",
        description="The MCP tool that serves the capability; by default named like it.",
        json_schema_extra=validation.TOOL_NAME.schema(optional=True),
    )
    version: str = Field(default="1.0.0", json_schema_extra=validation.SEMVER.schema())
    tags: list[str] = Field(
        default_factory=list,
        json_schema_extra={"items": validation.TAG.schema(), "maxItems": Limits.TAGS},
    )
    description: str = Field(default="", max_length=Limits.DESCRIPTION_CHARS)
    input_schema: dict[str, Any] = Field(
        default_factory=dict,
        description=f"The tool's input JSON Schema; at most {Limits.SCHEMA_BYTES} bytes and"
        f" {Limits.SCHEMA_DEPTH} levels of nesting.",
    )
    output_schema: dict[str, Any] | None = Field(
        default=None,
        description=f"The tool's output JSON Schema; at most {Limits.SCHEMA_BYTES} bytes and"
        f" {Limits.SCHEMA_DEPTH} levels of nesting.",
    )

    @checked("name")
    def _valid_name(name: str) -> str:
        _check(validation.capability_name_errors(name), "capability name", name)
        return name

    @checked("tool")
    def _valid_tool(tool: str) -> str:
        if tool:
            _check(validation.tool_name_errors(tool), "tool name", tool)
        return tool

    @checked("version")
    def _valid_version(version: str) -> str:
        _check(validation.version_errors(version), "version", version)
        try:
            parse_version(version)
        except VersionError as error:
            raise _invalid(str(error)) from None
        return version

    @checked("tags")
    def _valid_tags(tags: list[str]) -> list[str]:
        return _check_tags(tags)

    @checked("input_schema", "output_schema")
    def _valid_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
        return _check_schema(schema)

    @model_validator(mode="before")
    @classmethod
    def _tool_defaults_to_name(cls, data: Any) -> Any:
        # Only a valid name is copied: a bad name is one error, not two.
        name = data.get("name") if isinstance(data, dict) else None
        if isinstance(name, str) and not data.get("tool") and not tool_name_errors(name):
            return {**data, "tool": name}
        return data


class DependencySpec(MeshModel):
    """A capability the agent consumes, and which providers qualify."""

    capability: str = Field(json_schema_extra=_CAPABILITY_NAME)
    selector: str = Field(
        default="",
        description="A label selector (Kubernetes' grammar, at most"
        f" {MAX_REQUIREMENTS} requirements); empty: any provider.",
        json_schema_extra={"maxLength": MAX_SELECTOR_LENGTH},
    )
    version: str = Field(
        default="", description="A version range (npm syntax, e.g. '>=1.2 <2'); empty: any."
    )
    # A tuple: a frozen spec is hashable, and the SDK keys its providers by spec.
    tags: tuple[str, ...] = Field(
        default=(),
        description="x required, +x preferred, -x excluded.",
        json_schema_extra={"items": validation.TAG_FILTER.schema(), "maxItems": Limits.TAGS},
    )
    required: bool = Field(default=False, strict=True)

    @checked("capability")
    def _valid_capability(capability: str) -> str:
        _check(validation.capability_name_errors(capability), "capability name", capability)
        return capability

    @checked("selector")
    def _valid_selector(selector: str) -> str:
        try:
            parse_selector(selector)
        except SelectorError as error:
            raise _invalid(str(error)) from None
        return selector

    @checked("version")
    def _valid_version(version: str) -> str:
        try:
            parse_version_range(version)
        except VersionError as error:
            raise _invalid(str(error)) from None
        return version

    @checked("tags")
    def _valid_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
        if len(tags) > Limits.TAGS:
            raise _invalid(f"must have at most {Limits.TAGS} tags, got {len(tags)}")
        for tag in tags:
            # "+x" prefers, "-x" excludes, "x" requires: after the sign, an ordinary tag.
            bare = tag[1:] if tag[:1] in ("+", "-") else tag
            _check(validation.tag_errors(bare), "tag", tag)
        return tags


class AgentSpec(MeshModel):
    """What the agent declares about itself."""

    endpoint: str = Field(json_schema_extra=validation.ENDPOINT.schema())
    transport: Transport = Transport.STREAMABLE_HTTP
    health_interval: float = Field(
        default=10.0,
        ge=Limits.HEALTH_INTERVAL_MIN,
        le=Limits.HEALTH_INTERVAL_MAX,
        strict=True,  # a number, not "10" or true
        description="Seconds between heartbeats.",
    )
    capabilities: list[Capability] = Field(default_factory=list, max_length=Limits.CAPABILITIES)
    dependencies: list[DependencySpec] = Field(default_factory=list, max_length=Limits.DEPENDENCIES)

    @checked("endpoint")
    def _valid_endpoint(endpoint: str) -> str:
        _check(validation.endpoint_errors(endpoint), "URL", endpoint)
        return endpoint

    @checked("capabilities")
    def _unique_capabilities(capabilities: list[Capability]) -> list[Capability]:
        seen: set[str] = set()
        for capability in capabilities:
            if capability.name in seen:
                raise _invalid(f"capability {capability.name!r} is declared more than once")
            seen.add(capability.name)
        return capabilities

    def capability(self, name: str) -> Capability | None:
        """The declared capability called ``name``, if any."""
        for capability in self.capabilities:
            if capability.name == name:
                return capability
        return None


class Condition(MeshModel):
    type: str
    status: Literal["True", "False", "Unknown"]
    reason: str = ""
    message: str = ""
    last_transition_time: datetime | None = None


class AgentStatus(MeshModel):
    """Written only by the registry. ``lastHeartbeatTime`` is read from the live lease: it is
    not part of the versioned record and changing it does not change ``resourceVersion``."""

    phase: Phase = Phase.PENDING
    last_heartbeat_time: datetime | None = None
    phase_since: datetime | None = None
    observed_generation: int | None = None
    conditions: list[Condition] = Field(default_factory=list)


class Agent(MeshModel):
    """One registered agent."""

    api_version: Literal["mesh/v1"] = API_VERSION
    kind: Literal["Agent"] = "Agent"
    metadata: ObjectMeta
    spec: AgentSpec
    status: AgentStatus = Field(default_factory=AgentStatus)

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.metadata.namespace, self.metadata.name)

    @property
    def revision(self) -> int:
        """``metadata.resourceVersion`` as an integer (0 when not yet stored)."""
        return int(self.metadata.resource_version or 0)


class HeartbeatResponse(MeshModel):
    """The answer to a heartbeat: the agent's phase after it, and its record's version."""

    phase: Phase
    resource_version: str


class CallToken(MeshModel):
    """A token to call one agent with (see ``auth/calltokens.py``)."""

    token: str = Field(repr=False)
    audience: str  # the agent it is good for: "namespace/name"
    expiration_timestamp: datetime


class TokenReviewSpec(MeshModel):
    token: str = Field(repr=False, max_length=8192)


class TokenReviewStatus(MeshModel):
    authenticated: bool
    subject: str | None = None  # who the token stands for
    audience: str | None = None
    expiration_timestamp: datetime | None = None
    error: str | None = None


class TokenReview(MeshModel):
    """Asks the registry whether a call token is valid for the asker (Kubernetes' TokenReview)."""

    spec: TokenReviewSpec
    status: TokenReviewStatus | None = None


class ObjectKey(NamedTuple):
    """Where an object lives: its namespace and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class ListMeta(MeshModel):
    resource_version: str
    continue_: str | None = Field(default=None, alias="continue")


class AgentList(MeshModel):
    api_version: Literal["mesh/v1"] = API_VERSION
    kind: Literal["AgentList"] = "AgentList"
    metadata: ListMeta
    items: list[Agent]


class StatusCause(MeshModel):
    reason: str
    message: str
    field: str | None = None


class StatusDetails(MeshModel):
    name: str | None = None
    namespace: str | None = None
    kind: str | None = None
    causes: list[StatusCause] = Field(default_factory=list)
    retry_after_seconds: int | None = None


class Status(MeshModel):
    """Kubernetes' ``Status``: the body of every error response and of ERROR watch events."""

    api_version: Literal["v1"] = "v1"
    kind: Literal["Status"] = "Status"
    status: Literal["Success", "Failure"] = "Failure"
    code: int
    reason: str
    message: str
    details: StatusDetails | None = None


class EventType(enum.StrEnum):
    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


class BookmarkMeta(MeshModel):
    resource_version: str
    annotations: dict[str, str] = Field(default_factory=dict)


INITIAL_EVENTS_END = "mesh/initial-events-end"


class Bookmark(MeshModel):
    """The object of a BOOKMARK event: only a resource version, as in Kubernetes."""

    api_version: Literal["mesh/v1"] = API_VERSION
    kind: Literal["Agent"] = "Agent"
    metadata: BookmarkMeta

    @property
    def ends_initial_state(self) -> bool:
        """Whether this is the BOOKMARK that ends a watch's initial state."""
        return self.metadata.annotations.get(INITIAL_EVENTS_END) == "true"


class WatchEvent(MeshModel):
    type: EventType
    object: Agent | Bookmark | Status

    @property
    def revision(self) -> int:
        """The revision this event brings a watcher to (0 for ERROR)."""
        if isinstance(self.object, Status):
            return 0
        return int(self.object.metadata.resource_version or 0)


class Preconditions(MeshModel):
    """Conditions a delete must meet (Kubernetes' ``Preconditions``)."""

    resource_version: str | None = None
    uid: str | None = None


class DeleteOptions(MeshModel):
    """The optional body of a DELETE. Kubernetes' other fields are accepted and ignored (a
    deletion is immediate); unknown fields are refused."""

    api_version: str | None = None
    kind: str | None = None
    preconditions: Preconditions | None = None
    grace_period_seconds: int | None = None
    propagation_policy: str | None = None
    orphan_dependents: bool | None = None
    dry_run: list[str] | None = None


class FieldError(NamedTuple):
    """One problem with one field, named as a path: ``spec.capabilities[0].name``."""

    field: str
    message: str


def field_path(location: tuple[int | str, ...]) -> str:
    """``("spec", "capabilities", 0, "name")`` → ``spec.capabilities[0].name``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "<body>"


def field_errors(error: ValidationError) -> list[FieldError]:
    """Every problem in a pydantic ``ValidationError``, with its field path."""
    found = []
    for problem in error.errors(include_url=False):
        location = problem["loc"]
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        found.append(FieldError(field_path(location), message))
    return found


class RequestSchemas(GenerateJsonSchema):
    """JSON schemas in which request bodies are as strict as :func:`parse_agent`: in validation
    mode, objects accept no unknown fields (``additionalProperties: false``)."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        generated = super().model_schema(schema)
        if self.mode == "validation" and issubclass(schema["cls"], MeshModel):
            generated["additionalProperties"] = False
        return generated


# What a client may send but the registry sets itself: accepted with any value, and ignored.
_IGNORED_FIELDS: dict[str, str] = {"status": "Ignored: status is written by the registry only."}
_IGNORED_METADATA: dict[str, str] = {
    "generation": "Ignored: set by the registry.",
    "creationTimestamp": "Ignored: set by the registry.",
}


def ignore_registry_fields(agent: dict[str, Any], metadata: dict[str, Any]) -> None:
    """Make the request schemas of an Agent (``agent``) and its ObjectMeta (``metadata``)
    accept, with any value, the fields that :func:`parse_agent` drops."""
    for fields, schema in ((_IGNORED_FIELDS, agent), (_IGNORED_METADATA, metadata)):
        for name, description in fields.items():
            schema["properties"][name] = {"description": description}


def agent_request_schema() -> dict[str, Any]:
    """The JSON schema of an Agent sent by a client: as strict as :func:`parse_agent`."""
    schema = Agent.model_json_schema(by_alias=True, schema_generator=RequestSchemas)
    definitions = schema.get("$defs", {})
    ignore_registry_fields(schema, definitions["ObjectMeta"])
    for unused in ("AgentStatus", "Condition", "Phase"):
        definitions.pop(unused, None)
    return schema


def load_agent(stored: str | bytes) -> Agent:
    """An Agent from JSON that the registry itself validated and stored: the checks are skipped."""
    return Agent.model_validate_json(stored, context=TRUSTED)


def parse_agent(data: Mapping[str, Any]) -> Agent:
    """An Agent from a client's JSON: strict about unknown fields, and fields are known only by
    their JSON names; what the registry sets itself (``status``, ``metadata.generation`` and
    ``creationTimestamp``) is dropped. Raise ``ValidationError``."""
    if not isinstance(data, Mapping):
        return _strict(data)  # reports the type error
    body = {key: value for key, value in data.items() if key not in _IGNORED_FIELDS}
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping):
        body["metadata"] = {k: v for k, v in metadata.items() if k not in _IGNORED_METADATA}
    return _strict(body)


def _strict(data: Any) -> Agent:
    return Agent.model_validate(data, extra="forbid", by_alias=True, by_name=False)
