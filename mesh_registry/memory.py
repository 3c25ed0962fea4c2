"""The garbage-collector policy of a registry process, in one place.

The registry holds every record in memory (tens of objects per agent) and makes little cyclic
garbage; its requests allocate many short-lived objects. With Python's default thresholds
(700, 10, 10) the objects of requests in flight outlive young collections and keep triggering
full ones, each rescanning every record and finding nothing to free (measured: 37 full
collections, 26 s, while 60k agents registered; a pause of a second at 100k). So:

- :func:`configure_collector` raises the thresholds, at the start of a process that serves;
- :func:`collector_paused` holds the collector while a large load creates long-lived objects;
- :func:`freeze_loaded_heap` moves what was loaded out of the collector's sight for good.

The registry process and the benchmarks call the same functions, so that what is measured is
what runs.
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


def freeze_loaded_heap() -> None:
    """The loaded records live as long as the process: never rescan them."""
    gc.freeze()
