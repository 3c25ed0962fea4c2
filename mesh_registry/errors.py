"""Typed errors of the registry API, each with its HTTP status code and Kubernetes reason.

The service raises them; every transport maps them the same way (REST status code, MCP tool error,
SSE ERROR event) through :meth:`MeshError.to_status`, and a client turns a ``Status`` back into
the same class with :func:`error_from_status`. Pure: the SDK uses this module too.
"""

from __future__ import annotations

from collections.abc import Iterable

from mesh_registry.model import FieldError, ObjectKey, Status, StatusCause, StatusDetails


class MeshError(Exception):
    """Base class: an error the API reports to its caller."""

    code: int = 500
    reason: str = "InternalError"

    def __init__(
        self, message: str, *, details: StatusDetails | None = None, code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code

    def to_status(self) -> Status:
        return Status(
            code=self.code, reason=self.reason, message=self.message, details=self.details
        )


class BadRequest(MeshError):
    """A malformed request: a bad query parameter, selector, token or resume id."""

    code = 400
    reason = "BadRequest"


class NotFound(MeshError):
    code = 404
    reason = "NotFound"

    @classmethod
    def agent(cls, key: ObjectKey) -> NotFound:
        return cls(f'agent "{key}" not found', details=_details(key))


class AlreadyExists(MeshError):
    code = 409
    reason = "AlreadyExists"

    @classmethod
    def agent(cls, key: ObjectKey) -> AlreadyExists:
        return cls(f'agent "{key}" already exists', details=_details(key))


class Conflict(MeshError):
    """An optimistic-concurrency failure: the caller's version of the object is stale."""

    code = 409
    reason = "Conflict"

    @classmethod
    def agent(cls, key: ObjectKey, why: str) -> Conflict:
        return cls(f'Operation cannot be fulfilled on agent "{key}": {why}', details=_details(key))


class Unauthorized(MeshError):
    """No credentials, or credentials the registry does not know."""

    code = 401
    reason = "Unauthorized"


class Forbidden(MeshError):
    """Known credentials, not allowed this request."""

    code = 403
    reason = "Forbidden"


class TooManyRequests(MeshError):
    """Over a limit of requests or watches; ``details.retryAfterSeconds`` says when to retry."""

    code = 429
    reason = "TooManyRequests"

    @classmethod
    def after(cls, message: str, seconds: int) -> TooManyRequests:
        return cls(message, details=StatusDetails(retry_after_seconds=max(1, seconds)))


class Gone(MeshError):
    """The requested revision is no longer in the history: list again, then watch from there."""

    code = 410
    reason = "Expired"


class Invalid(MeshError):
    """An object that fails validation; ``details.causes`` names every bad field."""

    code = 422
    reason = "Invalid"

    @classmethod
    def from_fields(cls, name: str | None, errors: Iterable[FieldError]) -> Invalid:
        causes = [
            StatusCause(reason="FieldValueInvalid", message=e.message, field=e.field)
            for e in errors
        ]
        summary = "; ".join(f"{c.field}: {c.message}" for c in causes)
        return cls(
            f'Agent "{name or ""}" is invalid: {summary}',
            details=StatusDetails(name=name, kind="Agent", causes=causes),
        )


class MethodNotAllowed(MeshError):
    code = 405
    reason = "MethodNotAllowed"


class PayloadTooLarge(MeshError):
    code = 413
    reason = "RequestEntityTooLarge"


class UnsupportedMediaType(MeshError):
    code = 415
    reason = "UnsupportedMediaType"


class Unavailable(MeshError):
    """The registry cannot serve the request right now (its store failed or is closing)."""

    code = 503
    reason = "ServiceUnavailable"


def _details(key: ObjectKey) -> StatusDetails:
    return StatusDetails(name=key.name, namespace=key.namespace, kind="Agent")


_BY_REASON: dict[str, type[MeshError]] = {
    cls.reason: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        TooManyRequests,
        NotFound,
        MethodNotAllowed,
        AlreadyExists,
        Conflict,
        Gone,
        PayloadTooLarge,
        UnsupportedMediaType,
        Invalid,
        Unavailable,
    )
}


def error_from_status(status: Status) -> MeshError:
    """The error class a ``Status`` stands for (``MeshError`` itself for unknown reasons)."""
    cls = _BY_REASON.get(status.reason)
    if cls is None:
        return MeshError(status.message, details=status.details, code=status.code)
    return cls(status.message, details=status.details)
