"""The storage interface: a durable, versioned key-value store with an event history.

It plays etcd's part for the registry: one global revision counter that every committed write
increases by one, compare-and-swap on an object's revision, and the ordered history of changes
(compacted by age and count). Values are opaque JSON text; the layer above decodes them and
stamps each object's ``resourceVersion`` from its revision, as Kubernetes does with etcd.

Two backends implement :class:`Store`: SQLite (``sqlite.py``, one process) and PostgreSQL
(``postgres.py``, several registry replicas on one database). With replicas, a store also
delivers the changes the others commit (in the one revision order), elects the replica that
decides health (``leadership.py``) and carries heartbeat times between them. The service never
talks to a backend directly: it goes through the watch cache.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Protocol

from mesh_registry.model import EventType, ObjectKey

if TYPE_CHECKING:
    from mesh_registry.leadership import Leadership


class StoreError(Exception):
    """Base class of store failures."""


class KeyExists(StoreError):
    """A create found the key already present."""


class KeyNotFound(StoreError):
    """An update or delete found no such key."""


class RevisionMismatch(StoreError):
    """A compare-and-swap found the object at another revision."""

    def __init__(self, key: ObjectKey, expected: int, actual: int) -> None:
        super().__init__(f"{key}: expected revision {expected}, found {actual}")
        self.expected = expected
        self.actual = actual


class Compacted(StoreError):
    """The requested revision is older than the oldest one the history still holds."""

    def __init__(self, requested: int, compacted: int) -> None:
        super().__init__(
            f"revision {requested} has been compacted (history starts after {compacted})"
        )
        self.requested = requested
        self.compacted = compacted


class StoreUnavailable(StoreError):
    """The store cannot commit (I/O error, closed, its database unreachable)."""


class Fenced(StoreError):
    """A health leader's write refused: another replica has led since (a newer term)."""


class Renewed(StoreError):
    """A write decided on an expired lease refused: the lease was renewed since (by a heartbeat
    another replica received), at ``heartbeat``."""

    def __init__(self, key: ObjectKey, heartbeat: float) -> None:
        super().__init__(f"{key}: lease renewed at {heartbeat}")
        self.key = key
        self.heartbeat = heartbeat


@dataclass(frozen=True, slots=True)
class Fence:
    """The conditions of a write the health leader decides (a phase change at a deadline).

    It is refused (:class:`Fenced`) unless ``term`` is still the current leader's term, so a
    deposed leader can never write one; and (:class:`Renewed`) if the agent's heartbeat time
    as stored is later than ``heartbeat`` (the time the decision counted from).
    """

    term: int
    heartbeat: float | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """An object as stored: its value and the revision of its last change."""

    key: ObjectKey
    value: str
    revision: int


@dataclass(frozen=True, slots=True)
class Change:
    """One committed write, as it appears in the history.

    For DELETED, ``value`` is the last value the object had. ``prev_value`` and ``prev_revision``
    are the object before the change (``None`` for ADDED). ``payload`` is the caller's own decoded
    object for a write made through this process; it is never stored.
    """

    revision: int
    type: EventType
    key: ObjectKey
    value: str
    prev_value: str | None = None
    prev_revision: int | None = None
    payload: object | None = field(default=None, compare=False)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a store holds, as loaded at start-up."""

    revision: int
    compacted_revision: int
    records: Sequence[Record]
    leases: Mapping[ObjectKey, float]  # last heartbeat time (epoch seconds) per object


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A stored record that cannot be decoded, and why."""

    record: Record
    reason: str


@dataclass(frozen=True, slots=True)
class Retention:
    """How much history to keep: changes younger than ``max_age`` seconds, at most
    ``max_events`` of them. Whichever limit is tighter wins."""

    max_age: float = 3600.0
    max_events: int = 100_000


# Upper bounds of the commit batch size histogram (the last bucket takes everything above).
BATCH_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)


@dataclass(slots=True)
class StoreStats:
    """Counters for metrics and tests: commits are transactions that reached the disk."""

    commits: int = 0
    writes: int = 0
    largest_batch: int = 0
    lease_checkpoints: int = 0
    compactions: int = 0
    batch_counts: list[int] = field(default_factory=lambda: [0] * (len(BATCH_BUCKETS) + 1))

    def record_commit(self, writes: int) -> None:
        self.commits += 1
        self.writes += writes
        self.largest_batch = max(self.largest_batch, writes)
        self.batch_counts[bisect.bisect_left(BATCH_BUCKETS, writes)] += 1

    def snapshot(self) -> StoreStats:
        return replace(self, batch_counts=list(self.batch_counts))


CommitListener = Callable[[Sequence[Change]], None]
ResetListener = Callable[[Snapshot], None]


class Store(Protocol):
    """What the registry needs from storage. Writes resolve only after their commit is durable;
    the commit listener sees every commit's changes in revision order before any caller does."""

    @property
    def revision(self) -> int:
        """The revision of the last committed write (0 for an empty store)."""
        ...

    @property
    def compacted_revision(self) -> int:
        """History holds every change after this revision."""
        ...

    @property
    def stats(self) -> StoreStats: ...

    @property
    def damaged(self) -> str | None:
        """Why the store cannot be trusted to commit any more (its data is corrupt), or
        ``None``. Only an operator can mend that: the registry reports it as not ready."""
        ...

    @property
    def unavailable(self) -> str | None:
        """Why the store cannot serve right now (its database is unreachable), or ``None``.
        Unlike :attr:`damaged`, it mends by itself."""
        ...

    @property
    def replicated(self) -> bool:
        """Whether other registry processes share this store."""
        ...

    async def open(self) -> Snapshot: ...

    async def close(self) -> None: ...

    def set_commit_listener(self, listener: CommitListener) -> None: ...

    def set_reset_listener(self, listener: ResetListener) -> None:
        """Called when the changes since the last one delivered can no longer be read (a
        replica cut off for longer than the history lasts): the whole state, afresh."""
        ...

    async def sync(self) -> int:
        """Deliver every change committed anywhere up to now (by other replicas too); return
        the revision reached. A read after it sees every write acknowledged before the call."""
        ...

    async def create(self, key: ObjectKey, value: str, payload: object = None) -> Change:
        """Store a new object; raise :class:`KeyExists`."""
        ...

    async def update(
        self,
        key: ObjectKey,
        value: str,
        expected_revision: int | None,
        payload: object = None,
        fence: Fence | None = None,
        lease: float | None = None,
    ) -> Change:
        """Replace an object, if it is at ``expected_revision`` (any revision when ``None``);
        raise :class:`KeyNotFound` or :class:`RevisionMismatch`, and :class:`Fenced` or
        :class:`Renewed` when ``fence`` does not hold. ``lease``: a heartbeat time saved in
        the same transaction (the one a revival counts from), never older than the saved one."""
        ...

    async def delete(
        self, key: ObjectKey, expected_revision: int | None, fence: Fence | None = None
    ) -> Change:
        """Remove an object; raise :class:`KeyNotFound` or :class:`RevisionMismatch`, and
        :class:`Fenced` or :class:`Renewed` when ``fence`` does not hold."""
        ...

    async def changes_since(self, revision: int, until: int | None = None) -> list[Change]:
        """The changes with ``revision < change.revision <= until``, in order; raise
        :class:`Compacted` when ``revision`` is older than the history."""
        ...

    async def save_leases(self, leases: Mapping[ObjectKey, float]) -> None:
        """Checkpoint heartbeat times (a stored time only ever moves forward). Not a write: no
        revision, no event."""
        ...

    async def renewed_leases(self, after: int) -> tuple[dict[ObjectKey, float], int]:
        """The heartbeat times other processes saved since cursor ``after`` (0: all of
        them), and the cursor to ask from next."""
        ...

    async def secret(self, name: str) -> bytes:
        """A random 32-byte secret shared by every process of this store, made on first use
        and kept with the data (the key that signs call tokens, say)."""
        ...

    def leader_election(self, lease: float) -> Leadership:
        """How the processes of this store choose the one that decides health; ``lease``:
        how long a leader that stopped answering keeps the role."""
        ...

    async def compact(self) -> int:
        """Apply the history retention (age and count); return the new compacted revision."""
        ...

    async def quarantine(self, records: Sequence[Unreadable]) -> int:
        """Set aside records that cannot be read back (kept for an operator, out of the way of
        the names they held). The set of objects changes, so the revision moves on by one, with
        no event: the whole history is compacted up to it, and every watcher and every paginated
        list starts again, none left holding an object the registry no longer serves. Return
        the new revision."""
        ...
