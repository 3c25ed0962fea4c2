"""``mcp-mesh-registry``: serve the registry (REST, SSE watches, MCP) on one port.

Every option can also be set with an environment variable: ``MESH_REGISTRY_`` and the option's
name in capitals, e.g. ``MESH_REGISTRY_DB=/var/lib/mesh/registry.db``. The options are declared
in ``options.py``.
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
from mesh_registry.cli.options import ProcessOptions, RegistrySettings, click_options, settings_from
from mesh_registry.errors import Unavailable
from mesh_registry.logs import adopt_library_loggers, configure
from mesh_registry.memory import freeze_heap
from mesh_registry.server.ratelimit import RateLimit
from mesh_registry.service import Registry
from mesh_registry.serving import listen, run, server_config, signals_end_the_serve_loop
from mesh_registry.store import StoreUnavailable, backup, migrate_schema, redacted

log = logging.getLogger("mesh_registry")


@click.group(invoke_without_command=True, context_settings={"show_default": True})
@click_options
@click.pass_context
def main(context: click.Context, /, **values: Any) -> None:
    """Serve the mcp-mesh registry: REST, SSE watches and MCP on one port (or, with the
    migrate command, only create or upgrade its database's schema; with backup, copy it)."""
    if context.invoked_subcommand is not None:
        context.obj = values
        return
    try:
        settings = _checked(settings_from(values))
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    process = settings.process
    configure(process.log_level, process.log_format)
    try:
        authenticator = _authenticator(process)
    except ValueError as error:
        click.echo(f"mcp-mesh-registry: {error}", err=True)
        sys.exit(1)
    try:
        listener = listen(process.host, process.port)
    except OSError as error:
        click.echo(
            f"mcp-mesh-registry: cannot listen on {process.host}:{process.port}:"
            f" {error.strerror or error}",
            err=True,
        )
        sys.exit(1)
    sys.exit(run(_serve(listener, settings, authenticator)))


# The database of the commands that work on it alone.
database_option = click.option(
    "--db",
    envvar="MESH_REGISTRY_DB",
    default=None,
    help="The database (as the registry's --db); the registry's own --db otherwise.",
)


@main.command()
@database_option
@click.pass_context
def migrate(context: click.Context, db: str | None) -> None:
    """Create or upgrade the database's schema, then exit (a registry does it at start too)."""
    database = db or context.obj["db"]
    configure("info", "text")
    try:
        found, now = run(migrate_schema(database))
    except StoreUnavailable as error:
        click.echo(f"mcp-mesh-registry migrate: {error}", err=True)
        sys.exit(1)
    if found == now:
        click.echo(f"{redacted(database)}: schema version {now}, nothing to do")
    else:
        click.echo(f"{redacted(database)}: schema version {found} -> {now}")


@main.command("backup")
@database_option
@click.argument("destination", type=click.Path(dir_okay=False))
@click.pass_context
def backup_command(context: click.Context, db: str | None, destination: str) -> None:
    """Copy the SQLite database to DESTINATION (a new file), consistently, while a registry
    may be running on it. Restore: stop the registry, put the copy in place of --db, start."""
    database = db or context.obj["db"]
    try:
        backup(database, destination)
    except StoreUnavailable as error:
        click.echo(f"mcp-mesh-registry backup: {error}", err=True)
        sys.exit(1)
    click.echo(f"{redacted(database)}: copied to {destination}")


def _checked(settings: RegistrySettings) -> RegistrySettings:
    """What the layers cannot check on their own: options that go together."""
    process = settings.process
    if bool(process.ssl_certfile) != bool(process.ssl_keyfile):
        raise ValueError("--ssl-certfile and --ssl-keyfile go together")
    if process.ssl_ca_certs and not process.ssl_certfile:
        raise ValueError("--ssl-ca-certs needs --ssl-certfile and --ssl-keyfile")
    if settings.server.rate_limit:
        RateLimit(settings.server.rate_limit)  # a bad value is a usage error, before anything
    return settings


def _authenticator(process: ProcessOptions) -> Authenticator | None:
    """The tokens, if configured; refuse to serve a network without them unless told to."""
    if process.tokens_file:
        return Authenticator(process.tokens_file)
    if not is_loopback(process.host):
        if not process.insecure:
            raise ValueError(
                f"refusing to listen on {process.host} without authentication: anyone who"
                " reaches it could register, replace or delete agents. Give --tokens-file, or"
                " --insecure to accept that."
            )
        log.warning(
            "listening on %s with no authentication (--insecure): anyone who reaches this"
            " port can register, replace or delete agents",
            process.host,
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


async def _serve(
    listener: socket.socket, settings: RegistrySettings, authenticator: Authenticator | None
) -> int:
    # Imported here: FastMCP takes a second to import, and --help or a bad option need none of it.
    from mesh_registry.server.app import create_app

    adopt_library_loggers()  # FastMCP set up a handler of its own as it was imported

    process = settings.process
    registry = Registry(settings.config)
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
    freeze_heap()
    host, port = listener.getsockname()[:2]
    tls = process.ssl_certfile is not None
    try:
        uvicorn_config = server_config(
            create_app(registry, settings.server, authenticator),
            settings.http,
            access_log=process.access_log,
            timeout_graceful_shutdown=15,
            ssl_certfile=process.ssl_certfile,
            ssl_keyfile=process.ssl_keyfile,
            ssl_ca_certs=process.ssl_ca_certs,
            ssl_cert_reqs=ssl.CERT_REQUIRED if process.ssl_ca_certs else ssl.CERT_NONE,
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
        settings.config.database,
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
