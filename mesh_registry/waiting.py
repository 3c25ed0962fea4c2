"""Waiting with a time limit, without losing a cancellation.

Not ``asyncio.wait_for``: on Python 3.11 it drops a cancellation that arrives just as what it
awaits completes (it returns the result instead of raising), so a task that loops around it can
outlive its own cancel, and whoever awaits that task waits for ever. ``asyncio.timeout`` keeps
the cancellation.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; return whether it is set."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()


async def within(awaitable: Awaitable[T], seconds: float) -> T:
    """What ``awaitable`` gives, if it does within ``seconds``; ``TimeoutError`` if not (and
    then it is cancelled)."""
    async with asyncio.timeout(seconds):
        return await awaitable
