"""Validation errors as the API reports them: one problem per field, named as a path."""

from __future__ import annotations

from typing import NamedTuple

from pydantic import ValidationError


class FieldError(NamedTuple):
    """One problem with one field, named as a path: ``spec.capabilities[0].name``."""

    field: str
    message: str


def field_path(location: tuple[int | str, ...]) -> str:
    """``("spec", "capabilities", 0, "name")`` → ``spec.capabilities[0].name``."""
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or "<body>"


def field_errors(error: ValidationError) -> list[FieldError]:
    """Every problem in a pydantic ``ValidationError``, with its field path."""
    found = []
    for problem in error.errors(include_url=False):
        location = problem["loc"]
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "unknown field"
        found.append(FieldError(field_path(location), message))
    return found
