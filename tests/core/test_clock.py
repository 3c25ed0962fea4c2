"""The manual clock that tests drive time with."""

from __future__ import annotations

import pytest

from mesh_registry.clock import ManualClock


def test_timers_fire_in_order_at_their_own_time() -> None:
    clock = ManualClock(start=100.0)
    fired: list[tuple[str, float]] = []
    clock.call_at(103.0, lambda: fired.append(("b", clock.now())))
    clock.call_at(101.5, lambda: fired.append(("a", clock.now())))
    clock.call_at(110.0, lambda: fired.append(("late", clock.now())))
    clock.advance(5)
    assert fired == [("a", 101.5), ("b", 103.0)]
    assert clock.now() == 105.0
    assert clock.pending_timers == 1


def test_timer_due_exactly_now_fires_and_cancelled_does_not() -> None:
    clock = ManualClock(start=0.0)
    fired: list[str] = []
    clock.call_at(1.0, lambda: fired.append("due"))
    clock.call_at(1.0, lambda: fired.append("cancelled")).cancel()
    clock.advance(0.999)
    assert fired == []
    clock.advance(0.001)
    assert fired == ["due"]


def test_timers_set_by_timers_fire_in_the_same_advance() -> None:
    clock = ManualClock(start=0.0)
    fired: list[float] = []
    clock.call_at(1.0, lambda: clock.call_at(2.0, lambda: fired.append(clock.now())))
    clock.advance_to(3.0)
    assert fired == [2.0]


def test_time_does_not_go_back() -> None:
    with pytest.raises(ValueError):
        ManualClock().advance(-1)
