"""npm's ``eventsource`` (what a browser's EventSource does) on the registry's watches.

It resumes by itself with ``Last-Event-ID`` = the last ``id`` it saw, and stops only on a
non-200 answer: the initial state carries no ``id`` (no point of it is one to resume from), and
a revision the registry cannot resume from is an HTTP 410, not an event it would retry after.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.agents import agent_body
from tests.support.mesh import Mesh
from tests.support.node import json_lines, run_node
from tests.support.processes import running_registry, wait_until


def test_initial_events_carry_no_id_and_the_closing_bookmark_does(mesh: Mesh, node: Path) -> None:
    ns = "es-" + uuid.uuid4().hex[:8]
    with httpx.Client(base_url=mesh.registry.url) as rest:
        for name in ("b", "a", "c"):
            rest.put(f"/api/v1/namespaces/{ns}/agents/{name}", json=agent_body(name, ["x.y"]))
        # "a" changes last: in key order it comes first, with the highest revision.
        rest.put(f"/api/v1/namespaces/{ns}/agents/a", json=agent_body("a", ["x.y", "x.z"]))
    url = f"{mesh.registry.url}/api/v1/namespaces/{ns}/agents?watch=true"
    events = json_lines(run_node(node, "eventsource_watch.mjs", url, "4").stdout)
    assert [e["type"] for e in events] == ["ADDED", "ADDED", "ADDED", "BOOKMARK"]
    assert [e["data"]["metadata"]["name"] for e in events[:3]] == ["a", "b", "c"]
    assert [e["lastEventId"] for e in events[:3]] == ["", "", ""]
    bookmark = events[3]
    assert bookmark["lastEventId"] == bookmark["data"]["metadata"]["resourceVersion"]
    assert int(bookmark["lastEventId"]) >= max(
        int(e["data"]["metadata"]["resourceVersion"]) for e in events[:3]
    )


def test_a_future_revision_is_a_410_and_eventsource_stops(mesh: Mesh, node: Path) -> None:
    url = f"{mesh.registry.url}/api/v1/agents?watch=true&resourceVersion=999999999"
    done = run_node(node, "eventsource_watch.mjs", url)
    [error] = json_lines(done.stdout)
    assert (error["type"], error["code"], error["readyState"], error["opened"]) == (
        "error",
        410,
        2,  # CLOSED: it will not reconnect
        1,
    )


@pytest.fixture(scope="module")
def compacting_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    database = tmp_path_factory.mktemp("compacting") / "mesh.db"
    with running_registry(
        "--db", str(database), "--history-max-events", "3", "--compaction-interval", "0.1"
    ) as registry:
        yield registry.url


def test_a_compacted_revision_is_a_410_and_eventsource_stops(
    compacting_registry: str, node: Path
) -> None:
    with httpx.Client(base_url=compacting_registry) as rest:
        for index in range(8):
            rest.put(f"/api/v1/namespaces/es/agents/a{index}", json=agent_body(f"a{index}"))

        def compacted() -> bool:
            params = {"watch": "true", "resourceVersion": "1"}
            with rest.stream("GET", "/api/v1/agents", params=params) as answer:
                return answer.status_code == 410

        wait_until(compacted)
    url = f"{compacting_registry}/api/v1/agents?watch=true&resourceVersion=1"
    [error] = json_lines(run_node(node, "eventsource_watch.mjs", url).stdout)
    assert (error["code"], error["readyState"], error["opened"]) == (410, 2, 1)
