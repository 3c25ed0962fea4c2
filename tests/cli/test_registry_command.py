"""The `mcp-mesh-registry` command: flags and environment, clear failures, graceful shutdown."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from mesh_registry.serving import listen
from tests.support.agents import agent_body
from tests.support.processes import ROOT, RegistryProcess, running_registry, wait_until


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mesh_registry", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={**(env or {}), "PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)},
    )


def test_a_taken_port_is_one_clear_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run("--port", str(port), "--db", ":memory:")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"mcp-mesh-registry: cannot listen on 127.0.0.1:{port}: Address already in use"
    ]


def test_an_unusable_database_is_one_clear_line(tmp_path: Path) -> None:
    result = run("--port", "0", "--db", str(tmp_path / "missing" / "mesh.db"))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("mcp-mesh-registry:")]
    assert len(errors) == 1
    assert "cannot open database" in errors[0]


def test_a_second_registry_on_the_same_file_is_refused(tmp_path: Path) -> None:
    database = str(tmp_path / "mesh.db")
    with running_registry("--db", database):
        result = run("--port", "0", "--db", database)
    assert result.returncode == 1
    assert "in use by another registry process" in result.stderr
    assert "Traceback" not in result.stderr


def test_nonsense_settings_are_refused() -> None:
    result = run("--unhealthy-after", "9", "--offline-after", "3")
    assert result.returncode == 2
    assert "unhealthy_after < offline_after" in result.stderr
    result = run("--delete-after", "soon")
    assert result.returncode == 2
    assert "neither a number of seconds nor 'never'" in result.stderr


def test_settings_from_the_environment_and_json_logs(tmp_path: Path) -> None:
    env = {
        "MESH_REGISTRY_DB": str(tmp_path / "env.db"),
        "MESH_REGISTRY_LOG_FORMAT": "json",
        "MESH_REGISTRY_METRICS": "false",
    }
    with running_registry(env=env) as registry:
        assert httpx.get(registry.url + "/metrics").status_code == 404
        assert (tmp_path / "env.db").exists()
        records = [json.loads(line) for line in registry.lines if line.startswith("{")]
        assert any(r["message"].startswith("serving on") for r in records)
        assert all({"time", "level", "logger", "message"} <= set(r) for r in records)


async def test_sigterm_ends_watches_checkpoints_leases_and_exits_0(tmp_path: Path) -> None:
    database = str(tmp_path / "mesh.db")
    registry = RegistryProcess("--port", "0", "--db", database).wait_ready()
    item = f"{registry.url}/api/v1/namespaces/default/agents/a"
    async with httpx.AsyncClient(timeout=None) as api:
        await api.put(item, json=agent_body("a", ["x.y"], interval=30))
        beat = await api.post(item + "/heartbeat")
        assert beat.status_code == 200
        heartbeat_time = (await api.get(item)).json()["status"]["lastHeartbeatTime"]
        lines: list[str] = []
        async with api.stream("GET", registry.url + "/api/v1/agents?watch=true") as stream:
            chunks = stream.aiter_lines()
            while "event: BOOKMARK" not in lines:
                lines.append(await anext(chunks))
            registry.process.send_signal(signal.SIGTERM)
            async for line in chunks:  # the stream ends cleanly, without an error
                lines.append(line)
    assert await asyncio.to_thread(registry.wait_exit) == 0
    assert "registry stopped" in registry.output
    # The lease was checkpointed: the heartbeat time survives the restart.
    with running_registry("--db", database) as again:
        async with httpx.AsyncClient() as api:
            agent = (await api.get(f"{again.url}/api/v1/namespaces/default/agents/a")).json()
        assert agent["status"]["lastHeartbeatTime"] == heartbeat_time


def test_sigint_stops_cleanly() -> None:
    with running_registry("--db", ":memory:") as registry:
        assert registry.stop(signal.SIGINT) == 0


def test_connections_get_tcp_nodelay() -> None:
    """Small responses must not wait for delayed ACKs: accepted sockets need TCP_NODELAY."""

    async def check() -> int:
        listener = listen("127.0.0.1", 0)
        flags: list[int] = []

        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            sock = writer.get_extra_info("socket")
            flags.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listener)
        port = listener.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        await asyncio.to_thread(wait_until, lambda: flags)
        writer.close()
        server.close()
        await server.wait_closed()
        return flags[0]

    assert asyncio.run(check()) != 0


def test_help_lists_every_option() -> None:
    result = run("--help")
    assert result.returncode == 0
    for option in ("--db", "--history-max-events", "--log-format", "--delete-after"):
        assert option in result.stdout


def test_a_backup_while_the_registry_writes_is_a_consistent_copy(tmp_path: Path) -> None:
    database, copy = str(tmp_path / "mesh.db"), tmp_path / "copy.db"
    with running_registry("--db", database) as registry, httpx.Client(base_url=registry.url) as api:
        for n in range(50):
            api.post("/api/v1/namespaces/default/agents", json=agent_body(f"before-{n}", ["a.b"]))
        writes = subprocess.Popen(  # writes in flight while the copy is made
            [sys.executable, "-c", _WRITER, registry.url], cwd=ROOT
        )
        try:
            result = run("backup", "--db", database, str(copy))
        finally:
            writes.wait(timeout=60)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"{database}: copied to {copy}"
        again = run("backup", "--db", database, str(copy))
        assert again.returncode == 1
        assert "exists: give a new file" in again.stderr
    with running_registry("--db", str(copy)) as restored:
        listed = httpx.get(restored.url + "/api/v1/agents").json()
    names = {agent["metadata"]["name"] for agent in listed["items"]}
    assert {f"before-{n}" for n in range(50)} <= names
    # A snapshot of one moment: every record at or before the copy's revision.
    revision = int(listed["metadata"]["resourceVersion"])
    assert all(int(a["metadata"]["resourceVersion"]) <= revision for a in listed["items"])
    assert not (tmp_path / "copy.db.partial").exists()


def test_a_backup_of_what_cannot_be_copied_is_one_clear_line(tmp_path: Path) -> None:
    for database, message in (
        (":memory:", "nothing to back up"),
        (str(tmp_path / "missing.db"), "cannot open database"),
        ("postgresql://mesh@db.internal/mesh", "back it up with pg_dump"),
    ):
        result = run("backup", "--db", database, str(tmp_path / "copy.db"))
        assert result.returncode == 1, database
        assert message in result.stderr
        assert "Traceback" not in result.stderr


_WRITER = """
import sys, httpx
from tests.support.agents import agent_body
with httpx.Client(base_url=sys.argv[1]) as api:
    for n in range(200):
        api.post("/api/v1/namespaces/default/agents", json=agent_body(f"during-{n}", ["a.b"]))
"""
