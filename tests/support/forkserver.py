"""A fork server for the suite's registries and agents: ``python -m tests.support.forkserver``.

Most of a registry's or an agent's start is importing FastMCP, Starlette and pydantic (about a
second of CPU each time, and the suite starts a few hundred such processes). This server imports
them once; each process the suite asks for is a fork of it that runs its command as ``python``
would (``-m MODULE`` or a script path, with its arguments and environment), with its output on
the pipe the test gave and stdin on /dev/null.

Requests and answers are JSON datagrams on a SEQPACKET socket (file descriptors ride along with
SCM_RIGHTS):

- ``{"argv": [...], "env": {...}, "cwd": "..."}`` with the write end of the output pipe: the
  server forks and answers ``{"pid": N}`` with a pidfd of the child (so the test signals that
  very process, never a later one given the same pid);
- when a child exits the server reaps it and says ``{"exited": N, "code": C}`` (``-S`` for a
  signal ``S``, as ``subprocess`` does).

When the test worker goes away (end of file on the socket) every child left is killed.
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import runpy
import selectors
import signal
import socket
import sys
import threading
import traceback
from typing import Any

# What a registry, an agent and the CLI import: done once here, shared by every fork.
PRELOAD = (
    "mesh_registry.cli.registry",
    "mesh_registry.server.app",
    "mesh_agent",
    "mesh_agent.cli",
    "griffe",  # FastMCP reads docstrings with it when a tool is declared
)
MAX_MESSAGE = 1 << 20


def send(channel: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    socket.send_fds(channel, [json.dumps(message).encode()], fds or [])


def receive(channel: socket.socket) -> tuple[dict[str, Any] | None, list[int]]:
    """The next message and the descriptors it carries; ``None`` at end of file."""
    data, fds, _flags, _address = socket.recv_fds(channel, MAX_MESSAGE, 4)
    return (json.loads(data) if data else None), fds


def serve(channel: socket.socket) -> None:
    """Fork a child per request and report how each ends, until the channel closes."""
    children: dict[int, int] = {}  # pidfd -> pid, until reaped
    events = selectors.DefaultSelector()
    events.register(channel, selectors.EVENT_READ)
    while True:
        for key, _mask in events.select():
            if key.fileobj is channel:
                request, fds = receive(channel)
                if request is None:
                    _kill_all(children)
                    return
                pid, pidfd = _fork(request, fds[0], channel)
                children[pidfd] = pid
                events.register(pidfd, selectors.EVENT_READ)
                send(channel, {"pid": pid}, [pidfd])
            else:
                pidfd = int(key.fd)
                events.unregister(pidfd)
                pid = children.pop(pidfd)
                os.close(pidfd)
                _pid, status = os.waitpid(pid, 0)
                send(channel, {"exited": pid, "code": os.waitstatus_to_exitcode(status)})


def _fork(request: dict[str, Any], output: int, channel: socket.socket) -> tuple[int, int]:
    pid = os.fork()
    if pid == 0:  # the child never returns
        end = _run_child(request, output)
        if isinstance(end, signal.Signals):  # as python ends after an uncaught KeyboardInterrupt
            signal.signal(end, signal.SIG_DFL)
            os.kill(os.getpid(), end)
        os._exit(end & 0xFF)  # what the system keeps of a status, as of python's
    os.close(output)
    return pid, os.pidfd_open(pid)


def _run_child(request: dict[str, Any], output: int) -> int | signal.Signals:
    stdin = os.open(os.devnull, os.O_RDONLY)
    os.dup2(stdin, 0)
    os.dup2(output, 1)
    os.dup2(output, 2)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))  # the server's socket, selector, other pidfds
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    return run_like_python(request["argv"])


def run_like_python(argv: list[str]) -> int | signal.Signals:
    """Run ``python ARGV`` in this process and return its exit status (or the signal python
    would end itself by): the module or script as ``__main__``, then what the interpreter does
    at exit (join threads, atexit, flush)."""
    code: int | signal.Signals
    try:
        if argv[0] == "-m":
            sys.argv = ["-m", *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
        code = 0
    except SystemExit as exit:
        code = _exit_code(exit.code)
    except KeyboardInterrupt as interrupt:
        _print_uncaught(interrupt)
        code = signal.SIGINT
    except BaseException as error:
        _print_uncaught(error)
        code = 1
    threading._shutdown()  # type: ignore[attr-defined]  # as the interpreter does at exit
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    return code


def _print_uncaught(error: BaseException) -> None:
    """The traceback python prints: from the script's own frames, not this runner's."""
    frames = error.__traceback__
    while frames is not None and frames.tb_frame.f_code.co_filename in _RUNNER_FILES:
        frames = frames.tb_next
    traceback.print_exception(type(error), error, frames)


_RUNNER_FILES = {__file__, runpy.__file__, "<frozen runpy>"}


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def _kill_all(children: dict[int, int]) -> None:
    for pidfd in children:
        signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    for pid in children.values():
        os.waitpid(pid, 0)


def main() -> None:
    channel = socket.socket(fileno=int(sys.argv[1]))
    for module in PRELOAD:
        importlib.import_module(module)
    gc.collect()
    gc.freeze()  # what every child shares: its collections never scan it (nor copy its pages)
    serve(channel)


if __name__ == "__main__":
    main()
