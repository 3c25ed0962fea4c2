"""The provider the call benchmark calls: one small tool, served like any agent."""

from mesh_agent import MeshAgent

agent = MeshAgent()


@agent.tool(capabilities=["bench.echo"])
async def echo(text: str) -> dict:
    """Return ``text``."""
    return {"text": text}


if __name__ == "__main__":
    agent.run()
