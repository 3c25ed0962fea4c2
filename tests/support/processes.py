"""Start the real registry as a process on a loopback port, and wait for conditions."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import httpx

from tests.support import forked

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
SERVING = re.compile(r"serving on (https?://\S+)")


def wait_until(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.02) -> T:
    """Poll ``condition`` until it returns a truthy value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        try:
            result = condition()
        except Exception as error:  # not ready yet: keep the last reason for the failure
            last_error = error
        else:
            if result:
                return result
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s (last error: {last_error!r})")


async def eventually(
    condition: Callable[[], Awaitable[T]], within: float = 10.0, interval: float = 0.01
) -> T:
    """Await ``condition`` until it returns a truthy value; fail after ``within`` seconds.

    For state held by another process, which no local event reports.
    """
    async with asyncio.timeout(within):
        while not (result := await condition()):  # noqa: ASYNC110 - remote state: nothing to await
            await asyncio.sleep(interval)
    return result


def free_port() -> int:
    """A loopback port nothing listens on now (for a process to be started on it later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """A Python process of the project's, on the test's loopback; its output is collected as it
    runs (a full pipe would block it)."""

    def __init__(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        base = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        self.process: subprocess.Popen[str] | forked.ForkedProcess
        if forked.enabled() and all(name.startswith("MESH_") for name in env or {}):
            # Settings read when a module is imported would be the fork server's: only the
            # project's own, read at start, may differ from it.
            self.process = forked.start(argv, {**base, **(env or {})}, ROOT, base)
        else:
            self.process = subprocess.Popen(
                [sys.executable, *argv],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env={**base, **(env or {})},
            )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))
        self.process.stdout.close()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_exit(self, timeout: float = 30.0) -> int:
        code = self.process.wait(timeout=timeout)
        self._reader.join(timeout=5)
        return code

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.wait_exit()

    def alive(self) -> bool:
        return self.process.poll() is None


class RegistryProcess(Process):
    """A ``mcp-mesh-registry`` process."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        super().__init__(["-m", "mesh_registry", *args], env)
        self.args = args
        self.url = ""

    def wait_ready(self, timeout: float = 30.0, verify: Any = True) -> RegistryProcess:
        def serving() -> str | None:
            if self.process.poll() is not None:
                raise AssertionError(f"the registry exited at start:\n{self.output}")
            for line in self.lines:
                match = SERVING.search(line)
                if match:
                    return match.group(1)
            return None

        self.url = wait_until(serving, timeout)
        ready = lambda: httpx.get(self.url + "/readyz", verify=verify).status_code == 200  # noqa: E731
        wait_until(ready, timeout)
        return self

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])


@contextmanager
def running_registry(*args: str, env: dict[str, str] | None = None) -> Iterator[RegistryProcess]:
    """A registry process on a free loopback port, ready to serve; killed on exit if still up."""
    if "--port" not in args:
        args = ("--port", "0", *args)
    registry = RegistryProcess(*args, env=env)
    try:
        yield registry.wait_ready()
    finally:
        registry.kill()


def revision(api: httpx.Client) -> int:
    """The registry's current revision, as its readiness probe reports it."""
    return int(api.get("/readyz").json()["revision"])
