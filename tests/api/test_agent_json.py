"""Agents' JSON from the memo of record texts is exactly what the models encode to."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from mesh_registry.codec import decode, encode, with_revision
from mesh_registry.listing import Listing
from mesh_registry.model import (
    Agent,
    AgentStatus,
    Condition,
    EventType,
    Phase,
    WatchEvent,
    parse_agent,
)
from mesh_registry.model.compact import compacted
from mesh_registry.records import created
from mesh_registry.server.agent_json import AgentJson
from mesh_registry.server.sse import Frames
from tests.support.agents import agent_body

CREATED = datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
BEAT = 1_780_000_000.123456  # epoch seconds, as a lease holds them
WHOLE_SECOND = 1_780_000_001.0


def stored(body: dict[str, Any], revision: int, **status: Any) -> Agent:
    """``body`` as the cache holds it: created, stored, read back at ``revision``."""
    record = created(parse_agent(body), CREATED)
    if status:
        record = record.model_copy(update={"status": AgentStatus(**status)})
    return compacted(decode(encode(record), revision))


def hostile_body() -> dict[str, Any]:
    """Strings that look like the text the memo cuts at, in places a client controls."""
    body = agent_body(
        "hostile",
        ["a.x"],
        labels={"env": "prod"},
        annotations={
            "fake": '"status":{"phase":"healthy"}}',
            "quote": 'back\\slash "and" \u2028 \x01 é 🙂',
        },
    )
    body["spec"]["capabilities"][0]["inputSchema"] = {
        "type": "object",
        "properties": {"status": {"type": "object", "properties": {"phase": {"const": "x"}}}},
    }
    body["spec"]["capabilities"][0]["description"] = ',"status":{"phase":"pending"}'
    return body


RECORDS: dict[str, Agent] = {
    "new, pending, no status times": stored(agent_body("new", ["a.x"]), 3, phase=Phase.PENDING),
    "healthy with phase time and generation": stored(
        agent_body("well", ["a.x", "b.y"], labels={"env": "prod"}, tags=["eu"]),
        4,
        phase=Phase.HEALTHY,
        phase_since=CREATED,
        observed_generation=1,
    ),
    "own heartbeat time in the record": stored(
        agent_body("own", ["a.x"]),
        5,
        phase=Phase.UNHEALTHY,
        last_heartbeat_time=datetime(2026, 5, 1, 12, 0, 1, tzinfo=UTC),
        phase_since=CREATED,
    ),
    "conditions": stored(
        agent_body("cond", ["a.x"], namespace="team-b"),
        6,
        phase=Phase.OFFLINE,
        conditions=[
            Condition(type="Ready", status="False", reason="Late", message='no "beat"'),
            Condition(type="Other", status="Unknown", last_transition_time=CREATED),
        ],
    ),
    "hostile strings": stored(hostile_body(), 7, phase=Phase.HEALTHY, phase_since=CREATED),
    "the default status (created, then stored)": stored(agent_body("plain", []), 8),
}
BEATS: dict[str, float | None] = {
    "no lease time": None,
    "a lease time": BEAT,
    "a whole second": WHOLE_SECOND,
    "an int": 1_780_000_002,
}


def expected(listing: Listing) -> str:
    return listing.as_list().model_dump_json(exclude_none=True)


@pytest.mark.parametrize("beat", list(BEATS.values()), ids=list(BEATS))
@pytest.mark.parametrize("record", list(RECORDS.values()), ids=list(RECORDS))
def test_each_record_encodes_as_the_model_does(record: Agent, beat: float | None) -> None:
    encoder = AgentJson()
    listing = Listing(9, [record], [beat])
    assert encoder.listing(listing) == expected(listing)
    assert encoder.listing(listing) == expected(listing)  # from the memo this time
    assert encoder.held_chars > 0


@pytest.mark.parametrize("token", [None, "eyJydiI6OX0"], ids=["last page", "more pages"])
def test_a_listing_of_many_records_and_its_metadata(token: str | None) -> None:
    records = list(RECORDS.values())
    beats = [BEAT + i for i in range(len(records))]
    listing = Listing(12, records, beats, token)
    encoder = AgentJson()
    assert encoder.listing(listing) == expected(listing)
    assert json.loads(encoder.listing(listing))["metadata"].get("continue") == token


def test_an_empty_listing() -> None:
    listing = Listing(1, [], [])
    assert AgentJson().listing(listing) == expected(listing)


def test_a_new_heartbeat_time_replaces_the_one_written_last() -> None:
    record = RECORDS["healthy with phase time and generation"]
    encoder = AgentJson()
    for beat in (BEAT, BEAT, BEAT + 1.5, None, BEAT):
        listing = Listing(2, [record], [beat])
        assert encoder.listing(listing) == expected(listing)


def test_versions_of_one_record_are_told_apart_by_resource_version() -> None:
    body = agent_body("versioned", ["a.x"])
    first = stored(body, 10, phase=Phase.PENDING)
    second = stored(body, 11, phase=Phase.HEALTHY, phase_since=CREATED)
    encoder = AgentJson()
    for record in (first, second, first):
        listing = Listing(11, [record], [BEAT])
        assert encoder.listing(listing) == expected(listing)


def test_a_record_without_a_resource_version_is_encoded_whole() -> None:
    record = created(parse_agent(agent_body("unstored", ["a.x"])), CREATED)
    encoder = AgentJson()
    listing = Listing(1, [record], [BEAT])
    assert encoder.listing(listing) == expected(listing)
    assert encoder.held_chars == 0


def test_the_memo_stays_within_its_bound_and_skips_records_over_theirs() -> None:
    records = [stored(agent_body(f"agent-{i}", ["a.x"]), 100 + i) for i in range(50)]
    one = len(expected(Listing(1, records[:1], [None]))) - len(expected(Listing(1, [], [])))
    encoder = AgentJson(memo_chars=one * 10, record_chars=one * 2)
    for _ in range(2):
        listing = Listing(200, records, [BEAT] * len(records))
        assert encoder.listing(listing) == expected(listing)
        assert 0 < encoder.held_chars <= one * 10
    large = AgentJson(record_chars=one // 2)
    listing = Listing(200, records[:3], [None] * 3)
    assert large.listing(listing) == expected(listing)
    assert large.held_chars == 0


def test_a_listing_needs_one_heartbeat_time_per_record() -> None:
    with pytest.raises(ValueError, match="one heartbeat time"):
        Listing(1, list(RECORDS.values())[:2], [None])


def frame_data(frame: bytes) -> str:
    (data,) = [line for line in frame.decode().splitlines() if line.startswith("data: ")]
    return data.removeprefix("data: ")


def test_watch_events_of_one_revision_keep_their_own_objects() -> None:
    """A change at revision R reaches a watcher the object still matches as MODIFIED (the
    object at R) and one it stopped matching as DELETED (the state before, stamped with R):
    one key and revision, two contents."""
    body = agent_body("moved", ["a.x"], labels={"zone": "1"})
    before = stored(body, 20, phase=Phase.HEALTHY, phase_since=CREATED)
    after = stored({**body, "metadata": {**body["metadata"], "labels": {"zone": "2"}}}, 21)
    gone = with_revision(before, 21)
    frames = Frames(AgentJson())
    events = [
        WatchEvent(type=EventType.ADDED, object=before),
        WatchEvent(type=EventType.MODIFIED, object=after),
        WatchEvent(type=EventType.DELETED, object=gone),
        WatchEvent(type=EventType.MODIFIED, object=after),
    ]
    for event in events:
        for resumable in (False, True):
            frame = frames.frame(event, resumable=resumable)
            assert frame_data(frame) == event.object.model_dump_json(exclude_none=True)


@pytest.mark.parametrize(("extra", "kept"), [(0, True), (1, False)], ids=["at", "one past"])
def test_a_record_is_kept_up_to_the_record_bound(extra: int, kept: bool) -> None:
    record = RECORDS["conditions"]
    size = len(AgentJson()._split(record) or "")
    encoder = AgentJson(record_chars=size - extra)
    listing = Listing(1, [record], [BEAT])
    assert encoder.listing(listing) == expected(listing)
    assert encoder.held_chars == (size if kept else 0)


@pytest.mark.parametrize(("extra", "kept"), [(0, 2), (1, 1)], ids=["at", "one past"])
def test_the_memo_holds_up_to_its_bound(extra: int, kept: int) -> None:
    first, second = RECORDS["conditions"], RECORDS["hostile strings"]
    sizes = [len(AgentJson()._split(record) or "") for record in (first, second)]
    encoder = AgentJson(memo_chars=sum(sizes) - extra)
    listing = Listing(1, [first, second], [BEAT, None])
    assert encoder.listing(listing) == expected(listing)
    assert encoder.held_chars == (sum(sizes) if kept == 2 else sizes[1])
