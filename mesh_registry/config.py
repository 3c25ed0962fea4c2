"""The registry's settings, in one place (the command line maps its flags onto these)."""

from __future__ import annotations

from dataclasses import dataclass, field

from mesh_registry.health import HealthPolicy
from mesh_registry.store.sqlite import Retention, Synchronous


@dataclass(frozen=True, slots=True)
class RegistryConfig:
    """Everything the service needs to run. Times are in seconds."""

    database: str = "mesh-registry.db"
    synchronous: Synchronous = "full"
    health: HealthPolicy = field(default_factory=HealthPolicy)
    retention: Retention = field(default_factory=Retention)
    compaction_interval: float = 60.0
    lease_checkpoint_interval: float = 5.0
    bookmark_interval: float = 10.0
    watch_queue_limit: int = 10_000
    max_batch: int = 1000

    def __post_init__(self) -> None:
        for name in ("compaction_interval", "lease_checkpoint_interval", "bookmark_interval"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in ("watch_queue_limit", "max_batch"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.retention.max_events < 1 or self.retention.max_age <= 0:
            raise ValueError("history retention needs max_events >= 1 and max_age > 0")
