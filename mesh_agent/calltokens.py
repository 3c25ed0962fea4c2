"""Tokens on calls between agents, when the provider asks for them.

A provider that requires tokens says so in its record (annotation ``mcp-mesh.io/auth:
bearer``). Its consumers get a call token for it from the registry and send it with each call;
the provider asks the registry whether a token is valid for it. Neither side shows the other
its own registry token.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass

from fastmcp.server.auth import AccessToken, TokenVerifier

from mesh_registry.client import RegistryClient
from mesh_registry.errors import MeshError
from mesh_registry.model import Agent, ObjectKey

log = logging.getLogger(__name__)

AUTH_ANNOTATION = "mcp-mesh.io/auth"
# A token is fetched again this long before it expires, so that none expires on its way.
_RENEW_MARGIN = 30.0
# How long a provider trusts a positive review without asking again (at most until expiry).
_REVIEW_TTL = 60.0
_REVIEWS_KEPT = 10_000


def requires_token(agent: Agent) -> bool:
    return agent.metadata.annotations.get(AUTH_ANNOTATION) == "bearer"


class CallTokenCache:
    """The consumer's side: one current call token per provider."""

    def __init__(self, registry: RegistryClient) -> None:
        self._registry = registry
        self._tokens: dict[ObjectKey, tuple[str, float]] = {}  # token, when to renew it
        self._locks: dict[ObjectKey, asyncio.Lock] = {}

    async def token(self, provider: ObjectKey) -> str:
        held = self._tokens.get(provider)
        if held is not None and held[1] > time.time():
            return held[0]
        async with self._locks.setdefault(provider, asyncio.Lock()):
            held = self._tokens.get(provider)
            if held is not None and held[1] > time.time():
                return held[0]
            issued = await self._registry.call_token(provider.name, provider.namespace)
            renew = issued.expiration_timestamp.timestamp() - _RENEW_MARGIN
            self._tokens[provider] = (issued.token, renew)
            return issued.token

    def forget(self, provider: ObjectKey) -> None:
        """The provider refused the token (the registry restarted, say): fetch another."""
        self._tokens.pop(provider, None)

    def authorization(self, provider: ObjectKey) -> ProviderAuthorization:
        return ProviderAuthorization(self, provider)


@dataclass(frozen=True, slots=True)
class ProviderAuthorization:
    """Call tokens for one provider, as ``McpHttpClient`` asks for them."""

    cache: CallTokenCache
    provider: ObjectKey

    async def token(self) -> str:
        return await self.cache.token(self.provider)

    def refused(self) -> None:
        self.cache.forget(self.provider)


class RegistryTokenVerifier(TokenVerifier):
    """The provider's side, for FastMCP: a call token is good if the registry says it was
    issued for this agent. Positive answers are kept a minute; a registry that cannot be
    asked means no (fail closed)."""

    def __init__(self, registry: RegistryClient, agent: ObjectKey) -> None:
        super().__init__()
        self._registry = registry
        self._audience = str(agent)
        self._known: dict[str, tuple[str, float]] = {}  # digest -> subject, good until

    async def verify_token(self, token: str) -> AccessToken | None:
        key = hashlib.sha256(token.encode()).hexdigest()
        known = self._known.get(key)
        if known is not None and known[1] > time.time():
            return AccessToken(token=token, client_id=known[0], scopes=[])
        try:
            review = await self._registry.review_token(token)
        except MeshError as error:
            log.warning("a call token could not be reviewed: %s", error.message)
            return None
        status = review.status
        if (
            status is None
            or not status.authenticated
            or status.audience != self._audience
            or status.subject is None
        ):
            return None
        expires = status.expiration_timestamp.timestamp() if status.expiration_timestamp else 0.0
        self._remember(key, status.subject, min(expires, time.time() + _REVIEW_TTL))
        return AccessToken(token=token, client_id=status.subject, scopes=[])

    def _remember(self, key: str, subject: str, until: float) -> None:
        self._known[key] = (subject, until)
        if len(self._known) > _REVIEWS_KEPT:  # expired answers go first, then the oldest
            now = time.time()
            kept = {k: v for k, v in self._known.items() if v[1] > now}
            while len(kept) > _REVIEWS_KEPT:
                del kept[next(iter(kept))]
            self._known = kept
