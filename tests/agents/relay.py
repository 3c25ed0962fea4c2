"""A consumer for the polyglot tests: ``relay`` calls its dependency TEST_DEPENDENCY (a
capability name) with the arguments it is given, through ``Dependency`` injection."""

import os
from typing import Any

from mesh_agent import Dependency, MeshAgent

agent = MeshAgent()


@agent.tool(capabilities=["test.relay"], dependencies=[os.environ["TEST_DEPENDENCY"]])
async def relay(arguments: dict[str, Any], target: Dependency | None = None) -> dict[str, Any]:
    """Call the best provider of the dependency with ``arguments``."""
    if target is None:
        return {"result": None, "served_by": None}
    return {"result": await target(**arguments), "served_by": target.agent.metadata.name}


if __name__ == "__main__":
    agent.run()
