"""Heartbeats on a short path: the registry's most frequent request, answered before routing.

A fleet sends one heartbeat per agent per health interval: most of a registry's requests. The
general stack costs about as much as the HTTP server itself for each (a middleware chain,
matching the path against every route, a ``Request`` and a ``Response`` object). This layer
answers ``POST /api/v1/namespaces/{namespace}/agents/{name}/heartbeat`` itself with what that
stack does for the route and nothing else: the gate (token, rate limit), the lease renewal, the
request's line in the metrics, and the same answer, byte for byte
(``tests/api/test_heartbeat_path.py`` sends a table of requests, errors included, through both
paths and compares). Any other request, or any the pattern does not match exactly, goes on to
the app as before.
"""

from __future__ import annotations

import logging
import re
import time

from starlette.types import ASGIApp, Receive, Scope, Send

from mesh_registry.access import Access
from mesh_registry.auth import Principal
from mesh_registry.errors import MeshError
from mesh_registry.model import HeartbeatResponse, Phase
from mesh_registry.server.auth import Gate, refusal
from mesh_registry.server.metrics import UNMATCHED, Metrics
from mesh_registry.server.responses import status_response
from mesh_registry.server.rest import HEARTBEAT
from mesh_registry.service import Renewal

log = logging.getLogger(__name__)

# HEARTBEAT with its two parameters as the router matches them (one path segment each).
_PATH = re.compile(r"/api/v1/namespaces/([^/]+)/agents/([^/]+)/heartbeat")
_JSON = (b"content-type", b"application/json")
_REVISION = "4294967296"  # a stand-in revision, found once in each phase's encoded answer


def _encoded_around_revision(phase: Phase) -> tuple[bytes, bytes]:
    """What the model encodes before and after the revision, for an answer in ``phase``."""
    answer = HeartbeatResponse(phase=phase, resource_version=_REVISION)
    before, after = answer.model_dump_json(exclude_none=True).encode().split(_REVISION.encode())
    return before, after


# The answer is the model's own encoding, joined around the revision (digits, which JSON
# leaves as they are) instead of a model built and serialized on every heartbeat.
_AROUND_REVISION = {phase: _encoded_around_revision(phase) for phase in Phase}


def _answer_body(renewal: Renewal) -> bytes:
    before, after = _AROUND_REVISION[renewal.phase]
    return b"%s%d%s" % (before, renewal.revision, after)


class HeartbeatPath:
    """Pure ASGI: heartbeats answered here, everything else passed to ``app``."""

    def __init__(self, app: ASGIApp, access: Access, gate: Gate, metrics: Metrics) -> None:
        self.app = app
        self._access = access
        self._gate = gate
        self._counts = metrics.requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = None
        if scope["type"] == "http" and scope["method"] == "POST" and not scope.get("root_path"):
            match = _PATH.fullmatch(scope["path"])
        if match is None:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        try:
            principal = self._gate.admit(scope)
        except MeshError as error:
            # Refused before routing, as the middleware refuses it: counted as unmatched.
            await refusal(error)(scope, receive, send)
            self._counts.observe("POST", UNMATCHED, error.code, time.perf_counter() - started)
            return
        assert principal is not None  # None only on /mcp
        status = 500
        try:
            status = await self._answer(scope, receive, send, principal, match[1], match[2])
        finally:
            self._counts.observe("POST", HEARTBEAT, status, time.perf_counter() - started)

    async def _answer(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        principal: Principal,
        namespace: str,
        name: str,
    ) -> int:
        """Renew the lease and answer; return the status sent."""
        try:
            renewal = await self._access.renew(principal, namespace, name)
        except MeshError as error:
            await status_response(error)(scope, receive, send)
            return error.code
        except Exception as error:
            log.exception("unexpected error on POST %s", scope["path"])
            failure = MeshError(f"internal error: {type(error).__name__}")
            await status_response(failure)(scope, receive, send)
            return failure.code
        body = _answer_body(renewal)
        headers = [(b"content-length", str(len(body)).encode("ascii")), _JSON]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
        return 200
