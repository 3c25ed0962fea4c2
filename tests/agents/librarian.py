"""An agent with prompts and resources besides a tool, declared in the decorator form. The
prompt's name comes from TEST_PROMPT (default ``summarize``)."""

import os

from mesh_agent import mesh_agent

NAME = os.environ.get("MESH_AGENT_NAME", "?")


@mesh_agent(capabilities=["notes.count"])
def count() -> int:
    """How many notes there are."""
    return 2


@mesh_agent.prompt(name=os.environ.get("TEST_PROMPT", "summarize"))
def summarize(text: str, style: str = "short") -> str:
    """Ask for a summary of a text."""
    return f"Summarize in a {style} way: {text}"


@mesh_agent.resource("notes://index", mime_type="text/plain")
def index() -> str:
    """The names of the notes."""
    return "first, second"


@mesh_agent.resource("notes://{name}")
def note(name: str) -> str:
    """One note."""
    return f"note {name}, from {NAME}"


if __name__ == "__main__":
    mesh_agent.run()
