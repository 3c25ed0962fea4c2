"""Prometheus metrics: HTTP requests, and the registry's own figures read at scrape time."""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterable
from itertools import accumulate

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mesh_registry.service import Registry
from mesh_registry.store.base import BATCH_BUCKETS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
UNMATCHED = "<unmatched>"  # the route label of a request refused before routing
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)
_LATENCY_HELP = "Time to answer an HTTP request (watch streams excluded), by method and route."
_BUCKET_LABELS = (*map(floatToGoString, _LATENCY_BUCKETS), "+Inf")  # as prometheus_client's


class Metrics:
    """One set of metrics per app, in its own collector registry (several apps can coexist)."""

    def __init__(self, registry: Registry) -> None:
        self.collectors = CollectorRegistry()
        self.requests = RequestCounts()
        self.collectors.register(self.requests)
        self.collectors.register(_RegistryCollector(registry))

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.collectors), media_type=CONTENT_TYPE)

    def middleware(self, app: ASGIApp) -> ASGIApp:
        return _RequestMetrics(app, self)


class _RequestMetrics:
    """Pure ASGI, so that streaming responses (watches) pass through untouched."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        streaming = False

        async def observe(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = dict(message.get("headers", []))
                streaming = headers.get(b"content-type", b"").startswith(b"text/event-stream")
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            route = getattr(scope.get("route"), "path", UNMATCHED)
            seconds = None if streaming else time.perf_counter() - started
            self.metrics.requests.observe(scope["method"], route, status, seconds)


class RequestCounts(Collector):
    """HTTP requests, counted in plain integers and turned into Prometheus families when
    scraped. Every request is counted, heartbeats included: prometheus_client's counters and
    histograms take a lock per increment and walk the buckets in Python, which cost a fifth of
    a heartbeat's time in the registry. Requests and scrapes are all on the event loop's
    thread, so nothing here needs a lock."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, str, int], _Count] = {}
        self._timings: dict[tuple[str, str], _Timing] = {}

    def observe(self, method: str, route: str, status: int, seconds: float | None) -> None:
        """Count a request (and its time, unless ``None``: a stream) under its route."""
        count = self._counts.get((method, route, status))
        if count is None:
            count = self._counts[method, route, status] = _Count()
        count.value += 1
        if seconds is not None:
            timing = self._timings.get((method, route))
            if timing is None:
                timing = self._timings[method, route] = _Timing()
            timing.add(seconds)

    def collect(self) -> Iterable[Metric]:
        requests = CounterMetricFamily(
            "mesh_http_requests",
            "HTTP requests, by method, route and status code.",
            labels=["method", "route", "code"],
        )
        for (method, route, status), count in self._counts.items():
            requests.add_metric([method, route, str(status)], count.value, created=count.created)
        yield requests
        latency = HistogramMetricFamily(
            "mesh_http_request_duration_seconds",
            _LATENCY_HELP,
            labels=["method", "route"],
        )
        created = GaugeMetricFamily(  # what prometheus_client writes for a histogram's start
            "mesh_http_request_duration_seconds_created",
            _LATENCY_HELP,
            labels=["method", "route"],
        )
        for (method, route), timing in self._timings.items():
            latency.add_metric([method, route], timing.buckets(), timing.total)
            created.add_metric([method, route], timing.created)
        yield latency
        yield created


class _Count:
    __slots__ = ("created", "value")

    def __init__(self) -> None:
        self.value = 0
        self.created = time.time()


class _Timing:
    """A latency histogram's counts per bucket (not cumulative until scraped) and sum."""

    __slots__ = ("counts", "created", "total")

    def __init__(self) -> None:
        self.counts = [0] * (len(_LATENCY_BUCKETS) + 1)  # the last one: +Inf
        self.total = 0.0
        self.created = time.time()

    def add(self, seconds: float) -> None:
        # Prometheus' buckets hold what is at most their bound: the first bound >= seconds.
        self.counts[bisect_left(_LATENCY_BUCKETS, seconds)] += 1
        self.total += seconds

    def buckets(self) -> list[tuple[str, float]]:
        return list(zip(_BUCKET_LABELS, accumulate(self.counts), strict=True))


class _RegistryCollector(Collector):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def collect(self) -> Iterable[Metric]:
        stats = self._registry.stats()
        agents = GaugeMetricFamily("mesh_agents", "Registered agents, by phase.", labels=["phase"])
        for phase, count in stats.phases.items():
            agents.add_metric([phase.value], count)
        yield agents
        yield CounterMetricFamily("mesh_heartbeats", "Heartbeats received.", value=stats.heartbeats)
        yield GaugeMetricFamily("mesh_watchers", "Open watches.", value=stats.watchers)
        yield CounterMetricFamily(
            "mesh_watch_events", "Events queued for watchers.", value=stats.events_delivered
        )
        yield CounterMetricFamily(
            "mesh_watchers_dropped",
            "Watchers ended because they fell behind or their clients took no data.",
            value=stats.watchers_dropped,
        )
        yield CounterMetricFamily(
            "mesh_changes", "Committed writes (one revision each).", value=stats.store.writes
        )
        yield CounterMetricFamily(
            "mesh_commits", "Transactions committed.", value=stats.store.commits
        )
        yield _batch_histogram(stats.store.batch_counts, stats.store.writes)
        yield CounterMetricFamily(
            "mesh_lease_checkpoints",
            "Heartbeat-time checkpoints written.",
            value=stats.store.lease_checkpoints,
        )
        yield GaugeMetricFamily("mesh_revision", "Current revision.", value=stats.revision)
        yield GaugeMetricFamily(
            "mesh_compacted_revision",
            "History holds every change after this revision.",
            value=stats.compacted_revision,
        )
        yield GaugeMetricFamily(
            "mesh_self_preservation",
            "1 while self-preservation holds offline transitions and deletions.",
            value=int(stats.self_preservation),
        )
        yield GaugeMetricFamily(
            "mesh_ready",
            "1 once the store is open and loaded, while its data is sound and reachable.",
            value=int(self._registry.ready),
        )
        yield GaugeMetricFamily(
            "mesh_leader",
            "1 while this process decides health deadlines (always, alone on SQLite).",
            value=int(stats.leading),
        )
        yield GaugeMetricFamily(
            "mesh_quarantined_records",
            "Stored records set aside at start because they could not be read.",
            value=self._registry.quarantined,
        )


def _batch_histogram(counts: list[int], total: int) -> HistogramMetricFamily:
    cumulative, buckets = 0, []
    for bound, count in zip([*map(str, BATCH_BUCKETS), "+Inf"], counts, strict=True):
        cumulative += count
        buckets.append((bound, cumulative))
    return HistogramMetricFamily(
        "mesh_commit_batch_size",
        "Writes per committed transaction.",
        buckets=buckets,
        sum_value=total,
    )
