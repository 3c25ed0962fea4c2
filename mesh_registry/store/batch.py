"""One batch of writes, checked and numbered as one transaction: shared by every backend.

Each write is checked against the state the writes before it in the batch left (a create
after a delete of the same key succeeds, say); each one that passes gets the next revision.
The backend reads the current state of the batch's keys inside its transaction, calls
:func:`apply`, and persists :attr:`BatchResult.changes` and :attr:`BatchResult.final`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mesh_registry.model import EventType, ObjectKey
from mesh_registry.store.base import (
    Change,
    Fence,
    KeyExists,
    KeyNotFound,
    RevisionMismatch,
    StoreError,
)


@dataclass(slots=True)
class Write:
    """One write waiting for its transaction."""

    type: EventType
    key: ObjectKey
    value: str | None
    expected_revision: int | None
    payload: object
    future: asyncio.Future[Change]
    fence: Fence | None = None
    lease: float | None = None


@dataclass(slots=True)
class Stored:
    """An object as the transaction found it."""

    value: str
    revision: int


@dataclass(slots=True)
class BatchResult:
    changes: list[Change] = field(default_factory=list)
    outcomes: list[Change | StoreError] = field(default_factory=list)
    final: dict[ObjectKey, Stored | None] = field(default_factory=dict)
    #: Heartbeat times saved with the writes that carried one (their objects still exist).
    leases: dict[ObjectKey, float] = field(default_factory=dict)


def apply(
    batch: Iterable[Write],
    current: Mapping[ObjectKey, Stored],
    revision: int,
    refused: Mapping[int, StoreError] | None = None,
) -> BatchResult:
    """Check each write against the state left by the writes before it; number the changes.
    ``refused``: writes (by position) refused before any check (a fence that failed)."""
    state: dict[ObjectKey, Stored | None] = dict(current)
    result = BatchResult()
    for position, write in enumerate(batch):
        existing = state.get(write.key)
        problem = (refused or {}).get(position) or precondition(write, existing)
        if problem is not None:
            result.outcomes.append(problem)
            continue
        revision += 1
        if write.type is EventType.DELETED:
            assert existing is not None
            change = Change(
                revision,
                EventType.DELETED,
                write.key,
                existing.value,
                existing.value,
                existing.revision,
            )
            state[write.key] = None
            result.leases.pop(write.key, None)
        else:
            assert write.value is not None
            change = Change(
                revision,
                write.type,
                write.key,
                write.value,
                existing.value if existing else None,
                existing.revision if existing else None,
                write.payload,
            )
            state[write.key] = Stored(write.value, revision)
            if write.lease is not None:
                result.leases[write.key] = max(write.lease, result.leases.get(write.key, 0.0))
        result.changes.append(change)
        result.outcomes.append(change)
        result.final[write.key] = state[write.key]
    return result


def precondition(write: Write, existing: Stored | None) -> StoreError | None:
    if write.type is EventType.ADDED:
        return KeyExists(str(write.key)) if existing is not None else None
    if existing is None:
        return KeyNotFound(str(write.key))
    if write.expected_revision is not None and existing.revision != write.expected_revision:
        return RevisionMismatch(write.key, write.expected_revision, existing.revision)
    return None


def settle(
    future: asyncio.Future[Any], *, result: object = None, error: BaseException | None = None
) -> None:
    """Answer a waiting writer, unless it stopped waiting."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
