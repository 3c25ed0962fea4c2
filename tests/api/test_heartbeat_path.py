"""The heartbeat's short path answers exactly as the routed one: the same status, headers and
body for every request in a table, errors included, on one registry seen through both apps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from mesh_registry.auth import Authenticator
from mesh_registry.model import HeartbeatResponse, Phase
from mesh_registry.server.app import create_app
from mesh_registry.server.heartbeat import _answer_body
from mesh_registry.server.settings import ServerSettings
from mesh_registry.service import Registry, Renewal
from tests.support.agents import agent_body
from tests.support.tokens import TOKENS, bearer, tokens_document

BEAT = "/api/v1/namespaces/team-a/agents/{}/heartbeat"
Request = tuple[str, str, str | None, bytes]  # method, path, subject, body

# What a client may send to a heartbeat path, and around it.
TABLE: dict[str, Request] = {
    "a healthy agent, by its owner": ("POST", BEAT.format("owned"), "agent-a", b""),
    "by an admin of the namespace": ("POST", BEAT.format("owned"), "admin-a", b""),
    "with a body, which a heartbeat ignores": ("POST", BEAT.format("owned"), "agent-a", b"{x"),
    "an unknown agent": ("POST", BEAT.format("nobody"), "agent-a", b""),
    "no token": ("POST", BEAT.format("owned"), None, b""),
    "a reader's token": ("POST", BEAT.format("owned"), "reader-a", b""),
    "another namespace's agent token": ("POST", BEAT.format("owned"), "agent-b", b""),
    "an agent of the namespace that does not own it": (
        "POST",
        BEAT.format("owned"),
        "agent-a2",
        b"",
    ),
    "a name that is not a name": ("POST", BEAT.format("Not_A_Name"), "agent-a", b""),
    "a percent-encoded name": ("POST", BEAT.format("own%65d"), "agent-a", b""),
    "a namespace that is not one": (
        "POST",
        "/api/v1/namespaces/BAD!/agents/owned/heartbeat",
        "admin-all",
        b"",
    ),
    "a trailing slash": ("POST", BEAT.format("owned") + "/", "agent-a", b""),
    "an empty name": ("POST", BEAT.format(""), "agent-a", b""),
    "a GET": ("GET", BEAT.format("owned"), "agent-a", b""),
    "a HEAD": ("HEAD", BEAT.format("owned"), "agent-a", b""),
    "a PUT": ("PUT", BEAT.format("owned"), "agent-a", b"{}"),
    "one segment too many": ("POST", BEAT.format("owned") + "/x", "agent-a", b""),
}


@pytest.fixture
async def clients(
    service: Registry, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """One registry seen through the routed app and through the app with the short path."""
    tokens = tmp_path / "tokens.json"
    tokens.write_text(json.dumps(tokens_document(TOKENS)))
    authenticator = Authenticator(tokens)
    routed = create_app(service, ServerSettings(), authenticator, heartbeat_path=False)
    short = create_app(service, ServerSettings(), authenticator)
    async with (
        _client(routed) as via_router,
        _client(short) as via_short_path,
    ):
        created = await via_router.put(
            "/api/v1/namespaces/team-a/agents/owned",
            json=agent_body("owned", ["echo.say"]),
            headers=bearer("agent-a"),
        )
        assert created.status_code == 201, created.text
        # Healthy before the comparison: a first heartbeat writes the phase change.
        first = await via_router.post(BEAT.format("owned"), headers=bearer("agent-a"))
        assert first.json()["phase"] == "healthy"
        yield via_router, via_short_path


def _client(app: object) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://registry")


async def _send(client: httpx.AsyncClient, request: Request) -> httpx.Response:
    method, path, subject, body = request
    return await client.request(method, path, headers=bearer(subject), content=body)


def _seen(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, sorted(response.headers.multi_items()), response.content


@pytest.mark.parametrize("case", list(TABLE), ids=list(TABLE))
async def test_the_short_path_answers_as_the_router(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient], case: str
) -> None:
    via_router, via_short_path = clients
    routed = await _send(via_router, TABLE[case])
    short = await _send(via_short_path, TABLE[case])
    assert _seen(short) == _seen(routed)
    if routed.status_code >= 400 and TABLE[case][0] != "HEAD":
        assert routed.json()["kind"] == "Status"


async def test_the_table_reaches_both_answers_a_heartbeat_can_get(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    """The table is not vacuous: it covers success and every refusal a heartbeat can meet."""
    via_router, _ = clients
    statuses = {(await _send(via_router, request)).status_code for request in TABLE.values()}
    assert {200, 401, 403, 404, 405} <= statuses


async def test_a_rate_limited_heartbeat_is_refused_alike(service: Registry) -> None:
    settings = ServerSettings(rate_limit="2/minute")
    answers = []
    for heartbeat_path in (False, True):
        app = create_app(service, settings, heartbeat_path=heartbeat_path)
        async with _client(app) as client:
            seen = [(await client.post(BEAT.format("nobody"))) for _ in range(3)]
        answers.append([(r.status_code, r.json()["reason"]) for r in seen])
        assert "retry-after" in seen[-1].headers
    assert (
        answers[0] == answers[1] == [(404, "NotFound"), (404, "NotFound"), (429, "TooManyRequests")]
    )


async def test_heartbeats_on_the_short_path_are_counted_as_the_routed_ones(
    clients: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    added = []
    for client in clients:
        before = await _request_counts(client)
        for case in ("a healthy agent, by its owner", "an unknown agent", "no token"):
            await _send(client, TABLE[case])
        after = await _request_counts(client)
        delta = {key: after[key] - before.get(key, 0) for key in after}
        added.append({key: count for key, count in delta.items() if count})
    assert added[0] == added[1]
    assert added[1] == {
        ("POST", "/api/v1/namespaces/{namespace}/agents/{name}/heartbeat", "200"): 1,
        ("POST", "/api/v1/namespaces/{namespace}/agents/{name}/heartbeat", "404"): 1,
        ("POST", "<unmatched>", "401"): 1,
    }


async def _request_counts(client: httpx.AsyncClient) -> dict[tuple[str, str, str], float]:
    exposition = (await client.get("/metrics")).text
    return {
        (sample.labels["method"], sample.labels["route"], sample.labels["code"]): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
        if sample.name == "mesh_http_requests_total" and sample.labels["method"] == "POST"
    }


@pytest.mark.parametrize("phase", list(Phase))
@pytest.mark.parametrize("revision", [1, 9, 10, 4294967296, 2**63 - 1])
def test_the_short_answer_is_the_models_encoding(phase: Phase, revision: int) -> None:
    model = HeartbeatResponse(phase=phase, resource_version=str(revision))
    expected = model.model_dump_json(exclude_none=True).encode()
    assert _answer_body(Renewal(phase, revision)) == expected
