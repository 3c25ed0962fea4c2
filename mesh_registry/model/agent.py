"""The Agent object: metadata, spec and status, as pydantic models, and how a client's JSON
and a stored record become one.

Models are frozen: the registry shares one instance between its cache, its watchers and its
responses. Decoding is lenient (unknown fields are ignored, so an older client can read a newer
registry); :func:`parse_agent` is the strict form used for requests.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, model_validator

from mesh_registry import validation
from mesh_registry.model.base import (
    API_VERSION,
    DEFAULT_NAMESPACE,
    Limits,
    MeshModel,
    ObjectKey,
    Phase,
    Transport,
)
from mesh_registry.model.checks import TRUSTED, check, check_schema, check_tags, checked, invalid
from mesh_registry.model.offerings import Prompt, Resource, ResourceTemplate, unique
from mesh_registry.selector import (
    MAX_REQUIREMENTS,
    MAX_SELECTOR_LENGTH,
    SelectorError,
    parse_selector,
)
from mesh_registry.validation import tool_name_errors
from mesh_registry.versions import VersionError, parse_version, parse_version_range

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
        check(validation.dns1123_subdomain_errors(name), "name", name)
        return name

    @checked("namespace")
    def _valid_namespace(namespace: str) -> str:
        check(validation.dns1123_label_errors(namespace), "namespace", namespace)
        return namespace

    @checked("labels")
    def _valid_labels(labels: dict[str, str]) -> dict[str, str]:
        if len(labels) > Limits.LABELS:
            raise invalid(f"must have at most {Limits.LABELS} labels, got {len(labels)}")
        for key, value in labels.items():
            check(validation.qualified_name_errors(key), "label key", key)
            check(validation.label_value_errors(value), f"value for label {key!r}", value)
        return labels

    @checked("annotations")
    def _valid_annotations(annotations: dict[str, str]) -> dict[str, str]:
        size = 0
        for key, value in annotations.items():
            check(validation.qualified_name_errors(key), "annotation key", key)
            size += len(key.encode()) + len(value.encode())
        if size > Limits.ANNOTATIONS_BYTES:
            raise invalid(
                f"annotations may hold at most {Limits.ANNOTATIONS_BYTES} bytes, got {size}"
            )
        return annotations


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
        check(validation.capability_name_errors(name), "capability name", name)
        return name

    @checked("tool")
    def _valid_tool(tool: str) -> str:
        if tool:
            check(validation.tool_name_errors(tool), "tool name", tool)
        return tool

    @checked("version")
    def _valid_version(version: str) -> str:
        check(validation.version_errors(version), "version", version)
        try:
            parse_version(version)
        except VersionError as error:
            raise invalid(str(error)) from None
        return version

    @checked("tags")
    def _valid_tags(tags: list[str]) -> list[str]:
        return check_tags(tags)

    @checked("input_schema", "output_schema")
    def _valid_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_schema(schema)

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
        check(validation.capability_name_errors(capability), "capability name", capability)
        return capability

    @checked("selector")
    def _valid_selector(selector: str) -> str:
        try:
            parse_selector(selector)
        except SelectorError as error:
            raise invalid(str(error)) from None
        return selector

    @checked("version")
    def _valid_version(version: str) -> str:
        try:
            parse_version_range(version)
        except VersionError as error:
            raise invalid(str(error)) from None
        return version

    @checked("tags")
    def _valid_tags(tags: tuple[str, ...]) -> tuple[str, ...]:
        if len(tags) > Limits.TAGS:
            raise invalid(f"must have at most {Limits.TAGS} tags, got {len(tags)}")
        for tag in tags:
            # "+x" prefers, "-x" excludes, "x" requires: after the sign, an ordinary tag.
            bare = tag[1:] if tag[:1] in ("+", "-") else tag
            check(validation.tag_errors(bare), "tag", tag)
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
    prompts: list[Prompt] = Field(default_factory=list, max_length=Limits.PROMPTS)
    resources: list[Resource] = Field(default_factory=list, max_length=Limits.RESOURCES)
    resource_templates: list[ResourceTemplate] = Field(
        default_factory=list, max_length=Limits.RESOURCE_TEMPLATES
    )

    @checked("endpoint")
    def _valid_endpoint(endpoint: str) -> str:
        check(validation.endpoint_errors(endpoint), "URL", endpoint)
        return endpoint

    @checked("capabilities")
    def _unique_capabilities(capabilities: list[Capability]) -> list[Capability]:
        return unique(capabilities, lambda c: c.name, "capability")

    @checked("prompts")
    def _unique_prompts(prompts: list[Prompt]) -> list[Prompt]:
        return unique(prompts, lambda p: p.name, "prompt")

    @checked("resources")
    def _unique_resources(resources: list[Resource]) -> list[Resource]:
        return unique(resources, lambda r: r.uri, "resource")

    @checked("resource_templates")
    def _unique_templates(templates: list[ResourceTemplate]) -> list[ResourceTemplate]:
        return unique(templates, lambda t: t.uri_template, "resource template")

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


# What a client may send but the registry sets itself: accepted with any value, and ignored.
IGNORED_FIELDS: dict[str, str] = {"status": "Ignored: status is written by the registry only."}
IGNORED_METADATA: dict[str, str] = {
    "generation": "Ignored: set by the registry.",
    "creationTimestamp": "Ignored: set by the registry.",
}


def load_agent(stored: str | bytes) -> Agent:
    """An Agent from JSON that the registry itself validated and stored: the checks are skipped."""
    return Agent.model_validate_json(stored, context=TRUSTED)


def parse_agent(data: Mapping[str, Any]) -> Agent:
    """An Agent from a client's JSON: strict about unknown fields, and fields are known only by
    their JSON names; what the registry sets itself (``status``, ``metadata.generation`` and
    ``creationTimestamp``) is dropped. Raise ``ValidationError``."""
    if not isinstance(data, Mapping):
        return _strict(data)  # reports the type error
    body = {key: value for key, value in data.items() if key not in IGNORED_FIELDS}
    metadata = body.get("metadata")
    if isinstance(metadata, Mapping):
        body["metadata"] = {k: v for k, v in metadata.items() if k not in IGNORED_METADATA}
    return _strict(body)


def _strict(data: Any) -> Agent:
    return Agent.model_validate(data, extra="forbid", by_alias=True, by_name=False)
