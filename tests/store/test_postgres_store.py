"""The PostgreSQL store as replicas see it: two stores on one database, in one process. One
revision order, compare-and-swap across replicas, the change feed, fences, heartbeat times
carried between replicas, the leader election, and a replica cut off past the history."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import pytest

from mesh_registry.model import ObjectKey
from mesh_registry.store import (
    Change,
    Fence,
    Fenced,
    KeyExists,
    Renewed,
    Retention,
    RevisionMismatch,
    Snapshot,
    StoreUnavailable,
)
from mesh_registry.store.postgres import PostgresStore
from mesh_registry.store.postgres_leader import PostgresLeadership
from tests.support.postgres import fresh_database
from tests.support.processes import eventually

K = ObjectKey("default", "a")


@pytest.fixture
def dsn() -> Iterator[str]:
    with fresh_database() as database:
        yield database


class Replica:
    """A store and everything its commit listener was told."""

    def __init__(self, dsn: str, **options: Any) -> None:
        self.store = PostgresStore(dsn, poll_interval=0.2, **options)
        self.seen: list[Change] = []
        self.resets: list[Snapshot] = []
        self.store.set_commit_listener(self.seen.extend)
        self.store.set_reset_listener(self.resets.append)

    @property
    def revisions(self) -> list[int]:
        return [change.revision for change in self.seen]


@pytest.fixture
async def replicas(dsn: str) -> AsyncIterator[tuple[Replica, Replica]]:
    a, b = Replica(dsn), Replica(dsn)
    await a.store.open()
    await b.store.open()
    yield a, b
    await a.store.close()
    await b.store.close()


async def test_two_replicas_number_their_writes_in_one_order(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    writes = [
        (replica.store, ObjectKey("default", f"{name}-{i}"))
        for i in range(150)
        for replica, name in ((a, "a"), (b, "b"))
    ]
    changes = await asyncio.gather(*(store.create(key, "{}") for store, key in writes))
    assert sorted(c.revision for c in changes) == list(range(1, 301))  # unique, no gap
    for replica in (a, b):
        await replica.store.sync()
        # Every change, its own and the other's, once and in order.
        assert replica.revisions == list(range(1, 301))
    assert {c.key for c in a.seen} == {key for _, key in writes}


async def test_the_other_replica_hears_of_a_write_without_asking(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    await a.store.create(K, "{}")

    async def heard() -> bool:
        return b.revisions == [1]

    await eventually(heard, within=5)  # woken by the notification (or the poll)


async def test_compare_and_swap_holds_across_replicas(replicas: tuple[Replica, Replica]) -> None:
    a, b = replicas
    await a.store.create(K, "1")
    await a.store.update(K, "2", expected_revision=1)
    with pytest.raises(RevisionMismatch) as stale:
        await b.store.update(K, "3", expected_revision=1)  # b may not have seen revision 2
    assert stale.value.actual == 2
    other = ObjectKey("default", "raced")
    results = await asyncio.gather(
        a.store.create(other, "a"), b.store.create(other, "b"), return_exceptions=True
    )
    assert sorted(type(r).__name__ for r in results) == ["Change", "KeyExists"]
    assert any(isinstance(r, KeyExists) for r in results)


async def test_a_fence_refuses_an_old_term_and_a_renewed_lease(
    replicas: tuple[Replica, Replica], dsn: str
) -> None:
    a, b = replicas
    await a.store.create(K, "{}")
    election = PostgresLeadership(dsn, lease=5.0)
    terms: list[int | None] = []
    await election.start(terms.append)
    try:
        assert election.term is not None
        term = election.term
        with pytest.raises(Fenced):
            await a.store.update(K, "stale", None, fence=Fence(term - 1))
        await b.store.save_leases({K: 100.0})  # a heartbeat the other replica received
        with pytest.raises(Renewed) as renewed:
            await a.store.update(K, "expired", None, fence=Fence(term, heartbeat=50.0))
        assert renewed.value.heartbeat == 100.0
        written = await a.store.update(K, "expired", None, fence=Fence(term, heartbeat=100.0))
        assert written.revision == 2
        with pytest.raises(Renewed):
            await a.store.delete(K, None, fence=Fence(term, heartbeat=99.0))
    finally:
        await election.stop()
    assert terms == [term, None]


async def test_heartbeat_times_are_read_once_in_order_from_a_cursor(
    replicas: tuple[Replica, Replica],
) -> None:
    a, b = replicas
    first, second = ObjectKey("default", "x"), ObjectKey("default", "y")
    await a.store.create(first, "{}")
    await a.store.create(second, "{}")
    await a.store.save_leases({first: 10.0, ObjectKey("default", "gone"): 5.0})
    renewed, cursor = await b.store.renewed_leases(0)
    assert renewed == {first: 10.0}
    await a.store.save_leases({second: 20.0})
    await b.store.save_leases({first: 9.0})  # older than the stored time: ignored
    renewed, cursor = await b.store.renewed_leases(cursor)
    assert renewed == {second: 20.0}
    assert await b.store.renewed_leases(cursor) == ({}, cursor)
    # Its own checkpoints a replica knows already.
    await b.store.save_leases({second: 30.0})
    assert (await b.store.renewed_leases(cursor))[0] == {}
    assert (await a.store.renewed_leases(cursor))[0] == {second: 30.0}


async def test_a_replica_that_missed_pruned_checkpoints_reads_every_lease(
    replicas: tuple[Replica, Replica], dsn: str
) -> None:
    a, b = replicas
    first, second = ObjectKey("default", "x"), ObjectKey("default", "y")
    await a.store.create(first, "{}")
    await a.store.create(second, "{}")
    await a.store.save_leases({first: 10.0})
    _, cursor = await b.store.renewed_leases(0)
    await a.store.save_leases({second: 20.0})
    connection = await asyncpg.connect(dsn)
    try:  # the checkpoints age out of the log before b reads them
        await connection.execute(
            "WITH gone AS (DELETE FROM mesh_lease_log RETURNING seq)"
            " UPDATE mesh_meta SET value = (SELECT max(seq) FROM gone) WHERE key = 'leases_pruned'"
        )
    finally:
        await connection.close()
    renewed, later = await b.store.renewed_leases(cursor)
    assert renewed == {first: 10.0, second: 20.0}
    assert later > cursor
    assert await b.store.renewed_leases(later) == ({}, later)


async def test_a_replica_cut_off_past_the_history_reloads_everything(dsn: str) -> None:
    a = Replica(dsn, retention=Retention(max_events=3))
    b = Replica(dsn)
    await a.store.open()
    await a.store.create(K, "{}")
    await b.store.open()
    assert b.store._feed is not None
    b.store._feed.cancel()  # b hears nothing from here on, as if cut off
    for i in range(10):
        await a.store.create(ObjectKey("default", f"n{i}"), "{}")
    await a.store.compact()
    assert await b.store.sync() == 11
    (reset,) = b.resets
    assert reset.revision == 11
    assert {record.key for record in reset.records} == {K} | {
        ObjectKey("default", f"n{i}") for i in range(10)
    }
    await a.store.close()
    await b.store.close()


async def test_one_leader_and_a_takeover_when_it_stops_dies_or_freezes(dsn: str) -> None:
    lease = 0.6
    schema = PostgresStore(dsn)
    await schema.open()  # the schema the election's table is in
    await schema.close()
    elections = [PostgresLeadership(dsn, lease) for _ in range(2)]
    terms: list[list[int | None]] = [[], []]
    for election, seen in zip(elections, terms, strict=True):
        await election.start(seen.append)

    def leaders() -> list[PostgresLeadership]:
        return [e for e in elections if e.term is not None]

    async def one_leader() -> bool:
        return len(leaders()) == 1

    try:
        await eventually(one_leader, within=5)
        first = leaders()[0]
        first_term = first.term
        assert first_term is not None

        # It dies: its session ends, the lock with it.
        async with _connection(dsn) as admin:
            await admin.execute(
                "SELECT pg_terminate_backend(backend_pid) FROM mesh_leader WHERE id = 1"
            )

        async def new_term() -> bool:
            return any((e.term or 0) > first_term for e in elections) and await one_leader()

        await eventually(new_term, within=5)
        second = leaders()[0]
        assert second.term is not None

        # It freezes: its session lives on, but it stops renewing. Deposed after the lease.
        assert second._task is not None
        second._task.cancel()
        frozen_term = second.term

        async def taken_over() -> bool:
            term = await _leader_term(dsn)
            return term > frozen_term

        await eventually(taken_over, within=10)
    finally:
        for election in elections:
            await election.stop()


async def test_a_leader_that_stops_hands_over_at_once(dsn: str) -> None:
    schema = PostgresStore(dsn)
    await schema.open()
    await schema.close()
    lease = 6.0  # a takeover by expiry would take this long; a handover, a quarter of it
    first, second = PostgresLeadership(dsn, lease), PostgresLeadership(dsn, lease)
    await first.start(lambda term: None)
    await second.start(lambda term: None)
    try:
        assert first.term is not None
        assert second.term is None
        await first.stop()

        async def second_leads() -> bool:
            return second.term is not None

        await eventually(second_leads, within=lease / 4 + 1)
    finally:
        await second.stop()


async def test_an_unreachable_or_newer_database_is_a_clear_error(dsn: str) -> None:
    unreachable = PostgresStore("postgresql://mesh:s3cret@127.0.0.1:1/nowhere", connect_timeout=2)
    with pytest.raises(StoreUnavailable, match="cannot open database") as caught:
        await unreachable.open()
    assert "s3cret" not in str(caught.value)
    store = PostgresStore(dsn)
    await store.open()
    await store.close()
    async with _connection(dsn) as admin:
        await admin.execute("INSERT INTO mesh_schema (version) VALUES (99)")
    with pytest.raises(StoreUnavailable, match=r"schema version 99.*upgrade the registry"):
        await PostgresStore(dsn).open()


async def _leader_term(dsn: str) -> int:
    async with _connection(dsn) as connection:
        return int(await connection.fetchval("SELECT term FROM mesh_leader WHERE id = 1"))


class _connection:
    """``async with _connection(dsn) as c``: a connection of the test's own."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn

    async def __aenter__(self) -> asyncpg.Connection:
        self._connection = await asyncpg.connect(self._dsn)
        return self._connection

    async def __aexit__(self, *exc_info: object) -> None:
        await self._connection.close()
