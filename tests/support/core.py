"""The in-process registry's test settings: an in-memory store and a manual clock."""

from __future__ import annotations

from dataclasses import replace

from mesh_registry.config import RegistryConfig
from mesh_registry.health import HealthPolicy

START = 1_800_000_000.0


def core_config() -> RegistryConfig:
    return RegistryConfig(
        database=":memory:",
        health=HealthPolicy(delete_after=30.0),
        bookmark_interval=60.0,
        lease_checkpoint_interval=3600.0,
        compaction_interval=3600.0,
    )


def with_health(config: RegistryConfig, **policy: object) -> RegistryConfig:
    return replace(config, health=replace(config.health, **policy))
