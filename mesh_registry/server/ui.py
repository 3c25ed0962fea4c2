"""The dashboard at ``/ui``: static files shipped in the package (``mesh_registry/ui``), served
with a strict Content-Security-Policy. The page reads the same REST and watch API as any client,
with the token the user gives it: the files themselves need none."""

from __future__ import annotations

from importlib import resources

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

UI_PATH = "/ui"
# Only this origin's own files and API; no inline script or style, no frames, no forms.
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:;"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


def _files() -> dict[str, bytes]:
    """Every file of the page, by name, read once."""
    folder = resources.files("mesh_registry") / "ui"
    return {
        entry.name: entry.read_bytes()
        for entry in folder.iterdir()
        if entry.is_file() and any(entry.name.endswith(suffix) for suffix in _TYPES)
    }


def routes() -> list[Route]:
    files = _files()

    async def page(request: Request) -> Response:
        name = request.path_params.get("name", "index.html")
        body = files.get(name)
        if body is None:
            return Response("not found", status_code=404, media_type="text/plain")
        suffix = name[name.rfind(".") :]
        return Response(
            body,
            media_type=_TYPES[suffix],
            headers={
                "Content-Security-Policy": POLICY,
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
                "Cache-Control": "no-cache",
            },
        )

    async def slash(request: Request) -> Response:
        return RedirectResponse(UI_PATH + "/", status_code=308)

    return [
        Route(UI_PATH, slash, methods=["GET"]),
        Route(UI_PATH + "/", page, methods=["GET"]),
        Route(UI_PATH + "/{name}", page, methods=["GET"]),
    ]
