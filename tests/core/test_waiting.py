"""``wait_set`` and ``within``: done, timed out, and cancelled, including a cancel that arrives
as what they wait for completes (which ``asyncio.wait_for`` drops on Python 3.11)."""

from __future__ import annotations

import asyncio

import pytest

from mesh_registry.waiting import wait_set, within


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


async def test_within_gives_the_result_in_time() -> None:
    assert await within(asyncio.sleep(0, result="done"), 10) == "done"


async def test_within_times_out_and_cancels_what_it_waited_for() -> None:
    slow = asyncio.get_running_loop().create_future()
    with pytest.raises(TimeoutError):
        await within(slow, 0.01)
    assert slow.cancelled()


async def _calls_until_cancelled(answers: list[asyncio.Future[int]]) -> int:
    calls = 0
    for answer in answers:  # like a probe loop: it ends only by cancellation
        calls += 1
        await within(answer, 10)
    return calls


async def test_a_cancel_as_the_answer_comes_is_not_lost() -> None:
    loop = asyncio.get_running_loop()
    answers = [loop.create_future() for _ in range(5)]
    calls = asyncio.create_task(_calls_until_cancelled(answers))
    await asyncio.sleep(0)  # parked on the first answer
    answers[0].set_result(1)
    calls.cancel()  # before the loop resumes with the answer
    with pytest.raises(asyncio.CancelledError):
        await calls
