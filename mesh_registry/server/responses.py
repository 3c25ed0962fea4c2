"""Writing responses: pydantic models as JSON, errors as Kubernetes ``Status``."""

from __future__ import annotations

from pydantic import BaseModel
from starlette.responses import Response

from mesh_registry.errors import MeshError

JSON = "application/json"


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    return Response(model.model_dump_json(exclude_none=True), status_code, media_type=JSON)


def status_response(error: MeshError) -> Response:
    headers = {}
    if error.details is not None and error.details.retry_after_seconds is not None:
        headers["Retry-After"] = str(error.details.retry_after_seconds)
    return Response(
        error.to_status().model_dump_json(exclude_none=True),
        error.code,
        headers=headers,
        media_type=JSON,
    )
