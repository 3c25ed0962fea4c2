"""PostgreSQL for the tests: a database of their own on the machine's server, or a server of
their own that a test may stop and start.

The server is ``MESH_TEST_POSTGRES_DSN`` (default: the local one, ``postgres`` with trust
authentication). Where it cannot be reached, the tests that need it are skipped with the
reason, loudly, except under ``CI``, where that fails them: CI machines run PostgreSQL.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.support.processes import free_port, wait_until

T = TypeVar("T")
SERVER = os.environ.get("MESH_TEST_POSTGRES_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to its end from synchronous code, whatever loop this thread runs."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(lambda: asyncio.run(_awaited(make))).result()


async def _awaited(make: Callable[[], Awaitable[T]]) -> T:
    return await make()


def with_database(dsn: str, database: str) -> str:
    """``dsn`` naming another database of the same server."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


def require_server(dsn: str = SERVER) -> None:
    """Skip the test (fail it under CI) when the server cannot be reached."""
    try:
        run_async(lambda: _ping(dsn))
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        reason = (
            f"PostgreSQL is not reachable at {dsn} ({error}): the tests of registry replicas"
            " cannot run. Start it (pg_ctlcluster --skip-systemctl-redirect"
            " $(ls /etc/postgresql) main start) or set MESH_TEST_POSTGRES_DSN."
        )
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)


async def _ping(dsn: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    await connection.close()


@contextlib.contextmanager
def fresh_database(server: str = SERVER) -> Iterator[str]:
    """A new, empty database on ``server`` (its DSN), dropped afterwards."""
    require_server(server)
    name = "mesh_test_" + uuid.uuid4().hex[:12]
    run_async(lambda: _execute(server, f'CREATE DATABASE "{name}"'))
    try:
        yield with_database(server, name)
    finally:
        run_async(lambda: _execute(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _execute(dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(dsn, timeout=5)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


class PrivateServer:
    """A PostgreSQL server of the test's own, on a free loopback port: stopped and started at
    will without disturbing anyone else. Run as the ``postgres`` user when the tests run as
    root (PostgreSQL refuses root)."""

    def __init__(self) -> None:
        binaries = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
        if not binaries:
            pytest.skip("no PostgreSQL server binaries under /usr/lib/postgresql")
        self._bin = binaries[-1].parent
        self.port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="mesh-pg-"))
        self._process: subprocess.Popen[bytes] | None = None
        self._as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
        if self._as_user:
            shutil.chown(self.directory, "postgres", "postgres")
        data = str(self.directory / "data")
        initdb = [str(self._bin / "initdb"), "-D", data, "-A", "trust", "-U", "postgres"]
        self._run([*initdb, "--no-sync"])

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        self._process = subprocess.Popen(
            [
                *self._as_user,
                str(self._bin / "postgres"),
                "-D",
                str(self.directory / "data"),
                "-p",
                str(self.port),
                "-k",
                str(self.directory),
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(self._accepting, timeout=30)

    def stop(self) -> None:
        """Stop at once (as ``pg_ctl stop -m immediate``): every connection is cut."""
        if self._process is None:
            return
        # The postmaster itself (runuser, when there is one, passes no signal on).
        pid_file = self.directory / "data" / "postmaster.pid"
        postmaster = int(pid_file.read_text().split()[0])
        os.kill(postmaster, signal.SIGQUIT)
        self._process.wait(timeout=30)
        self._process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _accepting(self) -> bool:
        try:
            run_async(lambda: _ping(self.dsn))
        except (OSError, asyncpg.PostgresError, TimeoutError):
            return False
        return True

    def _run(self, command: list[str]) -> None:
        subprocess.run(
            [*self._as_user, *command], check=True, capture_output=True, cwd=self.directory
        )
