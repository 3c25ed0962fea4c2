"""The call benchmark's baseline: the same tool as ``echo_agent.py`` on a plain FastMCP server,
served the way FastMCP serves by default (its own uvicorn, stateless like an agent).

    python bench/fastmcp_echo.py PORT
"""

import sys

from fastmcp import FastMCP

server = FastMCP("echo")


@server.tool
async def echo(text: str) -> dict:
    """Return ``text``."""
    return {"text": text}


if __name__ == "__main__":
    server.run(
        transport="http",
        host="127.0.0.1",
        port=int(sys.argv[1]),
        path="/mcp",
        stateless_http=True,
        show_banner=False,
        log_level="warning",
    )
