"""Clients this project did not write, on Node.js: the official MCP TypeScript SDK, npm's
EventSource and Redocly's OpenAPI linter (tests/api/node).

They are installed with ``npm ci`` into a cache directory (``MESH_TEST_NODE_CACHE``, default
``~/.cache/mcp-mesh-tests``), once per version of the lock file. Where Node.js or npm is
missing, or the install fails, the tests that need them are skipped with the reason, except
when ``CI`` is set: there they must run, so the same situation fails them.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import ROOT

SOURCES = ROOT / "tests" / "api" / "node"
_MANIFESTS = ("package.json", "package-lock.json")


def unavailable(reason: str) -> None:
    """Skip (fail under CI) a test that needs the Node.js tools."""
    if os.environ.get("CI"):
        pytest.fail(f"CI is set, so the Node.js interoperability tests must run: {reason}")
    pytest.skip(f"Node.js interoperability tests skipped: {reason}")


def node_tools() -> Path:
    """The directory holding the scripts of tests/api/node and their node_modules."""
    for tool in ("node", "npm"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not on PATH (install Node.js 20 or newer)")
    digest = hashlib.sha256(b"".join((SOURCES / m).read_bytes() for m in _MANIFESTS)).hexdigest()
    cache = Path(os.environ.get("MESH_TEST_NODE_CACHE") or Path.home() / ".cache/mcp-mesh-tests")
    target = cache / f"node-{digest[:16]}"
    target.mkdir(parents=True, exist_ok=True)
    with open(target / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel test workers install once
        if not (target / ".installed").exists():
            _install(target)
        for script in SOURCES.glob("*.mjs"):  # always the current scripts
            shutil.copyfile(script, target / script.name)
    return target


def _install(target: Path) -> None:
    for manifest in _MANIFESTS:
        shutil.copyfile(SOURCES / manifest, target / manifest)
    try:
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=target,
            capture_output=True,
            text=True,
            timeout=300,
        )
    except subprocess.TimeoutExpired:
        unavailable("npm ci did not finish within 300 s")
    if done.returncode != 0:
        unavailable(f"npm ci failed: {done.stderr.strip()[-2000:]}")
    (target / ".installed").touch()


def run_node(
    tools: Path, script: str, *args: str, stdin: str = "", timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run one of the scripts; its output is returned whatever its exit status."""
    return subprocess.run(
        ["node", str(tools / script), *args],
        cwd=tools,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def json_lines(output: str) -> list[Any]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]
