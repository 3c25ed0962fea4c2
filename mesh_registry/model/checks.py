"""Field checks of the models, for what a client sends: each raises a pydantic error whose
message names the problem, and is skipped for records the registry wrote itself (``TRUSTED``),
which were checked on the way in."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationInfo, field_validator
from pydantic_core import PydanticCustomError, PydanticSerializationError, to_json

from mesh_registry import validation
from mesh_registry.model.base import Limits

# Validation context for records the registry wrote itself: they were checked on the way in.
TRUSTED: Mapping[str, bool] = {"trusted": True}


def checked(*fields: str) -> Callable[[Callable[[Any], Any]], Any]:
    """A field check for client input; skipped when decoding trusted records (``TRUSTED``)."""

    def decorate(check: Callable[[Any], Any]) -> Any:
        def validator(cls: type, value: Any, info: ValidationInfo) -> Any:
            return value if info.context is TRUSTED else check(value)

        validator.__name__ = check.__name__
        return field_validator(*fields)(classmethod(validator))

    return decorate


def invalid(reason: str) -> PydanticCustomError:
    # The reason travels in the context so that braces in it are never read as a template.
    return PydanticCustomError("invalid", "{reason}", {"reason": reason})


def check(problems: list[str], what: str, value: str) -> None:
    if problems:
        raise invalid(f"invalid {what} {value!r}: {'; '.join(problems)}")


def check_tags(tags: list[str]) -> list[str]:
    if len(tags) > Limits.TAGS:
        raise invalid(f"must have at most {Limits.TAGS} tags, got {len(tags)}")
    for tag in tags:
        check(validation.tag_errors(tag), "tag", tag)
    return tags


def check_schema(schema: dict[str, Any] | None) -> dict[str, Any] | None:
    if schema is None:
        return None
    depth = validation.nesting_depth(schema, Limits.SCHEMA_DEPTH)
    if depth > Limits.SCHEMA_DEPTH:
        raise invalid(
            f"a schema may nest at most {Limits.SCHEMA_DEPTH} levels of arrays and objects,"
            f" got more than {Limits.SCHEMA_DEPTH}"
        )
    try:
        size = len(to_json(schema))
    except (PydanticSerializationError, ValueError, RecursionError):
        raise invalid("must be JSON") from None
    if size > Limits.SCHEMA_BYTES:
        raise invalid(f"a schema may hold at most {Limits.SCHEMA_BYTES} bytes, got {size}")
    return schema
