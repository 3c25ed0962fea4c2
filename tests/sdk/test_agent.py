"""What an agent declares: the record it registers, built from its tools, and what is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastmcp import FastMCP

from mesh_agent import Dependency, MeshAgent, decorator, mesh_agent
from mesh_agent.settings import AgentSettings
from mesh_registry.model import Agent

ENDPOINT = "http://127.0.0.1:9999/mcp"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


async def record_of(agent: MeshAgent, **settings: Any) -> Agent:
    resolved = agent.settings.merged(AgentSettings(**settings)).resolved()
    return await agent.record(resolved, ENDPOINT)


async def test_the_record_carries_every_capability_with_its_schemas() -> None:
    agent = MeshAgent("weather", namespace="prod", labels={"region": "eu"}, health_interval=2)

    @agent.tool(
        capabilities=["weather.forecast", "weather.today"],
        dependencies=["geo.lookup"],
        version="2.1.0",
        tags=["fast"],
    )
    async def forecast(city: str, days: int = 1, geo: Dependency | None = None) -> dict:
        """Forecast for a city."""
        return {}

    @agent.tool
    def ping() -> str:
        return "pong"

    record = await record_of(agent)
    assert (record.metadata.name, record.metadata.namespace) == ("weather", "prod")
    assert record.metadata.labels == {"region": "eu"}
    assert record.spec.endpoint == ENDPOINT
    assert record.spec.health_interval == 2
    by_name = {c.name: c for c in record.spec.capabilities}
    assert list(by_name) == ["weather.forecast", "weather.today", "ping"]
    forecast_capability = by_name["weather.forecast"]
    assert forecast_capability.tool == "forecast"
    assert forecast_capability.version == "2.1.0"
    assert forecast_capability.tags == ["fast"]
    assert forecast_capability.description == "Forecast for a city."
    assert set(forecast_capability.input_schema["properties"]) == {"city", "days"}
    assert forecast_capability.output_schema is not None
    assert by_name["ping"].tool == "ping"
    assert by_name["ping"].version == "1.0.0"


async def test_the_environment_overrides_versions_and_tags_of_every_capability() -> None:
    agent = MeshAgent("weather")

    @agent.tool(capabilities=["weather.forecast"], version="2.1.0", tags=["fast"])
    def forecast(city: str) -> str:
        return city

    record = await record_of(agent, version_override="3.0.0", tags_override=())
    (capability,) = record.spec.capabilities
    assert (capability.version, capability.tags) == ("3.0.0", [])


async def test_dependencies_are_declared_once_each_in_order() -> None:
    agent = MeshAgent("report")
    weather = {"capability": "weather.forecast", "selector": "region=eu", "tags": ["+fast"]}

    @agent.tool(dependencies=["date.today", weather])
    def morning(date_today: Dependency, weather_forecast: Dependency | None = None) -> str:
        return ""

    @agent.tool(dependencies=[weather])
    def evening(weather_forecast: Dependency | None = None) -> str:
        return ""

    record = await record_of(agent)
    # ``date_today: Dependency`` cannot be None: the record says the dependency is required.
    assert [(d.capability, d.selector, d.tags, d.required) for d in record.spec.dependencies] == [
        ("date.today", "", (), True),
        ("weather.forecast", "region=eu", ("+fast",), False),
    ]


async def test_an_attached_server_offers_its_tools_as_capabilities() -> None:
    server = FastMCP("legacy")

    @server.tool
    def add(a: int, b: int) -> int:
        return a + b

    @server.tool
    def sub(a: int, b: int) -> int:
        return a - b

    record = await record_of(MeshAgent("legacy", mcp=server))
    assert [(c.name, c.tool) for c in record.spec.capabilities] == [("add", "add"), ("sub", "sub")]

    mapped = MeshAgent("legacy", mcp=server, capabilities={"math.add": "add"})
    record = await record_of(mapped)
    assert [(c.name, c.tool) for c in record.spec.capabilities] == [("math.add", "add")]


async def test_a_capability_prefix_names_an_attached_servers_capabilities() -> None:
    server = FastMCP("legacy")

    @server.tool
    def read_file(path: str) -> str:
        return path

    record = await record_of(MeshAgent("legacy", mcp=server, capability_prefix="fs."))
    assert [(c.name, c.tool) for c in record.spec.capabilities] == [("fs.read_file", "read_file")]


async def test_wasm_tools_sit_beside_python_tools() -> None:
    agent = MeshAgent("mixed")

    @agent.tool(capabilities=["math.double"])
    def double(x: int) -> int:
        return 2 * x

    assert agent.add_wasm(EXAMPLES / "wasm" / "arith", capabilities=["add=calc.sum"]) == [
        "add",
        "fib",
        "hypot",
    ]
    record = await record_of(agent)
    found = {c.name: c for c in record.spec.capabilities}
    assert set(found) == {"math.double", "calc.sum", "math.fib", "math.hypot"}
    assert found["calc.sum"].tool == "add"
    assert found["math.fib"].description == "The n-th Fibonacci number"
    assert found["math.fib"].input_schema["required"] == ["n"]
    with pytest.raises(ValueError, match="already has a tool 'add'"):
        agent.add_wasm(EXAMPLES / "wasm" / "arith")


async def test_a_capability_naming_a_missing_tool_is_refused() -> None:
    agent = MeshAgent("legacy", mcp=FastMCP("legacy"), capabilities={"math.mul": "mul"})
    with pytest.raises(ValueError, match=r"names tool 'mul', which the server does not have"):
        await record_of(agent)


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "Not_A_Name"}, "metadata.name"),
        ({"health_interval": 0}, "spec.healthInterval"),
        ({"labels": {"bad key!": "x"}}, "metadata.labels"),
    ],
)
async def test_an_invalid_record_is_refused_before_serving_naming_the_field(
    change: dict[str, Any], field: str
) -> None:
    agent = MeshAgent(**{"name": "ok", **change})

    @agent.tool
    def tool() -> str:
        return ""

    with pytest.raises(ValueError, match=rf"record is invalid: {field}"):
        await record_of(agent)


async def test_an_invalid_capability_name_is_refused_naming_the_field() -> None:
    agent = MeshAgent("ok")

    @agent.tool(capabilities=["no spaces allowed"])
    def tool() -> str:
        return ""

    with pytest.raises(ValueError, match=r"spec\.capabilities\[0\]\.name"):
        await record_of(agent)


@pytest.mark.parametrize(
    ("dependency", "message"),
    [
        ({"capability": "geo", "selector": "a in ("}, "selector"),
        ({"capability": "geo", "version": "not a range"}, "version"),
        ({"capability": "geo", "required": "sometimes"}, "required"),
        ({"capability": "geo", "colour": "blue"}, "colour"),
        ({"selector": "a=b"}, "capability"),
    ],
)
def test_an_invalid_dependency_is_refused_at_decoration_naming_the_field(
    dependency: dict[str, Any], message: str
) -> None:
    agent = MeshAgent("ok")
    with pytest.raises(ValueError, match=rf"invalid dependency .*{message}"):
        agent.tool(dependencies=[dependency])(lambda: None)


def test_the_decorated_function_stays_directly_callable(fresh_default_agent: None) -> None:
    @mesh_agent(capabilities=["math.add"])
    def add(a: int, b: int) -> int:
        return a + b

    @mesh_agent(capabilities=["math.twice"])
    async def twice(a: int) -> int:
        return 2 * a

    assert add(2, 3) == 5
    assert add.__name__ == "add"
    assert decorator.default_agent().provided


async def test_agent_wide_arguments_may_be_given_on_any_decorated_function(
    fresh_default_agent: None,
) -> None:
    @mesh_agent(capabilities=["a"], name="both", labels={"team": "x"})
    def first() -> str:
        return ""

    @mesh_agent(capabilities=["b"], health_interval=3, labels={"tier": "1"})
    def second() -> str:
        return ""

    record = await record_of(decorator.default_agent())
    assert record.metadata.name == "both"
    assert record.metadata.labels == {"team": "x", "tier": "1"}
    assert record.spec.health_interval == 3


def test_decorators_that_disagree_on_the_agent_are_an_error(fresh_default_agent: None) -> None:
    @mesh_agent(capabilities=["a"], name="one")
    def first() -> str:
        return ""

    with pytest.raises(ValueError, match=r"name is set to 'one' and to 'two' \(on .*second\)"):

        @mesh_agent(capabilities=["b"], name="two")
        def second() -> str:
            return ""


async def test_prompts_and_resources_are_advertised_in_the_record() -> None:
    agent = MeshAgent("librarian")

    @agent.prompt
    def summarize(text: str, style: str = "short") -> str:
        """Ask for a summary."""
        return text

    @agent.resource("notes://index", mime_type="text/plain", description="The index.")
    def index() -> str:
        return ""

    @agent.resource("notes://{name}")
    def note(name: str) -> str:
        """One note."""
        return name

    spec = (await record_of(agent)).spec
    (prompt,) = spec.prompts
    assert (prompt.name, prompt.description) == ("summarize", "Ask for a summary.")
    assert [(a.name, a.required) for a in prompt.arguments] == [("text", True), ("style", False)]
    (resource,) = spec.resources
    assert (resource.uri, resource.name, resource.mime_type) == (
        "notes://index",
        "index",
        "text/plain",
    )
    assert resource.description == "The index."
    (template,) = spec.resource_templates
    assert (template.uri_template, template.description) == ("notes://{name}", "One note.")
    assert summarize("x") == "x"  # still directly callable


async def test_a_resource_the_registry_would_refuse_is_refused_before_serving() -> None:
    agent = MeshAgent("librarian")

    @agent.resource("notes://index", mime_type="plain text")
    def broken() -> str:
        return ""

    with pytest.raises(ValueError, match=r"spec\.resources\[0\]\.mimeType"):
        await record_of(agent)
