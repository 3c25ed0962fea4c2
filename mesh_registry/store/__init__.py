"""Durable storage: the interface and its SQLite implementation."""

from mesh_registry.store.base import (
    Change,
    Compacted,
    KeyExists,
    KeyNotFound,
    Record,
    RevisionMismatch,
    Snapshot,
    Store,
    StoreError,
    StoreStats,
    StoreUnavailable,
    Unreadable,
)
from mesh_registry.store.sqlite import Retention, SQLiteStore

__all__ = [
    "Change",
    "Compacted",
    "KeyExists",
    "KeyNotFound",
    "Record",
    "Retention",
    "RevisionMismatch",
    "SQLiteStore",
    "Snapshot",
    "Store",
    "StoreError",
    "StoreStats",
    "StoreUnavailable",
    "Unreadable",
]
