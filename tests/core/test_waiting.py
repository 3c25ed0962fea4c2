"""``wait_set``: set, timed out, and cancelled, including a cancel that arrives as the event
is set (which ``asyncio.wait_for`` drops on Python 3.11)."""

from __future__ import annotations

import asyncio

import pytest

from mesh_registry.waiting import wait_set


async def test_returns_true_at_once_when_already_set() -> None:
    event = asyncio.Event()
    event.set()
    assert await wait_set(event, 10) is True


async def test_returns_true_when_set_while_waiting() -> None:
    event = asyncio.Event()
    waiting = asyncio.create_task(wait_set(event, 10))
    await asyncio.sleep(0)
    event.set()
    assert await waiting is True


@pytest.mark.parametrize("seconds", [0, -1, 0.01])
async def test_returns_false_when_the_time_runs_out(seconds: float) -> None:
    assert await wait_set(asyncio.Event(), seconds) is False


async def test_a_cancel_while_waiting_cancels() -> None:
    waiting = asyncio.create_task(wait_set(asyncio.Event(), 10))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting


async def _loop_until_cancelled(event: asyncio.Event) -> int:
    rounds = 0
    while rounds < 5:  # a loop like a change feed's: it ends only by cancellation
        rounds += 1
        await wait_set(event, 10)
        event.clear()
    return rounds


async def test_a_cancel_as_the_event_is_set_is_not_lost() -> None:
    event = asyncio.Event()
    loop = asyncio.create_task(_loop_until_cancelled(event))
    await asyncio.sleep(0)  # parked in the wait
    event.set()
    await asyncio.sleep(0)  # the event's waiter has finished; the loop has not resumed yet
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop
