"""A watch cut at any point and resumed the way a browser's EventSource resumes it.

EventSource keeps the ``id`` of the last event that had one, and reconnects with it as
``Last-Event-ID`` (none if it never saw one). Whatever the point of the cut, what the client
ends up with must be the registry's state: every object, each in its latest state, and never an
older state of an object after a newer one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import httpx

from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, revision

NAMES = ["a", "b", "c", "d", "e", "f"]


@dataclass
class EventSourceClient:
    """The parts of the EventSource standard that matter here (the last event id buffer, set
    only by events with an ``id`` field; dispatch on each blank line), and an application that
    uses it as documented: a connection without ``Last-Event-ID`` brings a fresh initial state,
    which replaces what it held once its BOOKMARK arrives."""

    url: str
    last_event_id: str = ""
    # Per object: the resourceVersions of the states received, in order.
    seen: dict[str, list[int]] = field(default_factory=dict)
    state: dict[str, dict[str, Any]] = field(default_factory=dict)
    _fresh: dict[str, dict[str, Any]] | None = None

    def connect(self, api: httpx.Client, events: int | None, until: int | None = None) -> int:
        """Read ``events`` events (or until the last event id reaches ``until``), then drop
        the connection; return how many events were read."""
        headers = {"Last-Event-ID": self.last_event_id} if self.last_event_id else {}
        self._fresh = None if self.last_event_id else {}
        read = 0
        with api.stream("GET", self.url, headers=headers, timeout=10) as response:
            assert response.status_code == 200, response.read()
            kind, data, event_id = "", "", None
            for line in response.iter_lines():
                if line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("event:"):
                    kind = line[6:].strip()
                elif line.startswith("data:"):
                    data = line[5:].strip()
                elif line == "" and data:
                    if event_id is not None:
                        self.last_event_id = event_id
                    self._apply(kind, json.loads(data))
                    read += 1
                    kind, data, event_id = "", "", None
                    if events is not None and read >= events:
                        return read
                    if until is not None and int(self.last_event_id or 0) >= until:
                        return read
        return read

    def _apply(self, kind: str, obj: dict[str, Any]) -> None:
        assert kind != "ERROR", obj
        if kind == "BOOKMARK":
            if self._fresh is not None and obj["metadata"].get("annotations"):
                self.state, self._fresh = self._fresh, None  # the initial state is complete
            return
        name = obj["metadata"]["name"]
        self.seen.setdefault(name, []).append(int(obj["metadata"]["resourceVersion"]))
        held = self.state if self._fresh is None else self._fresh
        if kind == "DELETED":
            held.pop(name, None)
        else:
            held[name] = obj


def test_a_watch_resumed_after_any_event_of_its_initial_list_loses_nothing(
    registry: RegistryProcess, api: httpx.Client, ns: str
) -> None:
    collection = f"/api/v1/namespaces/{ns}/agents"
    for name in reversed(NAMES):  # key order a…f, revision order f…a
        api.put(f"{collection}/{name}", json=agent_body(name, ["x.y"], interval=3600))
    # "a" and "c" change again: their revisions are now the highest, and come early in the list.
    for name in ("a", "c"):
        api.put(f"{collection}/{name}", json=agent_body(name, ["x.y", "x.z"], interval=3600))

    for cut in range(len(NAMES) + 2):  # after each initial event, the bookmark, and one more
        client = EventSourceClient(registry.url + collection + "?watch=true")
        client.connect(api, events=cut)
        # While the client is away the mesh changes: one object changes, one leaves, one comes.
        changed = NAMES[cut % len(NAMES)]
        body = agent_body(changed, ["x.y"], labels={"cut": str(cut)}, interval=3600)
        api.put(f"{collection}/{changed}", json=body)
        api.delete(f"{collection}/{NAMES[(cut + 3) % len(NAMES)]}")
        api.put(f"{collection}/new-{cut}", json=agent_body(f"new-{cut}", ["x.y"], interval=3600))
        target = revision(api)

        client.connect(api, events=None, until=target)

        listed = api.get(collection).json()["items"]
        assert {name: obj["metadata"]["resourceVersion"] for name, obj in client.state.items()} == {
            obj["metadata"]["name"]: obj["metadata"]["resourceVersion"] for obj in listed
        }, f"cut after {cut} events"
        for name, versions in client.seen.items():
            assert versions == sorted(versions), f"cut after {cut}: {name} went back: {versions}"
        # Put the deleted one back for the next round.
        gone = NAMES[(cut + 3) % len(NAMES)]
        api.put(f"{collection}/{gone}", json=agent_body(gone, ["x.y"], interval=3600))
