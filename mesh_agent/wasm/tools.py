"""WebAssembly modules as MCP tools.

Two calling conventions:

- **core**: each exported function whose parameters and results are numbers (i32, i64, f32,
  f64) is a tool with typed parameters; the result is the function's (one value, a list of
  several, or null).
- **wasi**: a command module (it exports ``_start``) reads the call's arguments as one JSON
  object on stdin and writes one JSON object on stdout: the tool's structured result.

A trap, running out of fuel or time, exceeding memory and malformed output are tool errors
(``isError`` results): the agent serving the tool is never affected.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import wasmtime
from fastmcp.exceptions import ToolError
from fastmcp.tools.base import Tool, ToolResult
from pydantic import PrivateAttr

from mesh_agent.wasm.manifest import FunctionSpec, ModuleSource, find_manifests
from mesh_agent.wasm.runtime import Compiled, Limits, Number, Runtime, WasmError
from mesh_registry.validation import tool_name_errors

_INTEGER_RANGES = {"i32": 32, "i64": 64}
_NUMBER_TYPES = {"i32", "i64", "f32", "f64"}
T = TypeVar("T")
_WRAPPED = "x-fastmcp-wrap-result"  # fastmcp's mark for a non-object result under "result"


@dataclass(frozen=True)
class WasmTool:
    """A tool backed by WebAssembly, and the capabilities it provides."""

    tool: Tool
    capabilities: list[str]
    version: str
    tags: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.tool.name


def load_tools(path: Path | str, runtime: Runtime) -> list[WasmTool]:
    """Every tool of the module(s) at ``path`` (see :func:`manifest.find_manifests`).
    ``ValueError`` names the file and the field when something is wrong."""
    tools: list[WasmTool] = []
    for source in find_manifests(path):
        tools.extend(module_tools(source, runtime))
    names = [t.name for t in tools]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise ValueError(f"more than one module provides the tool(s) {', '.join(doubled)}")
    return tools


def module_tools(source: ModuleSource, runtime: Runtime) -> list[WasmTool]:
    """The tools of one module."""
    compiled = runtime.load(source.module_path)
    exports = compiled.functions()
    kind = source.manifest.kind or ("wasi" if "_start" in exports else "core")
    if kind == "wasi":
        return [_wasi_tool(source, compiled, runtime)]
    return _core_tools(source, compiled, exports, runtime)


# -- core: numeric exports ---------------------------------------------------------------------


class WasmFunctionTool(Tool):
    """Calls one exported function of a module in a fresh sandbox."""

    _runtime: Runtime = PrivateAttr()
    _compiled: Compiled = PrivateAttr()
    _export: str = PrivateAttr()
    _params: list[tuple[str, str]] = PrivateAttr()  # (name, wasm type)
    _limits: Limits = PrivateAttr()

    def bind(
        self,
        runtime: Runtime,
        compiled: Compiled,
        export: str,
        params: list[tuple[str, str]],
        limits: Limits,
    ) -> WasmFunctionTool:
        self._runtime, self._compiled, self._export = runtime, compiled, export
        self._params, self._limits = params, limits
        return self

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        values = _numeric_arguments(arguments, self._params)
        runtime = self._runtime
        results = await _sandboxed(
            self.name, runtime, runtime.call, self._compiled, self._export, values, self._limits
        )
        value: Any = results[0] if len(results) == 1 else (results or None)
        return ToolResult(content=json.dumps(value), structured_content={"result": value})


def _core_tools(
    source: ModuleSource,
    compiled: Compiled,
    exports: dict[str, wasmtime.FuncType],
    runtime: Runtime,
) -> list[WasmTool]:
    manifest = source.manifest
    wanted = manifest.functions
    if wanted is None:  # every numeric export, with default parameter names
        wanted = {name: FunctionSpec() for name, kind in exports.items() if _numeric(kind)}
    tools = []
    for export, spec in wanted.items():
        where = f"{source.path}: functions.{export}"
        kind = exports.get(export)
        if kind is None:
            raise ValueError(f"{where}: the module exports no function {export!r}")
        if not _numeric(kind):
            raise ValueError(f"{where}: only i32, i64, f32 and f64 parameters and results")
        types = [str(t) for t in kind.params]
        names = spec.params if spec.params is not None else _default_names(len(types))
        if len(names) != len(types):
            raise ValueError(f"{where}.params: {len(names)} name(s) for {len(types)} parameter(s)")
        tool_name = spec.name or export
        _check_tool_name(tool_name, f"{where}.name")
        tool = WasmFunctionTool(
            name=tool_name,
            description=spec.description or manifest.description,
            parameters=_parameters_schema(list(zip(names, types, strict=True))),
            output_schema=_result_schema([str(t) for t in kind.results]),
        ).bind(runtime, compiled, export, list(zip(names, types, strict=True)), _limits(source))
        tools.append(
            WasmTool(
                tool,
                spec.capabilities or [tool_name],
                manifest.version,
                spec.tags or manifest.tags,
            )
        )
    return tools


def _numeric(kind: wasmtime.FuncType) -> bool:
    return all(str(t) in _NUMBER_TYPES for t in [*kind.params, *kind.results])


def _default_names(count: int) -> list[str]:
    return [chr(ord("a") + i) if i < 26 else f"p{i}" for i in range(count)]


def _value_schema(wasm_type: str) -> dict[str, Any]:
    bits = _INTEGER_RANGES.get(wasm_type)
    if bits is None:
        return {"type": "number"}
    return {"type": "integer", "minimum": -(2 ** (bits - 1)), "maximum": 2 ** (bits - 1) - 1}


def _parameters_schema(params: list[tuple[str, str]]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: _value_schema(kind) for name, kind in params},
        "required": [name for name, _ in params],
        "additionalProperties": False,
    }


def _result_schema(results: list[str]) -> dict[str, Any]:
    if not results:
        value: dict[str, Any] = {"type": "null"}
    elif len(results) == 1:
        value = _value_schema(results[0])
    else:
        value = {"type": "array", "prefixItems": [_value_schema(r) for r in results]}
    return {
        "type": "object",
        "properties": {"result": value},
        "required": ["result"],
        _WRAPPED: True,
    }


def _numeric_arguments(arguments: dict[str, Any], params: list[tuple[str, str]]) -> list[Number]:
    """The call's arguments in parameter order, checked: errors name the argument."""
    unknown = sorted(set(arguments) - {name for name, _ in params})
    if unknown:
        raise ToolError(f"unknown argument(s): {', '.join(unknown)}")
    values: list[Number] = []
    for name, kind in params:
        if name not in arguments:
            raise ToolError(f"{name}: required")
        value = arguments[name]
        bits = _INTEGER_RANGES.get(kind)
        if bits is not None:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ToolError(f"{name}: must be an integer ({kind})")
            if not -(2 ** (bits - 1)) <= value < 2 ** (bits - 1):
                raise ToolError(f"{name}: out of range for {kind}")
        elif not isinstance(value, int | float) or isinstance(value, bool):
            raise ToolError(f"{name}: must be a number ({kind})")
        else:
            value = float(value)
        values.append(value)
    return values


# -- wasi: JSON on stdin and stdout ------------------------------------------------------------


class WasiCommandTool(Tool):
    """Runs a WASI command module with the call's arguments as JSON on stdin."""

    _runtime: Runtime = PrivateAttr()
    _compiled: Compiled = PrivateAttr()
    _limits: Limits = PrivateAttr()
    _preopens: dict[str, str] = PrivateAttr()
    _inputs: Any = PrivateAttr()  # a jsonschema validator
    _outputs: Any = PrivateAttr()

    def bind(
        self, runtime: Runtime, compiled: Compiled, limits: Limits, preopens: dict[str, str]
    ) -> WasiCommandTool:
        self._runtime, self._compiled, self._limits = runtime, compiled, limits
        self._preopens = preopens
        self._inputs = _validator(self.parameters)
        self._outputs = _validator(self.output_schema) if self.output_schema else None
        return self

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        _check(self._inputs, arguments, "argument")
        runtime, stdin = self._runtime, json.dumps(arguments).encode()
        output = await _sandboxed(
            self.name,
            runtime,
            runtime.run_command,
            self._compiled,
            stdin,
            self._limits,
            self._preopens,
        )
        result = _json_object(self.name, output)
        if self._outputs is not None:
            _check(self._outputs, result, "result", prefix=f"{self.name}: malformed output: ")
        return ToolResult(content=output.decode(), structured_content=result)


def _wasi_tool(source: ModuleSource, compiled: Compiled, runtime: Runtime) -> WasmTool:
    manifest = source.manifest
    if manifest.functions is not None:
        raise ValueError(f"{source.path}: functions: a WASI command is one tool; remove it")
    name = source.default_name
    _check_tool_name(name, f"{source.path}: name")
    tool = WasiCommandTool(
        name=name,
        description=manifest.description,
        parameters=manifest.input_schema,
        output_schema=manifest.output_schema or {"type": "object"},
    ).bind(runtime, compiled, _limits(source), source.preopens())
    return WasmTool(tool, manifest.capabilities or [name], manifest.version, manifest.tags)


def _json_object(tool: str, output: bytes) -> dict[str, Any]:
    try:
        result = json.loads(output)
    except (json.JSONDecodeError, UnicodeDecodeError):
        excerpt = output[:80].decode("utf-8", "replace")
        raise ToolError(f"{tool}: malformed output: not JSON: {excerpt!r}") from None
    if not isinstance(result, dict):
        raise ToolError(f"{tool}: malformed output: expected a JSON object")
    return result


def _validator(schema: dict[str, Any]) -> Any:
    return jsonschema.validators.validator_for(schema)(schema)


def _check(validator: Any, value: Any, what: str, *, prefix: str = "") -> None:
    error = jsonschema.exceptions.best_match(validator.iter_errors(value))
    if error is not None:
        where = ".".join(str(p) for p in error.absolute_path) or f"the {what}s"
        raise ToolError(f"{prefix}{where}: {error.message}")


async def _sandboxed(tool: str, runtime: Runtime, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` on the runtime's thread pool, off the event loop; a failed call is the
    tool's error, naming why."""
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(runtime.executor, call, *args)
    except WasmError as error:
        raise ToolError(f"{tool}: {error.message}") from None


def _check_tool_name(name: str, where: str) -> None:
    problems = tool_name_errors(name)
    if problems:
        raise ValueError(f"{where}: {name!r} cannot name a tool ({problems[0]}); give a name")


def _limits(source: ModuleSource) -> Limits:
    return source.manifest.limits.limits()


def capabilities_for(tools: Sequence[WasmTool], overrides: Sequence[str]) -> dict[str, list[str]]:
    """Each tool's capabilities with the command line's ``--capability`` applied: ``TOOL=CAP``
    gives a tool a capability; a bare ``CAP`` names the only tool's."""
    chosen: dict[str, list[str]] = {}
    names = [t.name for t in tools]
    for override in overrides:
        tool, _, capability = override.rpartition("=")
        if not tool:
            if len(names) != 1:
                raise ValueError(
                    f"--capability {override}: say which tool (TOOL=CAPABILITY): there are"
                    f" {len(names)} tools ({', '.join(names)})"
                )
            tool = names[0]
        if tool not in names:
            raise ValueError(f"--capability {override}: no tool {tool!r} ({', '.join(names)})")
        chosen.setdefault(tool, []).append(capability)
    return {t.name: chosen.get(t.name, t.capabilities) for t in tools}
