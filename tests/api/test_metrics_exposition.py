"""The request metrics, counted in plain integers, expose exactly what prometheus_client's own
Counter and Histogram expose for the same requests (the time each series started aside)."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from mesh_registry.server.metrics import _LATENCY_BUCKETS, Metrics
from mesh_registry.service import Registry

ROUTE = "/api/v1/namespaces/{namespace}/agents/{name}/heartbeat"

# (method, route, status, seconds or None for a stream): every bound, just either side of it,
# zero, beyond the last bound, and a stream (counted, not timed).
REQUESTS = [
    *(("POST", ROUTE, 200, bound) for bound in _LATENCY_BUCKETS),
    *(("POST", ROUTE, 200, bound * 0.999) for bound in _LATENCY_BUCKETS),
    *(("POST", ROUTE, 404, bound * 1.001) for bound in _LATENCY_BUCKETS),
    ("POST", ROUTE, 200, 0.0),
    ("POST", ROUTE, 200, 60.0),
    ("POST", "<unmatched>", 401, 0.0002),
    ("GET", "/api/v1/agents", 200, None),
    ("GET", "/api/v1/agents", 200, None),
    ("GET", "/api/v1/agents", 500, 0.003),
]


def reference(requests: list[tuple[str, str, int, float | None]]) -> str:
    collectors = CollectorRegistry()
    counted = Counter(
        "mesh_http_requests_total",
        "HTTP requests, by method, route and status code.",
        ["method", "route", "code"],
        registry=collectors,
    )
    timed = Histogram(
        "mesh_http_request_duration_seconds",
        "Time to answer an HTTP request (watch streams excluded), by method and route.",
        ["method", "route"],
        buckets=_LATENCY_BUCKETS,
        registry=collectors,
    )
    for method, route, status, seconds in requests:
        counted.labels(method, route, str(status)).inc()
        if seconds is not None:
            timed.labels(method, route).observe(seconds)
    return generate_latest(collectors).decode()


def samples(exposition: str) -> list[tuple[str, dict[str, str], float]]:
    """Every sample but the start times, in order; families by name."""
    families = sorted(text_string_to_metric_families(exposition), key=lambda f: f.name)
    return [
        (sample.name, sample.labels, sample.value)
        for family in families
        if family.name.startswith("mesh_http_")
        for sample in family.samples
        if not sample.name.endswith("_created")
    ]


@pytest.mark.parametrize("count", [0, 1, len(REQUESTS)])
async def test_the_exposition_is_prometheus_clients(service: Registry, count: int) -> None:
    metrics = Metrics(service)
    for method, route, status, seconds in REQUESTS[:count]:
        metrics.requests.observe(method, route, status, seconds)
    ours = generate_latest(metrics.collectors).decode()
    theirs = reference(REQUESTS[:count])
    assert samples(ours) == samples(theirs)
    created = [line.split(" ")[0] for line in ours.splitlines() if "_created{" in line]
    assert created == [line.split(" ")[0] for line in theirs.splitlines() if "_created{" in line]
