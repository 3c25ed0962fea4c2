"""``@mesh_agent``: make a function a tool of the process's agent, in one line."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from mesh_agent.agent import MeshAgent
from mesh_agent.injection import DependencyInput
from mesh_agent.settings import AgentSettings

F = TypeVar("F", bound=Callable[..., Any])

_default: MeshAgent | None = None


def default_agent() -> MeshAgent:
    """The process's agent, which ``@mesh_agent`` adds tools to."""
    global _default
    if _default is None:
        _default = MeshAgent()
    return _default


class MeshAgentDecorator:
    """``@mesh_agent(capabilities=[...], dependencies=[...], ...)`` on a function (sync or
    async) makes it an MCP tool of this process's agent, providing those capabilities; its
    ``Dependency`` parameters receive providers at each call. The function stays directly
    callable. ``mesh_agent.run()`` serves the agent.

    Agent-wide arguments (``name``, ``namespace``, ``registry_endpoint``, ``labels``,
    ``health_interval``) may be given on any of the decorated functions; they must agree.
    Environment variables override them (see ``mesh_agent.settings``).
    """

    def __call__(
        self,
        fn: F | None = None,
        /,
        *,
        capabilities: Sequence[str] | None = None,
        dependencies: Sequence[DependencyInput] | None = None,
        health_interval: float | None = None,
        registry_endpoint: str | None = None,
        labels: Mapping[str, str] | None = None,
        version: str | None = None,
        tags: Sequence[str] | None = None,
        name: str | None = None,
        namespace: str | None = None,
        description: str | None = None,
        token: str | None = None,
        require_token: bool | None = None,
    ) -> Any:
        def decorate(function: F) -> F:
            agent = default_agent()
            agent.configure(
                AgentSettings(
                    name=name,
                    namespace=namespace,
                    registry_url=registry_endpoint,
                    labels=dict(labels or {}),
                    health_interval=health_interval,
                    token=token,
                    require_token=require_token,
                ),
                source=f" (on {function.__qualname__})",
            )
            result: F = agent.tool(
                function,
                capabilities=capabilities,
                dependencies=dependencies,
                version=version,
                tags=tags,
                description=description,
            )
            return result

        return decorate(fn) if fn is not None else decorate

    def prompt(
        self, fn: F | None = None, *, name: str | None = None, description: str | None = None
    ) -> Any:
        """``@mesh_agent.prompt``: an MCP prompt of the process's agent (see
        :meth:`MeshAgent.prompt`)."""
        return default_agent().prompt(fn, name=name, description=description)

    def resource(
        self,
        uri: str,
        *,
        name: str | None = None,
        description: str | None = None,
        mime_type: str | None = None,
    ) -> Callable[[F], F]:
        """``@mesh_agent.resource(uri)``: an MCP resource of the process's agent (see
        :meth:`MeshAgent.resource`)."""
        return default_agent().resource(
            uri, name=name, description=description, mime_type=mime_type
        )

    def run(self) -> None:
        """Serve the process's agent until SIGTERM or SIGINT."""
        default_agent().run()

    async def serve(self) -> None:
        await default_agent().serve()


mesh_agent = MeshAgentDecorator()
