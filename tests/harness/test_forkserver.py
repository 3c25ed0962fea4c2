"""The fork server the suite starts its registries and agents from: a child of it must end,
print and see its world exactly as ``python`` started by ``subprocess`` does."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.forked import ForkedProcess, ForkServer, _pidfds_work
from tests.support.processes import ROOT, wait_until

pytestmark = pytest.mark.skipif(
    not _pidfds_work(), reason="no pidfds here: the suite starts its processes with subprocess"
)
BASE = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}

# (script, arguments, environment added) -> the same exit status and output both ways.
SCRIPTS = {
    "ends": "print('hello')",
    "exits with a status": "import sys; print('out'); sys.exit(3)",
    "exits with a message": "import sys; sys.exit('cannot go on')",
    "exits with a negative status": "import sys; sys.exit(-1)",
    "exits with a status past 255": "import sys; sys.exit(258)",
    "raises": "def fail():\n    raise ValueError('bad value')\nfail()",
    "is interrupted": "raise KeyboardInterrupt",
    "runs its exit handlers": "import atexit; atexit.register(print, 'at exit')",
    "leaves a thread running": (
        "import threading, time\n"
        "threading.Thread(target=lambda: (time.sleep(0.2), print('joined'))).start()"
    ),
    "reads its arguments": "import sys; print(sys.argv[1:])",
    "reads its path and directory": "import os, sys; print(sys.path[0], os.getcwd())",
    "reads its environment": "import os; print(os.environ['MESH_PROBE'])",
    "reads stdin": "import sys; print(repr(sys.stdin.read()))",
    "writes to stderr": "import sys; print('to stderr', file=sys.stderr)",
}


@pytest.fixture(scope="module")
def server() -> Iterator[ForkServer]:
    started = ForkServer(ROOT, BASE)
    yield started
    started.close()


def by_subprocess(argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
    )
    return done.returncode, done.stdout


def by_fork(server: ForkServer, argv: list[str], env: dict[str, str]) -> tuple[int, str]:
    child = server.start(argv, env, ROOT)
    assert child.stdout is not None
    output = child.stdout.read()
    return child.wait(60), output


@pytest.mark.parametrize("case", SCRIPTS)
def test_a_script_runs_as_python_runs_it(server: ForkServer, tmp_path: Path, case: str) -> None:
    script = tmp_path / "script.py"
    script.write_text(SCRIPTS[case] + "\n")
    argv, env = [str(script), "one", "two words"], {**BASE, "MESH_PROBE": "probe value"}
    assert by_fork(server, argv, env) == by_subprocess(argv, env)


@pytest.mark.parametrize(
    "argv",
    [
        ["-m", "mesh_registry", "--help"],
        ["-m", "mesh_registry", "--port", "not-a-port"],
        [str(Path(sys.executable).parent / "mcp-mesh"), "--help"],
    ],
    ids=["registry help", "registry usage error", "console script"],
)
def test_a_module_or_console_script_runs_as_python_runs_it(
    server: ForkServer, argv: list[str]
) -> None:
    assert by_fork(server, argv, BASE) == by_subprocess(argv, BASE)


SLEEPER = "import time\nprint('sleeping')\ntime.sleep(600)\n"


@pytest.fixture(scope="module")
def sleeper_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    script = tmp_path_factory.mktemp("sleeper") / "sleeper.py"
    script.write_text(SLEEPER)
    return script


def sleeper(server: ForkServer, script: Path) -> ForkedProcess:
    child = server.start([str(script)], BASE, ROOT)
    assert child.stdout is not None
    assert child.stdout.readline() == "sleeping\n"
    return child


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL, signal.SIGINT])
def test_a_signal_reaches_the_child_and_its_status_says_so(
    server: ForkServer, sleeper_script: Path, sig: signal.Signals
) -> None:
    child = sleeper(server, sleeper_script)
    assert child.poll() is None
    child.send_signal(sig)
    assert child.wait(30) == -sig  # SIGINT too: python ends by it after the traceback
    child.send_signal(signal.SIGKILL)  # after its end: nothing to signal, and no error


def test_children_started_together_each_report_their_own_end(
    server: ForkServer, tmp_path: Path
) -> None:
    children = []
    for code in (3, 0, 5, 7):
        script = tmp_path / f"exit{code}.py"
        script.write_text(f"import sys; sys.exit({code})\n")
        children.append((code, server.start([str(script)], BASE, ROOT)))
    assert [child.wait(30) for _code, child in children] == [code for code, _child in children]


def test_closing_the_server_kills_what_it_started(sleeper_script: Path) -> None:
    server = ForkServer(ROOT, BASE)
    child = sleeper(server, sleeper_script)
    server.close()
    assert server.server.returncode == 0
    assert child.wait(10) == -signal.SIGKILL
    wait_until(lambda: not Path(f"/proc/{child.pid}").exists())


def test_a_server_that_dies_takes_its_children_with_it(sleeper_script: Path) -> None:
    server = ForkServer(ROOT, BASE)
    child = sleeper(server, sleeper_script)
    server.server.kill()  # no end of file for it to act on: the client must
    assert child.wait(10) == -signal.SIGKILL
    wait_until(lambda: not Path(f"/proc/{child.pid}/status").exists() or _zombie(child.pid))
    server.close()


def _zombie(pid: int) -> bool:
    """An orphan killed but not yet reaped by init shows as a zombie for a moment."""
    status = Path(f"/proc/{pid}/status").read_text()
    return "State:\tZ" in status
