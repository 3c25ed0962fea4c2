"""Inputs that once broke the registry, each against a real process: forged log lines, tokens
in parse errors, an owner told to a stranger, call tokens outliving their agent, MCP sessions
by the thousand, selectors by the thousand terms, and values of the wrong type."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.support.agents import idle_agent
from tests.support.processes import RegistryProcess, running_registry, wait_until
from tests.support.tokens import TOKENS, bearer, write_tokens

A = "/api/v1/namespaces/team-a/agents"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- logs --------------------------------------------------------------------------------------


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_no_request_can_forge_or_colour_a_log_line(tmp_path: Path, log_format: str) -> None:
    tokens = write_tokens(tmp_path / "tokens.json", TOKENS)
    with running_registry(
        "--db", ":memory:", "--tokens-file", str(tokens), "--log-format", log_format
    ) as registry:
        forged = "x%0A2026-12-01 12:00:00,000 INFO    mesh_registry.audit: a-admin delete"
        coloured = "y%1B%5B31mred"
        for name in (forged, coloured):
            response = httpx.delete(f"{registry.url}{A}/{name}", headers=bearer("agent-a"))
            assert response.status_code == 400, response.text  # not a name an agent can have
        wait_until(lambda: sum("mesh_registry.audit" in line for line in registry.lines) >= 2)
        registry.stop()
    audit = [line for line in registry.lines if "mesh_registry.audit" in line]
    assert len(audit) == 2  # one line per request, none forged
    for line in registry.lines:
        assert "\x1b" not in line
        assert not line.startswith("2026-12-01 12:00:00")
        if log_format == "json":
            json.loads(line)  # every line is one JSON object
    assert any("\\n2026-12-01" in line for line in audit)


def test_a_json_log_is_only_json_fastmcp_included(tmp_path: Path) -> None:
    with running_registry("--db", ":memory:", "--log-format", "json", "--log-level", "debug") as r:
        with httpx.Client(base_url=r.url) as client:
            # A bad tool call makes FastMCP log on its own (a warning about the arguments).
            client.post(
                "/mcp",
                headers={"accept": "application/json, text/event-stream"},
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {}},
            )
        r.stop()
    assert r.lines
    loggers = set()
    for line in r.lines:
        loggers.add(json.loads(line)["logger"])  # no Rich box, no plain text
    assert any(name.startswith(("fastmcp", "mcp")) for name in loggers), loggers


def test_a_yaml_error_in_the_tokens_file_never_prints_a_token(tmp_path: Path) -> None:
    secret = "secret-token-value-" + uuid.uuid4().hex
    broken = tmp_path / "tokens.yaml"
    broken.write_text(f'tokens:\n  - subject: a\n    token: "{secret}" x\n')
    started = RegistryProcess("--db", ":memory:", "--port", "0", "--tokens-file", str(broken))
    assert started.wait_exit() != 0
    assert "line 3, column" in started.output
    assert secret not in started.output
    # The same at a reload: the old tokens stay, the error is logged, the token is not.
    good = write_tokens(tmp_path / "tokens.yaml", TOKENS)
    with running_registry("--db", ":memory:", "--tokens-file", str(good)) as registry:
        broken.write_text(f'tokens:\n  - subject: a\n    token: "{secret}" x\n')
        registry.process.send_signal(signal.SIGHUP)
        wait_until(lambda: any("tokens not reloaded" in line for line in registry.lines))
        registry.stop()
    assert secret not in registry.output


# -- token reviews and call tokens -------------------------------------------------------------


@pytest.fixture
def guarded(secured: RegistryProcess) -> str:
    name = unique("guarded")
    created = httpx.post(
        secured.url + A,
        json=idle_agent(name, ["echo.say"]),
        headers=bearer("agent-a"),
    )
    assert created.status_code == 201, created.text
    return name


def call_token(registry: RegistryProcess, name: str) -> str:
    issued = httpx.post(f"{registry.url}{A}/{name}/token", headers=bearer("reader-a"))
    assert issued.status_code == 201, issued.text
    token: str = issued.json()["token"]
    return token


def review(registry: RegistryProcess, token: str, subject: str) -> httpx.Response:
    return httpx.post(
        registry.url + "/api/v1/tokenreviews",
        json={"spec": {"token": token}},
        headers=bearer(subject),
    )


def test_a_review_tells_nothing_to_a_token_without_a_role_there(
    secured: RegistryProcess, guarded: str
) -> None:
    answer = review(secured, call_token(secured, guarded), "agent-b")  # team-b only
    assert answer.status_code == 403
    assert "agent-a" not in answer.text  # the owner's subject
    assert guarded not in answer.text


def test_a_call_token_dies_with_its_agent(secured: RegistryProcess, guarded: str) -> None:
    token = call_token(secured, guarded)
    assert review(secured, token, "agent-a").json()["status"]["authenticated"] is True
    assert httpx.delete(f"{secured.url}{A}/{guarded}", headers=bearer("agent-a")).status_code == 200
    again = httpx.post(
        secured.url + A,
        json=idle_agent(guarded, ["echo.say"]),
        headers=bearer("agent-a"),
    )
    assert again.status_code == 201  # the same name, another agent (another uid)
    status = review(secured, token, "agent-a").json()["status"]
    assert status["authenticated"] is False
    assert "is gone" in status["error"]


# -- MCP sessions --------------------------------------------------------------------------------


async def test_no_client_can_make_the_registry_hold_mcp_sessions(
    secured: RegistryProcess,
) -> None:
    def rss() -> int:
        status = Path(f"/proc/{secured.process.pid}/status").read_text()
        return int(status.split("VmRSS:")[1].split()[0])

    initialize = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25",
            "capabilities": {},
            "clientInfo": {"name": "flood", "version": "1"},
        },
    }
    headers = {**bearer("reader-all"), "accept": "application/json, text/event-stream"}
    before = rss()
    async with httpx.AsyncClient(base_url=secured.url) as client:
        for _ in range(1000):
            answered = await client.post("/mcp", json=initialize, headers=headers)
            assert answered.status_code == 200
            assert "mcp-session-id" not in answered.headers  # stateless: nothing to hold
    assert rss() - before < 30_000  # kB
    # Another subject is served as ever, by an official client.
    auth = httpx.AsyncClient(headers=bearer("agent-a"))
    async with (
        streamable_http_client(secured.url + "/mcp", http_client=auth) as (read, write),
        ClientSession(read, write) as session,
    ):
        await session.initialize()
        listed = await session.call_tool("list_agents", {"namespace": "team-a"})
        assert not listed.is_error
