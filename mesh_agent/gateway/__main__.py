"""``mcp-mesh gateway``: the mesh as one MCP server, over streamable HTTP or stdio.

The registry is ``MESH_REGISTRY_URL`` (with ``MESH_TOKEN`` and ``MESH_CA_BUNDLE`` when it needs
them), as for agents; ``mcp-mesh --registry URL gateway`` sets it too.
"""

from __future__ import annotations

import asyncio
import logging
import sys

import click

from mesh_agent import tracing
from mesh_agent.gateway.server import Gateway, GatewayOptions
from mesh_agent.settings import AgentSettings

log = logging.getLogger("mesh_agent.gateway")

# Clients of handshake-era protocols hold sessions: bounded in number and in idle time.
MAX_SESSIONS = 256
SESSION_IDLE_SECONDS = 600.0
# How long a start waits for the mesh's first state before serving anyway (then empty).
FIRST_STATE_SECONDS = 10.0


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to serve on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True)
@click.option("--path", default="/mcp", show_default=True, help="Path of the MCP endpoint.")
@click.option("--stdio", is_flag=True, help="Serve one client on stdin/stdout instead.")
@click.option(
    "--namespace",
    "-n",
    default=None,
    help="Only this namespace's agents (default: every namespace the token may read).",
)
@click.option("--selector", "-l", default="", help="Only agents matching this label selector.")
@click.option(
    "--capability",
    multiple=True,
    help="Only capabilities matching this glob (repeatable: any), e.g. 'weather.*'.",
)
@click.option(
    "--meta-tools",
    is_flag=True,
    help="Expose list_available_tools and call_tool instead of one tool per capability.",
)
def main(
    host: str,
    port: int,
    path: str,
    stdio: bool,
    namespace: str | None,
    selector: str,
    capability: tuple[str, ...],
    meta_tools: bool,
) -> None:
    """Serve every capability of the mesh's healthy agents as one MCP server."""
    from mesh_registry.logs import configure_unless_configured
    from mesh_registry.serving import run

    configure_unless_configured()  # logs go to stderr: stdout is the protocol's with --stdio
    tracing.configure("mcp-mesh-gateway")
    options = GatewayOptions(namespace, selector, capability, meta_tools)
    try:
        run(serve_stdio(options) if stdio else serve_http(options, host, port, path))
    except (OSError, ValueError) as error:
        print(f"mcp-mesh gateway: {error}", file=sys.stderr)
        raise SystemExit(1) from None


async def serve_http(options: GatewayOptions, host: str, port: int, path: str) -> None:
    """Serve on ``host:port`` at ``path`` until a shutdown signal."""
    import uvicorn

    from mesh_registry.memory import freeze_heap
    from mesh_registry.serving import listen, server_config, signals_end_the_serve_loop

    listener = listen(host, port)
    async with AgentSettings().with_environment().registry_client(timeout=5.0) as registry:
        gateway = Gateway(registry, options)
        app = gateway.server.streamable_http_app(
            streamable_http_path=path,
            host=host,
            max_sessions=MAX_SESSIONS,
            session_idle_timeout=SESSION_IDLE_SECONDS,
        )
        freeze_heap()  # what is built by now is never garbage (see memory.py)
        following = asyncio.create_task(gateway.run(), name="mesh-gateway")
        try:
            await _first_state(gateway)
            server = uvicorn.Server(server_config(app, access_log=False))
            listener.listen(2048)  # connections wait in the backlog from the moment it says so
            port = listener.getsockname()[1]
            log.info("gateway serving on http://%s:%d%s", _url_host(host), port, path)
            with signals_end_the_serve_loop():
                await server.serve(sockets=[listener])
        finally:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)


async def serve_stdio(options: GatewayOptions) -> None:
    """Serve the one client on stdin/stdout until it closes them."""
    from mcp.server.stdio import stdio_server

    async with AgentSettings().with_environment().registry_client() as registry:
        gateway = Gateway(registry, options)
        following = asyncio.create_task(gateway.run(), name="mesh-gateway")
        try:
            await _first_state(gateway)
            async with stdio_server() as (read, write):
                server = gateway.server
                await server.run(read, write, server.create_initialization_options())
        finally:
            following.cancel()
            await asyncio.gather(following, return_exceptions=True)


async def _first_state(gateway: Gateway) -> None:
    if not await gateway.ready(FIRST_STATE_SECONDS):
        log.warning(
            "no answer from the registry within %g s: serving, with no tools until it answers",
            FIRST_STATE_SECONDS,
        )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


if __name__ == "__main__":
    main(prog_name="mcp-mesh gateway")
