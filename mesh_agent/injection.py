"""Dependency slots: which parameters of a tool receive providers, and the wrapper that fills them.

A parameter annotated ``Dependency`` (or ``Dependency | None``) is a slot. A slot declares its
own dependency with ``Requires``, as FastMCP's ``Context`` is declared where it is used:

    weather: Annotated[Dependency | None, Requires("weather.forecast", selector="env=prod")]

The other slots are matched to the tool's ``dependencies=[...]`` by name first (the parameter
named like the capability, dots as underscores: ``weather_forecast`` for ``weather.forecast``),
then in declaration order. Slots are hidden from the tool's input schema and filled at each
call. A slot that cannot be ``None`` (annotated ``Dependency`` alone) makes its dependency
required: the call fails rather than passing ``None`` where the code does not expect it.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import ValidationError

from mesh_agent.dependency import Dependency
from mesh_registry.model import DependencySpec, field_errors

Resolve = Callable[[DependencySpec, asyncio.AbstractEventLoop], Awaitable[Dependency | None]]
DependencyInput = str | Mapping[str, Any] | DependencySpec


class Requires:
    """The dependency a ``Dependency`` parameter receives, declared on the parameter.

    ``capability``, ``selector`` (a label selector), ``version`` (a range, npm syntax) and
    ``tags`` (``x`` required, ``+x`` preferred, ``-x`` excluded) choose the providers, as in
    ``dependencies=[...]``. Whether it is required comes from the parameter's type: required
    for ``Dependency``, optional for ``Dependency | None``.
    """

    __slots__ = ("dependency",)

    def __init__(
        self,
        capability: str,
        *,
        selector: str = "",
        version: str = "",
        tags: Sequence[str] = (),
    ) -> None:
        given = {"capability": capability, "selector": selector, "version": version}
        self.dependency = dependency_spec({**given, "tags": list(tags)})

    def __repr__(self) -> str:
        spec = self.dependency
        options = [f"{key}={value!r}" for key, value in spec if value and key != "capability"]
        return f"Requires({', '.join([repr(spec.capability), *options])})"


def dependency_spec(value: DependencyInput) -> DependencySpec:
    """A dependency as ``dependencies=[...]`` gives it: a capability name, a mapping of
    ``DependencySpec``'s fields, or one; ``ValueError`` naming the invalid field."""
    if isinstance(value, DependencySpec):
        return value
    if isinstance(value, str):
        value = {"capability": value}
    try:
        return DependencySpec.model_validate(value, extra="forbid")
    except ValidationError as error:
        problems = "; ".join(f"{e.field}: {e.message}" for e in field_errors(error))
        raise ValueError(f"invalid dependency {dict(value)!r}: {problems}") from None


def is_slot(annotation: Any) -> bool:
    """``Dependency`` or ``Dependency | None`` (also as ``Optional[Dependency]``), possibly
    ``Annotated``."""
    annotation = _unannotated(annotation)
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


@dataclass(frozen=True, slots=True)
class ToolDependencies:
    """What a tool depends on: ``declared``, each once (the record's list), and the dependency
    each slot receives."""

    declared: list[DependencySpec]
    slots: dict[str, DependencySpec]


def tool_dependencies(
    fn: Callable[..., Any], listed: Sequence[DependencySpec] = ()
) -> ToolDependencies:
    """``fn``'s dependencies: ``listed`` (made required where a non-``None`` slot receives one)
    and those its parameters declare with ``Requires``. ``TypeError``, naming the parameter,
    when a slot is left without a dependency or a declaration is ambiguous."""
    hints = type_hints(fn)
    parameters = list(inspect.signature(fn).parameters)
    annotated = _annotated_slots(fn, parameters, hints)
    for name, spec in annotated.items():
        if any(d.capability == spec.capability for d in listed):
            raise TypeError(
                f"{fn.__qualname__}: {spec.capability!r} is declared both in dependencies=[...]"
                f" and by the Requires of parameter {name!r}; declare it in one place"
            )
    plain = [name for name in parameters if name not in annotated and is_slot(hints.get(name))]
    indices = _match_by_name_then_order(fn, plain, listed)
    required = {index for name, index in indices.items() if _required(hints[name])}
    upgraded = [
        spec.model_copy(update={"required": True}) if i in required and not spec.required else spec
        for i, spec in enumerate(listed)
    ]
    slots = {
        name: upgraded[indices[name]] if name in indices else annotated[name]
        for name in parameters
        if name in indices or name in annotated
    }
    declared = list(dict.fromkeys([*upgraded, *annotated.values()]))
    return ToolDependencies(declared, slots)


def _annotated_slots(
    fn: Callable[..., Any], parameters: list[str], hints: Mapping[str, Any]
) -> dict[str, DependencySpec]:
    """The slots that declare their dependency with ``Requires``, and that dependency."""
    found: dict[str, DependencySpec] = {}
    for name in parameters:
        hint = hints.get(name)
        declarations = [m for m in _metadata(hint) if isinstance(m, Requires)]
        if not declarations:
            continue
        if len(declarations) > 1:
            raise TypeError(f"{fn.__qualname__}: parameter {name!r} has more than one Requires")
        if not is_slot(hint):
            raise TypeError(
                f"{fn.__qualname__}: parameter {name!r} has a Requires, but is not a Dependency"
                " (annotate it Annotated[Dependency | None, Requires(...)])"
            )
        spec = declarations[0].dependency
        found[name] = spec.model_copy(update={"required": _required(hint)})
    return found


def _match_by_name_then_order(
    fn: Callable[..., Any], slots: list[str], dependencies: Sequence[DependencySpec]
) -> dict[str, int]:
    """Slot name → index of its dependency: by name first, then in declaration order."""
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
                    " dependency is left for it; add one to dependencies=[...], or declare it"
                    " on the parameter with Requires"
                )
            matched[name] = unclaimed.pop(0)
    return matched


def _unannotated(annotation: Any) -> Any:
    return typing.get_args(annotation)[0] if _is_annotated(annotation) else annotation


def _metadata(annotation: Any) -> tuple[Any, ...]:
    return annotation.__metadata__ if _is_annotated(annotation) else ()


def _is_annotated(annotation: Any) -> bool:
    return typing.get_origin(annotation) is Annotated


def _required(annotation: Any) -> bool:
    """A slot that cannot be ``None``."""
    return _unannotated(annotation) is Dependency


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
