"""Reading requests: JSON bodies within their limits, and flags, with clear errors (a list's
or a discovery's parameters are read by ``query.from_params``)."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from mesh_registry.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from mesh_registry.model import Limits
from mesh_registry.validation import nests_deeper_than

_JSON_TYPES = ("application/json",)
# Far below the parsers' own limits, far above what an Agent needs: its tool schemas
# (Limits.SCHEMA_DEPTH) are then refused naming the field.
MAX_BODY_DEPTH = 8 * Limits.SCHEMA_DEPTH


async def json_body(request: Request, limit: int) -> Any:
    """The request's JSON body; 413 above ``limit`` bytes, 415 for other media, 400 if malformed."""
    media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if media not in _JSON_TYPES and not media.endswith("+json"):
        raise UnsupportedMediaType(f"unsupported media type {media!r}: send application/json")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body of {declared} bytes is over the limit of {limit}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes")
    if not body:
        raise BadRequest("request body is empty: send a JSON object")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError is a ValueError
        raise BadRequest(f"request body is not valid JSON: {error}") from None
    if nests_deeper_than(body, document, MAX_BODY_DEPTH):
        raise BadRequest(
            f"request body nests more than {MAX_BODY_DEPTH} levels of arrays and objects"
        )
    return document


async def optional_json_body(request: Request, limit: int) -> Any | None:
    """Like :func:`json_body`, but ``None`` when the request carries no body at all."""
    if request.headers.get("content-length") in (
        None,
        "0",
    ) and "chunked" not in request.headers.get("transfer-encoding", ""):
        return None
    return await json_body(request, limit)


def flag(request: Request, name: str) -> bool:
    """A boolean query parameter: true/1 or false/0 (absent: false)."""
    value = request.query_params.get(name)
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise BadRequest(f"{name}: {value!r} is not a boolean (true or false)")
