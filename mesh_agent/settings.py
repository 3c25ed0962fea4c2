"""An agent's settings: decorator (or constructor) arguments, overridden by the environment.

| variable | setting | default |
|---|---|---|
| ``MESH_REGISTRY_URL`` | registry_url | ``http://127.0.0.1:8000`` |
| ``MESH_AGENT_NAME`` | name | ``<script>-<6 hex>`` |
| ``MESH_NAMESPACE`` | namespace | ``default`` |
| ``MESH_AGENT_HOST`` | host (to listen on) | ``127.0.0.1`` |
| ``MESH_AGENT_PORT`` | port; ``0`` picks a free one | ``0`` |
| ``MESH_ADVERTISE_HOST`` | host in the registered endpoint | the listening host |
| ``MESH_HEALTH_INTERVAL`` | health_interval (seconds) | ``10`` |
| ``MESH_AGENT_LABELS`` | labels, ``k=v,k2=v2`` (merged over the code's) | none |
| ``MESH_AGENT_VERSION`` | version of every capability (overrides the code's) | ``1.0.0`` |
| ``MESH_AGENT_TAGS`` | tags of every capability, ``a,b`` (override the code's) | the code's |
| ``MESH_TOKEN`` | token: bearer token for the registry | none |
| ``MESH_CA_BUNDLE`` | ca_bundle: CAs of an ``https://`` registry (PEM file) | the system's |
| ``MESH_REQUIRE_TOKEN`` | require_token: callers need a call token (``1``/``0``) | ``0`` |
"""

from __future__ import annotations

import os
import secrets
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

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
        for variable, name in (
            ("MESH_AGENT_NAME", "name"),
            ("MESH_NAMESPACE", "namespace"),
            ("MESH_REGISTRY_URL", "registry_url"),
            ("MESH_AGENT_HOST", "host"),
            ("MESH_ADVERTISE_HOST", "advertise_host"),
            ("MESH_AGENT_VERSION", "version_override"),
            ("MESH_TOKEN", "token"),
            ("MESH_CA_BUNDLE", "ca_bundle"),
        ):
            if env.get(variable):
                updates[name] = env[variable]
        if env.get("MESH_AGENT_PORT"):
            updates["port"] = _number(env, "MESH_AGENT_PORT", int)
        if env.get("MESH_HEALTH_INTERVAL"):
            updates["health_interval"] = _number(env, "MESH_HEALTH_INTERVAL", float)
        if env.get("MESH_REQUIRE_TOKEN"):
            updates["require_token"] = _flag(env, "MESH_REQUIRE_TOKEN")
        if env.get("MESH_AGENT_TAGS"):
            tags = env["MESH_AGENT_TAGS"].split(",")
            updates["tags_override"] = tuple(t.strip() for t in tags if t.strip())
        if env.get("MESH_AGENT_LABELS"):
            updates["labels"] = {**self.labels, **_labels(env["MESH_AGENT_LABELS"])}
        return replace(self, **updates)  # type: ignore[arg-type]

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
            name=self.name or f"{_script_name()}-{secrets.token_hex(3)}",
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


def _flag(env: Mapping[str, str], variable: str) -> bool:
    value = env[variable].strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{variable}={env[variable]!r} is not 1 or 0 (true or false)")


def _number(env: Mapping[str, str], variable: str, kind: type[int] | type[float]) -> int | float:
    try:
        return kind(env[variable])
    except ValueError:
        raise ValueError(f"{variable}={env[variable]!r} is not a number") from None


def _labels(text: str) -> dict[str, str]:
    labels = {}
    for pair in text.split(","):
        if not pair.strip():
            continue
        key, equals, value = pair.partition("=")
        if not equals:
            raise ValueError(f"MESH_AGENT_LABELS: {pair!r} is not key=value")
        labels[key.strip()] = value.strip()
    return labels


def _script_name() -> str:
    """A name from the running script (``weather_agent.py`` → ``weather-agent``)."""
    stem = Path(sys.argv[0]).stem if sys.argv and sys.argv[0] else "agent"
    cleaned = "".join(c if c.isalnum() else "-" for c in stem.lower()).strip("-")
    return cleaned[:40] or "agent"


def _advertised(host: str) -> str:
    """Where others reach a server listening on ``host``: a wildcard address is not one."""
    if host in ("0.0.0.0", "::", ""):
        return socket.gethostname()
    return host
