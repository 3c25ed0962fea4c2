"""The read side of the official MCP registry API (version 2025-12-01, ``/v0.1/servers``),
made from the registry's records. Pure: the routes are in ``server/official.py``.

Each healthy agent is one server, of one version (docs/api.md, "The official MCP registry
API"):

- ``name``: ``mesh.<namespace>/<agent name>`` (reverse-DNS, one slash); an agent whose name
  makes it longer than the API's 200 characters is not listed;
- ``version``: the newest version among its capabilities (``1.0.0`` when it has none);
- ``description``: its capabilities' names, shortened to 100 characters;
- ``remotes``: its endpoint, with its transport;
- ``_meta``: the registry-managed fields (``status`` active, ``publishedAt`` its creation,
  ``updatedAt`` its last phase change, ``isLatest``), and the agent's own under
  ``dev.mcp-mesh/agent``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mesh_registry.errors import BadRequest
from mesh_registry.model import Agent, ObjectKey
from mesh_registry.versions import parse_version

PREFIX = "mesh."
MAX_NAME = 200
MAX_DESCRIPTION = 100
DEFAULT_LIMIT = 30
MAX_LIMIT = 100
OFFICIAL = "io.modelcontextprotocol.registry/official"
OURS = "dev.mcp-mesh/agent"


def server_name(key: ObjectKey) -> str:
    return f"{PREFIX}{key.namespace}/{key.name}"


def agent_key(name: str) -> ObjectKey | None:
    """The agent a server name stands for, or ``None`` if it is not one of ours."""
    namespace, slash, agent = name.partition("/")
    if not slash or not namespace.startswith(PREFIX) or not agent:
        return None
    return ObjectKey(namespace[len(PREFIX) :], agent)


def listable(agent: Agent) -> bool:
    return len(server_name(agent.key)) <= MAX_NAME


def version_of(agent: Agent) -> str:
    versions = [c.version for c in agent.spec.capabilities]
    return max(versions, key=parse_version) if versions else "1.0.0"


def server_response(agent: Agent) -> dict[str, Any]:
    """``agent`` as a ``ServerResponse``."""
    names = ", ".join(c.name for c in agent.spec.capabilities) or "no capabilities"
    description = f"mcp-mesh agent: {names}"
    if len(description) > MAX_DESCRIPTION:
        description = description[: MAX_DESCRIPTION - 1] + "…"
    return {
        "server": {
            "name": server_name(agent.key),
            "description": description,
            "version": version_of(agent),
            "remotes": [{"type": agent.spec.transport.value, "url": agent.spec.endpoint}],
        },
        "_meta": {
            OFFICIAL: _without_none(
                {
                    "status": "active",
                    "publishedAt": _time(agent.metadata.creation_timestamp),
                    "updatedAt": _time(updated_at(agent)),
                    "isLatest": True,
                }
            ),
            OURS: {
                "namespace": agent.metadata.namespace,
                "name": agent.metadata.name,
                "phase": agent.status.phase.value,
                "labels": dict(agent.metadata.labels),
                "capabilities": [
                    {"name": c.name, "version": c.version} for c in agent.spec.capabilities
                ],
            },
        },
    }


def updated_at(agent: Agent) -> datetime | None:
    times = [t for t in (agent.metadata.creation_timestamp, agent.status.phase_since) if t]
    return max(times) if times else None


@dataclass(frozen=True)
class ServerQuery:
    """What ``GET /v0.1/servers`` asks for, checked."""

    cursor: str | None = None
    limit: int = DEFAULT_LIMIT
    search: str = ""
    updated_since: datetime | None = None
    version: str = ""

    @classmethod
    def parse(cls, params: dict[str, str]) -> ServerQuery:
        """Raise :class:`BadRequest` naming the parameter."""
        limit = params.get("limit")
        if limit is not None and not (limit.isascii() and limit.isdigit()):
            raise BadRequest(f"limit: {limit!r} is not a whole number")
        number = DEFAULT_LIMIT if limit is None else int(limit)
        if not 1 <= number <= MAX_LIMIT:
            raise BadRequest(f"limit: must be between 1 and {MAX_LIMIT}")
        since = params.get("updated_since")
        try:
            when = datetime.fromisoformat(since.replace("Z", "+00:00")) if since else None
        except ValueError:
            raise BadRequest(f"updated_since: {since!r} is not an RFC 3339 time") from None
        if when is not None and when.tzinfo is None:
            raise BadRequest("updated_since: give a time zone (e.g. Z)")
        return cls(
            cursor=_decode(params["cursor"]) if params.get("cursor") else None,
            limit=number,
            search=params.get("search", ""),
            updated_since=when,
            version=params.get("version", ""),
        )

    def page(self, agents: Sequence[Agent]) -> tuple[list[Agent], str | None]:
        """The page of ``agents`` this query asks for, and the cursor of the next one."""
        chosen = sorted(
            (a for a in agents if listable(a) and self._wants(a)), key=lambda a: server_name(a.key)
        )
        if self.cursor is not None:
            chosen = [a for a in chosen if server_name(a.key) > self.cursor]
        page = chosen[: self.limit]
        more = len(chosen) > self.limit
        return page, (_encode(server_name(page[-1].key)) if more and page else None)

    def _wants(self, agent: Agent) -> bool:
        if self.search and self.search not in server_name(agent.key):
            return False
        if self.version not in ("", "latest") and version_of(agent) != self.version:
            return False
        changed = updated_at(agent)
        return self.updated_since is None or (changed is not None and changed >= self.updated_since)


def _encode(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return base64.b64decode(padded.encode("ascii"), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeError, ValueError):
        raise BadRequest("cursor: not a cursor this registry gave") from None


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")
