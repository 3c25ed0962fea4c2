"""Start the real registry as a process on a loopback port, and wait for conditions."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


@dataclass
class RegistryProcess:
    process: subprocess.Popen[str]
    url: str

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.read()


def spawn_registry(*args: str, port: int | None = None) -> tuple[subprocess.Popen[str], str]:
    port = port or free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "mesh_registry", "--port", str(port), *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"},
    )
    return process, f"http://127.0.0.1:{port}"


@contextmanager
def running_registry(*args: str) -> Iterator[RegistryProcess]:
    """A registry process, ready to serve; stopped (SIGTERM) on exit."""
    process, url = spawn_registry(*args)
    registry = RegistryProcess(process, url)
    try:
        wait_until(
            lambda: process.poll() is not None or httpx.get(url + "/readyz").status_code == 200
        )
        if process.poll() is not None:
            raise AssertionError(f"the registry exited at start:\n{registry.output()}")
        yield registry
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()
