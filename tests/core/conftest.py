"""A registry on an in-memory store, with a manual clock the tests drive."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from mesh_registry.clock import ManualClock
from mesh_registry.config import RegistryConfig
from mesh_registry.health import HealthPolicy
from mesh_registry.service import Registry

START = 1_800_000_000.0


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=START)


@pytest.fixture
def config() -> RegistryConfig:
    return RegistryConfig(
        database=":memory:",
        health=HealthPolicy(delete_after=30.0),
        bookmark_interval=60.0,
        lease_checkpoint_interval=3600.0,
        compaction_interval=3600.0,
    )


@pytest.fixture
async def registry(config: RegistryConfig, clock: ManualClock) -> AsyncIterator[Registry]:
    async with Registry(config, clock=clock) as reg:
        yield reg


def with_health(config: RegistryConfig, **policy: object) -> RegistryConfig:
    return replace(config, health=replace(config.health, **policy))
