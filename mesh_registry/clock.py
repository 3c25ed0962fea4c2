"""Time, injectable: the system clock in production, a manual clock in tests.

Health deadlines are wall-clock times (seconds since the epoch) because leases are checkpointed
to disk and must mean the same thing after a restart. Timers fire at a deadline, not on a tick.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Timer(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the epoch."""
        ...

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        """Run ``callback`` (in the event loop) once ``now() >= when``."""
        ...


class SystemClock:
    """The real clock; timers run on the running asyncio loop."""

    def now(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return _SystemTimer(when, callback)


class _SystemTimer:
    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._when = when
        self._callback = callback
        self._handle = self._arm()

    def _arm(self) -> asyncio.TimerHandle:
        return self._loop.call_later(max(0.0, self._when - time.time()), self._fire)

    def _fire(self) -> None:
        # The loop's timers are monotonic; if the wall clock was set back, wait out the rest.
        if time.time() < self._when:
            self._handle = self._arm()
            return
        self._callback()

    def cancel(self) -> None:
        self._handle.cancel()


class ManualClock:
    """A clock that moves only when told to; due timers run inside :meth:`advance`.

    Each timer runs with ``now()`` equal to its own deadline, so code under test sees time
    exactly as a real clock would show it at that instant.
    """

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._now = start
        self._timers: list[tuple[float, int, _ManualTimer]] = []
        self._sequence = itertools.count()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        timer = _ManualTimer(callback)
        heapq.heappush(self._timers, (when, next(self._sequence), timer))
        return timer

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, running every timer that falls due on the way."""
        if seconds < 0:
            raise ValueError("time only moves forward")
        target = self._now + seconds
        while self._timers and self._timers[0][0] <= target:
            when, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, when)
            if not timer.cancelled:
                timer.callback()
        self._now = target

    def advance_to(self, when: float) -> None:
        self.advance(max(0.0, when - self._now))

    @property
    def pending_timers(self) -> int:
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)


class _ManualTimer:
    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True
