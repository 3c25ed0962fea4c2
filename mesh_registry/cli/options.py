"""Every setting of ``mcp-mesh-registry``, declared once.

A setting's default is the default of the field it sets (``RegistryConfig``, ``ServerSettings``,
``HttpLimits``, or the process's own ``ProcessOptions``), and its declaration here gives it a
name, a type and a help text. From the declarations come the command's options (each with its
``MESH_REGISTRY_*`` variable), the values handed to each layer (:func:`settings_from`), and the
configuration table of the README (:func:`markdown_table`, held to the README by a test).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import click

from mesh_registry.config import RegistryConfig
from mesh_registry.http_guard import HttpLimits
from mesh_registry.logs import LogFormat
from mesh_registry.server.settings import ServerSettings

ENVIRONMENT_PREFIX = "MESH_REGISTRY_"


@dataclass(frozen=True, slots=True)
class ProcessOptions:
    """The process's own settings: where it listens, its tokens, TLS and logs."""

    host: str = "127.0.0.1"
    port: int = 8000
    tokens_file: str | None = None
    insecure: bool = False
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_ca_certs: str | None = None
    access_log: bool = False
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    log_format: LogFormat = "text"


@dataclass(frozen=True, slots=True)
class RegistrySettings:
    """All of them, by layer."""

    config: RegistryConfig = field(default_factory=RegistryConfig)
    server: ServerSettings = field(default_factory=ServerSettings)
    http: HttpLimits = field(default_factory=HttpLimits)
    process: ProcessOptions = field(default_factory=ProcessOptions)


class Seconds(click.ParamType):  # type: ignore[type-arg]
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


@dataclass(frozen=True, slots=True)
class Option:
    """One setting: the field it sets (``layer.field``, or ``layer.part.field``), its option
    name (default: the field's, with dashes), its type (default: the default's) and its help."""

    target: str
    help: str
    name: str = ""
    kind: Any = None
    switch: bool = False  # --name/--no-name
    shown: str = ""  # the default as the README shows it, when the value does not say it

    @property
    def flag(self) -> str:
        return "--" + (self.name or self.target.rsplit(".", 1)[1].replace("_", "-"))

    @property
    def parameter(self) -> str:
        return self.flag[2:].replace("-", "_")

    @property
    def environment(self) -> str:
        return ENVIRONMENT_PREFIX + self.parameter.upper()

    def default(self) -> Any:
        value: Any = RegistrySettings()
        for part in self.target.split("."):
            value = getattr(value, part)
        return value


OPTIONS: tuple[Option, ...] = (
    Option("process.host", "Address to listen on."),
    Option("process.port", "Port; 0 picks a free one (logged).", kind=click.IntRange(0, 65535)),
    Option(
        "config.database",
        "SQLite database file (or :memory:), or postgresql://user@host:port/dbname for"
        " replicas sharing one PostgreSQL database.",
        name="db",
    ),
    Option(
        "config.synchronous",
        "Durability: full survives power loss, normal a crash of the process.",
        name="sync",
        kind=click.Choice(["full", "normal"]),
    ),
    Option(
        "config.health.unhealthy_after",
        "Heartbeat intervals without a heartbeat before an agent is unhealthy.",
    ),
    Option("config.health.offline_after", "… before it is offline."),
    Option(
        "config.health.delete_after",
        "Seconds offline before the record is deleted, or never.",
        kind=Seconds(),
    ),
    Option(
        "config.health.startup_grace",
        "After a start, no deadline before one full unhealthy window.",
        switch=True,
    ),
    Option(
        "config.health.self_preservation",
        "Hold offline transitions and deletions when many agents expire at once.",
        switch=True,
    ),
    Option(
        "config.health.self_preservation_threshold",
        "The share of overdue agents that engages self-preservation.",
    ),
    Option(
        "config.health.self_preservation_min_agents",
        "Fewer agents than this never engage self-preservation.",
    ),
    Option(
        "config.retention.max_age",
        "Seconds of change history kept for watches.",
        name="history-max-age",
    ),
    Option("config.retention.max_events", "Changes kept for watches.", name="history-max-events"),
    Option("config.compaction_interval", "Seconds between history compactions."),
    Option(
        "config.lease_checkpoint_interval",
        "Seconds between heartbeat-time checkpoints (on PostgreSQL, how heartbeats reach the"
        " other replicas).",
        kind=click.FloatRange(min=0, min_open=True),
        shown="`5` (SQLite), `0.25` (PostgreSQL)",
    ),
    Option(
        "config.leader_lease",
        "Replicas: seconds a leader that stopped renewing keeps deciding health.",
        kind=click.FloatRange(min=0, min_open=True),
    ),
    Option(
        "config.pool_size",
        "Replicas: connections to PostgreSQL per process.",
        kind=click.IntRange(min=1),
    ),
    Option("config.bookmark_interval", "Idle seconds before a watcher gets a BOOKMARK."),
    Option(
        "server.watch_keepalive",
        "Seconds between SSE comment lines on a quiet watch.",
    ),
    Option("config.watch_queue_limit", "Events a watcher may fall behind before it is ended."),
    Option(
        "config.watch_queue_bytes",
        "Bytes (of the records, as stored) a watcher's queue may hold before it is ended.",
    ),
    Option(
        "server.watch_send_timeout",
        "Seconds a watcher's connection may take no data before it is closed.",
    ),
    Option("server.max_body_size", "Bytes; larger request bodies get 413."),
    Option(
        "http.max_head_bytes",
        "Bytes of a request's URL and headers; beyond, 431 (414 for the URL alone).",
        name="max-header-bytes",
        kind=click.IntRange(min=1024),
    ),
    Option(
        "http.head_timeout",
        "Seconds for a request's head to arrive, from the connection's start or its first"
        " byte; beyond, 408 and closed.",
        name="request-head-timeout",
        kind=click.FloatRange(min=0.1),
    ),
    Option(
        "http.max_connections",
        "Open connections, watches included (never more than the process may open files for);"
        " beyond, 503 and closed, with a warning in the log.",
        kind=click.IntRange(min=1),
    ),
    Option("server.metrics", "Serve /metrics.", switch=True),
    Option(
        "process.tokens_file",
        "Bearer tokens, YAML or JSON: authentication and authorization on; SIGHUP reloads it.",
        kind=click.Path(dir_okay=False),
    ),
    Option(
        "process.insecure",
        "Allow a non-loopback --host without --tokens-file: anyone who reaches it can write.",
    ),
    Option("server.protect_metrics", "With tokens, /metrics needs one too.", switch=True),
    Option(
        "server.rate_limit",
        "Requests per subject (or client address), e.g. 100/second; beyond, 429 with Retry-After.",
        kind=str,
    ),
    Option(
        "server.watches_per_subject",
        "Open watches per subject; beyond, 429.",
        name="max-watches-per-subject",
        kind=click.IntRange(min=1),
    ),
    Option(
        "process.ssl_certfile",
        "Serve HTTPS with this certificate (PEM; with --ssl-keyfile).",
        kind=click.Path(dir_okay=False),
    ),
    Option("process.ssl_keyfile", "The certificate's key (PEM).", kind=click.Path(dir_okay=False)),
    Option(
        "process.ssl_ca_certs",
        "Require client certificates signed by these CAs (mutual TLS).",
        kind=click.Path(dir_okay=False),
    ),
    Option("process.access_log", "Log every request.", switch=True),
    Option(
        "process.log_level",
        "How much to log.",
        kind=click.Choice(["debug", "info", "warning", "error"]),
    ),
    Option(
        "process.log_format",
        "text, or json (one object per line).",
        kind=click.Choice(["text", "json"]),
    ),
)


def click_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add every option to ``command``, each with its environment variable."""
    for option in reversed(OPTIONS):
        default = option.default()
        declaration = f"{option.flag}/--no-{option.flag[2:]}" if option.switch else option.flag
        if isinstance(default, bool) and not option.switch:
            decorate = click.option(
                declaration,
                is_flag=True,
                default=default,
                envvar=option.environment,
                help=option.help,
            )
        else:
            decorate = click.option(
                declaration,
                type=option.kind or (type(default) if default is not None else str),
                default=default,
                envvar=option.environment,
                show_envvar=True,
                help=option.help,
            )
        command = decorate(command)
    return command


def settings_from(values: dict[str, Any]) -> RegistrySettings:
    """The settings the command's option ``values`` give; ``ValueError`` from a layer that
    refuses one (a negative interval, say)."""
    tree: dict[str, Any] = {}
    for option in OPTIONS:
        value = values[option.parameter]
        if value == "" and option.default() is None:
            value = None  # an empty variable: not set
        *parents, last = option.target.split(".")
        node = tree
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    built: RegistrySettings = _built(RegistrySettings(), tree)
    return built


def _built(default: Any, values: dict[str, Any]) -> Any:
    """``default`` (a frozen dataclass) with ``values``, nested ones built first and each built
    once with all of its values, so that its own checks see them together."""
    changes = {
        name: _built(getattr(default, name), value) if isinstance(value, dict) else value
        for name, value in values.items()
    }
    return replace(default, **changes)


def markdown_table() -> str:
    """The README's table of the command's settings."""
    rows = [
        "| option | environment | default | meaning |",
        "|---|---|---|---|",
    ]
    for option in OPTIONS:
        flag = f"--[no-]{option.flag[2:]}" if option.switch else option.flag
        shown = option.shown or _shown(option.default())
        rows.append(f"| `{flag}` | `{option.environment}` | {shown} | {option.help} |")
    return "\n".join(rows)


def _shown(default: Any) -> str:
    if default is None:
        return "none"
    if isinstance(default, bool):
        return "on" if default else "off"
    if isinstance(default, float):
        return f"`{default:g}`"
    return f"`{default}`"
