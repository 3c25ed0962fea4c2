"""Which registry process decides health: the leader.

A deadline's phase change (or deletion) must be decided and written by one process, or several
replicas of one store would each write it. With one process (SQLite) it leads alone, from the
start. Replicas on PostgreSQL elect one (``store/postgres_leader.py``); each term of leadership
has a number, and every transition the leader writes carries its term as a fence, so that a
leader that was deposed (frozen, cut off) can never write one after another took over.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# Called with the new term when this process starts leading, with None when it stops.
OnChange = Callable[[int | None], None]


class Leadership(Protocol):
    @property
    def term(self) -> int | None:
        """The term while this process leads; ``None`` while another one does."""
        ...

    @property
    def fencing(self) -> bool:
        """Whether the leader's writes must carry its term (other processes share the store)."""
        ...

    async def start(self, on_change: OnChange) -> None:
        """Take part in the election from now on."""
        ...

    async def stop(self) -> None:
        """Stop taking part; a leader gives the role up for another to take at once."""
        ...


class Solo:
    """The only process of its store: it leads from the start, with nothing to fence."""

    term: int | None = None
    fencing = False

    async def start(self, on_change: OnChange) -> None:
        self.term = 0
        on_change(0)

    async def stop(self) -> None:
        self.term = None
