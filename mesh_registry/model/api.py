"""The API's other types: lists, heartbeats, call tokens and their reviews, ``Status`` errors,
watch events and delete options."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Literal

from pydantic import Field

from mesh_registry.model.agent import Agent
from mesh_registry.model.base import API_VERSION, MeshModel, Phase


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
