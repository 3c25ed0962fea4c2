"""Start the real registry as a process on a loopback port, and wait for conditions."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
_SERVING = re.compile(r"serving on (http://\S+)")


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


class RegistryProcess:
    """A ``mcp-mesh-registry`` process; its output is collected as it runs."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mesh_registry", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()
        self.url = ""

    def _drain(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # a full pipe would block the registry: always read
            self.lines.append(line.rstrip("\n"))
        self.process.stdout.close()

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_ready(self, timeout: float = 30.0) -> RegistryProcess:
        def serving() -> str | None:
            if self.process.poll() is not None:
                raise AssertionError(f"the registry exited at start:\n{self.output}")
            for line in self.lines:
                match = _SERVING.search(line)
                if match:
                    return match.group(1)
            return None

        self.url = wait_until(serving, timeout)
        wait_until(lambda: httpx.get(self.url + "/readyz").status_code == 200, timeout)
        return self

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
