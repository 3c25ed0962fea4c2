"""A principal (the subject of a token) and what its roles allow, per namespace."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from fnmatch import fnmatchcase

# The namespace key that stands for every namespace.
EVERY_NAMESPACE = "*"


class Role(enum.IntEnum):
    """Roles are ordered: each one can do everything the ones below it can."""

    READER = 1  # get, list, watch, discover
    AGENT = 2  # reader, plus register, heartbeat and unregister of its own records
    ADMIN = 3  # everything, on every record of the namespace

    @classmethod
    def parse(cls, text: str) -> Role:
        try:
            return cls[text.upper()]
        except KeyError:
            names = ", ".join(role.name.lower() for role in cls)
            raise ValueError(f"unknown role {text!r} (one of {names})") from None


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: a subject with a role per namespace (``"*"``: all of them)
    and, optionally, the capability patterns (globs) its records may claim."""

    subject: str
    roles: Mapping[str, Role] = field(default_factory=dict)
    capabilities: tuple[str, ...] | None = None  # None: any capability
    authenticated: bool = True
    token_id: str = ""  # identifies the token (a digest prefix), never the token itself

    def role(self, namespace: str) -> Role | None:
        """The strongest role this principal holds in ``namespace``."""
        # On every request: no list built for a choice between two.
        here, everywhere = self.roles.get(namespace), self.roles.get(EVERY_NAMESPACE)
        if here is None or everywhere is None:
            return everywhere if here is None else here
        return max(here, everywhere)

    def may(self, role: Role, namespace: str) -> bool:
        held = self.role(namespace)
        return held is not None and held >= role

    def readable_namespaces(self) -> frozenset[str] | None:
        """The namespaces this principal may read; ``None`` means all of them."""
        if self.roles.get(EVERY_NAMESPACE) is not None:
            return None
        return frozenset(self.roles)

    def may_claim(self, capability: str) -> bool:
        if self.capabilities is None:
            return True
        return any(fnmatchcase(capability, pattern) for pattern in self.capabilities)

    def owns(self, owner: str | None) -> bool:
        return self.authenticated and owner == self.subject


# Every request when authentication is off: the registry trusts its (loopback) network.
ANONYMOUS = Principal("system:anonymous", {EVERY_NAMESPACE: Role.ADMIN}, authenticated=False)
