"""Authorization: what a principal may do, checked before the registry does it.

A layer over the service, as Kubernetes' authorizer sits in front of its storage, and as free
of HTTP: REST, SSE and MCP all go through it, so they all refuse the same things the same way.

- Reading (get, list, watch, discover) needs the ``reader`` role in the namespace; a request
  over all namespaces sees only those the principal may read.
- Writing needs ``agent``. A record belongs to the subject that created it (the
  ``mcp-mesh.io/owner`` annotation, set here): only that subject, or an ``admin`` of the
  namespace, may replace it, heartbeat it or delete it. The check and the write are one step:
  the write carries the version the check saw, and a record changed in between is checked again.
- A record may claim only the capabilities its token's patterns allow.
- Each principal may hold a bounded number of open watches.
- Every write leaves one audit line: subject, verb, object, result.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from mesh_registry.auth.calltokens import CallTokens
from mesh_registry.auth.principal import Principal, Role
from mesh_registry.errors import (
    Forbidden,
    MeshError,
    TooManyRequests,
)
from mesh_registry.incoming import AgentInput, not_found, precondition_revision
from mesh_registry.listing import Listing
from mesh_registry.model import (
    Agent,
    CallToken,
    EventType,
    HeartbeatResponse,
    ObjectKey,
    Status,
    TokenReview,
    TokenReviewSpec,
    TokenReviewStatus,
    WatchEvent,
)
from mesh_registry.query import AgentQuery
from mesh_registry.service import Registration, Registry, Renewal
from mesh_registry.watch import WatchStream

OWNER_ANNOTATION = "mcp-mesh.io/owner"
audit = logging.getLogger("mesh_registry.audit")


@dataclass(frozen=True, slots=True)
class AccessLimits:
    watches_per_subject: int | None = None  # None: no limit


class Access:
    """The registry's operations, each for one principal."""

    def __init__(
        self,
        registry: Registry,
        limits: AccessLimits | None = None,
        still_valid: Callable[[Principal], bool] | None = None,
        call_tokens: CallTokens | None = None,
    ) -> None:
        self.registry = registry
        self._limits = limits or AccessLimits()
        # Whether a principal's token still holds; None: no tokens, nothing is ever revoked.
        self._still_valid = still_valid
        # Signed with the store's shared key: any replica accepts any replica's tokens.
        self._call_tokens = call_tokens or CallTokens(key=registry.call_token_key or None)
        self._watches: dict[str, int] = {}

    # -- writes ----------------------------------------------------------------------------

    async def create(self, principal: Principal, body: AgentInput, namespace: str) -> Agent:
        incoming = self.registry.incoming(body, namespace)
        with self._audited(principal, "create", incoming.key, 201):
            self._check_write(principal, incoming)
            return await self.registry.create(incoming, guard=_Owner(self, principal))

    async def register(
        self, principal: Principal, body: AgentInput, namespace: str | None, name: str | None
    ) -> Registration:
        """Create or replace (PUT), as the owner of the record or an admin."""
        incoming = self.registry.incoming(body, namespace, name)
        with self._audited(principal, "register", incoming.key) as outcome:
            self._check_write(principal, incoming)
            registration = await self.registry.register(incoming, guard=_Owner(self, principal))
            outcome.code = 201 if registration.created else 200
            return registration

    async def unregister(
        self,
        principal: Principal,
        namespace: str,
        name: str,
        *,
        resource_version: str | None = None,
        uid: str | None = None,
    ) -> Agent:
        key = ObjectKey(namespace, name)
        with self._audited(principal, "delete", key):
            # Checked before anything is looked up: a malformed precondition is a 400.
            resource_version = precondition_revision(
                resource_version, "preconditions.resourceVersion"
            )
            self._require(principal, Role.AGENT, namespace)
            return await self.registry.unregister(
                namespace,
                name,
                resource_version=resource_version,
                uid=uid,
                guard=_Owner(self, principal),
            )

    async def heartbeat(self, principal: Principal, namespace: str, name: str) -> HeartbeatResponse:
        renewal = await self.renew(principal, namespace, name)
        return HeartbeatResponse(phase=renewal.phase, resource_version=str(renewal.revision))

    async def renew(self, principal: Principal, namespace: str, name: str) -> Renewal:
        """:meth:`heartbeat`, answered with the phase and revision alone (the short path
        encodes them itself)."""
        # Not audited: heartbeats renew a lease, they do not change the record.
        self._require(principal, Role.AGENT, namespace)
        if not principal.may(Role.ADMIN, namespace):  # an admin may renew any agent's lease
            current = self.registry.find(ObjectKey(namespace, name))
            if current is not None:  # an unknown agent: the registry answers 404
                self._require_owner(principal, current)
        return await self.registry.renew(namespace, name)

    # -- reads -----------------------------------------------------------------------------

    async def get(self, principal: Principal, namespace: str, name: str) -> Agent:
        self._require(principal, Role.READER, namespace)
        return await self.registry.get(namespace, name)

    async def list_records(self, principal: Principal, query: AgentQuery) -> Listing:
        scope = self._scope(principal, query.namespace)
        return await self.registry.list_records(query, scope=scope)

    async def discover_records(self, principal: Principal, query: AgentQuery) -> Listing:
        scope = self._scope(principal, query.namespace)
        return await self.registry.discover_records(query, scope=scope)

    async def watch(
        self, principal: Principal, query: AgentQuery, since: str | int | None = None
    ) -> WatchStream:
        scope = self._scope(principal, query.namespace)
        self._open_watch(principal)
        try:
            events = await self.registry.watch(query, since=since, scope=scope)
        except MeshError:
            self._close_watch(principal)
            raise
        if self._still_valid is not None:  # without it, no principal is ever revoked
            still_valid = self._still_valid
            events.guard(lambda: None if still_valid(principal) else _revoked())
        return events.on_close(lambda: self._close_watch(principal))

    # -- calls between agents --------------------------------------------------------------

    async def call_token(self, principal: Principal, namespace: str, name: str) -> CallToken:
        """A token to call agent ``namespace/name`` with: for whoever may discover it."""
        self._require(principal, Role.READER, namespace)
        key = ObjectKey(namespace, name)
        agent = await self._find(key)
        if agent is None:
            raise not_found(key)
        audience = str(key)
        # Bound to this very agent: one deleted and created again under the name is another.
        token, expires = self._call_tokens.issue(principal.subject, audience, agent.metadata.uid)
        return CallToken(
            token=token,
            audience=audience,
            expiration_timestamp=datetime.fromtimestamp(expires, UTC),
        )

    async def review(self, principal: Principal, token: str) -> TokenReview:
        """Whether ``token`` is a valid call token, and whose. Only the agent it was issued for
        (its owner, or an admin of its namespace) may ask: the answer names the caller."""
        spec = TokenReviewSpec(token=token)
        claims = self._call_tokens.verify(token)
        if claims is None:
            return _reviewed(
                spec, error="not a valid call token: expired, altered, or not issued here"
            )
        namespace, _, name = claims.audience.partition("/")
        # Only an agent of the namespace may learn anything of the token (not even whom the
        # agent it names belongs to).
        self._require(principal, Role.AGENT, namespace)
        agent = await self._find(ObjectKey(namespace, name))
        if agent is None or agent.metadata.uid != claims.uid:
            return _reviewed(
                spec, error=f'the agent the token was issued for, "{claims.audience}", is gone'
            )
        self._check_owner(principal, agent)
        status = TokenReviewStatus(
            authenticated=True,
            subject=claims.subject,
            audience=claims.audience,
            expiration_timestamp=datetime.fromtimestamp(claims.expires, UTC),
        )
        return TokenReview(spec=spec, status=status)

    async def _find(self, key: ObjectKey) -> Agent | None:
        """The record, from the cache; caught up first if it is not there (registered through
        another replica a moment ago, say)."""
        agent = self.registry.find(key)
        if agent is None:
            await self.registry.fresh()
            agent = self.registry.find(key)
        return agent

    # -- checks ----------------------------------------------------------------------------

    def _check_write(self, principal: Principal, incoming: Agent) -> None:
        self._require(principal, Role.AGENT, incoming.metadata.namespace)
        for capability in incoming.spec.capabilities:
            if not principal.may_claim(capability.name):
                raise Forbidden(
                    f'{_who(principal)} may not claim capability "{capability.name}"'
                    f" (allowed: {', '.join(principal.capabilities or ())})"
                )

    def _check_owner(self, principal: Principal, current: Agent) -> None:
        if not principal.may(Role.ADMIN, current.metadata.namespace):
            self._require_owner(principal, current)

    @staticmethod
    def _require_owner(principal: Principal, current: Agent) -> None:
        owner = current.metadata.annotations.get(OWNER_ANNOTATION)
        if not principal.owns(owner):
            held_by = f'subject "{owner}"' if owner else "no subject (only an admin may change it)"
            raise Forbidden(f'agent "{current.key}" belongs to {held_by}, not to {_who(principal)}')

    @staticmethod
    def _require(principal: Principal, role: Role, namespace: str) -> None:
        if not principal.may(role, namespace):
            verb = "read" if role is Role.READER else "write"
            raise Forbidden(
                f'{_who(principal)} may not {verb} agents in namespace "{namespace}"'
                f" (needs role {role.name.lower()})"
            )

    def _scope(self, principal: Principal, namespace: str | None) -> frozenset[str] | None:
        """The namespaces a read may see (``None``: all); a named one must be readable."""
        if namespace is not None:
            self._require(principal, Role.READER, namespace)
            return None
        return principal.readable_namespaces()

    # -- watches ---------------------------------------------------------------------------

    def _open_watch(self, principal: Principal) -> None:
        limit = self._limits.watches_per_subject
        held = self._watches.get(principal.subject, 0)
        if limit is not None and held >= limit:
            raise TooManyRequests.after(
                f"{_who(principal)} has {held} open watches, the most allowed", 5
            )
        self._watches[principal.subject] = held + 1

    def _close_watch(self, principal: Principal) -> None:
        left = self._watches.get(principal.subject, 1) - 1
        if left > 0:
            self._watches[principal.subject] = left
        else:
            self._watches.pop(principal.subject, None)

    # -- audit -----------------------------------------------------------------------------

    @contextmanager
    def _audited(
        self, principal: Principal, verb: str, key: ObjectKey, success: int = 200
    ) -> Iterator[_Outcome]:
        outcome = _Outcome(success)
        try:
            yield outcome
        except MeshError as error:
            _audit(principal, verb, key, error.code, error.reason)
            raise
        _audit(principal, verb, key, outcome.code, "Success")


@dataclass(slots=True)
class _Outcome:
    code: int  # the status a successful write answers with


def _audit(principal: Principal, verb: str, key: ObjectKey, code: int, result: str) -> None:
    audit.info(
        "%s %s agent %s: %d %s",
        principal.subject,
        verb,
        key,
        code,
        result,
        extra={
            "subject": principal.subject,
            "verb": verb,
            "namespace": key.namespace,
            "agent": key.name,  # not "name": a LogRecord has that already
            "code": code,
            "result": result,
        },
    )


@dataclass(frozen=True, slots=True)
class _Owner:
    """The write guard of a principal: only the owner of a record, or an admin of its
    namespace, may change it; and a write leaves the owner annotation as it must be."""

    access: Access
    principal: Principal

    def check(self, current: Agent) -> None:
        self.access._check_owner(self.principal, current)

    def prepare(self, incoming: Agent, current: Agent | None) -> Agent:
        return _owned(incoming, self.principal, current)


def _owned(incoming: Agent, principal: Principal, current: Agent | None) -> Agent:
    """``incoming`` with its owner annotation as this write must leave it."""
    annotations = dict(incoming.metadata.annotations)
    asked = annotations.pop(OWNER_ANNOTATION, None)
    owner = current.metadata.annotations.get(OWNER_ANNOTATION) if current else None
    handing_over = principal.authenticated and principal.may(
        Role.ADMIN, incoming.metadata.namespace
    )
    if asked is not None and handing_over:
        owner = asked  # an admin may hand a record to another subject
    if owner is None and principal.authenticated:
        owner = principal.subject  # a new record, or one nobody owned
    if owner is not None:  # without authentication nobody becomes an owner
        annotations[OWNER_ANNOTATION] = owner
    metadata = incoming.metadata.model_copy(update={"annotations": annotations})
    return incoming.model_copy(update={"metadata": metadata})


def _reviewed(spec: TokenReviewSpec, *, error: str) -> TokenReview:
    return TokenReview(spec=spec, status=TokenReviewStatus(authenticated=False, error=error))


def _who(principal: Principal) -> str:
    return f'subject "{principal.subject}"'


def _revoked() -> WatchEvent:
    """The ERROR (401) that ends a watch once its principal's token is revoked."""
    revoked = Status(code=401, reason="Unauthorized", message="the token was revoked")
    return WatchEvent(type=EventType.ERROR, object=revoked)
