"""Bad input of every kind gets the right 4xx Status, never a 5xx, and writes nothing.

These run against a registry of their own, where nothing else writes: the revision must not
move at all.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.agents import agent_body
from tests.support.processes import revision


def collection(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/agents"


def _deep(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


def _terms(count: int) -> str:
    return ",".join(f"k{i}=v" for i in range(count))


def _with_spec(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "x"}, "spec": {"endpoint": "http://h:54321/", **spec}}


BAD_REQUESTS: list[tuple[str, str, str, dict[str, Any], int, str]] = [
    # (id, method, path, request arguments, status, words in the message)
    ("malformed json", "POST", "{c}", {"content": b"{bad"}, 400, "not valid JSON"),
    ("empty body", "POST", "{c}", {"content": b""}, 400, "empty"),
    ("invalid utf-8", "POST", "{c}", {"content": b'{"a": "\xff"}'}, 400, "not valid JSON"),
    ("deep nesting", "POST", "{c}", {"content": _deep(100_000)}, 400, "not valid JSON"),
    ("json array", "POST", "{c}", {"json": []}, 422, "valid dictionary"),
    ("json null", "POST", "{c}", {"content": b"null"}, 422, "valid dictionary"),
    ("wrong type", "POST", "{c}", {"json": {"metadata": {"name": 5}}}, 422, "metadata.name"),
    (
        "bad name",
        "POST",
        "{c}",
        {"json": agent_body("Bad_Name", ["x.y"])},
        422,
        "metadata.name",
    ),
    (
        "bad label",
        "POST",
        "{c}",
        {"json": agent_body("a", ["x.y"], labels={"k": "-bad"})},
        422,
        "metadata.labels",
    ),
    (
        "bad interval",
        "POST",
        "{c}",
        {"json": agent_body("a", ["x.y"], interval=0.01)},
        422,
        "spec.healthInterval",
    ),
    (
        "unknown field",
        "POST",
        "{c}",
        {"json": {**agent_body("a", ["x.y"]), "extra": 1}},
        422,
        "unknown field",
    ),
    (
        "bad dependency selector",
        "POST",
        "{c}",
        {
            "json": agent_body(
                "a", ["x.y"], dependencies=[{"capability": "g.h", "selector": "a in"}]
            )
        },
        422,
        "spec.dependencies[0].selector",
    ),
    (
        "huge body",
        "POST",
        "{c}",
        {"content": b'{"a": "' + b"x" * (2 * 1024 * 1024) + b'"}'},
        413,
        "over the limit",
    ),
    (
        "wrong media type",
        "POST",
        "{c}",
        {"content": b"{}", "headers": {"content-type": "text/plain"}},
        415,
        "text/plain",
    ),
    (
        "namespace mismatch",
        "POST",
        "{c}",
        {"json": agent_body("a", ["x.y"], namespace="elsewhere")},
        400,
        "namespace",
    ),
    ("name mismatch", "PUT", "{c}/b", {"json": agent_body("a", ["x.y"])}, 400, "name"),
    ("bad selector", "GET", "{c}", {"params": {"labelSelector": "a in ("}}, 400, "position"),
    ("zero limit", "GET", "{c}", {"params": {"limit": "0"}}, 400, "limit"),
    ("negative limit", "GET", "{c}", {"params": {"limit": "-1"}}, 400, "limit"),
    ("word limit", "GET", "{c}", {"params": {"limit": "ten"}}, 400, "limit"),
    ("bad continue", "GET", "{c}", {"params": {"continue": "%%%"}}, 400, "continue"),
    ("bad phase", "GET", "{c}", {"params": {"phase": "asleep"}}, 400, "phase"),
    ("bad watch flag", "GET", "{c}", {"params": {"watch": "maybe"}}, 400, "watch"),
    (
        "bad resume revision",
        "GET",
        "{c}",
        {"params": {"watch": "true", "resourceVersion": "abc"}},
        400,
        "resourceVersion",
    ),
    (
        "bad last event id",
        "GET",
        "{c}",
        {"params": {"watch": "1"}, "headers": {"Last-Event-ID": "-3"}},
        400,
        "resourceVersion",
    ),
    ("bad namespace in path", "GET", "/api/v1/namespaces/Bad_NS/agents", {}, 400, "namespace"),
    # Bounds on selectors, wherever one is given.
    ("101 terms", "GET", "{c}", {"params": {"labelSelector": _terms(101)}}, 400, "at most 100"),
    (
        "101 values in a set",
        "GET",
        "{c}",
        {"params": {"labelSelector": "k in (" + ",".join(f"v{i}" for i in range(101)) + ")"}},
        400,
        "at most 100 values",
    ),
    (
        "a 20 KB selector",
        "GET",
        "{c}",
        {"params": {"labelSelector": "k=" + "v" * 20_000}},
        400,
        "long",
    ),
    (
        "a watch of 101 terms",
        "GET",
        "{c}",
        {"params": {"watch": "1", "labelSelector": _terms(101)}},
        400,
        "at most 100",
    ),
    (
        "a dependency of 101 terms",
        "PUT",
        "{c}/x",
        {"json": _with_spec(dependencies=[{"capability": "a.b", "selector": _terms(101)}])},
        422,
        "at most 100",
    ),
    # Values of the wrong type are refused, not converted.
    (
        "interval as a string",
        "PUT",
        "{c}/x",
        {"json": _with_spec(healthInterval="10")},
        422,
        "spec.healthInterval",
    ),
    (
        "interval as a boolean",
        "PUT",
        "{c}/x",
        {"json": _with_spec(healthInterval=True)},
        422,
        "spec.healthInterval",
    ),
    (
        "a garbage resourceVersion",
        "PUT",
        "{c}/x",
        {"json": {**_with_spec(), "metadata": {"name": "x", "resourceVersion": "abc"}}},
        400,
        "metadata.resourceVersion",
    ),
    (
        "a garbage precondition",
        "DELETE",
        "{c}/x",
        {"json": {"preconditions": {"resourceVersion": "-1"}}},
        400,
        "preconditions.resourceVersion",
    ),
    # A namespace or name in the path follows the rules of the body's fields.
    (
        "upper-case namespace in a PUT path",
        "PUT",
        "/api/v1/namespaces/UPPER/agents/x",
        {"json": {"metadata": {"name": "x"}, "spec": {"endpoint": "http://h:54321/"}}},
        400,
        "invalid namespace 'UPPER'",
    ),
    (
        "namespace of 100 characters in a POST path",
        "POST",
        "/api/v1/namespaces/" + "n" * 100 + "/agents",
        {"json": {"metadata": {"name": "x"}, "spec": {"endpoint": "http://h:54321/"}}},
        400,
        "invalid namespace",
    ),
    ("space in a name", "GET", "{c}/bad%20name", {}, 400, "invalid name"),
    ("newline in a name", "DELETE", "{c}/a%0Ab", {}, 400, "invalid name"),
    ("snowman in a name", "POST", "{c}/%E2%98%83/heartbeat", {}, 400, "invalid name"),
    ("upper-case name for a token", "POST", "{c}/UPPER/token", {}, 400, "invalid name"),
    ("delete options", "DELETE", "{c}/a", {"json": {"preconditions": 5}}, 400, "delete options"),
    ("unknown agent", "DELETE", "{c}/nobody", {}, 404, "not found"),
    ("heartbeat unknown", "POST", "{c}/nobody/heartbeat", {}, 404, "not found"),
    ("method on collection", "DELETE", "/api/v1/agents", {}, 405, "not allowed"),
    ("patch", "PATCH", "{c}/a", {"json": {}}, 405, "not allowed"),
    ("unknown path", "GET", "/api/v2/agents", {}, 404, "could not find"),
    ("discover version", "GET", "/api/v1/discover", {"params": {"version": ">>1"}}, 400, "version"),
    ("discover tags", "GET", "/api/v1/discover", {"params": {"tags": "+Fast"}}, 400, "tags"),
    (
        "discover capability",
        "GET",
        "/api/v1/discover",
        {"params": {"capability": "no spaces"}},
        400,
        "capability",
    ),
]


@pytest.mark.parametrize(
    ("method", "path", "arguments", "status", "words"),
    [row[1:] for row in BAD_REQUESTS],
    ids=[row[0] for row in BAD_REQUESTS],
)
def test_bad_requests_get_the_right_status_and_write_nothing(
    api: httpx.Client,
    ns: str,
    method: str,
    path: str,
    arguments: dict[str, Any],
    status: int,
    words: str,
) -> None:
    before = revision(api)
    response = api.request(method, path.format(c=collection(ns)), **arguments)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["kind"] == "Status"
    assert body["code"] == status
    assert words in body["message"], body["message"]
    assert revision(api) == before  # nothing was written
    assert api.get("/readyz").status_code == 200  # and the registry is fine
