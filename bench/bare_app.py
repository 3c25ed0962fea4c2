"""The ceiling for the heartbeat benchmark: Starlette answering 200 on the heartbeat path,
served by uvicorn exactly as the registry is.

    python bench/bare_app.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

BODY = b'{"phase":"healthy","resourceVersion":"1"}'


async def heartbeat(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


PATH = "/api/v1/namespaces/{namespace}/agents/{name}/heartbeat"
app = Starlette(routes=[Route(PATH, heartbeat, methods=["POST"])])

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
