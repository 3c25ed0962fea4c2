"""Ownership, capability claims, namespace isolation, token reload, audit: a real registry with
a tokens file."""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import pytest

from mesh_registry.client import RegistryClient
from mesh_registry.errors import Unauthorized
from mesh_registry.model import EventType
from mesh_registry.query import AgentQuery
from tests.support.agent_processes import MCP_MESH
from tests.support.agents import idle_agent
from tests.support.processes import (
    Process,
    RegistryProcess,
    eventually,
    running_registry,
    wait_until,
)
from tests.support.tokens import TOKENS, Subjects, bearer, token, write_tokens
from tests.support.watching import EventLog, about, initial_events_ended

A = "/api/v1/namespaces/team-a/agents"
B = "/api/v1/namespaces/team-b/agents"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def as_(registry: RegistryProcess, subject: str) -> httpx.Client:
    return httpx.Client(base_url=registry.url, headers=bearer(subject), timeout=10)


def test_a_record_belongs_to_its_creator(secured: RegistryProcess) -> None:
    name = unique("owned")
    with as_(secured, "agent-a") as owner, as_(secured, "agent-a2") as other:
        created = owner.post(A, json=idle_agent(name, ["weather.forecast"]))
        assert created.status_code == 201, created.text
        assert created.json()["metadata"]["annotations"]["mcp-mesh.io/owner"] == "agent-a"

        # Another agent subject of the same namespace may not touch it, by any verb.
        for response in (
            other.put(
                f"{A}/{name}",
                json=idle_agent(name, ["weather.forecast"], labels={"x": "y"}),
            ),
            other.post(f"{A}/{name}/heartbeat"),
            other.delete(f"{A}/{name}"),
        ):
            assert response.status_code == 403, response.text
            assert (
                'belongs to subject "agent-a", not to subject "agent-a2"'
                in response.json()["message"]
            )

        # Nor can it take the record over by writing the owner annotation itself.
        stolen = idle_agent(
            name, ["weather.forecast"], annotations={"mcp-mesh.io/owner": "agent-a2"}
        )
        assert other.put(f"{A}/{name}", json=stolen).status_code == 403
        # The owner's own claim to the annotation changes nothing either.
        kept = owner.put(f"{A}/{name}", json=stolen)
        assert kept.status_code == 200
        assert kept.json()["metadata"]["annotations"]["mcp-mesh.io/owner"] == "agent-a"

        assert owner.post(f"{A}/{name}/heartbeat").status_code == 200
    with as_(secured, "admin-a") as admin:
        replaced = admin.put(
            f"{A}/{name}",
            json=idle_agent(name, ["weather.forecast"], labels={"by": "admin"}),
        )
        assert replaced.status_code == 200
        assert replaced.json()["metadata"]["annotations"]["mcp-mesh.io/owner"] == "agent-a"
        assert admin.delete(f"{A}/{name}").status_code == 200


def test_the_name_of_a_deleted_record_is_free_for_the_next_creator(
    secured: RegistryProcess,
) -> None:
    name = unique("reused")
    with as_(secured, "agent-a") as first, as_(secured, "agent-a2") as second:
        assert first.put(f"{A}/{name}", json=idle_agent(name, ["echo.say"])).status_code == 201
        assert first.delete(f"{A}/{name}").status_code == 200
        again = second.put(f"{A}/{name}", json=idle_agent(name, ["echo.say"]))
        assert again.status_code == 201
        assert again.json()["metadata"]["annotations"]["mcp-mesh.io/owner"] == "agent-a2"
        assert first.delete(f"{A}/{name}").status_code == 403


def test_a_token_claims_only_the_capabilities_it_is_allowed(secured: RegistryProcess) -> None:
    name = unique("claims")
    with as_(secured, "agent-a") as agent:
        refused = agent.post(A, json=idle_agent(name, ["weather.forecast", "payments.charge"]))
        assert refused.status_code == 403
        message = refused.json()["message"]
        assert '"payments.charge"' in message
        assert "weather.*" in message  # says what it may claim
        assert (
            agent.get(f"{A}/{name}", headers=bearer("reader-a")).status_code == 404
        )  # nothing written
        assert agent.post(A, json=idle_agent(name, ["weather.forecast"])).status_code == 201
        # A replace may not add one either.
        grown = agent.put(
            f"{A}/{name}",
            json=idle_agent(name, ["weather.forecast", "payments.charge"]),
        )
        assert grown.status_code == 403


async def test_a_token_for_one_namespace_sees_nothing_of_another(secured: RegistryProcess) -> None:
    mine, theirs = unique("b-own"), unique("a-other")
    async with (
        httpx.AsyncClient(base_url=secured.url, headers=bearer("agent-b")) as b,
        httpx.AsyncClient(base_url=secured.url, headers=bearer("admin-all")) as admin,
        RegistryClient(secured.url, token=token("agent-b")) as client,
    ):
        assert (await b.post(B, json=idle_agent(mine, ["echo.say"]))).status_code == 201
        assert (await admin.post(A, json=idle_agent(theirs, ["echo.say"]))).status_code == 201
        listed = (await b.get("/api/v1/agents")).json()["items"]
        assert {a["metadata"]["namespace"] for a in listed} == {"team-b"}
        found = await b.get(
            "/api/v1/discover", params={"capability": "echo.say", "phase": "pending"}
        )
        assert {a["metadata"]["namespace"] for a in found.json()["items"]} == {"team-b"}
        assert (await b.get(f"{A}/{theirs}")).status_code == 403

        log = EventLog(client.watch())  # every namespace it may read
        await log.wait_for(initial_events_ended)
        later_a, later_b = unique("a-later"), unique("b-later")
        assert (await admin.post(A, json=idle_agent(later_a, ["echo.say"]))).status_code == 201
        assert (await b.post(B, json=idle_agent(later_b, ["echo.say"]))).status_code == 201
        await log.first(about(later_b, EventType.ADDED))
        namespaces = {e.object.metadata.namespace for e in log.changes()}  # type: ignore[union-attr]
        assert namespaces == {"team-b"}
        await log.close()


async def reload_tokens(
    registry: RegistryProcess,
    path: Path,
    tokens: Subjects,
    probe: Callable[[], Awaitable[httpx.Response]],
    status: int,
) -> None:
    """Write ``tokens``, send SIGHUP, and wait until ``probe`` is answered ``status``."""
    write_tokens(path, tokens)
    registry.process.send_signal(signal.SIGHUP)

    async def reloaded() -> bool:
        return (await probe()).status_code == status

    await eventually(reloaded)


async def test_sighup_reloads_tokens_while_watches_stay_open(tmp_path: Path) -> None:
    path = write_tokens(tmp_path / "tokens.json", TOKENS)
    newcomer = {"Authorization": "Bearer tok-newcomer-0123456789"}
    with running_registry(
        "--db", ":memory:", "--tokens-file", str(path), "--bookmark-interval", "0.2"
    ) as registry:
        async with (
            httpx.AsyncClient(base_url=registry.url) as http,
            RegistryClient(registry.url, token=token("reader-all")) as kept,
            RegistryClient(registry.url, token=token("reader-a")) as revoked,
        ):
            assert (await http.get(A, headers=newcomer)).status_code == 401
            staying = EventLog(kept.watch(AgentQuery(namespace="team-a")))
            leaving = EventLog(revoked.watch(AgentQuery(namespace="team-a")))
            for log in (staying, leaving):
                await log.wait_for(initial_events_ended)

            changed = {k: v for k, v in TOKENS.items() if k != "reader-a"}
            changed["newcomer"] = ("tok-newcomer-0123456789", {"team-a": "reader"}, None)
            await reload_tokens(registry, path, changed, lambda: http.get(A, headers=newcomer), 200)
            assert (await http.get(A, headers=bearer("reader-a"))).status_code == 401
            # The revoked token's watch ends with an ERROR; the other one stays open and current.
            await leaving.wait_for_end()
            assert leaving.events[-1].type is EventType.ERROR
            assert leaving.events[-1].object.code == 401  # type: ignore[union-attr]
            name = unique("after-reload")
            created = await http.post(
                A, json=idle_agent(name, ["echo.say"]), headers=bearer("admin-a")
            )
            assert created.status_code == 201
            await staying.first(about(name, EventType.ADDED))
            assert not staying.ended
            await staying.close()

            # A broken file is refused as a whole: the tokens in force stay in force.
            path.write_text("{not json")
            registry.process.send_signal(signal.SIGHUP)

            async def refused() -> bool:
                return any("tokens not reloaded" in line for line in registry.lines)

            await eventually(refused)
            assert (await http.get(A, headers=newcomer)).status_code == 200
            with pytest.raises(Unauthorized, match="not valid"):
                await revoked.list_agents(AgentQuery(namespace="team-a"))


async def test_a_revoked_watch_gets_no_change_made_after_the_revocation(tmp_path: Path) -> None:
    """A watcher waiting for its next event is written to straight from the fan-out: the
    token is checked there too, not only when an idle bookmark is due (here: never)."""
    path = write_tokens(tmp_path / "tokens.json", TOKENS)
    with running_registry(
        "--db", ":memory:", "--tokens-file", str(path), "--bookmark-interval", "3600"
    ) as registry:
        async with (
            httpx.AsyncClient(base_url=registry.url) as http,
            RegistryClient(registry.url, token=token("reader-a")) as revoked,
        ):
            leaving = EventLog(revoked.watch(AgentQuery(namespace="team-a")))
            await leaving.wait_for(initial_events_ended)
            before = unique("before")
            await http.post(A, json=idle_agent(before, ["echo.say"]), headers=bearer("admin-a"))
            await leaving.first(about(before, EventType.ADDED))

            remaining = {k: v for k, v in TOKENS.items() if k != "reader-a"}
            await reload_tokens(
                registry, path, remaining, lambda: http.get(A, headers=bearer("reader-a")), 401
            )
            after = unique("after")
            await http.post(A, json=idle_agent(after, ["echo.say"]), headers=bearer("admin-a"))
            await leaving.wait_for_end()
            assert leaving.events[-1].type is EventType.ERROR
            assert leaving.events[-1].object.code == 401  # type: ignore[union-attr]
            names = {e.object.metadata.name for e in leaving.changes()}  # type: ignore[union-attr]
            assert before in names
            assert after not in names


def test_every_write_leaves_one_audit_line_and_no_token_anywhere(tmp_path: Path) -> None:
    path = write_tokens(tmp_path / "tokens.json", TOKENS)
    with running_registry(
        "--db",
        ":memory:",
        "--tokens-file",
        str(path),
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--access-log",
    ) as registry:
        name = unique("audited")
        with as_(registry, "agent-a") as agent, as_(registry, "agent-a2") as other:
            put = f"{A}/{name}-put"
            assert agent.post(A, json=idle_agent(name, ["echo.say"])).status_code == 201
            assert agent.put(put, json=idle_agent(f"{name}-put", ["echo.say"])).status_code == 201
            relabelled = idle_agent(f"{name}-put", ["echo.say"], labels={"v": "2"})
            assert agent.put(put, json=relabelled).status_code == 200
            assert other.delete(f"{A}/{name}").status_code == 403
            assert agent.post(f"{A}/{name}/heartbeat").status_code == 200  # not a write
            assert agent.delete(f"{A}/{name}").status_code == 200
            httpx.get(registry.url + A, headers={"Authorization": "Bearer wrong-token-value-xyz"})
        registry.stop()
    audit = [json.loads(line) for line in registry.lines if '"mesh_registry.audit"' in line]
    assert [(e["subject"], e["verb"], e["namespace"], e["agent"], e["code"]) for e in audit] == [
        ("agent-a", "create", "team-a", name, 201),
        ("agent-a", "register", "team-a", f"{name}-put", 201),
        ("agent-a", "register", "team-a", f"{name}-put", 200),
        ("agent-a2", "delete", "team-a", name, 403),
        ("agent-a", "delete", "team-a", name, 200),
    ]
    for secret in [t for t, _, _ in TOKENS.values()] + ["wrong-token-value-xyz"]:
        assert secret not in registry.output


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_credentials_in_query_strings_never_reach_the_logs(log_format: str) -> None:
    # Refused (tokens go in the Authorization header), and not written down either.
    secrets = ["query-token-1", "query-token-2", "query-key-3"]
    with running_registry(
        "--db", ":memory:", "--log-format", log_format, "--access-log"
    ) as registry:
        query = f"token={secrets[0]}&limit=5&access_token={secrets[1]}&api_key={secrets[2]}"
        assert httpx.get(f"{registry.url}/api/v1/agents?{query}").status_code == 200
        wait_until(lambda: any("limit=5" in line for line in registry.lines))
        registry.stop()
    for secret in secrets:
        assert secret not in registry.output
    assert "token=[REDACTED]&limit=5&access_token=[REDACTED]&api_key=[REDACTED]" in (
        registry.output
    )


def test_too_many_requests_get_429_with_retry_after(tmp_path: Path) -> None:
    path = write_tokens(tmp_path / "tokens.json", TOKENS)
    with (
        running_registry(
            "--db",
            ":memory:",
            "--tokens-file",
            str(path),
            "--rate-limit",
            "20/minute",
            "--max-watches-per-subject",
            "1",
        ) as registry,
        as_(registry, "reader-a") as flood,
        as_(registry, "reader-all") as calm,
    ):
        answers = [flood.get(A) for _ in range(30)]
        limited = [r for r in answers if r.status_code == 429]
        assert [r.status_code for r in answers[:20]] == [200] * 20
        assert len(limited) == 10
        assert 1 <= int(limited[0].headers["retry-after"]) <= 60
        assert limited[0].json()["reason"] == "TooManyRequests"
        assert calm.get(A).status_code == 200  # the limit is per subject
        # Requests with bad tokens count against their address: guessing is limited too.
        guesses = [
            httpx.get(registry.url + A, headers={"Authorization": f"Bearer guess-{n}"})
            for n in range(25)
        ]
        assert {r.status_code for r in guesses[:20]} == {401}
        assert {r.status_code for r in guesses[20:]} == {429}
        # One watch per subject: a second one is refused until the first ends.
        with calm.stream("GET", A, params={"watch": "true"}) as first:
            assert first.status_code == 200
            second = calm.get(A, params={"watch": "true"})
            assert second.status_code == 429
            assert "open watches" in second.json()["message"]


@pytest.mark.parametrize("protect", [False, True])
def test_probes_stay_open_and_metrics_are_protected_on_request(
    tmp_path: Path, protect: bool
) -> None:
    path = write_tokens(tmp_path / "tokens.json", TOKENS)
    flag = "--protect-metrics" if protect else "--no-protect-metrics"
    with running_registry("--db", ":memory:", "--tokens-file", str(path), flag) as registry:
        for probe in ("/healthz", "/readyz", "/openapi.json"):
            assert httpx.get(registry.url + probe).status_code == 200
        anonymous = httpx.get(registry.url + "/metrics")
        assert anonymous.status_code == (401 if protect else 200)
        with as_(registry, "reader-a") as reader:
            assert reader.get("/metrics").status_code == 200
        assert httpx.get(registry.url + "/api/v1/agents").status_code == 401


def test_the_command_line_says_how_to_give_a_token(secured: RegistryProcess) -> None:
    listing = Process([str(MCP_MESH), "--registry", secured.url, "get", "agents", "-A"])
    assert listing.wait_exit() == 1
    assert "a bearer token is required (give a token: --token or MESH_TOKEN)" in listing.output
    with_token = Process(
        [
            str(MCP_MESH),
            "--registry",
            secured.url,
            "--token",
            token("reader-all"),
            "get",
            "agents",
            "-A",
        ]
    )
    assert with_token.wait_exit() == 0, with_token.output
    assert token("reader-all") not in with_token.output
