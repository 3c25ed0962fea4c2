"""WebAssembly tools on a FastMCP server: schemas, results, and errors as tool errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastmcp import Client, FastMCP
from fastmcp.exceptions import ToolError

from mesh_agent.wasm.runtime import Runtime
from mesh_agent.wasm.tools import capabilities_for, load_tools

MODULES = Path(__file__).parent / "modules"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "wasm"


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    wasm = Runtime()
    yield wasm
    wasm.close()


@pytest.fixture
async def client(runtime: Runtime, tmp_path: Path) -> AsyncIterator[Client]:
    server = FastMCP("wasm-tools")
    for path in (EXAMPLES, MODULES):
        for tool in load_tools(path, runtime):
            server.add_tool(tool.tool)
    async with Client(server) as connected:
        yield connected


async def test_tools_and_their_schemas(client: Client) -> None:
    tools = {tool.name: tool for tool in await client.list_tools()}
    assert {"add", "fib", "hypot", "echo", "spin", "burn", "grow", "divide", "boom"} <= set(tools)
    add = tools["add"]
    assert add.description == "The sum of two 32-bit integers"
    assert add.input_schema["required"] == ["a", "b"]
    assert add.input_schema["properties"]["a"] == {
        "type": "integer",
        "minimum": -(2**31),
        "maximum": 2**31 - 1,
    }
    assert tools["hypot"].input_schema["properties"]["x"] == {"type": "number"}
    assert tools["spin"].input_schema["properties"] == {}  # no params
    assert tools["echo"].input_schema["required"] == ["text"]  # from the manifest


@pytest.mark.parametrize(
    ("tool", "arguments", "expected"),
    [
        ("add", {"a": 2, "b": 40}, 42),
        ("add", {"a": 2.0, "b": 40}, 42),  # an integral float is an integer
        ("fib", {"n": 10}, 55),
        ("hypot", {"x": 3, "y": 4}, 5.0),
        ("burn", {"n": 50}, 50),
    ],
)
async def test_numeric_results(
    client: Client, tool: str, arguments: dict[str, Any], expected: Any
) -> None:
    result = await client.call_tool(tool, arguments)
    assert result.data == expected
    assert result.structured_content == {"result": expected}


async def test_wasi_result_is_the_module_json(client: Client) -> None:
    result = await client.call_tool("echo", {"text": "héllo"})
    assert result.structured_content == {"echo": {"text": "héllo"}}
    assert json.loads(result.content[0].text) == {"echo": {"text": "héllo"}}  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("spin", {}, "spin: the call took longer than 0.2 s"),
        ("burn", {"n": 10**12}, "burn: the call ran out of fuel"),
        ("grow", {"pages": 64}, "grow: the module reached its memory limit"),
        ("divide", {"a": 1, "b": 0}, "divide: the module trapped: integer division by zero"),
        ("boom", {}, "boom: the module trapped: unreachable"),
        ("readfile", {}, "readfile: the module exited with status 8"),
        ("garbage", {}, "garbage: malformed output: not JSON: 'this is not json'"),
        ("add", {"a": 1}, "b: required"),
        ("add", {"a": 1, "b": 2, "c": 3}, "unknown argument"),
        ("add", {"a": "1", "b": 2}, "a: must be an integer"),
        ("add", {"a": True, "b": 2}, "a: must be an integer"),
        ("add", {"a": 1.5, "b": 2}, "a: must be an integer"),
        ("add", {"a": 2**31, "b": 2}, "a: out of range for i32"),
        ("hypot", {"x": "3", "y": 4}, "x: must be a number"),
        ("echo", {}, "'text' is a required property"),
        ("echo", {"text": 5}, "text: 5 is not of type 'string'"),
    ],
)
async def test_failures_are_tool_errors_and_the_server_goes_on(
    client: Client, tool: str, arguments: dict[str, Any], message: str
) -> None:
    with pytest.raises(ToolError, match=message):
        await client.call_tool(tool, arguments)
    assert (await client.call_tool("add", {"a": 1, "b": 1})).data == 2


async def test_output_that_breaks_the_output_schema(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "echo.wat").write_bytes((EXAMPLES / "echo" / "echo.wat").read_bytes())
    manifest = {"name": "strict", "outputSchema": {"type": "object", "required": ["answer"]}}
    (tmp_path / "tool.json").write_text(json.dumps(manifest))
    server = FastMCP("strict")
    [tool] = load_tools(tmp_path, runtime)
    server.add_tool(tool.tool)
    async with Client(server) as client:
        with pytest.raises(ToolError, match=r"malformed output: .*'answer' is a required"):
            await client.call_tool("strict", {"x": 1})


def test_capabilities_and_versions(runtime: Runtime) -> None:
    tools = {tool.name: tool for tool in load_tools(EXAMPLES, runtime)}
    assert tools["add"].capabilities == ["math.add"]
    assert tools["echo"].capabilities == ["text.echo"]
    assert tools["echo"].version == "1.0.0"
    spin = {tool.name: tool for tool in load_tools(MODULES / "spin", runtime)}["spin"]
    assert spin.capabilities == ["spin"]  # default: named like the tool


def test_capability_overrides(runtime: Runtime) -> None:
    tools = load_tools(EXAMPLES, runtime)
    chosen = capabilities_for(tools, ["add=calc.sum", "add=calc.plus"])
    assert chosen["add"] == ["calc.sum", "calc.plus"]
    assert chosen["fib"] == ["math.fib"]
    echo = load_tools(EXAMPLES / "echo", runtime)
    assert capabilities_for(echo, ["say.back"]) == {"echo": ["say.back"]}
    with pytest.raises(ValueError, match="say which tool"):
        capabilities_for(tools, ["calc.sum"])
    with pytest.raises(ValueError, match="no tool 'nope'"):
        capabilities_for(tools, ["nope=calc.sum"])


@pytest.mark.parametrize(
    ("wat", "manifest", "message"),
    [
        ("(module)", {"functions": {"add": {}}}, "functions.add: the module exports no function"),
        (
            '(module (func (export "f") (param externref)))',
            {"functions": {"f": {}}},
            "functions.f: only i32, i64, f32 and f64",
        ),
        (
            '(module (func (export "f") (param i32)))',
            {"functions": {"f": {"params": ["a", "b"]}}},
            r"functions.f.params: 2 name\(s\) for 1 parameter",
        ),
        (
            '(module (func (export "_start")))',
            {"functions": {"_start": {}}},
            "functions: a WASI command is one tool",
        ),
        (
            '(module (func (export "two words")))',
            {"functions": {"two words": {}}},
            "functions.two words.name: 'two words' cannot name a tool",
        ),
    ],
)
def test_manifests_that_do_not_fit_their_module(
    runtime: Runtime, tmp_path: Path, wat: str, manifest: dict[str, Any], message: str
) -> None:
    (tmp_path / "m.wat").write_text(wat)
    (tmp_path / "tool.json").write_text(json.dumps(manifest))
    with pytest.raises(ValueError, match=message):
        load_tools(tmp_path, runtime)


def test_without_functions_every_numeric_export_is_a_tool(runtime: Runtime, tmp_path: Path) -> None:
    (tmp_path / "m.wat").write_text(
        '(module (func (export "two") (param i32 f64) (result f64) local.get 1)'
        ' (func (export "ref") (param externref)))'
    )
    (tmp_path / "tool.json").write_text("{}")
    [two] = load_tools(tmp_path, runtime)  # "ref" is left out: not numeric
    assert two.name == "two"
    assert two.tool.parameters["required"] == ["a", "b"]


def test_a_wasi_command_named_after_a_directory_that_cannot_name_a_tool(
    runtime: Runtime, tmp_path: Path
) -> None:
    directory = tmp_path / "my tool"
    directory.mkdir()
    (directory / "m.wat").write_text('(module (func (export "_start")))')
    (directory / "tool.json").write_text("{}")
    with pytest.raises(ValueError, match="name: 'my tool' cannot name a tool"):
        load_tools(directory, runtime)
    (directory / "tool.json").write_text('{"name": "mine"}')
    assert [t.name for t in load_tools(directory, runtime)] == ["mine"]


def test_two_modules_with_one_tool_name(runtime: Runtime, tmp_path: Path) -> None:
    for directory in ("one", "two"):
        (tmp_path / directory).mkdir()
        (tmp_path / directory / "m.wat").write_text('(module (func (export "f")))')
        (tmp_path / directory / "tool.json").write_text("{}")
    with pytest.raises(ValueError, match=r"more than one module provides the tool.*f"):
        load_tools(tmp_path, runtime)
