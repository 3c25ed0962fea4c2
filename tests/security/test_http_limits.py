"""What one connection can make a server hold: request heads bounded in bytes, header count and
time, connections bounded in number; each refusal a ``Status``, and the server serving on.

Against a registry process, and against an agent process (the same HTTP layer guards both).
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.agent_processes import AgentProcess
from tests.support.processes import RegistryProcess, running_registry, wait_until

HEAD_TIMEOUT = 0.5
TIMER_GRANULARITY = 0.002
MAX_CONNECTIONS = 20


@pytest.fixture(scope="module")
def limited() -> Iterator[RegistryProcess]:
    with running_registry(
        "--db",
        ":memory:",
        "--request-head-timeout",
        str(HEAD_TIMEOUT),
        "--max-connections",
        str(MAX_CONNECTIONS),
    ) as process:
        yield process


def connect(url: str) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)), timeout=10)
    return connection


def answer(connection: socket.socket) -> tuple[int, dict[str, Any]]:
    """The status code and JSON body of the one response the server sends before it closes."""
    data = b""
    while chunk := connection.recv(65536):
        data += chunk
    connection.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    assert b"connection: close" in head.lower()
    return status, json.loads(body)


def send_all(connection: socket.socket, data: bytes) -> None:
    """Send as much as the server takes: it may close the connection midway, on purpose."""
    try:
        connection.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def healthy(limited: RegistryProcess) -> None:
    assert httpx.get(limited.url + "/healthz").status_code == 200


HEAD = b"GET /healthz HTTP/1.1\r\n"
MANY_HEADERS = b"".join(b"X-%d: 1\r\n" % i for i in range(101))
REFUSED_HEADS = [
    # (id, bytes sent, status, words)
    ("a header over 64 KiB", HEAD + b"X-Big: " + b"a" * 70_000 + b"\r\n\r\n", 431, "over 65536"),
    ("a header that never ends", HEAD + b"X-Big: " + b"a" * 10_000_000, 431, "over 65536"),
    ("101 headers", HEAD + MANY_HEADERS + b"\r\n", 431, "at most 100 headers"),
    ("a URL of 70 KB", b"GET /healthz?" + b"q" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "URL is over"),
    ("garbage", b"\x16\x03\x01\x02\x00 not http\r\n\r\n", 400, "malformed HTTP request"),
]


@pytest.mark.parametrize(
    ("sent", "status", "words"),
    [row[1:] for row in REFUSED_HEADS],
    ids=[row[0] for row in REFUSED_HEADS],
)
def test_oversized_and_malformed_heads_get_a_status_and_the_door(
    limited: RegistryProcess, sent: bytes, status: int, words: str
) -> None:
    connection = connect(limited.url)
    send_all(connection, sent)
    code, body = answer(connection)
    assert (code, body["kind"], body["code"]) == (status, "Status", status)
    assert words in body["message"], body
    healthy(limited)


def test_a_flood_of_unfinished_headers_holds_no_memory(limited: RegistryProcess) -> None:
    def rss() -> int:
        status = Path(f"/proc/{limited.process.pid}/status").read_text()
        return int(status.split("VmRSS:")[1].split()[0])

    before = rss()
    for _ in range(4):
        connection = connect(limited.url)
        send_all(connection, b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 25_000_000)
        assert answer(connection)[0] == 431
    assert rss() - before < 20_000  # kB: each connection was cut at 64 KiB
    healthy(limited)


def test_an_idle_connection_is_closed_at_the_head_deadline(
    limited: RegistryProcess,
) -> None:
    started = time.monotonic()
    connection = connect(limited.url)  # sends nothing at all
    code, body = answer(connection)
    assert (code, body["reason"]) == (408, "Timeout")
    # uvloop's timers tick in milliseconds: one may fire that much before its deadline.
    assert HEAD_TIMEOUT - TIMER_GRANULARITY <= time.monotonic() - started < HEAD_TIMEOUT + 2


def test_a_slow_head_is_closed_at_its_deadline_however_it_trickles(
    limited: RegistryProcess,
) -> None:
    connection = connect(limited.url)
    started = time.monotonic()
    connection.sendall(b"GET /healthz HTTP/1.1\r\n")
    while time.monotonic() - started < HEAD_TIMEOUT * 4:
        try:
            connection.sendall(b"X")  # a byte at a time: each would reset a naive timer
        except OSError:
            break
        time.sleep(HEAD_TIMEOUT / 10)
    code, _ = answer(connection)
    assert code == 408
    assert time.monotonic() - started < HEAD_TIMEOUT * 4


def test_a_kept_alive_connection_serves_request_after_request(
    limited: RegistryProcess,
) -> None:
    with httpx.Client(base_url=limited.url) as client:
        for _ in range(3):
            assert client.get("/healthz").status_code == 200
            time.sleep(HEAD_TIMEOUT / 2)  # idle in between: the keep-alive timer's business


def test_connections_beyond_the_limit_are_refused_and_logged(
    limited: RegistryProcess,
) -> None:
    held = []
    try:
        for _ in range(MAX_CONNECTIONS + 5):
            connection = connect(limited.url)
            connection.sendall(b"GET /api/v1/agents?watch=true HTTP/1.1\r\nHost: x\r\n\r\n")
            held.append(connection)  # watches: they stay open
        code, body = answer(held.pop())
        assert (code, body["reason"]) == (503, "ServiceUnavailable")
        wait_until(lambda: any("connection limit of 20" in line for line in limited.lines))
    finally:
        for connection in held:
            connection.close()
    wait_until(lambda: httpx.get(limited.url + "/healthz").status_code == 200)


def test_an_agent_is_guarded_as_the_registry_is(limited: RegistryProcess) -> None:
    agent = AgentProcess(
        "provider.py",
        registry=limited.url,
        name="guarded",
        namespace="limits-" + uuid.uuid4().hex[:6],
    )
    try:
        endpoint = agent.wait_healthy()["spec"]["endpoint"]
        connection = connect(endpoint.removesuffix("/mcp"))
        send_all(connection, b"POST /mcp HTTP/1.1\r\nX-Big: " + b"a" * 1_000_000)
        code, body = answer(connection)
        assert (code, body["reason"]) == (431, "RequestHeaderFieldsTooLarge")
        connection = connect(endpoint.removesuffix("/mcp"))
        send_all(connection, b"NOT HTTP\x00\r\n\r\n")
        assert answer(connection)[0] == 400
    finally:
        agent.stop()
