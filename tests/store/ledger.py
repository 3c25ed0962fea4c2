"""What a client was told, and what a watcher saw: checked against the registry afterwards.

Reusable by any fault-injection test: record each acknowledged write in a :class:`Ledger` and
each watcher's events in a :class:`StreamLog`, then ask them for the problems they find.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class KeyHistory:
    """One key's writes, from one writer (so they are ordered)."""

    acknowledged: int = 0  # revision of the last acknowledged write
    deleted: bool = False  # whether that write was a delete
    in_flight: bool = False  # a write was sent and never answered (it may have committed)


@dataclass
class Ledger:
    """Acknowledged writes, per key."""

    keys: dict[str, KeyHistory] = field(default_factory=dict)
    count: int = 0  # acknowledgements so far

    def sent(self, key: str) -> None:
        self.keys.setdefault(key, KeyHistory()).in_flight = True

    def acknowledged(self, key: str, revision: int, *, deleted: bool = False) -> None:
        history = self.keys.setdefault(key, KeyHistory())
        history.acknowledged, history.deleted, history.in_flight = revision, deleted, False
        self.count += 1

    def settle(self, stored: dict[str, int]) -> None:
        """After a check: whatever was in flight is settled now, one way or the other."""
        for key, history in self.keys.items():
            if history.in_flight:
                history.in_flight = False
                if key in stored:
                    history.acknowledged, history.deleted = stored[key], False
                elif history.acknowledged:
                    history.deleted = True

    @property
    def highest(self) -> int:
        return max((h.acknowledged for h in self.keys.values()), default=0)

    def problems(self, stored: dict[str, int]) -> list[str]:
        """Acknowledged writes that ``stored`` (key -> resourceVersion) contradicts.

        A stored version newer than the acknowledged one is only allowed when a later write
        was in flight at the crash: it may have committed without its answer arriving.
        """
        found = []
        for key, history in self.keys.items():
            if history.acknowledged == 0:
                continue  # never acknowledged: anything goes
            revision = stored.get(key)
            if history.deleted:
                if revision is not None and not history.in_flight:
                    found.append(f"{key}: deleted at {history.acknowledged}, still there")
            elif revision is None:
                if not history.in_flight:
                    found.append(f"{key}: acknowledged at {history.acknowledged}, lost")
            elif revision < history.acknowledged:
                found.append(f"{key}: acknowledged at {history.acknowledged}, stored {revision}")
            elif revision > history.acknowledged and not history.in_flight:
                found.append(f"{key}: stored {revision}, newer than any write that was sent")
        return found


@dataclass
class StreamLog:
    """The revisions one watcher saw, across all its reconnections."""

    revisions: list[int] = field(default_factory=list)

    def problems(self, final: int) -> list[str]:
        """Against a history where every revision 1..final is one change to a watched object:
        each must arrive exactly once, in order."""
        if final == 0 and not self.revisions:
            return []  # nothing happened, nothing seen
        found = []
        for before, after in zip(self.revisions, self.revisions[1:], strict=False):
            if after <= before:
                found.append(f"revision {after} after {before}: out of order or repeated")
            elif after != before + 1:
                found.append(f"revisions {before + 1}..{after - 1} missing")
        if self.revisions and self.revisions[0] != 1:
            found.append(f"the stream starts at {self.revisions[0]}, not 1")
        if not self.revisions or self.revisions[-1] != final:
            last = self.revisions[-1] if self.revisions else None
            found.append(f"the stream ends at {last}, the registry at {final}")
        return found
