"""What every API type shares: the API version, the default namespace, limits, the phases and
transports, the object key, and the base model with Kubernetes' JSON conventions."""

from __future__ import annotations

import enum
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from mesh_registry import validation

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
    PROMPTS = 128
    PROMPT_ARGUMENTS = 32
    RESOURCES = 256
    RESOURCE_TEMPLATES = 64
    TITLE_CHARS = 256
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


class MeshModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )


class ObjectKey(NamedTuple):
    """Where an object lives: its namespace and name."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"
