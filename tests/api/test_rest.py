"""The REST API against the real registry process: CRUD, concurrency, lists, discovery, errors."""

from __future__ import annotations

import json

import httpx

from tests.support.agents import agent_body


def collection(ns: str) -> str:
    return f"/api/v1/namespaces/{ns}/agents"


def item(ns: str, name: str) -> str:
    return f"{collection(ns)}/{name}"


def test_create_get_replace_delete(api: httpx.Client, ns: str) -> None:
    created = api.post(collection(ns), json=agent_body("weather-1", ["weather.forecast"]))
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["metadata"]["namespace"] == ns
    assert agent["status"]["phase"] == "pending"
    assert api.get(item(ns, "weather-1")).json() == agent

    body = agent_body("weather-1", ["weather.forecast", "weather.alerts"])
    replaced = api.put(item(ns, "weather-1"), json=body)
    assert replaced.status_code == 200
    assert replaced.json()["metadata"]["generation"] == 2
    assert int(replaced.json()["metadata"]["resourceVersion"]) > int(
        agent["metadata"]["resourceVersion"]
    )

    put_created = api.put(item(ns, "weather-2"), json=agent_body("weather-2", ["weather.forecast"]))
    assert put_created.status_code == 201

    deleted = api.delete(item(ns, "weather-1"))
    assert deleted.status_code == 200
    assert deleted.json()["metadata"]["uid"] == agent["metadata"]["uid"]
    missing = api.get(item(ns, "weather-1"))
    assert missing.status_code == 404
    assert missing.json()["reason"] == "NotFound"


def test_conflicts(api: httpx.Client, ns: str) -> None:
    first = api.post(collection(ns), json=agent_body("a", ["x.y"])).json()
    duplicate = api.post(collection(ns), json=agent_body("a", ["x.y"]))
    assert (duplicate.status_code, duplicate.json()["reason"]) == (409, "AlreadyExists")

    body = agent_body("a", ["x.y"], labels={"v": "1"})
    body["metadata"]["resourceVersion"] = first["metadata"]["resourceVersion"]
    assert api.put(item(ns, "a"), json=body).status_code == 200
    body["metadata"]["labels"] = {"v": "2"}  # still carries the old version
    stale = api.put(item(ns, "a"), json=body)
    assert (stale.status_code, stale.json()["reason"]) == (409, "Conflict")
    assert "has been modified" in stale.json()["message"]
    assert api.get(item(ns, "a")).json()["metadata"]["labels"] == {"v": "1"}

    current = api.get(item(ns, "a")).json()["metadata"]
    wrong = {"preconditions": {"resourceVersion": first["metadata"]["resourceVersion"]}}
    assert api.request("DELETE", item(ns, "a"), json=wrong).status_code == 409
    right = {
        "preconditions": {"resourceVersion": current["resourceVersion"], "uid": current["uid"]}
    }
    assert api.request("DELETE", item(ns, "a"), json=right).status_code == 200


def test_heartbeat(api: httpx.Client, ns: str) -> None:
    api.post(collection(ns), json=agent_body("a", ["x.y"]))
    beat = api.post(item(ns, "a") + "/heartbeat")
    assert beat.status_code == 200
    assert beat.json()["phase"] == "healthy"
    assert beat.json() == api.post(item(ns, "a") + "/heartbeat").json()  # nothing changed
    unknown = api.post(item(ns, "nobody") + "/heartbeat")
    assert (unknown.status_code, unknown.json()["reason"]) == (404, "NotFound")


def names(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [a["metadata"]["name"] for a in response.json()["items"]]


def test_lists_with_selectors(api: httpx.Client, ns: str) -> None:
    rows = [
        ("a1", {"env": "prod", "tier": "gold"}, ["geo.lookup"]),
        ("a2", {"env": "prod", "tier": "silver"}, ["geo.lookup", "weather.forecast"]),
        ("a3", {"env": "dev"}, ["weather.forecast"]),
        ("a4", {}, []),
    ]
    for name, labels, capabilities in rows:
        api.post(collection(ns), json=agent_body(name, capabilities, labels=labels))
    api.post(item(ns, "a1") + "/heartbeat")
    listing = collection(ns)
    assert names(api.get(listing)) == ["a1", "a2", "a3", "a4"]
    assert names(api.get(listing, params={"labelSelector": "env=prod,tier in (gold)"})) == ["a1"]
    assert names(api.get(listing, params={"labelSelector": "env notin (prod)"})) == ["a3", "a4"]
    assert names(api.get(listing, params={"labelSelector": "!env"})) == ["a4"]
    assert names(api.get(listing, params={"capability": "weather.forecast"})) == ["a2", "a3"]
    both = [("capability", "weather.forecast"), ("capability", "geo.lookup")]
    assert names(api.get(listing, params=both)) == ["a1", "a2", "a3"]
    assert names(api.get(listing, params={"capability": "weather.forecast,geo.lookup"})) == [
        "a1",
        "a2",
        "a3",
    ]
    assert names(api.get(listing, params={"phase": "healthy"})) == ["a1"]
    everywhere = api.get("/api/v1/agents", params={"labelSelector": "env=prod"}).json()["items"]
    assert {(a["metadata"]["namespace"], a["metadata"]["name"]) for a in everywhere} >= {
        (ns, "a1"),
        (ns, "a2"),
    }


def test_pagination_is_consistent_while_writes_happen(api: httpx.Client, ns: str) -> None:
    for i in range(7):
        api.post(collection(ns), json=agent_body(f"a{i}", ["x.y"]))
    first = api.get(collection(ns), params={"limit": 3}).json()
    seen = [a["metadata"]["name"] for a in first["items"]]
    token = first["metadata"]["continue"]
    api.delete(item(ns, "a5"))
    api.post(collection(ns), json=agent_body("a35", ["x.y"]))
    while token:
        page = api.get(collection(ns), params={"limit": 3, "continue": token}).json()
        assert page["metadata"]["resourceVersion"] == first["metadata"]["resourceVersion"]
        seen += [a["metadata"]["name"] for a in page["items"]]
        token = page["metadata"].get("continue")
    assert seen == [f"a{i}" for i in range(7)]


def test_discovery_ranking(api: httpx.Client, ns: str) -> None:
    rows = [
        ("old", "1.2.0", [], {"env": "prod"}),
        ("new", "1.9.0", [], {"env": "prod"}),
        ("fast", "1.3.0", ["fast"], {"env": "prod"}),
        ("major", "2.1.0", ["fast"], {"env": "prod"}),
        ("dev", "1.9.9", ["fast"], {"env": "dev"}),
        ("sick", "1.9.9", ["fast"], {"env": "prod"}),
    ]
    for name, version, tags, labels in rows:
        api.post(
            collection(ns),
            json=agent_body(name, ["geo.lookup"], version=version, tags=tags, labels=labels),
        )
        if name != "sick":
            api.post(item(ns, name) + "/heartbeat")
    query = {
        "capability": "geo.lookup",
        "namespace": ns,
        "labelSelector": "env=prod",
        "version": ">=1.2 <2",
        "tags": "+fast",
    }
    assert names(api.get("/api/v1/discover", params=query)) == ["fast", "new", "old"]
    query["tags"] = "-fast"
    assert names(api.get("/api/v1/discover", params=query)) == ["new", "old"]
    every = {"capability": "geo.lookup", "namespace": ns, "phase": "healthy,unhealthy,pending"}
    assert names(api.get("/api/v1/discover", params=every))[0] == "major"
    assert names(api.get("/api/v1/discover", params={**every, "limit": 2})) == ["major", "dev"]


def test_probes_metrics_and_openapi(api: httpx.Client) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    ready = api.get("/readyz").json()
    assert ready["ready"] is True
    assert ready["selfPreservation"] is False
    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    for name in (
        "mesh_http_requests_total",
        "mesh_http_request_duration_seconds_bucket",
        'mesh_agents{phase="healthy"}',
        "mesh_heartbeats_total",
        "mesh_watchers",
        "mesh_watch_events_total",
        "mesh_commit_batch_size_bucket",
        "mesh_revision",
        "mesh_self_preservation",
    ):
        assert name in metrics.text, name
    document = api.get("/openapi.json").json()
    assert document["openapi"] == "3.1.0"
    assert "/api/v1/namespaces/{namespace}/agents/{name}/heartbeat" in document["paths"]
    assert {"Agent-Input", "Agent-Output", "AgentList", "Status"} <= set(
        document["components"]["schemas"]
    )


def test_invalid_objects_list_every_bad_field(api: httpx.Client, ns: str) -> None:
    body = agent_body("Bad_Name", ["bad capability"], labels={"key with space": "v"})
    response = api.post(collection(ns), content=json.dumps(body))
    assert response.status_code == 422
    causes = response.json()["details"]["causes"]
    assert {c["field"] for c in causes} == {
        "metadata.name",
        "metadata.labels",
        "spec.capabilities[0].name",
    }
