"""Command-line options shared by the agent programs (``run-wasm``, ``sidecar``).

Each is the environment variable of the same setting spelled as an option (both declared once,
in ``settings.VARIABLES``); given, it wins over the variable.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from mesh_agent.settings import VARIABLES, AgentSettings, Variable

F = TypeVar("F", bound=Callable[..., Any])

_OPTIONS: tuple[Variable, ...] = tuple(v for v in VARIABLES if v.option)


def agent_options(command: F) -> F:
    """Add the agent settings' options to a click command."""
    for variable in reversed(_OPTIONS):
        assert variable.option is not None
        decorate = click.option(
            variable.option,
            type=variable.kind,
            default=None,
            help=f"{variable.meaning[:1].upper()}{variable.meaning[1:]} [{variable.name}]",
        )
        command = decorate(command)
    return command


def settings_from_options(values: dict[str, Any]) -> AgentSettings:
    """The settings the given options set (the others left unset)."""
    given: dict[str, Any] = {}
    for variable in _OPTIONS:
        assert variable.option is not None
        assert variable.field is not None
        value = values.get(variable.option.lstrip("-").replace("-", "_"))
        if value is not None:
            text = str(value)
            given[variable.field] = variable.read(variable.name, text)
    return AgentSettings(**given)
