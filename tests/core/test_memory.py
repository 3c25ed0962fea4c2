"""The collector policy of a serving process: every process run by ``serving.run`` (the
registry, the agents, the gateway) collects with the server thresholds, not Python's."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from mesh_registry.memory import THRESHOLDS
from mesh_registry.serving import run


@pytest.fixture
def thresholds_restored() -> Iterator[None]:
    previous = gc.get_threshold()
    yield
    gc.set_threshold(*previous)


async def thresholds_seen_by_main() -> tuple[int, ...]:
    return gc.get_threshold()


@pytest.mark.usefixtures("thresholds_restored")
def test_a_served_process_collects_with_the_server_thresholds() -> None:
    gc.set_threshold(700, 10, 10)  # Python's defaults
    assert run(thresholds_seen_by_main()) == THRESHOLDS
