"""Export and import: agent records out of one registry and into another (or the same).

An export is an ``AgentList`` of each record's metadata (name, namespace, labels, annotations)
and spec, without what the registry sets (uid, resourceVersion, generation, times, status).
An import registers each record: created when absent, unchanged when equal, replaced when it
differs and ``overwrite`` allows it, refused otherwise or when the registry refuses it (with
its reason). A record imported this way is pending until its agent heartbeats.
"""

from __future__ import annotations

import asyncio
import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import yaml
from pydantic import ValidationError

from mesh_registry.client import RegistryClient
from mesh_registry.errors import MeshError, NotFound
from mesh_registry.model import API_VERSION, Agent, field_errors, parse_agent

# Requests in flight at once during an import. More does not go faster: the client's connection
# pool checks every pooled connection on each request, so past a few connections an import spends
# its time there (1,000 records: 2.2 s at 8, 3.0 s at 16, 3.4 s at 32).
CONCURRENCY = 8
_METADATA = ("name", "namespace", "labels", "annotations")


class Result(enum.StrEnum):
    CREATED = "created"
    REPLACED = "replaced"
    UNCHANGED = "unchanged"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What importing one record did (or, in a dry run, would do)."""

    key: str  # namespace/name, or the item's position when it has none
    result: Result
    reason: str = ""


class UnreadableExport(ValueError):
    """A file that is not an export: the message says why."""


def portable(agent: Agent) -> dict[str, Any]:
    """``agent`` as an export holds it: its metadata and spec, nothing the registry sets."""
    record = agent.model_dump(mode="json", by_alias=True, exclude_none=True)
    metadata = {key: record["metadata"][key] for key in _METADATA if key in record["metadata"]}
    return {
        "apiVersion": API_VERSION,
        "kind": "Agent",
        "metadata": metadata,
        "spec": record["spec"],
    }


def export_document(agents: Sequence[Agent], revision: str) -> dict[str, Any]:
    """The export of ``agents``, listed at ``revision``."""
    return {
        "apiVersion": API_VERSION,
        "kind": "AgentList",
        "metadata": {"resourceVersion": revision},
        "items": [portable(agent) for agent in agents],
    }


def read_export(text: str) -> list[Any]:
    """The items of an export (JSON or YAML): an ``AgentList``, one ``Agent``, or a list."""
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
        except yaml.YAMLError as error:
            raise UnreadableExport(f"neither JSON nor YAML: {error}") from None
    if isinstance(document, list):
        return document
    if isinstance(document, dict) and document.get("kind") == "AgentList":
        items = document.get("items")
        if not isinstance(items, list):
            raise UnreadableExport("an AgentList whose items are not a list")
        return items
    if isinstance(document, dict) and "metadata" in document:
        return [document]
    raise UnreadableExport("expected an AgentList, an Agent or a list of agents")


async def import_items(
    client: RegistryClient, items: Sequence[Any], *, overwrite: bool, dry_run: bool
) -> list[Outcome]:
    """Register each of ``items``; what happened to each, in their order."""
    limit = asyncio.Semaphore(CONCURRENCY)

    async def one(position: int, item: Any) -> Outcome:
        async with limit:
            return await _import_one(client, position, item, overwrite, dry_run)

    return list(await asyncio.gather(*(one(n, item) for n, item in enumerate(items))))


async def _import_one(
    client: RegistryClient, position: int, item: Any, overwrite: bool, dry_run: bool
) -> Outcome:
    try:
        wanted = parse_agent(item)
    except ValidationError as error:
        problems = "; ".join(f"{e.field}: {e.message}" for e in field_errors(error))
        return Outcome(_key_of(item, position), Result.REFUSED, problems)
    except MeshError as error:
        return Outcome(_key_of(item, position), Result.REFUSED, error.message)
    key = str(wanted.key)
    try:
        existing: Agent | None = await client.get(wanted.metadata.name, wanted.metadata.namespace)
    except NotFound:
        existing = None
    except MeshError as error:
        return Outcome(key, Result.REFUSED, error.message)
    if existing is not None and portable(existing) == portable(wanted):
        return Outcome(key, Result.UNCHANGED)
    if existing is not None and not overwrite:
        return Outcome(key, Result.REFUSED, "exists and differs (--overwrite replaces it)")
    result = Result.CREATED if existing is None else Result.REPLACED
    if dry_run:
        return Outcome(key, result)
    try:
        if existing is None:
            await client.create(portable(wanted))
        else:
            await client.register(portable(wanted))
    except MeshError as error:
        return Outcome(key, Result.REFUSED, error.message)
    return Outcome(key, result)


def _key_of(item: Any, position: int) -> str:
    metadata = item.get("metadata") if isinstance(item, dict) else None
    if isinstance(metadata, dict) and isinstance(metadata.get("name"), str):
        return f"{metadata.get('namespace') or 'default'}/{metadata['name']}"
    return f"item {position}"
