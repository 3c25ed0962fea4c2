"""Processes started by the suite's fork server (tests.support.forkserver): one server per test
worker, started when first needed; each child looks to a test like a ``subprocess.Popen``.

``MESH_TEST_FORKSERVER=0`` starts every process with ``subprocess`` instead, as does a system
without pidfds.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

from tests.support.forkserver import receive, send


def enabled() -> bool:
    """Unless turned off, and where the system has what the fork server needs (Linux 5.3's
    pidfds; a container's seccomp profile may refuse them)."""
    if os.environ.get("MESH_TEST_FORKSERVER", "1") == "0":
        return False
    return _pidfds_work()


@functools.cache
def _pidfds_work() -> bool:
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False
    return True


class ForkServer:
    """The connection to one fork server process."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.server = subprocess.Popen(
            [sys.executable, "-m", "tests.support.forkserver", str(theirs.fileno())],
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            pass_fds=[theirs.fileno()],
        )
        theirs.close()
        self._channel = ours
        self._spawning = threading.Lock()  # one request at a time: answers come in order
        self._started: list[ForkedProcess] = []  # answers, for the request waiting on them
        self._answered = threading.Condition()
        self._children: dict[int, ForkedProcess] = {}
        self._reader = threading.Thread(target=self._read, daemon=True, name="forkserver")
        self._reader.start()

    def start(self, argv: list[str], env: dict[str, str], cwd: Path) -> ForkedProcess:
        """A child running ``python ARGV`` with ``env`` in ``cwd``, its output on a pipe."""
        output_r, output_w = os.pipe()
        with self._spawning:
            send(self._channel, {"argv": argv, "env": env, "cwd": str(cwd)}, [output_w])
            os.close(output_w)
            with self._answered:
                if not self._answered.wait_for(lambda: self._started or self._gone(), 30):
                    raise RuntimeError("the fork server did not answer within 30 s")
                if not self._started:
                    raise RuntimeError("the fork server exited")
                child = self._started.pop()
        child.stdout = os.fdopen(output_r, encoding="utf-8")
        return child

    def close(self) -> None:
        """End the server (it kills what it started and is still running) and wait for it;
        also when it has died already."""
        with contextlib.suppress(OSError):
            self._channel.shutdown(socket.SHUT_RDWR)
        self.server.wait(30)
        self._reader.join(30)  # it has seen the end of file: the channel is no longer read
        self._channel.close()

    def _gone(self) -> bool:
        return self.server.poll() is not None

    def _read(self) -> None:
        while True:
            message, fds = receive(self._channel)
            if message is None:  # the server ended: what it started cannot be waited for
                for child in self._children.values():
                    child.kill()  # it killed them itself, unless it crashed
                    child.ended(-signal.SIGKILL)
                with self._answered:
                    self._answered.notify_all()
                return
            with self._answered:
                if "pid" in message:  # registered at once: its exit may be the next message
                    child = self._children[message["pid"]] = ForkedProcess(message["pid"], fds[0])
                    self._started.append(child)
                    self._answered.notify_all()
                else:
                    self._children.pop(message["exited"]).ended(message["code"])


class ForkedProcess:
    """A fork server's child, as much of ``subprocess.Popen`` as the suite uses."""

    def __init__(self, pid: int, pidfd: int) -> None:
        self.pid = pid
        self.stdout: IO[str] | None = None
        self.returncode: int | None = None
        self._pidfd = pidfd
        self._pidfd_lock = threading.Lock()  # closed once, never while a signal is sent on it
        self._exited = threading.Event()

    def ended(self, code: int) -> None:
        with self._pidfd_lock:
            self.returncode = code
            os.close(self._pidfd)
        self._exited.set()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._exited.wait(timeout):
            raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0)
        assert self.returncode is not None
        return self.returncode

    def send_signal(self, sig: int) -> None:
        with self._pidfd_lock:
            if self.returncode is None:
                try:
                    signal.pidfd_send_signal(self._pidfd, sig)
                except ProcessLookupError:  # exited, not yet reported
                    pass

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


_servers: dict[int, ForkServer] = {}
_lock = threading.Lock()


def start(
    argv: list[str], env: dict[str, str], cwd: Path, server_env: dict[str, str]
) -> ForkedProcess:
    """Start ``python ARGV`` through this process's fork server (started on first use)."""
    with _lock:
        server = _servers.get(os.getpid())
        if server is None or server._gone():
            server = _servers[os.getpid()] = ForkServer(cwd, server_env)
            atexit.register(server.close)
    return server.start(argv, env, cwd)
