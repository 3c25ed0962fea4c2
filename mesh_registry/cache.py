"""The watch cache: every object in memory, indexed, fed by the store's commits.

As the Kubernetes API server's watch cache does, it serves reads, discovery and watches from
memory. An inverted index (``postings.py``: capability → objects, label key and value →
objects) narrows a query to a few candidates before each candidate is tested. The cache
applies each commit in revision order, then tells its listeners (the watch hub, the health
monitor) about each change.
Lists are paginated over one consistent revision: a later page is computed from the current
objects and the history since the first page's revision.
"""

from __future__ import annotations

import base64
import binascii
import bisect
import heapq
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from pydantic import ValidationError

from mesh_registry.codec import decode, with_revision
from mesh_registry.discovery import Match, Query
from mesh_registry.model import Agent, EventType, ObjectKey
from mesh_registry.model.compact import compacted
from mesh_registry.postings import Entry, Postings
from mesh_registry.store import Change, Compacted, Snapshot, Store, Unreadable


@dataclass(frozen=True, slots=True)
class ObjectChange:
    """A committed change, decoded. For DELETED, ``object`` is the last state stamped with the
    deletion's revision; ``prev`` is the object before the change (``None`` for ADDED)."""

    revision: int
    type: EventType
    object: Agent
    prev: Agent | None
    size: int = 0  # bytes of the stored record: what holding this change costs, roughly


@dataclass(frozen=True, slots=True)
class Page:
    items: list[Agent]
    revision: int
    continue_token: str | None


@dataclass(frozen=True, slots=True)
class Candidates:
    """What the indexes leave of a query: the objects they cannot rule out, and the part of
    the query each of them still has to be tested for (what the indexes did not settle)."""

    objects: list[Agent]
    rest: Query


class InvalidContinueToken(ValueError):
    """A ``continue`` token that this registry did not issue."""


class ContinueFromTheFuture(ValueError):
    """A ``continue`` token of a revision this registry has not reached (its data was replaced
    by an older copy, say): the list must start again."""


log = logging.getLogger(__name__)
Listener = Callable[[ObjectChange], None]
# How many times more a test of an object in a scan costs than a key's share of building and
# sorting the indexes' candidates (measured: about 1.5 µs against 0.3 µs). Measured before
# scans asked the indexes about each key first and pages ordered candidates with a heap:
# both cheaper now, the rule still weighs them alike (either way gives the same pages).
_SCAN_COST = 5


class WatchCache:
    """Objects by key and by capability, at the latest committed revision."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._objects: dict[ObjectKey, Agent] = {}
        self._postings = Postings()
        self._sorted_keys: list[ObjectKey] | None = None
        self._revision = 0
        self._listeners: list[Listener] = []
        store.set_commit_listener(self._on_commit)

    def load(self, snapshot: Snapshot) -> list[Unreadable]:
        """Take in every stored object; return those that cannot be decoded (left out)."""
        unreadable = []
        for record in snapshot.records:
            try:
                agent = decode(record.value, record.revision)
            except (ValidationError, ValueError, RecursionError) as error:
                unreadable.append(Unreadable(record, _reason(error)))
                continue
            self._objects[record.key] = compacted(agent)
            self._index(record.key, agent)
        self._sorted_keys = None
        self._revision = snapshot.revision
        return unreadable

    def reset(self, snapshot: Snapshot) -> tuple[list[ObjectKey], list[Agent]]:
        """Replace everything with ``snapshot`` (the store could not tell the changes since the
        last revision); return the keys gone and the objects now. Records that cannot be
        decoded are left out, as at start."""
        before = set(self._objects)
        self._objects.clear()
        self._postings.clear()
        for bad in self.load(snapshot):
            log.error("record %s cannot be read (%s): not served", bad.record.key, bad.reason)
        return sorted(before - set(self._objects)), list(self._objects.values())

    def skip_to(self, revision: int) -> None:
        """The store moved on to ``revision`` without a change to report (it set unreadable
        records aside, see ``Store.quarantine``)."""
        self._revision = max(self._revision, revision)

    def add_listener(self, listener: Listener) -> None:
        self._listeners.append(listener)

    @property
    def revision(self) -> int:
        return self._revision

    def __len__(self) -> int:
        return len(self._objects)

    def get(self, key: ObjectKey) -> Agent | None:
        return self._objects.get(key)

    def objects(self) -> Iterable[Agent]:
        return self._objects.values()

    def select(self, query: Query) -> list[Agent]:
        """The current objects that match ``query``, in key order."""
        found = self.candidates(query)
        return [agent for agent in found.objects if found.rest.matches(agent)]

    def candidates(self, query: Query, *, in_key_order: bool = True) -> Candidates:
        """The objects the indexes cannot rule out for ``query``, and what is left to test.
        ``in_key_order=False``: in any order, for a caller that sorts them its own way."""
        constraints = self._constraints(query)
        objects = self._objects
        if not constraints:
            every = self._keys()
            start, end = _namespace_bounds(every, query.namespace)
            return Candidates([objects[key] for key in every[start:end]], query)
        found = self._postings.keys_in_all(constraints)
        keys = sorted(found) if in_key_order else found
        # Every candidate holds one of the values of each exact label requirement: the
        # requirements became constraints above, and the index holds every label as it is.
        return Candidates([objects[key] for key in keys], query.without_exact_labels())

    async def page(self, query: Query, limit: int | None, token: str | None) -> Page:
        """One page of matching objects. Raise :class:`InvalidContinueToken`,
        :class:`ContinueFromTheFuture`, and ``store.Compacted`` when the token's revision has
        left the history."""
        if token is None:
            return self._page(query, limit, self._revision, None, self._objects.get)
        revision, after = _decode_token(token)
        if revision > self._revision:
            raise ContinueFromTheFuture(
                f"the token is from the future (revision {revision}, the registry is at"
                f" {self._revision})"
            )
        if revision == self._revision:
            return self._page(query, limit, revision, after, self._objects.get)
        changes = await self._changes_until_now(revision)
        # The state at `revision` of a key changed since is what its first later change replaced.
        earlier: dict[ObjectKey, Agent | None] = {}
        for change in changes:
            earlier.setdefault(change.object.key, change.prev)
        objects = self._objects

        def state(key: ObjectKey) -> Agent | None:
            return earlier[key] if key in earlier else objects.get(key)

        return self._page(query, limit, revision, after, state, extra_keys=earlier)

    async def history(self, since: int, until: int) -> list[ObjectChange]:
        """The changes after ``since`` up to ``until``, decoded. Raise ``store.Compacted``, also
        when a change cannot be decoded: the history is of no use from before it."""
        decoded = []
        for change in await self._store.changes_since(since, until):
            try:
                decoded.append(_decode_change(change))
            except (ValidationError, ValueError, RecursionError):
                raise Compacted(since, change.revision) from None
        return decoded

    # -- internals -------------------------------------------------------------------------

    def _on_commit(self, changes: Sequence[Change]) -> None:
        for change in changes:
            applied = self._apply(change)
            for listener in self._listeners:
                listener(applied)

    def _apply(self, change: Change) -> ObjectChange:
        key = change.key
        prev = self._objects.get(key)
        if change.type is EventType.DELETED:
            last = prev if prev is not None else decode(change.value, change.revision)
            current = with_revision(last, change.revision)
            self._unindex(key, last)
            del self._objects[key]
            self._sorted_keys = None
        else:
            payload = change.payload
            if isinstance(payload, Agent):
                current = with_revision(payload, change.revision)
            else:
                current = decode(change.value, change.revision)
            if prev is None:
                self._sorted_keys = None
            else:
                self._unindex(key, prev)
            self._objects[key] = compacted(current)
            self._index(key, current)
        self._revision = change.revision
        return ObjectChange(change.revision, change.type, current, prev, _size(change))

    def _index(self, key: ObjectKey, agent: Agent) -> None:
        self._postings.add(key, _entries(agent))

    def _unindex(self, key: ObjectKey, agent: Agent) -> None:
        self._postings.remove(key, _entries(agent))

    def _constraints(self, query: Query) -> list[list[Entry]]:
        """What the indexes can say of ``query``: per constraint, the entries a matching
        object holds at least one of; the one the fewest objects hold first."""
        constraints: list[list[Entry]] = []
        if query.capabilities:
            if query.match is Match.ALL:
                constraints.extend([name] for name in query.capabilities)
            else:
                constraints.append(list(query.capabilities))
        for requirement in query.selector.requirements:
            values = requirement.required_values
            if values is not None:
                constraints.append([(requirement.key, value) for value in values])
        constraints.sort(key=self._postings.count)
        return constraints

    def _page_keys(
        self,
        query: Query,
        limit: int | None,
        after: ObjectKey | None,
        changed: list[ObjectKey],
    ) -> tuple[Iterator[ObjectKey], Query]:
        """The keys a page tests, in key order after ``after``, and what to test them for: the
        indexes' candidates where ordering them costs less than testing objects in key order
        until the page is full, else every key, each asked of the indexes first.

        A scan finds ``limit`` matches after about ``limit * objects / candidates`` tests;
        ordering the candidates costs about their number. So a query that leaves few candidates
        (a rare label) is served from the indexes, and one that leaves many (a common label,
        with a small limit) by a scan that stops early. Keys ``changed`` since the page's
        revision are tested either way, and in full: the indexes hold only their current state.
        """
        constraints = self._constraints(query)
        # Without changes, every key either way below has passed the indexes: its object is
        # left to test for what they did not settle.
        tested = query if changed else query.without_exact_labels()
        if constraints:
            candidates = self._postings.count(constraints[0])  # an upper bound
            if limit is None or candidates**2 <= _SCAN_COST * limit * len(self._objects):
                return self._indexed_keys(constraints, query, limit, after, changed), tested
        return self._scanned_keys(constraints, query, after, changed), tested

    def _indexed_keys(
        self,
        constraints: list[list[Entry]],
        query: Query,
        limit: int | None,
        after: ObjectKey | None,
        changed: list[ObjectKey],
    ) -> Iterator[ObjectKey]:
        keys = list(self._postings.keys_in_all(constraints))
        if changed:
            indexed = set(keys)
            keys += [key for key in changed if key not in indexed]
        if query.namespace is not None or after is not None:
            keys = [key for key in keys if _in_page(key, query.namespace, after)]
        return _ascending(keys, limit)

    def _scanned_keys(
        self,
        constraints: list[list[Entry]],
        query: Query,
        after: ObjectKey | None,
        changed: list[ObjectKey],
    ) -> Iterator[ObjectKey]:
        every = self._keys()
        gone = [key for key in changed if key not in self._objects]
        if gone:
            every = sorted([*every, *gone])
        start, end = _namespace_bounds(every, query.namespace)
        if after is not None:
            start = max(start, bisect.bisect_right(every, after))
        # Not over ``every[start:end]``: copying every key (and releasing the copy) for a page
        # of 100 would cost more than the page.
        in_order = map(every.__getitem__, range(start, end))
        if constraints and not changed:
            # The indexes rule a key out for less than its object's test costs.
            return filter(self._postings.holds_all(constraints), in_order)
        return in_order

    def _keys(self) -> list[ObjectKey]:
        if self._sorted_keys is None:
            self._sorted_keys = sorted(self._objects)
        return self._sorted_keys

    def _page(
        self,
        query: Query,
        limit: int | None,
        revision: int,
        after: ObjectKey | None,
        state: Callable[[ObjectKey], Agent | None],
        extra_keys: Iterable[ObjectKey] = (),
    ) -> Page:
        keys, tested = self._page_keys(query, limit, after, list(extra_keys))
        items: list[Agent] = []
        for key in keys:
            agent = state(key)
            if agent is None or not tested.matches(agent):
                continue
            if limit is not None and len(items) == limit:
                return Page(items, revision, _encode_token(revision, items[-1].key))
            items.append(agent)
        return Page(items, revision, None)

    async def _changes_until_now(self, since: int) -> list[ObjectChange]:
        """Every change after ``since`` up to the current revision. The last read and the return
        happen with no await between them, so the result fits the objects as they are now."""
        changes: list[ObjectChange] = []
        cursor = since
        while cursor < self._revision:
            target = self._revision
            changes.extend(await self.history(cursor, target))
            cursor = target
        return changes


def _in_page(key: ObjectKey, namespace: str | None, after: ObjectKey | None) -> bool:
    return (namespace is None or key.namespace == namespace) and (after is None or key > after)


def _ascending(keys: list[ObjectKey], limit: int | None) -> Iterator[ObjectKey]:
    """``keys`` (the list is used up) in ascending order. A page reads its first ``limit``
    or so of maybe thousands: as a heap, they are put in order only as far as they are read
    (about ``2n + 2 * limit * log2(n)`` comparisons against a sort's ``n * log2(n)``: a
    quarter of them for a page of 100 of 1,000). Where the page reads much of the list, a
    sort costs less."""
    if limit is None or limit * 8 >= len(keys):
        yield from sorted(keys)
        return
    heapq.heapify(keys)
    while keys:
        yield heapq.heappop(keys)


def _namespace_bounds(keys: list[ObjectKey], namespace: str | None) -> tuple[int, int]:
    """Where the keys of ``namespace`` are in ``keys`` (sorted): all of them for ``None``."""
    if namespace is None:
        return 0, len(keys)
    # "\0" sorts before every character a namespace may hold.
    return (
        bisect.bisect_left(keys, ObjectKey(namespace, "")),
        bisect.bisect_left(keys, ObjectKey(namespace + "\0", "")),
    )


def _entries(agent: Agent) -> list[Entry]:
    """What the indexes know ``agent`` by: its capabilities' names and its labels."""
    return [
        *(capability.name for capability in agent.spec.capabilities),
        *agent.metadata.labels.items(),
    ]


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors(include_url=False)[0]
        return f"{error.error_count()} problems, the first: {first['msg']}"
    return f"{type(error).__name__}: {error}"[:500]


def _decode_change(change: Change) -> ObjectChange:
    current = decode(change.value, change.revision)
    prev = None
    if change.prev_value is not None and change.prev_revision is not None:
        prev = decode(change.prev_value, change.prev_revision)
    return ObjectChange(change.revision, change.type, current, prev, _size(change))


def _size(change: Change) -> int:
    return len(change.value or "") + len(change.prev_value or "")


def _encode_token(revision: int, after: ObjectKey) -> str:
    body = json.dumps({"rv": revision, "ns": after.namespace, "name": after.name})
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def _decode_token(token: str) -> tuple[int, ObjectKey]:
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
        revision, namespace, name = body["rv"], body["ns"], body["name"]
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeError, RecursionError):
        raise InvalidContinueToken("continue token is malformed") from None
    if not (isinstance(revision, int) and revision >= 0):
        raise InvalidContinueToken("continue token is malformed")
    if not (isinstance(namespace, str) and isinstance(name, str)):
        raise InvalidContinueToken("continue token is malformed")
    return revision, ObjectKey(namespace, name)
