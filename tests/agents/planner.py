"""A consumer that declares its dependencies on its parameters, with ``Requires``."""

from __future__ import annotations

from typing import Annotated

from mesh_agent import Dependency, MeshAgent, Requires

agent = MeshAgent()


@agent.tool(capabilities=["echo.plan"])
async def plan(
    text: str,
    prod: Annotated[Dependency, Requires("echo.say", selector="env=prod", version=">=1.2")],
    dev: Annotated[Dependency | None, Requires("echo.say", selector="env=dev")] = None,
) -> dict:
    """Ask the production provider (required) and the development one (if there is one)."""
    answer = await prod(text=text)
    return {
        "prod": answer["served_by"],
        "dev": None if dev is None else (await dev(text=text))["served_by"],
    }


if __name__ == "__main__":
    agent.run()
