"""The registry's settings, in one place (the command line maps its flags onto these)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh_registry.health import HealthPolicy
from mesh_registry.store.base import Retention
from mesh_registry.store.postgres_schema import is_postgres
from mesh_registry.store.sqlite import Synchronous


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """Everything the service needs to run. Times are in seconds."""

    database: str = "mesh-registry.db"
    synchronous: Synchronous = "full"
    health: HealthPolicy = field(default_factory=HealthPolicy)
    retention: Retention = field(default_factory=Retention)
    compaction_interval: float = 60.0
    # None: 5 s on SQLite; 0.25 s on PostgreSQL, where checkpoints carry heartbeats between
    # replicas (see lease_checkpoints).
    lease_checkpoint_interval: float | None = None
    bookmark_interval: float = 10.0
    watch_queue_limit: int = 10_000
    watch_queue_bytes: int = 16 * 1024 * 1024
    max_batch: int = 1000
    leader_lease: float = 2.0  # replicas: how long a silent leader keeps the role
    pool_size: int = 10  # replicas: connections to PostgreSQL per registry process

    def __post_init__(self) -> None:
        for name in ("compaction_interval", "bookmark_interval", "leader_lease"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.lease_checkpoint_interval is not None and self.lease_checkpoint_interval <= 0:
            raise ValueError("lease_checkpoint_interval must be positive")
        for name in ("watch_queue_limit", "watch_queue_bytes", "max_batch", "pool_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.retention.max_events < 1 or self.retention.max_age <= 0:
            raise ValueError("history retention needs max_events >= 1 and max_age > 0")

    @property
    def lease_checkpoints(self) -> float:
        """Seconds between heartbeat-time checkpoints, as set or as the store wants."""
        if self.lease_checkpoint_interval is not None:
            return self.lease_checkpoint_interval
        return 0.25 if is_postgres(self.database) else 5.0
