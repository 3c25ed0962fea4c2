"""A client's input, read and checked before the registry acts on it: an agent object with the
namespace and name of its path, a namespace or name in a path, a resume revision, a
``resourceVersion`` given as a precondition. Pure: every transport goes through it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from mesh_registry import validation
from mesh_registry.errors import BadRequest, Invalid, NotFound
from mesh_registry.model import Agent, ObjectKey, field_errors, parse_agent

AgentInput = Agent | Mapping[str, Any]


def incoming(agent: AgentInput, namespace: str | None, name: str | None = None) -> Agent:
    """A client's object, validated and reconciled with the namespace and name of its path:
    ``BadRequest`` for a path segment or precondition that could never be right, or a body that
    disagrees with its path; ``Invalid`` naming each bad field."""
    problem = key_error(namespace, name)
    if problem is not None:
        raise problem
    if not isinstance(agent, Agent):
        agent = _parsed(agent)
    metadata = agent.metadata
    if namespace is not None and metadata.namespace != namespace:
        if "namespace" in metadata.model_fields_set:
            raise BadRequest(
                f"the namespace of the object ({metadata.namespace}) does not match the"
                f" namespace of the request ({namespace})"
            )
        agent = agent.model_copy(
            update={"metadata": metadata.model_copy(update={"namespace": namespace})}
        )
    if name is not None and agent.metadata.name != name:
        raise BadRequest(
            f"the name of the object ({agent.metadata.name}) does not match the name of"
            f" the request ({name})"
        )
    written = agent.metadata.resource_version
    if precondition_revision(written, "metadata.resourceVersion") != written:
        agent = agent.model_copy(
            update={"metadata": agent.metadata.model_copy(update={"resource_version": None})}
        )
    return agent


def _parsed(body: Mapping[str, Any]) -> Agent:
    try:
        return parse_agent(body)
    except ValidationError as error:
        metadata = body.get("metadata", {}) if isinstance(body, Mapping) else {}
        shown = metadata.get("name") if isinstance(metadata, Mapping) else None
        raise Invalid.from_fields(
            shown if isinstance(shown, str) else None, field_errors(error)
        ) from None


def key_error(namespace: str | None, name: str | None) -> BadRequest | None:
    """What is wrong with a namespace or name that a request names (in its path, say), by the
    rules the object's own fields follow; ``None`` if nothing."""
    for what, value, check in (
        ("namespace", namespace, validation.dns1123_label_errors),
        ("name", name, validation.dns1123_subdomain_errors),
    ):
        problems = [] if value is None else check(value)
        if problems:
            return BadRequest(f"invalid {what} {value!r}: {'; '.join(problems)}")
    return None


def not_found(key: ObjectKey) -> BadRequest | NotFound:
    """The answer for a key that names no agent: ``NotFound``, or ``BadRequest`` when the key
    could never name one. Checked only on a miss: a stored key is valid."""
    return key_error(key.namespace, key.name) or NotFound.agent(key)


def precondition_revision(value: str | None, field: str) -> str | None:
    """A ``resourceVersion`` given as a precondition: ``None`` when absent or empty (as in
    Kubernetes), ``BadRequest`` naming ``field`` unless it is a revision."""
    if not value:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 18):
        raise BadRequest(f"{field}: {value!r} is not a resource version")
    return value


def parse_revision(since: str | int | None) -> int | None:
    """A resume revision; ``None`` (and "0", as in Kubernetes) start from the current state.

    ``BadRequest`` for anything but a non-negative integer of at most 18 digits.
    """
    if since is None or since == "":
        return None
    if isinstance(since, int):
        revision = since
    elif since.isascii() and since.isdigit() and len(since) <= 18:
        revision = int(since)
    else:
        raise BadRequest(f"resourceVersion: {since!r} is not a resource version")
    if revision < 0:
        raise BadRequest(f"resourceVersion: {since!r} is not a resource version")
    return revision or None
