"""Many agents in one process, for tests that need a fleet: FLEET_SIZE agents named
FLEET_PREFIX-0, FLEET_PREFIX-1, …, each providing ``fleet.echo``. The other settings come from
the SDK's MESH_* variables (MESH_AGENT_NAME must not be set: it would name them all)."""

import asyncio
import logging
import os

from mesh_agent import MeshAgent
from mesh_registry.serving import run


def fleet_agent(name: str) -> MeshAgent:
    agent = MeshAgent(name)

    @agent.tool(capabilities=["fleet.echo"])
    async def echo(text: str) -> dict:
        """Return ``text`` and who answered."""
        return {"text": text, "agent": name}

    return agent


async def main() -> None:
    prefix, size = os.environ["FLEET_PREFIX"], int(os.environ["FLEET_SIZE"])
    agents = [fleet_agent(f"{prefix}-{i}") for i in range(size)]
    await asyncio.gather(*(agent.serve() for agent in agents))


if __name__ == "__main__":
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)-7s %(name)s: %(message)s"
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    run(main())
