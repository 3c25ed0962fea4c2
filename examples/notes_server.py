"""An ordinary stdio MCP server that knows nothing of the mesh: `mcp-mesh sidecar` brings it in.

    .venv/bin/mcp-mesh sidecar --capability-prefix notes. -- \
        .venv/bin/python examples/notes_server.py

Any stdio server works the same way (`-- npx -y …`, `-- uvx …`).
"""

from fastmcp import FastMCP

server = FastMCP("notes")
notes: list[str] = []


@server.tool
def add(text: str) -> int:
    """Keep a note; return how many there are."""
    notes.append(text)
    return len(notes)


@server.tool
def search(word: str) -> list[str]:
    """The notes that contain ``word``."""
    return [note for note in notes if word.lower() in note.lower()]


if __name__ == "__main__":
    server.run(show_banner=False, log_level="WARNING")
