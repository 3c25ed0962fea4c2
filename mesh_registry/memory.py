"""The garbage-collector policy of every mcp-mesh server process, in one place.

The registry holds every record in memory (tens of objects per agent) and makes little cyclic
garbage; its requests allocate many short-lived objects. With Python's default thresholds
(700, 10, 10) the objects of requests in flight outlive young collections and keep triggering
full ones, each rescanning every record and finding nothing to free (measured: 37 full
collections, 26 s, while 60k agents registered; a pause of a second at 100k). An agent is the
same on a smaller scale: what FastMCP, pydantic and the tools' schemas leave after starting is
about 140k objects, and a tool call allocates enough to set off a full collection of them every
few hundred calls (measured under 16 calls in flight: 25 full collections of 90 ms each in 12 s,
a fifth of the process's time). So:

- :func:`configure_collector` raises the thresholds, at the start of a process that serves
  (``serving.run`` does it for the registry, the agents and the gateway);
- :func:`collector_paused` holds the collector while a large load creates long-lived objects;
- :func:`freeze_heap` moves what was loaded or built at start out of the collector's sight for
  good, once the registry has loaded its records or an agent or the gateway has built its app.

The processes and the benchmarks call the same functions, so that what is measured is what runs.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THRESHOLDS = (10_000, 20, 100)


def configure_collector() -> None:
    """Collect far less often than Python's defaults (which suit small heaps)."""
    gc.set_threshold(*THRESHOLDS)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Loading creates many long-lived objects and no garbage: without the cyclic collector
    rescanning the growing heap, a large load is several times faster."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def freeze_heap() -> None:
    """What exists now lives as long as the process (a registry's loaded records; an agent's
    modules, app and tools' schemas): never rescan it. The little garbage among it (a few
    hundred objects when an agent starts) stays: collecting it first would cost 60 ms."""
    gc.freeze()
