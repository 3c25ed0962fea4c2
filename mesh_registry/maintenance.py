"""The registry's periodic work: lease checkpoints and history compaction, each on its own
period. Heartbeat times live in memory (a heartbeat never writes); a checkpoint saves those not
yet saved, in one batch. A failed one is retried at the next: losing a few seconds of
heartbeat times costs nothing the startup grace does not cover.

With replicas, checkpoints are how heartbeats travel: each replica saves its own every 0.2 s
and reads the others' after it (``Store.renewed_leases``), so that the leader decides deadlines
knowing every heartbeat, whichever replica received it."""

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
        self._renewals = 0  # the cursor of the other replicas' heartbeat times

    async def run(self) -> None:
        """Until cancelled."""
        config = self._config
        loop = asyncio.get_running_loop()
        next_checkpoint = loop.time() + config.lease_checkpoints
        next_compaction = loop.time() + config.compaction_interval
        while True:
            await asyncio.sleep(max(0.0, min(next_checkpoint, next_compaction) - loop.time()))
            now = loop.time()
            if now >= next_checkpoint:
                await self.checkpoint()
                if self._store.replicated:
                    await self.exchange()
                next_checkpoint = now + config.lease_checkpoints
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

    async def exchange(self) -> None:
        """Take in the heartbeat times the other replicas saved since the last exchange."""
        try:
            renewed, self._renewals = await self._store.renewed_leases(self._renewals)
        except StoreUnavailable as error:
            log.warning("heartbeat times of the other replicas not read: %s", error)
            return
        for key, heartbeat in renewed.items():
            self._health.heartbeat_elsewhere(key, heartbeat)
