"""Writing the health monitor's decisions into the records: one record change per transition.

The monitor queues each phase change (or deletion) on its lease at its deadline; this writer
takes them in order and writes each with compare-and-swap on the record's revision, applying
it on top of any concurrent write. One writer per key at a time, so each transition is written
exactly once and in order. Deadlines write in the background (retried while the store fails);
a heartbeat that ended an unhealthy spell writes before it is answered.

With replicas, a deadline's write is fenced by the leader's term and by the heartbeat time it
counted from (``store.Fence``): refused, the lease takes the record's view back
(``HealthMonitor.adopt``). A revival saves its heartbeat time first, so that a leader's
deadline decided without it is refused rather than written over it.
"""

from __future__ import annotations

import asyncio
import logging

from mesh_registry.cache import WatchCache
from mesh_registry.codec import encode, with_revision
from mesh_registry.errors import Unavailable
from mesh_registry.health import HealthMonitor, Transition
from mesh_registry.locks import KeyedLocks
from mesh_registry.model import Agent, ObjectKey
from mesh_registry.records import in_phase, with_heartbeat
from mesh_registry.store import (
    Fence,
    Fenced,
    KeyNotFound,
    Renewed,
    RevisionMismatch,
    Store,
    StoreUnavailable,
)

log = logging.getLogger(__name__)

# A status write that fails on storage is retried after this delay.
RETRY_SECONDS = 1.0


class StatusWriter:
    def __init__(self, store: Store, cache: WatchCache, health: HealthMonitor) -> None:
        self._store = store
        self._cache = cache
        self._health = health
        self._locks: KeyedLocks[ObjectKey] = KeyedLocks()
        self._settling: set[ObjectKey] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.running = False
        # The leader's term while this replica leads a store shared with others: the fence of
        # its deadline writes. None otherwise.
        self.fence_term: int | None = None

    def changed(self, key: ObjectKey) -> None:
        """A deadline passed and queued a transition: write it, in the background."""
        if key in self._settling:
            return  # the running writer loops until the queue is empty
        self._settling.add(key)
        task = asyncio.create_task(self._settle_in_background(key), name=f"status-{key}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Wait until the background writes, and those they led to, have finished."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def settle(self, key: ObjectKey) -> Agent | None:
        """Write every pending transition of ``key``, oldest first; return the record as stored
        afterwards (with its last heartbeat time), or ``None`` once it is gone."""
        async with self._locks.hold(key):
            while True:
                current = self._cache.get(key)
                step = self._health.pending(key)
                if current is None:
                    return None
                if step is None:
                    return with_heartbeat(current, self._health.last_heartbeat(key))
                try:
                    written = await self._write(current, step)
                except RevisionMismatch:
                    # A concurrent write of the record: apply ours on top of it, once this
                    # replica has seen it (with replicas, it may come from another one).
                    await self._synced()
                    continue
                except KeyNotFound:
                    return None
                except Fenced:
                    log.info("%s: not written, another replica leads now", key)
                    self._health.adopt(key, current)
                    continue
                except Renewed as renewed:
                    self._health.adopt(key, current, renewed.heartbeat)
                    continue
                self._health.written(key, step)
                if written is None:
                    return None

    async def _settle_in_background(self, key: ObjectKey) -> None:
        try:
            while self.running:
                try:
                    await self.settle(key)
                    return
                except Unavailable as error:
                    log.warning("status of %s not written (%s); retrying", key, error.message)
                    await asyncio.sleep(RETRY_SECONDS)
        finally:
            self._settling.discard(key)

    async def _write(self, current: Agent, step: Transition) -> Agent | None:
        """Write one transition: a phase change, or the deletion of an expired record."""
        key = current.key
        heartbeat = self._health.last_heartbeat(key)
        try:
            fence = self._fence(step)
            # A revival is saved with the heartbeat that caused it: the leader, which counts
            # deadlines from the saved times, never sees the one without the other.
            lease = heartbeat if step.basis is None and self._store.replicated else None
            if step.phase is None:
                await self._store.delete(key, current.revision, fence=fence)
                log.info("deleted %s: offline since %s", key, current.status.phase_since)
                return None
            changed = in_phase(current, step.phase, step.at, heartbeat)
            change = await self._store.update(
                key, encode(changed), current.revision, payload=changed, fence=fence, lease=lease
            )
        except StoreUnavailable as error:
            raise Unavailable(str(error)) from error
        return with_revision(changed, change.revision)

    def _fence(self, step: Transition) -> Fence | None:
        if step.basis is None or not self._store.replicated:
            return None  # a revival, or the only process of its store
        if self.fence_term is None:
            raise Fenced("deadlines are the leader's to write")
        return Fence(self.fence_term, step.basis)

    async def _synced(self) -> None:
        try:
            await self._store.sync()
        except StoreUnavailable as error:
            raise Unavailable(str(error)) from error
