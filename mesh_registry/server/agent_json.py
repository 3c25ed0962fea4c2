"""Agents as JSON, each record version encoded once.

A list or discovery answer repeats the records the last one held, and a watch's initial state
the records the last watch of the same filter sent: of their cost, encoding the records was
the most (about 6 µs each, and for a list a copy of each to set its heartbeat time). Here a
record version is encoded once, without its last heartbeat time, and kept in a memo bounded
in characters (the least recently used leave first); each answer joins the texts, and puts
each record's heartbeat time where pydantic puts it. The text is exactly what the models
encode to: ``tests/api/test_agent_json.py`` compares them on a table of records.

A record version is known by namespace, name and resource version: within one registry, the
records it stores and lists never give one version two contents. (A watch's DELETED event for
an object that stopped matching its filter carries the earlier state stamped with the change's
revision: such events are encoded whole, see ``sse.py``.) A record the memo cannot split as
expected (should its model's field order change) is encoded whole, the slow way, every time.
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

    __slots__ = ("after", "beat", "beat_text", "before", "own")

    def __init__(self, before: str, after: str, own: datetime | None) -> None:
        self.before = before
        self.after = after
        # The record's own heartbeat time as a field, if it has one: what stands without a
        # lease's time.
        self.own = "" if own is None else _beat_field(own)
        # The last lease time written for this record, and its text: reads between two
        # heartbeats write the same one.
        self.beat: float | None = None
        self.beat_text = ""

    def __len__(self) -> int:
        return len(self.before) + len(self.after) + len(self.own)

    def parts(self, beat: float | None) -> tuple[str, str, str]:
        """The text in three parts, the heartbeat time's in the middle."""
        if beat is None:
            return self.before, self.own, self.after
        if beat != self.beat:
            self.beat_text = _beat_field(timestamp(beat))
            self.beat = beat
        return self.before, self.beat_text, self.after


def _beat_field(when: datetime) -> str:
    return _BEAT_FIELD + _DATETIME.dump_json(when).decode()


class AgentJson:
    """Encodes agents and listings of them, with a memo of record texts. One per registry: a
    record version is known by its key and resource version within one registry only."""

    def __init__(self, memo_chars: int = MEMO_CHARS, record_chars: int = RECORD_CHARS) -> None:
        self._memo: OrderedDict[_MemoKey, _Split] = OrderedDict()
        self._memo_chars = memo_chars
        self._record_chars = record_chars
        self._held = 0

    def listing(self, listing: Listing) -> str:
        """``listing.as_list()`` as JSON."""
        empty = AgentList(metadata=listing.metadata(), items=[]).model_dump_json(exclude_none=True)
        # ``items`` is the model's last field: its empty list closes the text. The records'
        # texts are joined once, as parts: not each copied whole before the join.
        parts = [empty[: -len("]}")]]
        for index, (record, beat) in enumerate(
            zip(listing.records, listing.heartbeats, strict=True)
        ):
            if index:
                parts.append(",")
            parts.extend(self._parts(record, beat))
        parts.append("]}")
        return "".join(parts)

    def record(self, record: Agent) -> str:
        """``record`` as JSON, as it is (with its own heartbeat time, if any)."""
        return "".join(self._parts(record, None))

    @property
    def held_chars(self) -> int:
        """Characters of JSON the memo holds."""
        return self._held

    def _parts(self, record: Agent, beat: float | None) -> tuple[str, ...]:
        split = self._split(record)
        if split is None:
            return (with_heartbeat(record, beat).model_dump_json(exclude_none=True),)
        # As ``with_heartbeat``: without a lease's time, the record's own stands.
        return split.parts(beat)

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
    return _Split(text[:cut], text[cut:], record.status.last_heartbeat_time)
