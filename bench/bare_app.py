"""The ceiling for the heartbeat benchmark: Starlette answering 200 on the heartbeat path,
served exactly as the registry is (uvicorn with the same connection guard, on uvloop).

    python bench/bare_app.py PORT
"""

from __future__ import annotations

import sys

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mesh_registry.serving import listen, run, server_config

BODY = b'{"phase":"healthy","resourceVersion":"1"}'


async def heartbeat(request: Request) -> Response:
    return Response(BODY, media_type="application/json")


PATH = "/api/v1/namespaces/{namespace}/agents/{name}/heartbeat"
app = Starlette(routes=[Route(PATH, heartbeat, methods=["POST"])])


async def serve(port: int) -> None:
    config = server_config(app, access_log=False, log_level="warning")
    await uvicorn.Server(config).serve(sockets=[listen("127.0.0.1", port)])


if __name__ == "__main__":
    run(serve(int(sys.argv[1])))
