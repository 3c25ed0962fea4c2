"""A list of agents as JSON, each record version encoded once.

A list or discovery answer repeats the records the last one held: of its cost, encoding the
records was the most (about 6 µs each, and a copy of each to set its heartbeat time). Here a
record version is encoded once, without its last heartbeat time, and kept in a memo bounded
in characters (the least recently used leave first); each answer joins the texts, and puts
each record's heartbeat time where pydantic puts it. The text is exactly what
``Listing.as_list()`` encodes to: ``tests/api/test_listing_json.py`` compares them on a table
of records.

A record version is known by namespace, name and resource version: the registry never
gives one version two contents. A record the memo cannot split as expected (should its
model's field order change) is encoded whole, the slow way, every time.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from datetime import datetime
from typing import Final

from pydantic import TypeAdapter

from mesh_registry.listing import Listing
from mesh_registry.model import Agent, AgentList
from mesh_registry.records import timestamp, with_heartbeat

# What the memo holds, in characters of JSON: about 15k records of 1 kB, a fleet's hot set
# (16 MB of ASCII text; Python keeps text with other characters in 2 or 4 bytes a character).
MEMO_CHARS: Final = 16 * 2**20
# Larger records are encoded every time: one would evict many.
RECORD_CHARS: Final = 64 * 2**10
_WITHOUT_BEAT: Final = {"status": {"last_heartbeat_time"}}
_BEAT_FIELD: Final = ',"lastHeartbeatTime":'
_DATETIME: Final = TypeAdapter(datetime)

_MemoKey = tuple[str, str, str]


class _Split:
    """One record version's JSON, cut where its heartbeat time goes: after the phase."""

    __slots__ = ("after", "beat", "beat_text", "before")

    def __init__(self, before: str, after: str) -> None:
        self.before = before
        self.after = after
        # The last heartbeat time written for this record, and its text: reads between two
        # heartbeats write the same one.
        self.beat: float | None = None
        self.beat_text = ""

    def __len__(self) -> int:
        return len(self.before) + len(self.after)

    def text(self, beat: datetime | float | None) -> str:
        if beat is None:
            return self.before + self.after
        if isinstance(beat, datetime):  # the record's own time: rare, not remembered
            return self.before + _BEAT_FIELD + _DATETIME.dump_json(beat).decode() + self.after
        if beat != self.beat:
            self.beat_text = _BEAT_FIELD + _DATETIME.dump_json(timestamp(beat)).decode()
            self.beat = beat
        return self.before + self.beat_text + self.after


class ListingEncoder:
    """Encodes listings as ``AgentList`` JSON, with a memo of record texts."""

    def __init__(self, memo_chars: int = MEMO_CHARS, record_chars: int = RECORD_CHARS) -> None:
        self._memo: OrderedDict[_MemoKey, _Split] = OrderedDict()
        self._memo_chars = memo_chars
        self._record_chars = record_chars
        self._held = 0

    def encode(self, listing: Listing) -> str:
        items = [self._item(r, b) for r, b in zip(listing.records, listing.heartbeats, strict=True)]
        empty = AgentList(metadata=listing.metadata(), items=[]).model_dump_json(exclude_none=True)
        # ``items`` is the model's last field: its empty list closes the text.
        return empty[: -len("[]}")] + "[" + ",".join(items) + "]}"

    @property
    def held_chars(self) -> int:
        """Characters of JSON the memo holds."""
        return self._held

    def _item(self, record: Agent, beat: float | None) -> str:
        split = self._split(record)
        if split is None:
            return with_heartbeat(record, beat).model_dump_json(exclude_none=True)
        # As ``with_heartbeat``: without a lease's time, the record's own stands.
        return split.text(beat if beat is not None else record.status.last_heartbeat_time)

    def _split(self, record: Agent) -> _Split | None:
        metadata = record.metadata
        if metadata.resource_version is None:  # not a stored version: nothing to know it by
            return None
        key = (metadata.namespace, metadata.name, metadata.resource_version)
        memo = self._memo
        split = memo.get(key)
        if split is not None:
            memo.move_to_end(key)
            return split
        split = _encoded(record)
        if split is None or len(split) > self._record_chars:
            return None
        memo[key] = split
        self._held += len(split)
        while self._held > self._memo_chars:
            _, evicted = memo.popitem(last=False)
            self._held -= len(evicted)
        return split


def _encoded(record: Agent) -> _Split | None:
    """``record``'s JSON without its heartbeat time, cut where the time goes; ``None`` if the
    text is not laid out as expected (``status`` last, ``phase`` first in it)."""
    text = record.model_dump_json(exclude_none=True, exclude=_WITHOUT_BEAT)
    status = record.status.model_dump_json(exclude_none=True, exclude={"last_heartbeat_time"})
    phase = '{"phase":' + json.dumps(record.status.phase.value)
    if not (status.startswith(phase) and text.endswith(',"status":' + status + "}")):
        return None
    cut = len(text) - len(status) - 1 + len(phase)
    return _Split(text[:cut], text[cut:])
