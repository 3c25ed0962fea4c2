"""Run the agent a Python file defines, with no boilerplate in the file.

``mcp-mesh run path/to/agent.py`` and ``python -m mesh_agent path/to/agent.py`` execute the file
as a module (not as ``__main__``, so its own ``if __name__ == "__main__": …run()`` guard does
not fire). Its agent is, in order: a ``MeshAgent`` it defines; else the agent its
``@mesh_agent`` functions built; else a ``FastMCP`` server it defines, attached as an agent
whose tools are capabilities named after them.
"""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

from fastmcp import FastMCP

from mesh_agent import decorator
from mesh_agent.agent import MeshAgent
from mesh_agent.settings import AgentSettings


def load(path: str) -> MeshAgent:
    """The agent defined by the Python file at ``path``; ``ValueError`` if there is none."""
    file = Path(path).resolve()
    if not file.is_file():
        raise ValueError(f"no such file: {path}")
    sys.path.insert(0, str(file.parent))  # so that the file's own imports work
    namespace = runpy.run_path(str(file), run_name="__mesh_agent__")
    agent = _agent_of(path, namespace)
    # Named after the file unless it says otherwise, as if it were run directly.
    agent.configure(AgentSettings(default_name=agent.settings.default_name or str(file)))
    return agent


def _agent_of(path: str, namespace: dict[str, object]) -> MeshAgent:
    agents = [value for value in namespace.values() if isinstance(value, MeshAgent)]
    if len(agents) > 1:
        raise ValueError(f"{path} defines {len(agents)} MeshAgent objects; run one per process")
    if agents:
        return agents[0]
    default = decorator.default_agent()
    if default.provided:
        return default
    servers = [value for value in namespace.values() if isinstance(value, FastMCP)]
    if len(servers) == 1:
        return MeshAgent(servers[0].name, mcp=servers[0])
    raise ValueError(
        f"{path} defines no agent: decorate a function with @mesh_agent, or define a MeshAgent"
        " or a FastMCP server"
    )


def run(path: str) -> None:
    """Load the agent of ``path`` and serve it until SIGTERM/SIGINT; exit 1 with a message if
    the file defines none."""
    try:
        agent = load(path)
    except ValueError as error:
        print(f"mcp-mesh run: {error}", file=sys.stderr)
        raise SystemExit(1) from None
    agent.run()
