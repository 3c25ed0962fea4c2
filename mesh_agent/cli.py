"""Command-line options shared by the agent programs (``run-wasm``, ``sidecar``).

Each option is the environment variable of the same setting (see :mod:`settings`), spelled
as an option; given, it wins over the variable.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

# option, variable, type, help
_OPTIONS: list[tuple[str, str, type, str]] = [
    ("--name", "MESH_AGENT_NAME", str, "The agent's name (default: from the program)."),
    ("--namespace", "MESH_NAMESPACE", str, "The agent's namespace (default: default)."),
    ("--labels", "MESH_AGENT_LABELS", str, "Labels, k=v,k2=v2."),
    ("--health-interval", "MESH_HEALTH_INTERVAL", float, "Seconds between heartbeats."),
    ("--host", "MESH_AGENT_HOST", str, "Host to listen on (default: 127.0.0.1)."),
    ("--port", "MESH_AGENT_PORT", int, "Port to listen on (default: a free one)."),
    ("--advertise-host", "MESH_ADVERTISE_HOST", str, "Host in the registered endpoint."),
]


def agent_options(command: F) -> F:
    """Add the agent settings' options to a click command."""
    for option, variable, kind, text in reversed(_OPTIONS):
        command = click.option(option, type=kind, default=None, help=f"{text} [{variable}]")(
            command
        )
    return command


def export_agent_options(values: dict[str, Any]) -> None:
    """Put the given options in the environment, where the agent's settings read them."""
    for option, variable, _, _ in _OPTIONS:
        value = values.get(option.lstrip("-").replace("-", "_"))
        if value is not None:
            os.environ[variable] = str(value)
