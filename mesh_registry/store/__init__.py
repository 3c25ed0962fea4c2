"""Durable storage: the interface, SQLite for one process, PostgreSQL for replicas."""

from mesh_registry.clock import Clock
from mesh_registry.store.base import (
    Change,
    Compacted,
    Fence,
    Fenced,
    KeyExists,
    KeyNotFound,
    Record,
    Renewed,
    Retention,
    RevisionMismatch,
    Snapshot,
    Store,
    StoreError,
    StoreStats,
    StoreUnavailable,
    Unreadable,
)
from mesh_registry.store.postgres_schema import is_postgres, redacted
from mesh_registry.store.sqlite import SCHEMA_VERSION as SQLITE_SCHEMA_VERSION
from mesh_registry.store.sqlite import SQLiteStore, Synchronous
from mesh_registry.store.sqlite import backup as sqlite_backup

__all__ = [
    "Change",
    "Compacted",
    "Fence",
    "Fenced",
    "KeyExists",
    "KeyNotFound",
    "Record",
    "Renewed",
    "Retention",
    "RevisionMismatch",
    "SQLiteStore",
    "Snapshot",
    "Store",
    "StoreError",
    "StoreStats",
    "StoreUnavailable",
    "Unreadable",
    "backup",
    "is_postgres",
    "migrate_schema",
    "open_store",
    "redacted",
]


def open_store(
    database: str,
    *,
    synchronous: Synchronous = "full",
    retention: Retention | None = None,
    max_batch: int = 1000,
    pool_size: int = 10,
    clock: Clock | None = None,
) -> Store:
    """The store ``database`` names: a PostgreSQL connection string (``postgresql://…``), or
    an SQLite file (``:memory:`` for none). Not opened yet."""
    if is_postgres(database):
        from mesh_registry.store.postgres import PostgresStore  # asyncpg only when needed

        return PostgresStore(
            database, retention=retention, max_batch=max_batch, pool_size=pool_size, clock=clock
        )
    return SQLiteStore(
        database, synchronous=synchronous, retention=retention, max_batch=max_batch, clock=clock
    )


async def migrate_schema(database: str) -> tuple[int, int]:
    """Create or upgrade the schema of ``database``, and nothing else; return the schema
    version found and the version now. Raise ``StoreUnavailable``."""
    if is_postgres(database):
        from mesh_registry.store.postgres import migrate_database

        return await migrate_database(database)
    store = SQLiteStore(database)
    found = await store.schema_version()
    await store.open()
    await store.close()
    return found, SQLITE_SCHEMA_VERSION


def backup(database: str, destination: str) -> None:
    """A consistent copy of an SQLite ``database`` at ``destination``, while a registry runs
    on it. Raise ``StoreUnavailable`` (for PostgreSQL, use its own tools)."""
    if is_postgres(database):
        raise StoreUnavailable(
            f"{redacted(database)} is PostgreSQL: back it up with pg_dump (or base backups"
            " with WAL archiving), see docs/deploy.md"
        )
    sqlite_backup(database, destination)
