"""``mcp-mesh-registry``: run the registry on its embedded SQLite store."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import FrameType

import uvicorn

from mesh_registry.app import create_app
from mesh_registry.config import RegistryConfig
from mesh_registry.errors import Unavailable
from mesh_registry.service import Registry

log = logging.getLogger("mesh_registry")


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="mcp-mesh-registry", description="A passive, heartbeat-based registry for MCP agents."
    )
    parser.add_argument("--host", default=env("MESH_REGISTRY_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(env("MESH_REGISTRY_PORT", "8000")))
    parser.add_argument(
        "--db",
        default=env("MESH_REGISTRY_DB", "mesh-registry.db"),
        help="SQLite database file, or :memory: (default: ./mesh-registry.db)",
    )
    parser.add_argument(
        "--log-level",
        default=env("MESH_REGISTRY_LOG_LEVEL", "info"),
        choices=["debug", "info", "warning", "error"],
    )
    return parser


async def serve(config: RegistryConfig, host: str, port: int, log_level: str) -> int:
    registry = Registry(config)
    try:
        await registry.start()
    except Unavailable as error:
        print(f"mcp-mesh-registry: {error}", file=sys.stderr)
        return 1
    # The loaded records live as long as the process: keep the cyclic collector from rescanning
    # them on every full collection (a pause that grows with the number of agents).
    gc.freeze()
    server = uvicorn.Server(
        uvicorn.Config(create_app(registry), host=host, port=port, log_level=log_level)
    )
    try:
        with _signals_end_the_serve_loop():
            await server.serve()
    finally:
        await registry.stop()
    return 0 if server.started else 1


@contextmanager
def _signals_end_the_serve_loop() -> Iterator[None]:
    """Exit 0 on SIGTERM/SIGINT after a graceful shutdown.

    uvicorn handles the signal (stops serving, drains requests), then restores the previous
    handlers and raises the signal again. With the default handlers in place that would kill the
    process before the registry checkpoints its leases, so these no-op handlers take that role.
    """
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ignore(signum: int, frame: FrameType | None) -> None:
    log.debug("%s handled: the registry is shutting down", signal.Signals(signum).name)


def tune_garbage_collector() -> None:
    """Collect less often than Python's defaults, which suit small heaps.

    The registry holds every record in memory (tens of objects per agent), and its requests
    allocate many short-lived objects: with the default thresholds the collector runs, and
    rescans the long-lived heap, far more often than there is garbage to find.
    """
    gc.set_threshold(50_000, 20, 100)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    tune_garbage_collector()
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    return asyncio.run(
        serve(RegistryConfig(database=args.db), args.host, args.port, args.log_level)
    )


if __name__ == "__main__":
    sys.exit(main())
