"""The registry's periodic work: lease checkpoints and history compaction, each on its own
period. Heartbeat times live in memory (a heartbeat never writes); a checkpoint saves those not
yet saved, in one batch. A failed one is retried at the next: losing a few seconds of
heartbeat times costs nothing the startup grace does not cover."""

from __future__ import annotations

import asyncio
import logging

from mesh_registry.config import RegistryConfig
from mesh_registry.health import HealthMonitor
from mesh_registry.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


class Maintenance:
    def __init__(self, config: RegistryConfig, store: Store, health: HealthMonitor) -> None:
        self._config = config
        self._store = store
        self._health = health

    async def run(self) -> None:
        """Until cancelled."""
        config = self._config
        loop = asyncio.get_running_loop()
        next_checkpoint = loop.time() + config.lease_checkpoint_interval
        next_compaction = loop.time() + config.compaction_interval
        while True:
            await asyncio.sleep(max(0.0, min(next_checkpoint, next_compaction) - loop.time()))
            now = loop.time()
            if now >= next_checkpoint:
                await self.checkpoint()
                next_checkpoint = now + config.lease_checkpoint_interval
            if now >= next_compaction:
                try:
                    await self._store.compact()
                except StoreUnavailable as error:
                    log.error("history compaction failed: %s", error)
                next_compaction = now + config.compaction_interval

    async def checkpoint(self) -> None:
        """Save the heartbeat times not saved yet."""
        unsaved = self._health.unsaved_heartbeats()
        if not unsaved:
            return
        try:
            await self._store.save_leases(unsaved)
        except StoreUnavailable as error:
            log.error("lease checkpoint failed: %s", error)
            self._health.requeue_unsaved(unsaved)
