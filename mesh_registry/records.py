"""What a write makes of a stored record, as pure functions of the records involved.

The service decides when to write; these decide what is written: a new object's registry-set
fields, a replacement that keeps them (and bumps ``generation`` only when the client's part
changed), a phase change in the status, and the live heartbeat time served beside a record.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from mesh_registry.errors import Conflict
from mesh_registry.model import Agent, AgentStatus, Phase

STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)


def timestamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def created(incoming: Agent, now: datetime) -> Agent:
    """``incoming`` as a new record: a fresh uid, generation 1, pending."""
    metadata = incoming.metadata.model_copy(
        update={
            "uid": str(uuid.uuid4()),
            "resource_version": None,
            "generation": 1,
            "creation_timestamp": now,
        }
    )
    status = AgentStatus(phase=Phase.PENDING, phase_since=now, observed_generation=1)
    return Agent(metadata=metadata, spec=incoming.spec, status=status)


def replaced(current: Agent, incoming: Agent) -> Agent | None:
    """``current`` with the client's part taken from ``incoming``; ``None`` if unchanged."""
    old, new = current.metadata, incoming.metadata
    changed = (
        incoming.spec != current.spec
        or new.labels != old.labels
        or new.annotations != old.annotations
    )
    if not changed:
        return None
    generation = (old.generation or 0) + 1
    metadata = old.model_copy(
        update={"labels": new.labels, "annotations": new.annotations, "generation": generation}
    )
    status = current.status.model_copy(update={"observed_generation": generation})
    return Agent(metadata=metadata, spec=incoming.spec, status=status)


def check_preconditions(current: Agent, resource_version: str | None, uid: str | None) -> None:
    """``Conflict`` unless ``current`` is at ``resource_version`` and has ``uid`` (each when
    given)."""
    if resource_version is not None and resource_version != current.metadata.resource_version:
        raise Conflict.agent(current.key, STALE)
    if uid is not None and uid != current.metadata.uid:
        raise Conflict.agent(
            current.key,
            f"precondition failed: uid in precondition: {uid}, uid in object meta:"
            f" {current.metadata.uid}",
        )


def in_phase(current: Agent, phase: Phase, since: float, last_heartbeat: float | None) -> Agent:
    """``current`` moved to ``phase`` at ``since`` (epoch seconds)."""
    status = current.status.model_copy(
        update={
            "phase": phase,
            "phase_since": timestamp(since),
            "last_heartbeat_time": None if last_heartbeat is None else timestamp(last_heartbeat),
            "observed_generation": current.metadata.generation,
        }
    )
    return current.model_copy(update={"status": status})


def with_heartbeat(agent: Agent, last_heartbeat: float | None) -> Agent:
    """``agent`` with its last heartbeat time, which lives in the lease and is not versioned."""
    if last_heartbeat is None:
        return agent
    beat = timestamp(last_heartbeat)
    if agent.status.last_heartbeat_time == beat:
        return agent
    status = agent.status.model_copy(update={"last_heartbeat_time": beat})
    return agent.model_copy(update={"status": status})
