"""The in-process benchmark (``bench/registry_core.py``) drives the registry through its public
API: each of its measurements, at a size of a few agents, so that a change of that API cannot
leave ``make bench`` broken until someone runs it."""

from __future__ import annotations

from pathlib import Path

from bench.registry_core import (
    discovery_latency,
    heartbeats_per_second,
    populate,
    registration_throughput,
)
from mesh_registry.config import RegistryConfig
from mesh_registry.service import Registry


async def test_each_measurement_runs_on_a_small_registry(tmp_path: Path) -> None:
    config = RegistryConfig(database=str(tmp_path / "small.db"), synchronous="normal")
    async with Registry(config) as registry:
        await populate(registry, 60)
        assert registry.stats().agents == 60
        beats = await heartbeats_per_second(registry, 60, seconds=0.05)
        assert beats["heartbeats"] >= 60
        assert beats["commits_during"] == 0
        discovery = await discovery_latency(registry, 3)
        assert discovery["samples"] == 3
        assert isinstance(discovery["matches"], int)
    registration = await registration_throughput(tmp_path, 20)
    assert registration["registrations"] == 20
    assert registration["one_commit_per_write_transactions"] == 20
