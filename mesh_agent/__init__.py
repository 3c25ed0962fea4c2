"""mcp-mesh agent SDK: MCP tools that register themselves and call each other.

from mesh_agent import Dependency, mesh_agent

@mesh_agent(capabilities=["report.daily"], dependencies=["weather.forecast"])
async def daily_report(city: str, weather: Dependency | None = None) -> str:
    if weather is None:  # no healthy provider: degrade, don't crash
        return f"{city}: no forecast available"
    return f"{city}: {await weather(city=city)}"

if __name__ == "__main__":
    mesh_agent.run()
"""

from mesh_agent.agent import MeshAgent
from mesh_agent.decorator import MeshAgentDecorator, default_agent, mesh_agent
from mesh_agent.dependency import Dependency
from mesh_agent.discovery import MeshClient, discover
from mesh_agent.injection import Requires
from mesh_agent.mcp_http import McpProtocolError, ProviderUnreachable, ToolCallError
from mesh_registry import __version__

run = mesh_agent.run  # ``import mesh_agent; mesh_agent.run()`` works too

__all__ = [
    "Dependency",
    "McpProtocolError",
    "MeshAgent",
    "MeshAgentDecorator",
    "MeshClient",
    "ProviderUnreachable",
    "Requires",
    "ToolCallError",
    "__version__",
    "default_agent",
    "discover",
    "mesh_agent",
    "run",
]
