"""Bounds on what one HTTP connection can make a server hold, for every mcp-mesh process.

uvicorn (with httptools) takes request heads of any size, and arms no timer on a connection
until it has answered once: a client that opens connections and sends headers slowly, or
endlessly, holds memory and file descriptors for ever. This protocol, a thin layer over
uvicorn's, bounds each of them and answers in Kubernetes' ``Status`` JSON, as the API does:

- a request head (request line and headers) of at most ``max_head_bytes`` (431, or 414 when
  the URL alone is too long) and ``max_headers`` header fields (431);
- a head must arrive within ``head_timeout`` seconds of the connection opening, or of its first
  byte on a kept-alive connection (408): slow and idle connections are closed;
- at most ``max_connections`` open connections; beyond, a new one is answered 503 and closed, with
  a warning in the log (at most one every ``WARN_EVERY`` seconds);
- a malformed request is a 400 ``Status`` instead of uvicorn's plain text.

Bodies are bounded by the application (``--max-body-size``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger(__name__)

WARN_EVERY = 10.0
_REASONS = {
    400: "BadRequest",
    408: "Timeout",
    414: "RequestURITooLong",
    431: "RequestHeaderFieldsTooLarge",
    503: "ServiceUnavailable",
}
_PHRASES = {
    400: "Bad Request",
    408: "Request Timeout",
    414: "URI Too Long",
    431: "Request Header Fields Too Large",
    503: "Service Unavailable",
}
# How long, and for how many bytes, a refused connection is drained before it is closed.
_LINGER_SECONDS = 1.0
_LINGER_BYTES = 1024 * 1024
# File descriptors kept free beyond the connection limit: the listening socket, the database,
# logs, and the registry's own client connections.
_RESERVED_DESCRIPTORS = 64


@dataclass(frozen=True, slots=True)
class HttpLimits:
    max_head_bytes: int = 64 * 1024
    max_headers: int = 100
    head_timeout: float = 10.0
    max_connections: int = 1000

    def bounded_by_descriptors(self) -> HttpLimits:
        """These limits, with no more connections than the process may open files for."""
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft == resource.RLIM_INFINITY:
            return self
        fitting = max(1, soft - _RESERVED_DESCRIPTORS)
        if fitting >= self.max_connections:
            return self
        return HttpLimits(self.max_head_bytes, self.max_headers, self.head_timeout, fitting)


def status_bytes(code: int, message: str) -> bytes:
    """A complete HTTP/1.1 response carrying a ``Status`` body, that closes the connection."""
    body = json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Status",
            "status": "Failure",
            "code": code,
            "reason": _REASONS[code],
            "message": message,
        }
    ).encode()
    head = (
        f"HTTP/1.1 {code} {_PHRASES[code]}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds of :class:`HttpLimits`."""

    limits: ClassVar[HttpLimits] = HttpLimits()
    _last_warning: ClassVar[float] = 0.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_open = False  # a request head has begun and is not complete yet
        self._head_bytes = 0
        self._header_count = 0
        self._lingering = False  # refused: what arrives now is read and dropped
        self._linger_left = 0

    # -- connections ---------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        limit = self.limits.max_connections
        if len(self.connections) > limit:
            self._warn(f"connection limit of {limit} reached: refusing new connections")
            self._refuse(503, f"the server holds its limit of {limit} connections; retry later")
            return
        self._arm_head_timer()  # also for a connection that never sends a byte

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    # -- request heads -------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        # uvicorn's, without its warning for every refused request.
        if self.transport.is_closing():
            return
        if self._lingering:
            self._linger_left -= len(data)
            if self._linger_left < 0:
                self.transport.close()
            return
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            if self._should_upgrade():
                self.handle_websocket_upgrade()
            else:
                self._unsupported_upgrade_warning()
            return
        except httptools.HttpParserError as error:
            self.send_400_response(str(error))  # nothing more if the request was refused
            return
        if self._head_open and not self.transport.is_closing():
            # Every byte of this chunk belongs to a head that is not complete yet.
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_head_bytes:
                self._refuse(431, self._too_large)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_open = True
        self._head_bytes = 0
        self._header_count = 0
        self._arm_head_timer()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_head_bytes:
            self._reject_head(414, f"the URL is over {self.limits.max_head_bytes} bytes")

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        if self._header_count > self.limits.max_headers:
            self._reject_head(431, f"a request may carry at most {self.limits.max_headers} headers")
            return
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._head_open = False
        self._cancel_head_timer()
        size = len(self.url) + sum(len(n) + len(v) + 4 for n, v in self.headers)
        if size > self.limits.max_head_bytes:
            self._reject_head(431, self._too_large)
        super().on_headers_complete()
        scope = self.scope
        if scope["method"] == "GET" and b"watch=" in scope["query_string"]:
            # Only a watch streams to many clients at once (see DirectChunks). A server's own
            # additions to a scope go under "extensions" (the ASGI specification).
            extensions: dict[str, Any] = scope.setdefault("extensions", {})
            extensions[DIRECT_CHUNKS] = DirectChunks(self, self.cycle)

    def send_400_response(self, msg: str) -> None:
        self._refuse(400, f"malformed HTTP request: {msg}")

    # -- internals -----------------------------------------------------------------------------

    @property
    def _too_large(self) -> str:
        return f"the request head is over {self.limits.max_head_bytes} bytes (URL and headers)"

    def _reject_head(self, code: int, message: str) -> None:
        """Refuse the request from a parser callback, and stop the parser (it would otherwise
        keep calling back for the rest of the data)."""
        self._refuse(code, message)
        raise httptools.HttpParserCallbackError(message)

    def _refuse(self, code: int, message: str) -> None:
        """Answer ``code`` and close. The close lingers: closing a socket that still has unread
        data makes the kernel reset the connection, and the client may then never read the
        answer. So the answer is followed by the end of our side of the stream, and what the
        client still sends is read and dropped, for a moment and up to a bound."""
        self._cancel_head_timer()
        self._head_open = False
        if self.transport.is_closing() or self._lingering:
            return
        self.transport.write(status_bytes(code, message))
        if not self.transport.can_write_eof():  # TLS: no half-close
            self.transport.close()
            return
        self.transport.write_eof()
        self._lingering = True
        self._linger_left = _LINGER_BYTES
        self.loop.call_later(_LINGER_SECONDS, self.transport.close)

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being served: not ours to time out
        self._refuse(408, f"no complete request head within {self.limits.head_timeout:g} seconds")

    @classmethod
    def _warn(cls, message: str) -> None:
        now = time.monotonic()
        if now - cls._last_warning >= WARN_EVERY:
            cls._last_warning = now
            log.warning(message)


DIRECT_CHUNKS = "mesh.direct_chunks"  # the key of a request's DirectChunks in its extensions


class DirectChunks:
    """Writes chunks of one streamed response straight to its connection, from plain
    (synchronous) code.

    A watch's event goes out to every watcher of it at once. Through ASGI's ``send`` that is
    one task woken per watcher per event, then the layers of the app that wrap ``send``; this
    writes the same bytes the server's ``send`` would (one chunk of the chunked body) at once.
    It refuses (returns ``False``) whenever ``send`` could not write at once as well: before the
    response has started or after it ended, on a closed connection, and while the client does
    not take what was written (flow control). The caller then goes through ``send``, which
    waits, with its timeout.
    """

    __slots__ = ("_cycle", "_protocol")

    def __init__(self, protocol: GuardedHttpToolsProtocol, cycle: Any) -> None:
        self._protocol = protocol
        self._cycle = cycle  # uvicorn's RequestResponseCycle of this request

    def write_chunk(self, chunk: bytes) -> bool:
        """Write ``chunk`` (framed by :func:`http_chunk`) now, or return ``False``."""
        cycle = self._cycle
        protocol = self._protocol
        if (
            cycle.disconnected
            or not cycle.response_started
            or cycle.response_complete
            or cycle.chunked_encoding is not True
            or protocol.flow.write_paused
            or protocol.transport.is_closing()
        ):
            return False
        protocol.transport.write(chunk)
        return True


def http_chunk(data: bytes) -> bytes:
    """``data`` as one chunk of a chunked HTTP/1.1 body: the bytes uvicorn's ``send`` writes
    for it. Framed once per event, the same chunk goes to every watcher."""
    return b"%x\r\n%b\r\n" % (len(data), data)


def guarded_protocol(limits: HttpLimits) -> type[GuardedHttpToolsProtocol]:
    """The protocol class to give uvicorn (``http=``) for ``limits``."""
    return type("GuardedHttpTools", (GuardedHttpToolsProtocol,), {"limits": limits})
