"""Electing the replica that decides health, on PostgreSQL.

The leader holds a session-level advisory lock on a connection of its own (a pooled one could be
handed to someone else with the lock). On taking it, it increments the term in ``mesh_leader``
and writes its transitions fenced by that term (``postgres.py``: a transition whose term is no
longer current is refused in the transaction that would write it).

- A leader that dies loses its connection, and with it the lock: another replica takes it at
  its next try (every quarter of the lease).
- A leader renews ``renewed_at`` at the same pace. One that stops renewing for a whole lease
  while its session lives on (frozen, cut off) has its session ended by a replica that wants
  the role (``pg_terminate_backend``), which then takes the lock; the old leader, if it ever
  runs again, finds its connection gone, steps down, and its fenced writes are refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

import asyncpg

from mesh_registry.leadership import OnChange
from mesh_registry.store.postgres_schema import FAILED, LEADER_LOCK
from mesh_registry.waiting import within

log = logging.getLogger(__name__)


class PostgresLeadership:
    """Take part in the election of one database's replicas; ``lease`` in seconds."""

    fencing = True

    def __init__(self, dsn: str, lease: float, *, connect_timeout: float = 5.0) -> None:
        if lease <= 0:
            raise ValueError("the leader lease must be positive")
        self._dsn = dsn
        self._lease = lease
        self._connect_timeout = connect_timeout
        self._identity = f"{socket.gethostname()}:{os.getpid()}"
        self._connection: asyncpg.Connection | None = None
        self._task: asyncio.Task[None] | None = None
        self._on_change: OnChange | None = None
        self.term: int | None = None
        self._last_failure = ""  # logged once, until a step succeeds again

    async def start(self, on_change: OnChange) -> None:
        self._on_change = on_change
        await self._step()  # a first try at once: a lone replica leads from its start
        self._task = asyncio.create_task(self._run(), name="leader-election")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.term is not None and self._connection is not None:
            # Handed over at once: another replica need not wait for the lease.
            with contextlib.suppress(*FAILED):
                await self._connection.execute("SELECT pg_advisory_unlock($1)", LEADER_LOCK)
        self._lose("stopping")
        await self._disconnect()

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._lease / 4)
            await self._step()

    async def _step(self) -> None:
        try:
            if self.term is None:
                await self._try_to_lead()
            else:
                await self._renew()
        except FAILED as error:
            # The connection (and the lock, if it was held) is gone, or about to be.
            if str(error) != self._last_failure:
                log.warning("leader election: %s", error)
                self._last_failure = str(error)
            self._lose(f"the database connection failed: {error}")
            await self._disconnect()
        else:
            self._last_failure = ""

    async def _try_to_lead(self) -> None:
        connection = await self._connect()
        if not await connection.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK):
            await self._depose_if_silent(connection)
            return
        term = await connection.fetchval(
            "UPDATE mesh_leader SET term = term + 1, holder = $1, backend_pid = pg_backend_pid(),"
            " renewed_at = now() WHERE id = 1 RETURNING term",
            self._identity,
        )
        self.term = int(term)
        log.info("leading: deciding health (term %d)", self.term)
        if self._on_change is not None:
            self._on_change(self.term)

    async def _renew(self) -> None:
        assert self._connection is not None
        renewed = await self._connection.fetchval(
            "UPDATE mesh_leader SET renewed_at = now() WHERE id = 1 AND term = $1 RETURNING term",
            self.term,
        )
        if renewed is None:
            self._lose("another replica leads now")
            await self._disconnect()  # ends the session: the lock goes with it

    async def _depose_if_silent(self, connection: asyncpg.Connection) -> None:
        """End the session of a leader that has not renewed for a whole lease."""
        row = await connection.fetchrow(
            "SELECT backend_pid, term, holder FROM mesh_leader"
            " WHERE id = 1 AND renewed_at < now() - make_interval(secs => $1)",
            self._lease,
        )
        if row is None or row["backend_pid"] is None:
            return
        log.warning(
            "the leader %s (term %d) has not renewed for %g s: ending its database session",
            row["holder"],
            row["term"],
            self._lease,
        )
        await connection.execute("SELECT pg_terminate_backend($1)", row["backend_pid"])

    def _lose(self, why: str) -> None:
        if self.term is None:
            return
        log.warning("no longer leading (term %d): %s", self.term, why)
        self.term = None
        if self._on_change is not None:
            self._on_change(None)

    async def _connect(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            self._connection = await asyncpg.connect(self._dsn, timeout=self._connect_timeout)
        return self._connection

    async def _disconnect(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            try:
                await within(connection.close(), 2)
            except FAILED:
                connection.terminate()
