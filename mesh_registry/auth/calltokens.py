"""Call tokens: short-lived tokens one agent shows another, bound to the agent called.

A consumer never shows its own registry token to a provider: the provider could use it against
the registry. It asks the registry for a call token whose audience is the provider
(``namespace/name``), valid for minutes; the provider asks the registry whether a token it
receives is valid for it (a token review, as Kubernetes' TokenReview). Signed with HS256 by a
key the registry makes at start: a restart invalidates them all, and consumers ask again.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import jwt

ISSUER = "mcp-mesh-registry"
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class CallClaims:
    subject: str  # who calls
    audience: str  # whom: "namespace/name"
    uid: str  # the uid of the agent called: not one created again under its name
    expires: float  # epoch seconds


class CallTokens:
    def __init__(
        self,
        ttl: float = 600.0,
        key: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if ttl <= 0:
            raise ValueError("call token lifetime must be positive")
        self.ttl = ttl
        self._key = key or secrets.token_bytes(32)
        self._clock = clock

    def issue(self, subject: str, audience: str, uid: str | None) -> tuple[str, float]:
        """A token for ``subject`` to call ``audience`` (the agent with ``uid``), and when it
        expires."""
        now = self._clock()
        expires = now + self.ttl
        claims = {
            "iss": ISSUER,
            "sub": subject,
            "aud": audience,
            "uid": uid or "",
            "iat": int(now),
            "exp": int(expires),
            "jti": secrets.token_hex(8),
        }
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM), float(int(expires))

    def verify(self, token: str) -> CallClaims | None:
        """The token's claims if this registry signed it and it has not expired."""
        try:
            claims = jwt.decode(
                token,
                self._key,
                algorithms=[_ALGORITHM],
                issuer=ISSUER,
                # Times are checked below, on the registry's clock.
                options={
                    "verify_aud": False,
                    "verify_exp": False,
                    "verify_iat": False,
                    "verify_nbf": False,
                    "require": ["exp", "sub", "aud", "iss", "uid"],
                },
            )
        except jwt.PyJWTError:
            return None
        subject, audience, uid = claims["sub"], claims["aud"], claims["uid"]
        if not all(isinstance(claim, str) for claim in (subject, audience, uid)):
            return None
        expires = claims["exp"]
        if not isinstance(expires, int | float) or expires <= self._clock():
            return None
        return CallClaims(subject, audience, uid, float(expires))
