"""Dependency slots: which parameters of a tool receive providers, and the wrapper that fills them.

A parameter annotated ``Dependency`` (or ``Dependency | None``) is a slot. Slots are matched to
the tool's declared dependencies by name first (the parameter named like the capability, dots as
underscores: ``weather_forecast`` for ``weather.forecast``), then in declaration order. Slots
are hidden from the tool's input schema and filled at each call. A slot that cannot be ``None``
(annotated ``Dependency`` alone) makes its dependency required: the call fails rather than
passing ``None`` where the code does not expect it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from mesh_agent.dependency import Dependency
from mesh_registry.model import DependencySpec

Resolve = Callable[[DependencySpec, asyncio.AbstractEventLoop], Awaitable[Dependency | None]]


def is_slot(annotation: Any) -> bool:
    """``Dependency`` or ``Dependency | None`` (also as ``Optional[Dependency]``)."""
    if annotation is Dependency:
        return True
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        members = set(typing.get_args(annotation))
        return members == {Dependency, type(None)}
    return False


def type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``fn``'s annotations, resolved (also under ``from __future__ import annotations``)."""
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except (NameError, TypeError):
        return dict(getattr(fn, "__annotations__", {}))


def match_slots(
    fn: Callable[..., Any], dependencies: Sequence[DependencySpec]
) -> dict[str, DependencySpec]:
    """Each slot parameter of ``fn`` and the dependency it receives; ``TypeError`` when the
    slots outnumber the dependencies."""
    return {name: dependencies[index] for name, index in _slot_indices(fn, dependencies).items()}


def declared_dependencies(
    fn: Callable[..., Any], dependencies: Sequence[DependencySpec]
) -> list[DependencySpec]:
    """``dependencies`` as ``fn`` needs them: those its non-``None`` slots receive required."""
    required = {
        index
        for name, index in _slot_indices(fn, dependencies).items()
        if type_hints(fn).get(name) is Dependency
    }
    return [
        spec.model_copy(update={"required": True}) if i in required and not spec.required else spec
        for i, spec in enumerate(dependencies)
    ]


def _slot_indices(fn: Callable[..., Any], dependencies: Sequence[DependencySpec]) -> dict[str, int]:
    """Slot name → index of its dependency: by name first, then in declaration order."""
    hints = type_hints(fn)
    slots = [name for name in inspect.signature(fn).parameters if is_slot(hints.get(name))]
    matched: dict[str, int] = {}
    unclaimed = list(range(len(dependencies)))
    for name in slots:
        for index in unclaimed:
            if dependencies[index].capability.replace(".", "_") == name:
                matched[name] = index
                unclaimed.remove(index)
                break
    for name in slots:
        if name not in matched:
            if not unclaimed:
                raise TypeError(
                    f"{fn.__qualname__}: parameter {name!r} is a Dependency, but no declared"
                    " dependency is left for it; add one to dependencies=[...]"
                )
            matched[name] = unclaimed.pop(0)
    return matched


def tool_function(
    fn: Callable[..., Any], slots: dict[str, DependencySpec], resolve: Resolve
) -> Callable[..., Any]:
    """An async function like ``fn`` without the slot parameters, which fills them per call.

    Its signature (read by FastMCP for the input schema) is ``fn``'s minus the slots, with the
    annotations resolved; a plain ``def`` runs in a worker thread, as FastMCP runs plain tools.
    """
    hints = type_hints(fn)
    signature = inspect.signature(fn)
    parameters = [
        parameter.replace(annotation=hints.get(name, parameter.annotation))
        for name, parameter in signature.parameters.items()
        if name not in slots
    ]
    is_async = inspect.iscoroutinefunction(fn)

    async def tool(**arguments: Any) -> Any:
        loop = asyncio.get_running_loop()
        for name, dependency in slots.items():
            arguments[name] = await resolve(dependency, loop)
        if is_async:
            return await fn(**arguments)
        return await asyncio.to_thread(functools.partial(fn, **arguments))

    functools.update_wrapper(
        tool, fn, assigned=("__module__", "__name__", "__qualname__", "__doc__")
    )
    tool.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=parameters, return_annotation=hints.get("return", signature.return_annotation)
    )
    tool.__annotations__ = {
        name: hints[name] for name in [*(p.name for p in parameters), "return"] if name in hints
    }
    return tool
