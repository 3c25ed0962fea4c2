"""Authentication and request limits at the HTTP edge.

Every request but the probes (and ``/metrics`` unless protected) carries ``Authorization:
Bearer <token>`` when a tokens file is configured; the middleware turns it into a
:class:`Principal` for the handlers, or answers 401. ``/mcp`` is authenticated by FastMCP with
:class:`MeshTokenVerifier` (its routes, not ours, answer MCP clients as the MCP spec says);
its tools find the principal with :func:`mcp_principal`. The per-subject request limit applies
to every path: 429 with ``Retry-After``. Token values are never logged or echoed.
"""

from __future__ import annotations

from fastmcp.server.auth import AccessToken, TokenVerifier
from fastmcp.server.dependencies import get_access_token
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from mesh_registry.auth import ANONYMOUS, Authenticator, Principal
from mesh_registry.errors import MeshError, Unauthorized
from mesh_registry.server.ratelimit import RateLimit
from mesh_registry.server.responses import status_response

PRINCIPAL = "mesh.principal"  # the scope key the handlers read
MCP_PATH = "/mcp"
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json"})


def _page(path: str) -> bool:
    """The dashboard's files: public, as the API they read is not."""
    return path == "/ui" or path.startswith("/ui/")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header value."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


class Gate:
    """Who a request comes from, and whether it may come now: the authentication and the rate
    limit every authenticated path applies, in one place for every route that needs them."""

    def __init__(self, authenticator: Authenticator | None, rate_limit: RateLimit | None) -> None:
        self._authenticator = authenticator
        self._rate_limit = rate_limit

    def admit(self, scope: Scope) -> Principal | None:
        """The request's principal (``None`` only for ``/mcp``, which answers for itself);
        raise ``Unauthorized`` or ``TooManyRequests``."""
        try:
            principal = self._principal(scope)
        except Unauthorized:
            # Guesses count against the address they come from, like any request.
            if self._rate_limit is not None:
                self._rate_limit.check(_limit_key(None, scope))
            raise
        if self._rate_limit is not None:
            self._rate_limit.check(_limit_key(principal, scope))
        return principal

    def _principal(self, scope: Scope) -> Principal | None:
        if self._authenticator is None:
            return ANONYMOUS
        token = bearer_token(_header(scope, b"authorization"))
        principal = self._authenticator.authenticate(token)
        if principal is None and scope["path"] != MCP_PATH:
            # /mcp answers for itself (FastMCP), as MCP clients expect.
            reason = "a bearer token is required" if token is None else "the token is not valid"
            raise Unauthorized(f"Unauthorized: {reason}")
        return principal


def refusal(error: MeshError) -> Response:
    """The answer to a request the gate (or a handler) refused."""
    response = status_response(error)
    if isinstance(error, Unauthorized):
        response.headers["WWW-Authenticate"] = 'Bearer realm="mcp-mesh"'
    return response


class AuthMiddleware:
    def __init__(self, app: ASGIApp, gate: Gate, *, protect_metrics: bool = False) -> None:
        self.app = app
        self._gate = gate
        self._open = OPEN_PATHS if protect_metrics else OPEN_PATHS | {"/metrics"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self._open or _page(scope["path"]):
            await self.app(scope, receive, send)
            return
        try:
            principal = self._gate.admit(scope)
        except MeshError as error:
            await refusal(error)(scope, receive, send)
            return
        if principal is not None:
            scope[PRINCIPAL] = principal
        await self.app(scope, receive, send)


class MeshTokenVerifier(TokenVerifier):
    """FastMCP's view of the tokens file, for ``/mcp``."""

    def __init__(self, authenticator: Authenticator) -> None:
        super().__init__()
        self._authenticator = authenticator

    async def verify_token(self, token: str) -> AccessToken | None:
        principal = self._authenticator.authenticate(token)
        if principal is None:
            return None
        return AccessToken(token=token, client_id=principal.subject, scopes=[])


def mcp_principal(authenticator: Authenticator | None) -> Principal:
    """The principal of the MCP request being handled (call from a tool)."""
    if authenticator is None:
        return ANONYMOUS
    access = get_access_token()
    principal = authenticator.authenticate(access.token) if access is not None else None
    if principal is None:  # FastMCP let it through, so the token was revoked meanwhile
        raise Unauthorized("Unauthorized: the token is not valid")
    return principal


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _limit_key(principal: Principal | None, scope: Scope) -> str:
    if principal is not None and principal.authenticated:
        return "subject:" + principal.subject
    client = scope.get("client")
    return "address:" + (client[0] if client else "unknown")
