"""A watch's SSE frames are exactly what sse-starlette's ``ServerSentEvent`` encodes."""

from __future__ import annotations

import pytest
from sse_starlette import ServerSentEvent

from mesh_registry.server.sse import sse_frame

CASES = [
    ('{"a":1}', "ADDED", None),
    ('{"a":1}', "MODIFIED", "42"),
    ('{"name":"é 🙂 \u2028 \\" \\\\n"}', "DELETED", "7"),
    ("", "BOOKMARK", "0"),
    ('{"a":\n1}', "ADDED", "3"),  # a line break: split into data lines
    ('{"a":\r\n1}\r', "ADDED", None),
    ('{"a":1}', "ERR\nOR", None),  # cleaned by ServerSentEvent
    ('{"a":1}', "ADDED", "4\r\n2"),
    ('{"a":1}', "weird name:", "x y"),
]


@pytest.mark.parametrize(("data", "event", "resume_id"), CASES)
def test_frames_equal_server_sent_events(data: str, event: str, resume_id: str | None) -> None:
    expected = ServerSentEvent(data=data, event=event, id=resume_id).encode()
    assert sse_frame(data, event, resume_id) == expected
