"""Running an ASGI app the way every mcp-mesh process does: the registry and the agents.

Bind the socket first (a taken port is one clear line, and port 0 reveals the real port before
anything registers it), bound what each connection may hold (``http_guard``), run on uvloop
where installed with the collector policy of a server (``memory``), and exit 0 after a SIGTERM
or SIGINT.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import socket
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any, TypeVar

import uvicorn

from mesh_registry.http_guard import HttpLimits, guarded_protocol
from mesh_registry.memory import configure_collector

log = logging.getLogger(__name__)
T = TypeVar("T")


def listen(host: str, port: int) -> socket.socket:
    """A bound TCP socket, for uvicorn's ``sockets=``; raise ``OSError`` when it cannot bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY only on connections of such a socket,
    # and without it every small response waits ~40 ms for a delayed ACK (Nagle).
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    return listener


def server_config(app: Any, limits: HttpLimits | None = None, **options: Any) -> uvicorn.Config:
    """uvicorn's configuration for ``app``, its connections bounded by ``limits``."""
    bounded = (limits or HttpLimits()).bounded_by_descriptors()
    return uvicorn.Config(app, http=guarded_protocol(bounded), log_config=None, **options)


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` on uvloop where it is installed (a faster event loop), else on asyncio's,
    with the garbage collector set for a server."""
    configure_collector()
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


@contextmanager
def signals_end_the_serve_loop() -> Iterator[None]:
    """Exit 0 on SIGTERM/SIGINT after a graceful shutdown.

    uvicorn handles the signal (stops serving, drains requests), then restores the previous
    handlers and raises the signal again. With the default handlers in place that would kill the
    process before it finishes its own shutdown, so these no-op handlers take that role.
    """
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:
    log.debug("%s handled: shutting down", signal.Signals(signum).name)
