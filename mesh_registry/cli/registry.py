"""``mcp-mesh-registry``: serve the registry (REST, SSE watches, MCP) on one port.

Every option can also be set with an environment variable: ``MESH_REGISTRY_`` and the option's
name in capitals, e.g. ``MESH_REGISTRY_DB=/var/lib/mesh/registry.db``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import signal
import socket
import ssl
import sys
from types import FrameType
from typing import Any

import click
import uvicorn

from mesh_registry.auth import Authenticator
from mesh_registry.config import RegistryConfig
from mesh_registry.errors import Unavailable
from mesh_registry.health import HealthPolicy
from mesh_registry.http_guard import HttpLimits
from mesh_registry.logs import adopt_library_loggers, configure
from mesh_registry.memory import configure_collector, freeze_loaded_heap
from mesh_registry.server.ratelimit import RateLimit
from mesh_registry.server.settings import ServerSettings
from mesh_registry.service import Registry
from mesh_registry.serving import listen, run, server_config, signals_end_the_serve_loop
from mesh_registry.store import Retention

log = logging.getLogger("mesh_registry")


class _Seconds(click.ParamType):  # type: ignore[type-arg]
    """A number of seconds, or 'never'."""

    name = "seconds|never"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if value is None or isinstance(value, float):
            return value
        if str(value).lower() == "never":
            return None
        try:
            return float(value)
        except ValueError:
            self.fail(f"{value!r} is neither a number of seconds nor 'never'", param, ctx)


@click.command(context_settings={"auto_envvar_prefix": "MESH_REGISTRY", "show_default": True})
@click.option("--host", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", default=8000, type=click.IntRange(0, 65535), help="Port; 0 picks one.")
@click.option("--db", default="mesh-registry.db", help="SQLite database file, or :memory:.")
@click.option(
    "--sync",
    type=click.Choice(["full", "normal"]),
    default="full",
    help="SQLite durability: full survives power loss, normal a crash of the process.",
)
@click.option("--unhealthy-after", type=float, default=2.5, help="Heartbeat intervals.")
@click.option("--offline-after", type=float, default=5.0, help="Heartbeat intervals.")
@click.option(
    "--delete-after", type=_Seconds(), default="3600", help="Seconds offline before deletion."
)
@click.option("--startup-grace/--no-startup-grace", default=True)
@click.option("--self-preservation/--no-self-preservation", default=True)
@click.option("--self-preservation-threshold", type=float, default=0.5)
@click.option("--self-preservation-min-agents", type=int, default=10)
@click.option("--history-max-age", type=float, default=3600.0, help="Seconds of watch history.")
@click.option("--history-max-events", type=int, default=100_000, help="Events of watch history.")
@click.option("--compaction-interval", type=float, default=60.0, help="Seconds.")
@click.option("--lease-checkpoint-interval", type=float, default=5.0, help="Seconds.")
@click.option("--bookmark-interval", type=float, default=10.0, help="Idle seconds.")
@click.option("--watch-keepalive", type=float, default=15.0, help="Seconds between pings.")
@click.option("--watch-queue-limit", type=int, default=10_000, help="Events per watcher.")
@click.option(
    "--watch-send-timeout",
    type=float,
    default=30.0,
    help="Seconds a watcher's socket may take no data before the watch is closed.",
)
@click.option("--max-body-size", type=int, default=1024 * 1024, help="Bytes.")
@click.option(
    "--max-header-bytes",
    type=click.IntRange(min=1024),
    default=64 * 1024,
    help="Bytes of a request's URL and headers; 431 beyond.",
)
@click.option(
    "--request-head-timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    help="Seconds for a request's head to arrive; 408 and closed beyond.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(min=1),
    default=1000,
    help="Open connections (watches count); beyond, 503 and closed.",
)
@click.option("--metrics/--no-metrics", default=True, help="Serve /metrics.")
@click.option(
    "--tokens-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Bearer tokens (YAML or JSON): authentication and authorization on. SIGHUP reloads it.",
)
@click.option(
    "--insecure",
    is_flag=True,
    default=False,
    help="Allow a non-loopback address without --tokens-file: anyone who reaches it can write.",
)
@click.option(
    "--protect-metrics/--no-protect-metrics",
    default=False,
    help="With tokens, /metrics needs one too.",
)
@click.option(
    "--rate-limit",
    default=None,
    help="Requests per subject (or client address), e.g. 100/second; 429 beyond it.",
)
@click.option(
    "--max-watches-per-subject", type=click.IntRange(min=1), default=None, help="Open watches."
)
@click.option("--ssl-certfile", type=click.Path(dir_okay=False), default=None, help="TLS: PEM.")
@click.option("--ssl-keyfile", type=click.Path(dir_okay=False), default=None, help="TLS: key.")
@click.option(
    "--ssl-ca-certs",
    type=click.Path(dir_okay=False),
    default=None,
    help="TLS: require client certificates signed by these CAs (mutual TLS).",
)
@click.option("--access-log/--no-access-log", default=False, help="Log every request.")
@click.option(
    "--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info"
)
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text")
def main(**options: Any) -> None:
    """Serve the mcp-mesh registry: REST, SSE watches and MCP on one port."""
    configure(options["log_level"], options["log_format"])
    try:
        config, settings = _settings(options)
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    try:
        authenticator = _authenticator(options)
    except ValueError as error:
        click.echo(f"mcp-mesh-registry: {error}", err=True)
        sys.exit(1)
    configure_collector()
    try:
        listener = listen(options["host"], options["port"])
    except OSError as error:
        click.echo(
            f"mcp-mesh-registry: cannot listen on {options['host']}:{options['port']}:"
            f" {error.strerror or error}",
            err=True,
        )
        sys.exit(1)
    sys.exit(run(_serve(listener, config, settings, authenticator, options)))


def _authenticator(options: dict[str, Any]) -> Authenticator | None:
    """The tokens, if configured; refuse to serve a network without them unless told to."""
    if options["tokens_file"]:
        return Authenticator(options["tokens_file"])
    if not is_loopback(options["host"]):
        if not options["insecure"]:
            raise ValueError(
                f"refusing to listen on {options['host']} without authentication: anyone who"
                " reaches it could register, replace or delete agents. Give --tokens-file, or"
                " --insecure to accept that."
            )
        log.warning(
            "listening on %s with no authentication (--insecure): anyone who reaches this"
            " port can register, replace or delete agents",
            options["host"],
        )
    return None


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) reaches this machine only."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(info[4][0]).is_loopback for info in found)


def _settings(options: dict[str, Any]) -> tuple[RegistryConfig, ServerSettings]:
    health = HealthPolicy(
        unhealthy_after=options["unhealthy_after"],
        offline_after=options["offline_after"],
        delete_after=options["delete_after"],
        startup_grace=options["startup_grace"],
        self_preservation=options["self_preservation"],
        self_preservation_threshold=options["self_preservation_threshold"],
        self_preservation_min_agents=options["self_preservation_min_agents"],
    )
    config = RegistryConfig(
        database=options["db"],
        synchronous=options["sync"],
        health=health,
        retention=Retention(options["history_max_age"], options["history_max_events"]),
        compaction_interval=options["compaction_interval"],
        lease_checkpoint_interval=options["lease_checkpoint_interval"],
        bookmark_interval=options["bookmark_interval"],
        watch_queue_limit=options["watch_queue_limit"],
    )
    settings = ServerSettings(
        max_body_size=options["max_body_size"],
        watch_keepalive=options["watch_keepalive"],
        watch_send_timeout=options["watch_send_timeout"],
        metrics=options["metrics"],
        protect_metrics=options["protect_metrics"],
        rate_limit=options["rate_limit"] or None,
        watches_per_subject=options["max_watches_per_subject"],
    )
    if bool(options["ssl_certfile"]) != bool(options["ssl_keyfile"]):
        raise ValueError("--ssl-certfile and --ssl-keyfile go together")
    if options["ssl_ca_certs"] and not options["ssl_certfile"]:
        raise ValueError("--ssl-ca-certs needs --ssl-certfile and --ssl-keyfile")
    if settings.rate_limit:
        RateLimit(settings.rate_limit)  # a bad value is a usage error, before anything starts
    return config, settings


async def _serve(
    listener: socket.socket,
    config: RegistryConfig,
    settings: ServerSettings,
    authenticator: Authenticator | None,
    options: dict[str, Any],
) -> int:
    # Imported here: FastMCP takes a second to import, and --help or a bad option need none of it.
    from mesh_registry.server.app import create_app

    adopt_library_loggers()  # FastMCP set up a handler of its own as it was imported

    registry = Registry(config)
    try:
        await registry.start()
    except Unavailable as error:
        click.echo(f"mcp-mesh-registry: {error}", err=True)
        listener.close()
        return 1
    except Exception as error:  # one line and exit 1, never a hang at start
        log.exception("the registry could not start")
        click.echo(f"mcp-mesh-registry: cannot start: {type(error).__name__}: {error}", err=True)
        listener.close()
        return 1
    freeze_loaded_heap()
    host, port = listener.getsockname()[:2]
    tls = options["ssl_certfile"] is not None
    try:
        uvicorn_config = server_config(
            create_app(registry, settings, authenticator),
            HttpLimits(
                max_head_bytes=options["max_header_bytes"],
                head_timeout=options["request_head_timeout"],
                max_connections=options["max_connections"],
            ),
            access_log=options["access_log"],
            timeout_graceful_shutdown=15,
            ssl_certfile=options["ssl_certfile"],
            ssl_keyfile=options["ssl_keyfile"],
            ssl_ca_certs=options["ssl_ca_certs"],
            ssl_cert_reqs=ssl.CERT_REQUIRED if options["ssl_ca_certs"] else ssl.CERT_NONE,
        )
        uvicorn_config.load()  # reads the certificates: a bad one is one line, not a traceback
    except (OSError, ssl.SSLError) as error:
        click.echo(f"mcp-mesh-registry: TLS: {error}", err=True)
        listener.close()
        await registry.stop()
        return 1
    server = _Server(uvicorn_config, registry)
    log.info(
        "serving on %s://%s:%d (database %s, %s)",
        "https" if tls else "http",
        host,
        port,
        config.database,
        f"tokens from {authenticator.path}" if authenticator else "no authentication",
    )
    loop = asyncio.get_running_loop()
    if authenticator is not None:
        loop.add_signal_handler(signal.SIGHUP, authenticator.reload)
    try:
        with signals_end_the_serve_loop():
            await server.serve(sockets=[listener])
    finally:
        if authenticator is not None:
            loop.remove_signal_handler(signal.SIGHUP)
        await registry.stop()
    return 0 if server.started else 1


class _Server(uvicorn.Server):
    """uvicorn, which also tells the registry the moment a shutdown begins."""

    def __init__(self, config: uvicorn.Config, registry: Registry) -> None:
        super().__init__(config)
        self._registry = registry
        self._loop = asyncio.get_running_loop()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        # A signal handler runs between two bytecodes of the loop's own thread: hand over.
        self._loop.call_soon_threadsafe(self._registry.begin_shutdown)
