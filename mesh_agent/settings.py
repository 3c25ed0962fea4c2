"""An agent's settings: decorator (or constructor) arguments, overridden by the environment,
overridden in turn by the options of the agent programs (``run-wasm``, ``sidecar``).

Each setting that the environment can give is declared once, in :data:`VARIABLES`: its
variable, the field it sets, how its text is read, its default and its meaning. From the
declarations come :meth:`AgentSettings.with_environment`, the agent programs' options
(``cli.py``) and the README's table of variables (:func:`markdown_table`, held to the README by
a test).
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from mesh_registry.client import RegistryClient
from mesh_registry.model import DEFAULT_NAMESPACE

DEFAULT_REGISTRY_URL = "http://127.0.0.1:8000"
DEFAULT_HEALTH_INTERVAL = 10.0


@dataclass(frozen=True)
class AgentSettings:
    """What an agent needs to run. ``None`` means "not set here": a default applies."""

    name: str | None = None
    namespace: str | None = None
    registry_url: str | None = None
    host: str | None = None
    port: int | None = None
    advertise_host: str | None = None
    health_interval: float | None = None
    version: str | None = None
    token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    require_token: bool | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    # From the environment: they win over every capability's version and tags in code.
    version_override: str | None = None
    tags_override: tuple[str, ...] | None = None
    # What the name comes from when none is given (default: the running script's name).
    default_name: str | None = None

    def merged(self, other: AgentSettings, *, source: str = "") -> AgentSettings:
        """These settings with ``other``'s set values added; a value set differently in both is
        an error (two decorators of one agent that disagree on its name, say)."""
        values = {}
        for name in _SCALARS:
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine is not None and theirs is not None and mine != theirs:
                raise ValueError(f"{name} is set to {mine!r} and to {theirs!r}{source}")
            values[name] = mine if mine is not None else theirs
        labels = dict(self.labels)
        for key, value in other.labels.items():
            if key in labels and labels[key] != value:
                raise ValueError(
                    f"label {key!r} is set to {labels[key]!r} and to {value!r}{source}"
                )
            labels[key] = value
        return AgentSettings(**values, labels=labels)

    def with_environment(self, environ: Mapping[str, str] | None = None) -> AgentSettings:
        """These settings, overridden by the ``MESH_*`` environment variables."""
        env = os.environ if environ is None else environ
        updates: dict[str, object] = {}
        for variable in VARIABLES:
            text = env.get(variable.name, "")
            if variable.field and text.strip():
                updates[variable.field] = variable.read(variable.name, text)
        if "labels" in updates:  # merged over the code's
            updates["labels"] = {**self.labels, **updates["labels"]}  # type: ignore[dict-item]
        return replace(self, **updates)  # type: ignore[arg-type]

    def overridden_by(self, other: AgentSettings) -> AgentSettings:
        """These settings, with every value ``other`` sets instead (labels merged over)."""
        updates: dict[str, object] = {
            name: getattr(other, name) for name in _SCALARS if getattr(other, name) is not None
        }
        return replace(self, **updates, labels={**self.labels, **other.labels})  # type: ignore[arg-type]

    def registry_client(self, **options: Any) -> RegistryClient:
        """A client of the registry these settings name (the default one if none), with their
        token and CA bundle (``options``: RegistryClient's others): for programs that talk to
        the mesh without being an agent."""
        return RegistryClient(
            self.registry_url or DEFAULT_REGISTRY_URL,
            token=self.token,
            ca_bundle=self.ca_bundle,
            **options,
        )

    def resolved(self) -> ResolvedSettings:
        """Every setting decided, defaults applied; ``ValueError`` names a setting that is
        unusable (the record's own fields are checked when the record is built)."""
        host = self.host or "127.0.0.1"
        if self.port is not None and not 0 <= self.port <= 65535:
            raise ValueError(f"port must be between 0 and 65535, got {self.port}")
        registry_url = (self.registry_url or DEFAULT_REGISTRY_URL).rstrip("/")
        parts = urlsplit(registry_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"registry_url must be an http:// or https:// URL, got {registry_url!r}"
            )
        return ResolvedSettings(
            name=self.name or f"{_slug(self.default_name or _script())}-{secrets.token_hex(3)}",
            namespace=self.namespace or DEFAULT_NAMESPACE,
            registry_url=registry_url,
            host=host,
            port=self.port if self.port is not None else 0,
            advertise_host=self.advertise_host or _advertised(host),
            health_interval=(
                self.health_interval
                if self.health_interval is not None
                else DEFAULT_HEALTH_INTERVAL
            ),
            version=self.version or "1.0.0",
            labels=dict(self.labels),
            version_override=self.version_override,
            tags_override=self.tags_override,
            token=self.token,
            ca_bundle=self.ca_bundle,
            require_token=bool(self.require_token),
        )


_SCALARS = (
    "name",
    "namespace",
    "registry_url",
    "host",
    "port",
    "advertise_host",
    "health_interval",
    "version",
    "version_override",
    "tags_override",
    "default_name",
    "token",
    "ca_bundle",
    "require_token",
)


@dataclass(frozen=True)
class ResolvedSettings:
    name: str
    namespace: str
    registry_url: str
    host: str
    port: int
    advertise_host: str
    health_interval: float
    version: str
    labels: dict[str, str]
    version_override: str | None = None
    tags_override: tuple[str, ...] | None = None
    token: str | None = field(default=None, repr=False)
    ca_bundle: str | None = None
    require_token: bool = False


def _text(variable: str, text: str) -> str:
    return text.strip()


def _flag(variable: str, text: str) -> bool:
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{variable}={text!r} is not 1 or 0 (true or false)")


def _integer(variable: str, text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{variable}={text!r} is not a number") from None


def _seconds(variable: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{variable}={text!r} is not a number") from None


def _tags(variable: str, text: str) -> tuple[str, ...]:
    return tuple(tag.strip() for tag in text.split(",") if tag.strip())


def labels_from(variable: str, text: str) -> dict[str, str]:
    """``k=v,k2=v2`` as labels; ``ValueError`` naming ``variable`` for a pair without ``=``."""
    labels = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, equals, value = pair.partition("=")
        if not equals:
            raise ValueError(f"{variable}: {pair!r} is not key=value")
        labels[key.strip()] = value.strip()
    return labels


@dataclass(frozen=True, slots=True)
class Variable:
    """One setting as the environment gives it, and as the agent programs' option (``option``,
    when they take one) gives it too."""

    name: str
    field: str | None  # the AgentSettings field it sets (None: read by another part)
    read: Callable[[str, str], object]
    default: str  # as documented
    meaning: str
    option: str | None = None
    kind: type = str  # the option's type


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "MESH_REGISTRY_URL", "registry_url", _text, f"`{DEFAULT_REGISTRY_URL}`",
        "the registry (`registry_url=`)",
    ),
    Variable(
        "MESH_AGENT_NAME", "name", _text, "the program's name and 6 random hex digits",
        "the agent's name (`name=`)", option="--name",
    ),
    Variable(
        "MESH_NAMESPACE", "namespace", _text, f"`{DEFAULT_NAMESPACE}`",
        "its namespace (`namespace=`)", option="--namespace",
    ),
    Variable(
        "MESH_AGENT_HOST", "host", _text, "`127.0.0.1`", "address to listen on",
        option="--host",
    ),
    Variable(
        "MESH_AGENT_PORT", "port", _integer, "`0`", "port; `0` picks a free one",
        option="--port", kind=int,
    ),
    Variable(
        "MESH_ADVERTISE_HOST", "advertise_host", _text,
        "the listening host (the host name for `0.0.0.0`)", "host in the registered endpoint",
        option="--advertise-host",
    ),
    Variable(
        "MESH_HEALTH_INTERVAL", "health_interval", _seconds, f"`{DEFAULT_HEALTH_INTERVAL:g}`",
        "seconds between heartbeats (`health_interval=`)", option="--health-interval",
        kind=float,
    ),
    Variable(
        "MESH_AGENT_LABELS", "labels", labels_from, "none",
        "labels, `k=v,k2=v2`, merged over the code's (`labels=`)", option="--labels",
    ),
    Variable(
        "MESH_AGENT_VERSION", "version_override", _text, "`1.0.0`",
        "version of every capability, over the code's (`version=`)",
    ),
    Variable(
        "MESH_AGENT_TAGS", "tags_override", _tags, "the code's",
        "tags of every capability, `a,b`, over the code's (`tags=`)",
    ),
    Variable("MESH_TOKEN", "token", _text, "none", "bearer token for the registry (`token=`)"),
    Variable(
        "MESH_CA_BUNDLE", "ca_bundle", _text, "the system's",
        "CAs (PEM) that sign an `https://` registry's certificate",
    ),
    Variable(
        "MESH_REQUIRE_TOKEN", "require_token", _flag, "`0`",
        "`1`: callers need a call token (`require_token=`)",
    ),
    Variable(
        "MESH_WASM_CACHE", None, _text, "`~/.cache/mcp-mesh/wasm`",
        "directory of compiled WebAssembly modules; `off` for none",
    ),
)  # fmt: skip


def markdown_table() -> str:
    """The README's table of the variables."""
    rows = ["| variable | setting | default |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.meaning} | {v.default} |" for v in VARIABLES]
    return "\n".join(rows)


def _slug(name: str) -> str:
    """A name usable in an agent's name (``weather_agent.py`` → ``weather-agent``)."""
    stem = Path(name).stem or "agent"
    cleaned = "".join(c if c.isalnum() else "-" for c in stem.lower()).strip("-")
    return cleaned[:40] or "agent"


def _script() -> str:
    """The running script's name (``python weather_agent.py``)."""
    return sys.argv[0] if sys.argv and sys.argv[0] else "agent"


def _advertised(host: str) -> str:
    """Where others reach a server listening on ``host``: a wildcard address is not one."""
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return host
