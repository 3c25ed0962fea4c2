"""Waiting for an event with a time limit, without losing a cancellation."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_set(event: asyncio.Event, seconds: float) -> bool:
    """Wait up to ``seconds`` for ``event``; return whether it is set.

    Not ``asyncio.wait_for``: on Python 3.11 it drops a cancellation that arrives just as the
    event is set (it returns instead), so a task that loops around it can outlive its own
    cancel, and whoever awaits that task waits for ever. ``asyncio.timeout`` keeps it.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()
    return event.is_set()
