"""A provider for the SDK's tests. Its capability comes from TEST_CAPABILITY; its name, labels,
version and tags from the SDK's own MESH_* variables."""

import os

from mesh_agent import MeshAgent

agent = MeshAgent()
CAPABILITY = os.environ.get("TEST_CAPABILITY", "echo.say")
calls = {"say": 0, "fail": 0}


@agent.tool(capabilities=[CAPABILITY])
async def say(text: str) -> dict:
    """Echo ``text``, and say who answered."""
    calls["say"] += 1
    return {"text": text, "served_by": os.environ.get("MESH_AGENT_NAME", "?")}


@agent.tool(capabilities=["echo.fail"])
def fail(reason: str) -> str:
    """Always raises: a tool error, which callers must not retry elsewhere."""
    calls["fail"] += 1
    raise ValueError(reason)


@agent.tool(capabilities=["echo.calls"])
def count() -> dict:
    """How many times each tool ran here."""
    return dict(calls)


if __name__ == "__main__":
    agent.run()
