"""Dependency slots: which parameters receive providers, and the tool the MCP server sees."""

from __future__ import annotations

import asyncio
import inspect
import threading
from typing import Annotated, Any, Optional, Union

import pytest
from fastmcp import FastMCP

from mesh_agent import Dependency
from mesh_agent.injection import Requires, is_slot, tool_dependencies, tool_function
from mesh_registry.model import DependencySpec


@pytest.mark.parametrize(
    ("annotation", "slot"),
    [
        (Dependency, True),
        (Dependency | None, True),
        (Optional[Dependency], True),  # noqa: UP045 - the spelling users still write
        (Union[Dependency, None], True),  # noqa: UP007
        (None | Dependency, True),
        (str, False),
        (None, False),
        (inspect.Parameter.empty, False),
        (Dependency | str, False),
        (Dependency | str | None, False),
        (list[Dependency], False),
        ("Dependency", False),  # an unresolved name is not a slot: it would be guessing
        (Any, False),
        (Annotated[Dependency, "doc"], True),
        (Annotated[Dependency | None, Requires("geo")], True),
        (Annotated[str, "doc"], False),
    ],
)
def test_is_slot(annotation: Any, slot: bool) -> None:
    assert is_slot(annotation) is slot


DATE = DependencySpec(capability="date.today")
WEATHER = DependencySpec(capability="weather.forecast", selector="region=eu")
GEO = DependencySpec(capability="geo")


def required(spec: DependencySpec) -> DependencySpec:
    return spec.model_copy(update={"required": True})


def by_name(city: str, weather_forecast: Dependency | None, date_today: Dependency) -> None: ...


def by_order(first: Dependency, second: Dependency | None = None) -> None: ...


def mixed(clock: Dependency, weather_forecast: Dependency | None = None) -> None: ...


def one_slot(city: str, geo: Dependency | None = None) -> None: ...


def no_slots(city: str, days: int = 1) -> None: ...


@pytest.mark.parametrize(
    ("fn", "dependencies", "expected"),
    [
        # (A slot that cannot be None receives its dependency as required.)
        (by_name, [DATE, WEATHER], {"weather_forecast": WEATHER, "date_today": required(DATE)}),
        (by_order, [DATE, WEATHER], {"first": required(DATE), "second": WEATHER}),
        (by_order, [WEATHER, DATE], {"first": required(WEATHER), "second": DATE}),
        # The name claims its dependency first; the other slot takes what is left.
        (mixed, [WEATHER, DATE], {"clock": required(DATE), "weather_forecast": WEATHER}),
        # Declared dependencies without a slot are allowed (resolved, not injected).
        (one_slot, [DATE, GEO, WEATHER], {"geo": GEO}),
        (no_slots, [DATE], {}),
        (no_slots, [], {}),
    ],
)
def test_match_slots(
    fn: Any, dependencies: list[DependencySpec], expected: dict[str, DependencySpec]
) -> None:
    assert tool_dependencies(fn, dependencies).slots == expected


@pytest.mark.parametrize(
    ("fn", "dependencies", "expected"),
    [
        # A slot that cannot be None makes its dependency required; an optional slot does not.
        (by_name, [DATE, WEATHER], [required(DATE), WEATHER]),
        (by_order, [WEATHER, DATE], [required(WEATHER), DATE]),
        (mixed, [WEATHER, DATE], [WEATHER, required(DATE)]),
        # Declared required stays required, whatever the slot; no slot leaves it as declared.
        (one_slot, [required(GEO)], [required(GEO)]),
        (one_slot, [DATE, GEO], [DATE, GEO]),
        (no_slots, [DATE], [DATE]),
    ],
)
def test_declared_dependencies(
    fn: Any, dependencies: list[DependencySpec], expected: list[DependencySpec]
) -> None:
    assert tool_dependencies(fn, dependencies).declared == expected


@pytest.mark.parametrize(("fn", "dependencies"), [(by_order, [DATE]), (one_slot, [])])
def test_more_slots_than_dependencies_is_an_error_naming_the_parameter(
    fn: Any, dependencies: list[DependencySpec]
) -> None:
    with pytest.raises(TypeError, match=r"parameter '(second|geo)' is a Dependency"):
        tool_dependencies(fn, dependencies)


PROD_WEATHER = DependencySpec(capability="weather.forecast", selector="env=prod", version=">=1.2")


def annotated(
    weather: Annotated[
        Dependency | None, Requires("weather.forecast", selector="env=prod", version=">=1.2")
    ],
    clock: Annotated[Dependency, Requires("date.today")],
    geo: Dependency | None = None,
) -> None: ...


def twice(
    prod: Annotated[Dependency | None, Requires("weather.forecast", selector="env=prod")],
    dev: Annotated[Dependency | None, Requires("weather.forecast", selector="env=dev")],
) -> None: ...


def test_a_parameter_declares_its_own_dependency_with_requires() -> None:
    found = tool_dependencies(annotated, [GEO])
    # Required or not comes from the parameter's type; the others match the list as before.
    assert found.slots == {"weather": PROD_WEATHER, "clock": required(DATE), "geo": GEO}
    assert found.declared == [GEO, PROD_WEATHER, required(DATE)]


def test_requires_alone_needs_no_list_and_keeps_several_on_one_capability_apart() -> None:
    found = tool_dependencies(twice)
    assert found.slots == {
        "prod": DependencySpec(capability="weather.forecast", selector="env=prod"),
        "dev": DependencySpec(capability="weather.forecast", selector="env=dev"),
    }
    assert len(found.declared) == 2


def both_ways(weather: Annotated[Dependency | None, Requires("weather.forecast")]) -> None: ...


def two_requires(
    weather: Annotated[Dependency | None, Requires("weather.forecast"), Requires("geo")],
) -> None: ...


def not_a_dependency(city: Annotated[str, Requires("geo")]) -> None: ...


@pytest.mark.parametrize(
    ("fn", "dependencies", "message"),
    [
        (
            both_ways,
            [WEATHER],
            r"'weather.forecast' is declared both in dependencies=\[\.\.\.\]"
            r" and by the Requires of parameter 'weather'",
        ),
        (two_requires, [], r"parameter 'weather' has more than one Requires"),
        (not_a_dependency, [], r"parameter 'city' has a Requires, but is not a Dependency"),
    ],
)
def test_an_ambiguous_declaration_is_an_error_at_decoration(
    fn: Any, dependencies: list[DependencySpec], message: str
) -> None:
    with pytest.raises(TypeError, match=message):
        tool_dependencies(fn, dependencies)


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"capability": "Not A Name"}, "capability"),
        ({"capability": "geo", "selector": "env in"}, "selector"),
        ({"capability": "geo", "version": ">>1"}, "version"),
        ({"capability": "geo", "tags": ["no spaces"]}, "tags"),
    ],
)
def test_an_invalid_requires_names_the_field(arguments: dict[str, Any], field: str) -> None:
    capability = arguments.pop("capability")
    with pytest.raises(ValueError, match=rf"invalid dependency .*: {field}"):
        Requires(capability, **arguments)


def test_requires_shows_what_it_declares() -> None:
    assert repr(Requires("geo", version="^1")) == "Requires('geo', version='^1')"


class Resolutions:
    """Resolves every dependency to a marker, and records each resolution."""

    def __init__(self) -> None:
        self.asked: list[DependencySpec] = []

    async def __call__(self, dependency: DependencySpec, loop: asyncio.AbstractEventLoop) -> Any:
        self.asked.append(dependency)
        return f"provider of {dependency.capability}"


async def test_an_async_tool_receives_its_dependencies_at_each_call() -> None:
    async def forecast(city: str, weather_forecast: Dependency | None = None) -> str:
        return f"{city}: {weather_forecast}"

    resolve = Resolutions()
    tool = tool_function(forecast, {"weather_forecast": WEATHER}, resolve)
    assert await tool(city="Paris") == "Paris: provider of weather.forecast"
    assert await tool(city="Oslo") == "Oslo: provider of weather.forecast"
    assert resolve.asked == [WEATHER, WEATHER]


async def test_a_plain_tool_runs_in_a_worker_thread() -> None:
    main = threading.current_thread()

    def report(city: str, date_today: Dependency) -> tuple[str, bool]:
        return f"{city} {date_today}", threading.current_thread() is main

    tool = tool_function(report, {"date_today": DATE}, Resolutions())
    assert await tool(city="Rome") == ("Rome provider of date.today", False)


def test_the_tool_signature_hides_the_slots_and_keeps_the_rest() -> None:
    def report(
        city: str, weather: Dependency | None = None, days: int = 3, *, unit: str = "C"
    ) -> dict[str, str]:
        """Doc of the report."""
        return {}

    tool = tool_function(report, {"weather": WEATHER}, Resolutions())
    signature = inspect.signature(tool)
    assert list(signature.parameters) == ["city", "days", "unit"]
    # Annotations are real types, not the strings of ``from __future__ import annotations``.
    assert signature.parameters["days"].annotation is int
    assert signature.return_annotation == dict[str, str]
    assert tool.__name__ == "report"
    assert tool.__doc__ == "Doc of the report."


async def test_the_mcp_input_schema_shows_no_dependency() -> None:
    async def report(city: str, weather: Dependency | None = None, days: int = 3) -> str:
        return city

    server = FastMCP("schema")
    server.tool(tool_function(report, {"weather": WEATHER}, Resolutions()))
    (listed,) = await server.list_tools()
    assert set(listed.parameters["properties"]) == {"city", "days"}
    assert listed.parameters["required"] == ["city"]
