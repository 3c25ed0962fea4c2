"""Serving a network safely: TLS end to end, and no unauthenticated non-loopback listener."""

from __future__ import annotations

import re
import ssl
from pathlib import Path

import httpx
import pytest

from tests.security.certificates import make_pki
from tests.support.agent_processes import MCP_MESH, AgentProcess
from tests.support.processes import Process, RegistryProcess, running_registry
from tests.support.tokens import TOKENS, bearer, token, write_tokens


def test_tls_end_to_end_with_tokens(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    tokens = write_tokens(tmp_path / "tokens.json", TOKENS)
    trust = ssl.create_default_context(cafile=str(pki.ca))
    registry = RegistryProcess(
        "--port",
        "0",
        "--db",
        ":memory:",
        "--tokens-file",
        str(tokens),
        "--ssl-certfile",
        str(pki.certificate),
        "--ssl-keyfile",
        str(pki.key),
    )
    try:
        registry.wait_ready(verify=trust)
        assert registry.url.startswith("https://127.0.0.1:")
        # Clients that do not trust the CA are refused by TLS itself.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(registry.url + "/healthz")
        # An agent joins over https with its token and the CA bundle, and heartbeats.
        agent = AgentProcess(
            "provider.py",
            registry=registry.url,
            name="tls-echo",
            namespace="team-a",
            env={"MESH_TOKEN": token("agent-a"), "MESH_CA_BUNDLE": str(pki.ca)},
            token=token("reader-a"),
            verify=trust,
        )
        try:
            record = agent.wait_healthy()
            assert record["metadata"]["annotations"]["mcp-mesh.io/owner"] == "agent-a"
            # The operator's command line, the same way.
            listing = Process(
                [str(MCP_MESH), "--registry", registry.url, "get", "agents", "-n", "team-a"],
                {"MESH_TOKEN": token("reader-a"), "MESH_CA_BUNDLE": str(pki.ca)},
            )
            assert listing.wait_exit() == 0, listing.output
            assert re.search(r"tls-echo\s+healthy", listing.output)
        finally:
            agent.stop()
        assert (
            httpx.get(
                registry.url + "/api/v1/agents", headers=bearer("reader-all"), verify=trust
            ).json()["items"]
            == []
        )
    finally:
        registry.kill()


@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_network_address_without_tokens_is_refused(host: str) -> None:
    refused = RegistryProcess("--host", host, "--port", "0", "--db", ":memory:")
    assert refused.wait_exit() == 1
    assert "refusing to listen on" in refused.output
    assert "--tokens-file" in refused.output
    assert "Traceback" not in refused.output


def test_insecure_serves_a_network_address_with_a_warning() -> None:
    with running_registry("--host", "0.0.0.0", "--insecure", "--db", ":memory:") as registry:
        assert httpx.get(registry.url + "/readyz").status_code == 200
        assert any("no authentication (--insecure)" in line for line in registry.lines)


def test_loopback_needs_no_tokens() -> None:
    with running_registry("--host", "localhost", "--db", ":memory:") as registry:
        assert httpx.get(registry.url + "/api/v1/agents").status_code == 200


@pytest.mark.parametrize(
    ("arguments", "words"),
    [
        (["--tokens-file", "/nonexistent/tokens.yaml"], "tokens file /nonexistent/tokens.yaml"),
        (
            ["--ssl-certfile", "/nonexistent/cert.pem"],
            "--ssl-certfile and --ssl-keyfile go together",
        ),
        (["--rate-limit", "lots"], "rate limit 'lots'"),
    ],
)
def test_bad_security_options_are_one_clear_line(arguments: list[str], words: str) -> None:
    process = RegistryProcess("--port", "0", "--db", ":memory:", *arguments)
    assert process.wait_exit() != 0
    assert words in process.output
    assert "Traceback" not in process.output


def test_an_unreadable_certificate_is_one_clear_line(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    (tmp_path / "key.pem").write_text("not a key")
    process = RegistryProcess(
        "--port",
        "0",
        "--db",
        ":memory:",
        "--ssl-certfile",
        str(tmp_path / "cert.pem"),
        "--ssl-keyfile",
        str(tmp_path / "key.pem"),
    )
    assert process.wait_exit() == 1
    assert "TLS:" in process.output
    assert "Traceback" not in process.output
