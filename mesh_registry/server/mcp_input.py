"""``register_agent``'s arguments: the Agent object, or a flat form.

MCP clients, and the language models behind many of them, write the simple shape of the mesh's
original design, so the tool takes it too: ``{"name", "namespace", "endpoint", "capabilities":
["a.b", …] or [{…}], "dependencies", "labels", "annotations", "version", "tags",
"health_interval"}``. (A selector argument, a string or a ``LabelSelector`` object, is read
with the rest of a query, in ``query.py``.)

The schema of each form is built here from the same rules its parser checks, so that what the
tool publishes is what it accepts. Pure: no transport, no FastMCP.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from mesh_registry import validation
from mesh_registry.errors import BadRequest, Invalid
from mesh_registry.model import (
    Agent,
    AgentSpec,
    Capability,
    DependencySpec,
    FieldError,
    Limits,
    ObjectMeta,
    RequestSchemas,
    agent_request_schema,
    field_errors,
    inlined,
    parse_agent,
)

# -- register_agent ------------------------------------------------------------------------------

# Each flat field and where it goes in the Agent object.
FLAT_FIELDS: dict[str, str] = {
    "name": "metadata.name",
    "namespace": "metadata.namespace",
    "labels": "metadata.labels",
    "annotations": "metadata.annotations",
    "endpoint": "spec.endpoint",
    "health_interval": "spec.healthInterval",
    "capabilities": "spec.capabilities",
    "dependencies": "spec.dependencies",
    "version": "spec.capabilities[].version",
    "tags": "spec.capabilities[].tags",
}


def _request_schema(model: type[BaseModel]) -> dict[str, Any]:
    return inlined(model.model_json_schema(by_alias=True, schema_generator=RequestSchemas))


def _field_schema(model: type[BaseModel], field: str) -> dict[str, Any]:
    """The request schema of one field of ``model`` (by its JSON name)."""
    schema = _request_schema(model)
    return {
        key: value
        for key, value in schema["properties"][field].items()
        if key not in ("default", "title")
    }


def _name_or(model: type[BaseModel]) -> dict[str, Any]:
    return {"anyOf": [validation.CAPABILITY_NAME.schema(), _request_schema(model)]}


def flat_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of each flat field of ``register_agent``."""
    return {
        "name": validation.DNS1123_SUBDOMAIN.schema(),
        "namespace": validation.DNS1123_LABEL.schema(),
        "labels": _field_schema(ObjectMeta, "labels"),
        "annotations": _field_schema(ObjectMeta, "annotations"),
        "endpoint": validation.ENDPOINT.schema(),
        "health_interval": _field_schema(AgentSpec, "healthInterval"),
        "capabilities": {
            "type": "array",
            "maxItems": Limits.CAPABILITIES,
            "items": _name_or(Capability),
            "description": "Capability names, or capability objects.",
        },
        "dependencies": {
            "type": "array",
            "maxItems": Limits.DEPENDENCIES,
            "items": _name_or(DependencySpec),
            "description": "Capability names, or dependency objects.",
        },
        "version": {
            **validation.SEMVER.schema(),
            "description": "The version of every capability that does not give its own.",
        },
        "tags": {
            "type": "array",
            "maxItems": Limits.TAGS,
            "items": validation.TAG.schema(),
            "description": "The tags of every capability that does not give its own.",
        },
    }


def register_schema(properties: dict[str, Any]) -> dict[str, Any]:
    """The input schema of ``register_agent``: either ``agent`` alone, or the flat form (with
    at least ``name`` and ``endpoint``), never both."""
    flat = [{"required": [field]} for field in FLAT_FIELDS]
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {"agent": inlined(agent_request_schema()), **properties},
        "oneOf": [
            {"required": ["agent"], "not": {"anyOf": flat}},
            {"required": ["name", "endpoint"], "not": {"required": ["agent"]}},
        ],
    }


class _Unset:
    """The default of an argument the call did not give (``None`` is a JSON null it did)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


def agent_from_arguments(agent: Any, flat: Mapping[str, Any]) -> Agent | Mapping[str, Any]:
    """What ``register_agent`` was given: the Agent object as it came (the service validates it,
    with the REST API's messages), or an Agent built and validated from the flat form.
    Arguments not given are :data:`UNSET`."""
    given = {field: value for field, value in flat.items() if value is not UNSET}
    if agent is not UNSET:
        if given:
            raise BadRequest(
                "give either agent or the flat fields (name, endpoint, …), not both:"
                f" got agent and {', '.join(sorted(given))}"
            )
        if not isinstance(agent, Mapping):
            raise BadRequest("agent: must be an object")
        return agent
    missing = [field for field in ("name", "endpoint") if field not in given]
    if missing:
        raise BadRequest(
            f"missing {' and '.join(missing)}: give agent (an Agent object), or at least name"
            " and endpoint"
        )
    return _parse_flat(given)


def _parse_flat(given: dict[str, Any]) -> Agent:
    name = given["name"]
    shown = name if isinstance(name, str) else None
    body, problems = _flat_body(given)
    if problems:
        raise Invalid.from_fields(shown, problems)
    try:
        return parse_agent(body)
    except ValidationError as error:
        mapped = [FieldError(_flat_path(e.field, given), e.message) for e in field_errors(error)]
        unique = list(dict.fromkeys(mapped))  # a bad flat version is one error, not one each
        raise Invalid.from_fields(shown, unique) from None


def _flat_body(given: dict[str, Any]) -> tuple[dict[str, Any], list[FieldError]]:
    """The Agent body of the flat form, and the problems with its shape."""
    problems: list[FieldError] = []
    metadata = {
        key: given[key] for key in ("name", "namespace", "labels", "annotations") if key in given
    }
    spec: dict[str, Any] = {"endpoint": given["endpoint"]}
    if "health_interval" in given:
        spec["healthInterval"] = given["health_interval"]
    defaults: dict[str, Any] = {k: given[k] for k in ("version", "tags") if k in given}
    problems.extend(_default_errors(defaults))
    for field, builder in (("capabilities", _capability), ("dependencies", _dependency)):
        entries = given.get(field, [])
        if not isinstance(entries, list):
            problems.append(FieldError(field, "must be a list"))
            continue
        built = []
        for index, entry in enumerate(entries):
            item = builder(entry, defaults)
            if item is None:
                what = "a capability" if field == "capabilities" else "a dependency"
                problems.append(
                    FieldError(f"{field}[{index}]", f"must be a capability name or {what} object")
                )
            built.append(item)
        spec[field] = built
    return {"metadata": metadata, "spec": spec}, problems


def _default_errors(defaults: dict[str, Any]) -> list[FieldError]:
    """The problems with ``version`` and ``tags``, whether or not a capability takes them."""
    if not defaults:
        return []
    try:
        Capability.model_validate({"name": "any", **defaults}, by_alias=True, by_name=False)
    except ValidationError as error:
        return field_errors(error)
    return []


def _capability(entry: Any, defaults: dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(entry, str):
        entry = {"name": entry}
    if not isinstance(entry, dict):
        return None
    extra = {k: v for k, v in defaults.items() if k not in entry}
    return {**entry, **extra}


def _dependency(entry: Any, defaults: dict[str, Any]) -> dict[str, Any] | None:
    if isinstance(entry, str):
        return {"capability": entry}
    return entry if isinstance(entry, dict) else None


def _flat_path(path: str, given: dict[str, Any]) -> str:
    """A field of the built Agent, named as the flat form names it."""
    for flat, built in FLAT_FIELDS.items():
        if "[]" in built:
            continue
        if path == built or path.startswith((built + ".", built + "[")):
            path = flat + path[len(built) :]
            break
    for field, inner in (("capabilities", "name"), ("dependencies", "capability")):
        for index, entry in enumerate(given.get(field) or []):
            if isinstance(entry, str):
                path = path.replace(f"{field}[{index}].{inner}", f"{field}[{index}]")
    for default in ("version", "tags"):
        if default in given:
            for index, entry in enumerate(given.get("capabilities") or []):
                if isinstance(entry, str) or (isinstance(entry, dict) and default not in entry):
                    prefix = f"capabilities[{index}].{default}"
                    if path == prefix or path.startswith((prefix + "[", prefix + ".")):
                        path = default + path[len(prefix) :]
    return path
