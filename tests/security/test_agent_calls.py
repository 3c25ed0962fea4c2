"""Tokens on calls between agents: a provider that asks for them gets them, and only valid
ones for itself get through."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.auth import BearerAuth
from mcp.shared.exceptions import MCPError

from tests.support.agent_processes import AgentProcess
from tests.support.processes import RegistryProcess
from tests.support.tokens import bearer, token


@pytest.fixture(scope="module")
def guarded(secured: RegistryProcess) -> Iterator[AgentProcess]:
    provider = AgentProcess(
        "provider.py",
        registry=secured.url,
        name="guarded",
        namespace="team-a",
        env={"MESH_TOKEN": token("agent-a"), "MESH_REQUIRE_TOKEN": "1"},
        token=token("reader-a"),
    )
    provider.wait_healthy()
    yield provider
    provider.stop()


def call_token(registry: RegistryProcess, subject: str, agent: str) -> str:
    issued = httpx.post(
        f"{registry.url}/api/v1/namespaces/team-a/agents/{agent}/token", headers=bearer(subject)
    )
    assert issued.status_code == 201, issued.text
    body = issued.json()
    assert body["audience"] == f"team-a/{agent}"
    return str(body["token"])


async def echo(endpoint: str, credential: str | None) -> str:
    async with Client(endpoint, auth=BearerAuth(credential) if credential else None) as client:
        return str((await client.call_tool("say", {"text": "hi"})).structured_content["text"])


async def test_a_consumer_calls_a_guarded_provider_with_a_call_token(
    secured: RegistryProcess, guarded: AgentProcess
) -> None:
    assert guarded.record()["metadata"]["annotations"]["mcp-mesh.io/auth"] == "bearer"  # type: ignore[index]
    consumer = AgentProcess(
        "consumer.py",
        registry=secured.url,
        name="caller",
        namespace="team-a",
        env={"MESH_TOKEN": token("agent-a2")},
        token=token("reader-a"),
    )
    try:
        consumer.wait_healthy()
        async with Client(consumer.endpoint) as client:
            for _ in range(3):  # the token is fetched once, then reused
                result = await client.call_tool("relay", {"text": "through"})
                assert result.structured_content == {"text": "through", "served_by": "guarded"}
    finally:
        consumer.stop()


@pytest.mark.parametrize(
    "credential",
    [
        None,  # no token
        "not-a-token",  # garbage
        token("agent-a2"),  # a registry token is not a call token: never shown to providers
    ],
)
async def test_a_guarded_provider_refuses_calls_without_a_valid_call_token(
    guarded: AgentProcess, credential: str | None
) -> None:
    with pytest.raises(MCPError):
        await echo(guarded.endpoint, credential)


async def test_a_call_token_is_good_only_for_the_agent_it_was_issued_for(
    secured: RegistryProcess, guarded: AgentProcess
) -> None:
    async with httpx.AsyncClient() as http:
        other = await http.post(
            f"{secured.url}/api/v1/namespaces/team-a/agents",
            json={"metadata": {"name": "elsewhere"}, "spec": {"endpoint": "http://127.0.0.1:9/x"}},
            headers=bearer("agent-a2"),
        )
    assert other.status_code == 201, other.text
    with pytest.raises(MCPError):
        await echo(guarded.endpoint, call_token(secured, "reader-a", "elsewhere"))
    assert await echo(guarded.endpoint, call_token(secured, "reader-a", "guarded")) == "hi"


def test_only_the_agent_a_token_was_issued_for_may_review_it(
    secured: RegistryProcess, guarded: AgentProcess
) -> None:
    issued = call_token(secured, "reader-a", "guarded")
    review = {"spec": {"token": issued}}
    url = secured.url + "/api/v1/tokenreviews"
    own = httpx.post(url, json=review, headers=bearer("agent-a"))
    assert own.status_code == 201
    assert own.json()["status"] == {
        "authenticated": True,
        "subject": "reader-a",
        "audience": "team-a/guarded",
        "expirationTimestamp": own.json()["status"]["expirationTimestamp"],
    }
    assert httpx.post(url, json=review, headers=bearer("agent-a2")).status_code == 403
    tampered = {"spec": {"token": issued[:-2] + ("AA" if not issued.endswith("AA") else "BB")}}
    refused = httpx.post(url, json=tampered, headers=bearer("agent-a")).json()["status"]
    assert refused["authenticated"] is False
    assert "not a valid call token" in refused["error"]
    assert httpx.post(url, json={"spec": {}}, headers=bearer("agent-a")).status_code == 400
    # Asking for a token needs read access to the agent's namespace.
    denied = httpx.post(
        f"{secured.url}/api/v1/namespaces/team-a/agents/guarded/token", headers=bearer("agent-b")
    )
    assert denied.status_code == 403
