"""A watch's SSE frames are exactly what sse-starlette's ``ServerSentEvent`` encodes, and the
chunk the fan-out writes them in is what an HTTP/1.1 implementation (h11) frames."""

from __future__ import annotations

import h11
import pytest
from sse_starlette import ServerSentEvent

from mesh_registry.http_guard import http_chunk
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


@pytest.mark.parametrize("size", [1, 9, 15, 16, 255, 256, 4095, 65536, 1 << 20])
def test_a_direct_chunk_is_what_http_frames(size: int) -> None:
    server = h11.Connection(our_role=h11.SERVER)
    server.receive_data(b"GET /w HTTP/1.1\r\nHost: registry\r\n\r\n")
    server.next_event()
    server.send(h11.Response(status_code=200, headers=[("Transfer-Encoding", "chunked")]))
    data = sse_frame("x" * size, "MODIFIED", "9")
    assert http_chunk(data) == server.send(h11.Data(data=data))
