"""The in-process benchmark (``bench/registry_core.py``) drives the registry through its public
API: each of its measurements, at a size of a few agents, so that a change of that API cannot
leave ``make bench`` broken until someone runs it. And a CPU figure net of a baseline is
printed only when it stands above the noise."""

from __future__ import annotations

import importlib
import os
from pathlib import Path

import pytest

import bench.common
import bench.registry_core
from bench.common import cpu_share
from bench.registry_core import (
    discovery_latency,
    heartbeats_per_second,
    populate,
    registration_throughput,
)
from mesh_registry.config import RegistryConfig
from mesh_registry.service import Registry


def test_importing_the_benchmarks_leaves_the_suite_as_it_was(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Imported here, they must not switch the suite's fork server off (a benchmark does that
    when it runs, in its own process): that once doubled the suite's time."""
    monkeypatch.delenv("MESH_TEST_FORKSERVER", raising=False)
    importlib.reload(bench.common)
    importlib.reload(bench.registry_core)
    assert "MESH_TEST_FORKSERVER" not in os.environ


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


@pytest.mark.parametrize(
    ("cpu_s", "baseline_s", "units", "us"),
    [
        (1.5, (0.2, 0.21), 100_000, (1.5 - 0.205) / 100_000 * 1e6),
        (0.16, (0.11, 0.11), 50, None),  # 50 ms net: within twice the CPU clock's noise
        (0.3, (0.1, 0.2), 10, None),  # the baseline moved by 100 ms between its two runs
        (0.5, (0.1, 0.2), 10, (0.5 - 0.15) / 10 * 1e6),
        (0.05, (0.1, 0.1), 10, None),  # less than the baseline
    ],
)
def test_a_cpu_figure_is_printed_only_above_its_noise(
    cpu_s: float, baseline_s: tuple[float, float], units: int, us: float | None
) -> None:
    share = cpu_share(cpu_s, baseline_s, units, "event")
    if us is None:
        assert share["us"] is None
        assert "noise" in share["why"]
    else:
        assert share["us"] == pytest.approx(us)
