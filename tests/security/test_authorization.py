"""Who may do what: every endpoint, principal and namespace, on REST, SSE and MCP, against a
real registry with a tokens file."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.auth import BearerAuth
from fastmcp.exceptions import ToolError
from mcp.shared.exceptions import MCPError

from mesh_registry.auth import Role
from tests.support.agents import idle_agent
from tests.support.processes import RegistryProcess
from tests.support.tokens import TOKENS, bearer, token

NAMESPACES = ["team-a", "team-b"]
# None: no token at all; "bogus": a token the registry does not know.
PRINCIPALS = [None, "bogus", "reader-a", "agent-a", "admin-a", "reader-all", "agent-b"]


def held(subject: str, namespace: str) -> Role | None:
    roles = {ns: Role.parse(r) for ns, r in TOKENS[subject][1].items()}
    found = [r for r in (roles.get(namespace), roles.get("*")) if r]
    return max(found) if found else None


def headers(subject: str | None) -> dict[str, str]:
    if subject == "bogus":
        return {"Authorization": "Bearer not-a-token-anyone-has"}
    return bearer(subject)


@dataclass(frozen=True)
class Operation:
    name: str
    needs: Role
    succeeds_with: int
    # (client, namespace, name of a record the caller owns when it may write) -> response
    call: Callable[[httpx.Client, str, str], httpx.Response]
    creates: bool = False  # the record must not exist beforehand

    def __str__(self) -> str:
        return self.name


def item(ns: str, name: str) -> str:
    return f"/api/v1/namespaces/{ns}/agents/{name}"


def watch(api: httpx.Client, ns: str, name: str) -> httpx.Response:
    with api.stream("GET", f"/api/v1/namespaces/{ns}/agents", params={"watch": "true"}) as r:
        if r.status_code == 200:
            next(r.iter_lines())  # the stream really started
        else:
            r.read()
        return r


REST = [
    Operation("get", Role.READER, 200, lambda api, ns, n: api.get(item(ns, n))),
    Operation(
        "list", Role.READER, 200, lambda api, ns, n: api.get(f"/api/v1/namespaces/{ns}/agents")
    ),
    Operation("watch (SSE)", Role.READER, 200, watch),
    Operation(
        "discover",
        Role.READER,
        200,
        lambda api, ns, n: api.get(
            "/api/v1/discover", params={"namespace": ns, "capability": "echo.say"}
        ),
    ),
    Operation(
        "create",
        Role.AGENT,
        201,
        lambda api, ns, n: api.post(
            f"/api/v1/namespaces/{ns}/agents", json=idle_agent(n, ["echo.say"])
        ),
        creates=True,
    ),
    Operation(
        "replace",
        Role.AGENT,
        200,
        lambda api, ns, n: api.put(
            item(ns, n), json=idle_agent(n, ["echo.say"], labels={"v": "2"})
        ),
    ),
    Operation(
        "heartbeat", Role.AGENT, 200, lambda api, ns, n: api.post(item(ns, n) + "/heartbeat")
    ),
    Operation("delete", Role.AGENT, 200, lambda api, ns, n: api.delete(item(ns, n))),
]


def prepare(registry: RegistryProcess, subject: str | None, ns: str, creates: bool) -> str:
    """A record for the case: owned by the caller when it may write there, else by an admin."""
    name = "r-" + uuid.uuid4().hex[:8]
    if creates:
        return name
    writer = (
        subject if subject in TOKENS and (held(subject, ns) or 0) >= Role.AGENT else "admin-all"
    )
    created = httpx.post(
        registry.url + f"/api/v1/namespaces/{ns}/agents",
        json=idle_agent(name, ["echo.say"]),
        headers=bearer(writer),
    )
    assert created.status_code == 201, created.text
    return name


def expected(subject: str | None, ns: str, needs: Role, success: int) -> int:
    if subject not in TOKENS:
        return 401
    role = held(subject, ns)
    return success if role is not None and role >= needs else 403


@pytest.mark.parametrize("ns", NAMESPACES)
@pytest.mark.parametrize("subject", PRINCIPALS)
@pytest.mark.parametrize("operation", REST, ids=str)
def test_rest_and_sse(
    secured: RegistryProcess, operation: Operation, subject: str | None, ns: str
) -> None:
    name = prepare(secured, subject, ns, operation.creates)
    with httpx.Client(base_url=secured.url, headers=headers(subject), timeout=10) as api:
        response = operation.call(api, ns, name)
    status = expected(subject, ns, operation.needs, operation.succeeds_with)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["reason"] == "Unauthorized"
    if status == 403:
        body = response.json()
        assert body["reason"] == "Forbidden"
        assert f'"{ns}"' in body["message"]  # names the namespace it may not touch


MCP = [
    ("get_agent_status", Role.READER, lambda ns, n: {"name": n, "namespace": ns}),
    ("list_agents", Role.READER, lambda ns, n: {"namespace": ns}),
    (
        "discover_services",
        Role.READER,
        lambda ns, n: {"namespace": ns, "capabilities": ["echo.say"]},
    ),
    (
        "register_agent",
        Role.AGENT,
        lambda ns, n: {"agent": idle_agent(n, ["echo.say"], namespace=ns)},
    ),
    ("heartbeat", Role.AGENT, lambda ns, n: {"name": n, "namespace": ns}),
    ("unregister_agent", Role.AGENT, lambda ns, n: {"name": n, "namespace": ns}),
]


@pytest.mark.parametrize("ns", NAMESPACES)
@pytest.mark.parametrize("subject", PRINCIPALS)
@pytest.mark.parametrize(("tool", "needs", "arguments"), MCP, ids=[m[0] for m in MCP])
async def test_mcp(
    secured: RegistryProcess,
    tool: str,
    needs: Role,
    arguments: Callable[[str, str], dict[str, Any]],
    subject: str | None,
    ns: str,
) -> None:
    name = prepare(secured, subject, ns, creates=False)
    status = expected(subject, ns, needs, 200)
    auth = BearerAuth(token(subject)) if subject in TOKENS else None
    if subject == "bogus":
        auth = BearerAuth("not-a-token-anyone-has")
    client = Client(secured.url + "/mcp", auth=auth)
    if status == 401:
        # FastMCP answers as the MCP authorization spec says, before any tool runs.
        async with httpx.AsyncClient(headers=headers(subject)) as http:
            response = await http.post(
                secured.url + "/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"accept": "application/json, text/event-stream"},
            )
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Bearer")
        with pytest.raises(MCPError):
            async with client:
                await client.call_tool(tool, arguments(ns, name))
        return
    async with client:
        if status == 403:
            with pytest.raises(ToolError, match=f'may not (read|write) agents in namespace "{ns}"'):
                await client.call_tool(tool, arguments(ns, name))
        else:
            result = await client.call_tool(tool, arguments(ns, name))
            assert not result.is_error
