"""The PostgreSQL schema, its migrations, and what a connection string may say.

The schema's version is recorded in the database (``mesh_schema``). A registry migrates it at
start, or ``mcp-mesh-registry migrate`` does it alone; either takes a transaction-scoped
advisory lock first, so that replicas starting together migrate once. A database of a newer
version than this registry knows is refused: upgrade the registry.

Every table's name starts with ``mesh_``, so that the registry can share a database.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.pool import PoolConnectionProxy

# A step per version: the statements that take the schema from the one before to it.
MIGRATIONS: tuple[str, ...] = (
    # 1: objects, their history, leases, leadership, quarantine, secrets
    """
    CREATE TABLE mesh_meta (key text PRIMARY KEY, value bigint NOT NULL);
    INSERT INTO mesh_meta (key, value) VALUES ('revision', 0), ('compacted', 0);
    CREATE TABLE mesh_objects (
        namespace text NOT NULL,
        name text NOT NULL,
        value text NOT NULL,
        revision bigint NOT NULL,
        PRIMARY KEY (namespace, name)
    );
    CREATE TABLE mesh_events (
        revision bigint PRIMARY KEY,
        type text NOT NULL,
        namespace text NOT NULL,
        name text NOT NULL,
        value text NOT NULL,
        prev_value text,
        prev_revision bigint,
        created_at double precision NOT NULL
    );
    CREATE INDEX mesh_events_created_at ON mesh_events (created_at);
    -- Rewritten several times a second: no index but the key and room in each page, so that
    -- an update stays on its page (a HOT update) and costs no index write.
    CREATE TABLE mesh_leases (
        namespace text NOT NULL,
        name text NOT NULL,
        heartbeat double precision NOT NULL,
        PRIMARY KEY (namespace, name)
    ) WITH (fillfactor = 50);
    -- Each checkpoint of a replica, for the others to read: appended, pruned after a while.
    CREATE TABLE mesh_lease_log (
        seq bigserial PRIMARY KEY,
        writer text NOT NULL,
        namespaces text[] NOT NULL,
        names text[] NOT NULL,
        heartbeats double precision[] NOT NULL,
        created_at double precision NOT NULL
    );
    INSERT INTO mesh_meta (key, value) VALUES ('leases_pruned', 0);
    CREATE TABLE mesh_quarantine (
        namespace text NOT NULL,
        name text NOT NULL,
        revision bigint NOT NULL,
        value text NOT NULL,
        reason text NOT NULL,
        quarantined_at double precision NOT NULL,
        PRIMARY KEY (namespace, name, revision)
    );
    CREATE TABLE mesh_leader (
        id integer PRIMARY KEY CHECK (id = 1),
        term bigint NOT NULL,
        holder text,
        backend_pid integer,
        renewed_at timestamptz
    );
    INSERT INTO mesh_leader (id, term) VALUES (1, 0);
    CREATE TABLE mesh_secrets (name text PRIMARY KEY, value bytea NOT NULL);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# Keys of the advisory locks the registry takes (any constant the application owns).
MIGRATION_LOCK = 0x6D6573680001
LEADER_LOCK = 0x6D6573680002
LEASE_LOCK = 0x6D6573680003
COMPACTION_LOCK = 0x6D6573680004

_SCHEMES = ("postgresql://", "postgres://")

# Errors that mean the database cannot be reached now (or is restarting): not a bug.
AWAY: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError,
    asyncpg.exceptions.InsufficientResourcesError,
)
# The database away, or refusing: either way, not this registry's bug to log loudly.
FAILED: tuple[type[BaseException], ...] = (*AWAY, asyncpg.PostgresError)


class SchemaTooNew(Exception):
    """The database was migrated by a newer registry."""


def is_postgres(database: str) -> bool:
    """Whether ``database`` names a PostgreSQL database (rather than an SQLite file)."""
    return database.startswith(_SCHEMES)


def redacted(database: str) -> str:
    """``database`` fit for a log line: a connection string's password (in its user part or
    as a ``password`` parameter) replaced by ``***``."""
    if not is_postgres(database):
        return database
    parts = urlsplit(database)
    userinfo, at, host = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        parts = parts._replace(netloc=f"{userinfo.partition(':')[0]}:***@{host}")
    query = re.sub(r"(?i)(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(query=query))


async def migrate(connection: asyncpg.Connection | PoolConnectionProxy) -> tuple[int, int]:
    """Bring the schema up to :data:`SCHEMA_VERSION`; return (version found, version now).
    Raise :class:`SchemaTooNew` for a database of a newer registry."""
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute("CREATE TABLE IF NOT EXISTS mesh_schema (version integer)")
        found = await connection.fetchval("SELECT max(version) FROM mesh_schema") or 0
        if found > SCHEMA_VERSION:
            raise SchemaTooNew(
                f"the database has schema version {found}; this registry understands up to"
                f" {SCHEMA_VERSION}: upgrade the registry"
            )
        for version in range(found + 1, SCHEMA_VERSION + 1):
            await connection.execute(MIGRATIONS[version - 1])
            await connection.execute("INSERT INTO mesh_schema (version) VALUES ($1)", version)
    return found, SCHEMA_VERSION
