"""A small stdio MCP server for the sidecar's tests.

Its tools: ``echo``; ``pid`` (its process id); ``environment`` (a variable it sees);
``add_tool`` (adds a tool and tells the client its tools changed); ``crash`` (exits at once,
mid-call); ``sleep`` (answers late); ``freeze`` (blocks its event loop: it answers nothing
any more, though it runs).
``STDIO_SERVER_EXTRA_TOOL`` names one more tool to have from the start. Besides tools, a
prompt (``greet``), a resource (``memo://today``) and a resource template (``memo://{day}``).
"""

from __future__ import annotations

import asyncio
import os
import time

import mcp_types
from fastmcp import Context, FastMCP

server = FastMCP("stdio-test-server")


@server.tool
def echo(text: str) -> str:
    """Return the text unchanged."""
    return text


@server.prompt
def greet(name: str) -> str:
    """Greet someone."""
    return f"Say hello to {name}."


@server.resource("memo://today", mime_type="text/plain")
def today() -> str:
    """Today's memo."""
    return "nothing planned"


@server.resource("memo://{day}")
def memo(day: str) -> str:
    """The memo of a day."""
    return f"memo of {day}"


@server.tool
def pid() -> int:
    """This process's id."""
    return os.getpid()


@server.tool
def environment(name: str) -> str | None:
    """The value of the environment variable ``name`` here."""
    return os.environ.get(name)


@server.tool
async def add_tool(name: str, ctx: Context) -> str:
    """Add a tool ``name`` that answers its own name, and notify the client."""
    server.tool(lambda: name, name=name, description=f"answers {name}")
    await ctx.send_notification(mcp_types.ToolListChangedNotification())
    return name


@server.tool
def crash(code: int = 3) -> str:
    """Exit the process now, in the middle of the call."""
    os._exit(code)


@server.tool
async def sleep(seconds: float) -> float:
    """Answer after ``seconds``."""
    await asyncio.sleep(seconds)
    return seconds


@server.tool
async def freeze() -> None:
    """Block the event loop for an hour."""
    time.sleep(3600)  # noqa: ASYNC251 - the point: nothing else runs


if os.environ.get("STDIO_SERVER_EXTRA_TOOL"):
    extra = os.environ["STDIO_SERVER_EXTRA_TOOL"]
    server.tool(lambda: extra, name=extra)

if __name__ == "__main__":
    server.run(show_banner=False, log_level="WARNING")
