"""A consumer for the SDK's tests. Its dependency is TEST_DEPENDENCY (JSON: a capability name
or a dependency object); its settings come from the SDK's MESH_* variables."""

import json
import os

from mesh_agent import Dependency, MeshAgent

agent = MeshAgent()
DEPENDENCY = json.loads(os.environ.get("TEST_DEPENDENCY", '"echo.say"'))
CAPABILITY = DEPENDENCY if isinstance(DEPENDENCY, str) else DEPENDENCY["capability"]


@agent.tool(capabilities=["echo.relay"], dependencies=[DEPENDENCY])
async def relay(text: str, echo: Dependency | None = None) -> dict:
    """Ask the best provider to echo ``text``."""
    if echo is None:
        return {"text": None, "served_by": None}
    result = await echo(text=text)
    return {"text": result["text"], "served_by": echo.agent.metadata.name}


@agent.tool(capabilities=["echo.relay-sync"], dependencies=[DEPENDENCY])
def relay_sync(text: str, echo: Dependency | None = None) -> dict:
    """The same from a plain (thread-run) function: the dependency is called without await."""
    if echo is None:
        return {"text": None, "served_by": None}
    result = echo(text=text)
    return {"text": result["text"], "served_by": echo.agent.metadata.name}


@agent.tool(capabilities=["echo.relay-fail"], dependencies=[DEPENDENCY])
async def relay_fail(reason: str, echo: Dependency | None = None) -> str:
    """Call the provider's failing tool."""
    assert echo is not None
    return await echo.call_tool("fail", {"reason": reason})


@agent.tool(capabilities=["echo.known"])
def known() -> list[str]:
    """The providers this consumer knows now, best first."""
    return [provider.metadata.name for provider in agent.providers(CAPABILITY)]


if __name__ == "__main__":
    agent.run()
