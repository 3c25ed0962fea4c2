"""``mcp-mesh sidecar [OPTIONS] -- COMMAND [ARGS]...``: bring a stdio MCP server into the mesh."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence

import click
import mcp_types
from fastmcp import FastMCP

from mesh_agent.agent import MeshAgent
from mesh_agent.cli import agent_options, settings_from_options
from mesh_agent.settings import DEFAULT_HEALTH_INTERVAL, AgentSettings
from mesh_agent.sidecar.child import (
    CLOSE_TIMEOUT,
    ChildFailed,
    ChildServer,
    RestartPolicy,
    display_name,
)
from mesh_agent.sidecar.offerings import OfferingMirror
from mesh_agent.sidecar.tools import ToolMirror

log = logging.getLogger("mesh_agent.sidecar")


# Options stop at COMMAND: what follows is the server's, even without "--".
@click.command(
    context_settings={"help_option_names": ["-h", "--help"], "allow_interspersed_args": False}
)
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.option(
    "--capability-prefix",
    default="",
    help="Put before each tool's name to make its capability (e.g. 'fs.').",
)
@click.option(
    "--max-restarts",
    type=click.IntRange(min=0),
    default=None,
    help="Give up after this many restarts in a row (default: never).",
)
@click.option(
    "--restart-backoff",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="Seconds before the first restart; doubles each time, with jitter.",
)
@click.option(
    "--restart-backoff-max",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="The longest wait before a restart.",
)
@click.option(
    "--call-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=60.0,
    show_default=True,
    help="Seconds a call may take in the server.",
)
@agent_options
def main(
    command: tuple[str, ...],
    capability_prefix: str,
    max_restarts: int | None,
    restart_backoff: float,
    restart_backoff_max: float,
    call_timeout: float,
    **options: object,
) -> None:
    """Run the stdio MCP server COMMAND as a mesh agent: each of its tools becomes a
    capability. Put -- before COMMAND when it has options of its own."""
    overrides = settings_from_options(options)
    policy = RestartPolicy(max_restarts, restart_backoff, max(restart_backoff, restart_backoff_max))
    from mesh_registry.logs import configure_unless_configured
    from mesh_registry.serving import run

    configure_unless_configured()
    try:
        run(
            serve(
                command,
                prefix=capability_prefix,
                policy=policy,
                call_timeout=call_timeout,
                overrides=overrides,
            )
        )
    except (ChildFailed, OSError, ValueError) as error:
        print(f"mcp-mesh sidecar: {error}", file=sys.stderr)
        raise SystemExit(1) from None


async def serve(
    command: Sequence[str],
    *,
    prefix: str,
    policy: RestartPolicy,
    call_timeout: float,
    overrides: AgentSettings | None = None,
) -> None:
    """Serve ``command``'s tools as a mesh agent until a shutdown signal; ``ChildFailed`` if
    the child cannot be kept running."""
    overrides = overrides or AgentSettings()
    server = FastMCP(display_name(command))
    settings = AgentSettings().with_environment().overridden_by(overrides)
    interval = settings.health_interval or DEFAULT_HEALTH_INTERVAL

    async def tools_changed(tools: list[mcp_types.Tool]) -> None:
        served = mirror.update(tools)
        offerings.update(*await child.offerings())
        if await agent.refresh():
            log.info("the server's tools changed: registered again with %s", ", ".join(served))

    child = ChildServer(
        command,
        on_tools=tools_changed,
        restart=policy,
        call_timeout=call_timeout,
        probe_interval=min(1.0, interval),
        probe_timeout=max(0.5, min(5.0, interval)),
    )
    mirror = ToolMirror(server, child, prefix=prefix)
    offerings = OfferingMirror(server, child)
    # The agent's probe: heartbeats only while the child answers.
    agent = MeshAgent(
        mcp=server, capability_prefix=prefix, probe=child.check, default_name=display_name(command)
    )
    agent.override(overrides)
    supervisor = asyncio.create_task(child.run(), name="mesh-sidecar-child")
    try:
        await _first_start(child, supervisor)
        serving = asyncio.create_task(agent.serve(), name="mesh-sidecar-agent")
        done, _ = await asyncio.wait({supervisor, serving}, return_when=asyncio.FIRST_COMPLETED)
        if supervisor in done:  # the restart policy gave up: leave the mesh, then say why
            serving.cancel()
            await asyncio.gather(serving, return_exceptions=True)
            supervisor.result()
        else:
            serving.result()
    finally:
        supervisor.cancel()
        # Bounded: the child is stopped within CLOSE_TIMEOUT, and exiting closes its stdin.
        await asyncio.wait({supervisor}, timeout=2 * CLOSE_TIMEOUT)


async def _first_start(child: ChildServer, supervisor: asyncio.Task[None]) -> None:
    """Wait until the child is up for the first time (its tools known), or the supervisor
    gives up."""
    up = asyncio.create_task(child.up.wait())
    try:
        await asyncio.wait({up, supervisor}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        up.cancel()
    if supervisor.done():
        supervisor.result()  # raises ChildFailed


if __name__ == "__main__":
    main(prog_name="mcp-mesh sidecar")
