"""The sandbox: every hostile module ends in a clear WasmError, and the runtime goes on."""

from __future__ import annotations

import hashlib
import importlib.metadata
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mesh_agent.wasm.runtime import Limits, Runtime, WasmError, default_cache_dir

MODULES = Path(__file__).parent / "modules"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "wasm"
ARITH = EXAMPLES / "arith" / "arith.wat"
ECHO = EXAMPLES / "echo" / "echo.wat"


@pytest.fixture(scope="module")
def runtime() -> Iterator[Runtime]:
    wasm = Runtime()
    yield wasm
    wasm.close()


def still_serves(runtime: Runtime) -> None:
    """After whatever happened, the same runtime still runs a call."""
    assert runtime.call(runtime.load(ARITH), "add", [20, 22], Limits()) == [42]


@pytest.mark.parametrize(
    ("export", "args", "expected"),
    [
        ("add", [2, 3], [5]),
        ("add", [-7, 3], [-4]),
        ("add", [2**31 - 1, 1], [-(2**31)]),  # i32 wraps around
        ("fib", [0], [0]),
        ("fib", [1], [1]),
        ("fib", [90], [2880067194370816120]),
        ("hypot", [3.0, 4.0], [5.0]),
        ("hypot", [0.0, 0.0], [0.0]),
    ],
)
def test_numeric_exports(runtime: Runtime, export: str, args: list[float], expected: list) -> None:
    assert runtime.call(runtime.load(ARITH), export, args, Limits()) == expected


def test_wasi_json_command(runtime: Runtime) -> None:
    output = runtime.run_command(runtime.load(ECHO), b'{"text": "hi"}', Limits())
    assert output == b'{"echo":{"text": "hi"}}'
    big = b'{"text": "' + b"x" * 100_000 + b'"}'
    assert runtime.run_command(runtime.load(ECHO), big, Limits()) == b'{"echo":' + big + b"}"


@pytest.mark.parametrize(
    ("module", "export", "args", "limits", "kind", "message"),
    [
        ("spin", "spin", [], Limits(fuel=10**15, timeout=0.2), "timeout", "longer than 0.2 s"),
        ("burn", "burn", [10**9], Limits(fuel=100_000), "out_of_fuel", "100000 units"),
        ("grow", "grow", [100], Limits(memory_bytes=2**20), "memory", "1048576 bytes"),
        ("trap", "divide", [1, 0], Limits(), "trap", "integer division by zero"),
        ("trap", "boom", [], Limits(), "trap", "unreachable"),
    ],
)
def test_hostile_calls_fail_cleanly(
    runtime: Runtime,
    module: str,
    export: str,
    args: list[int],
    limits: Limits,
    kind: str,
    message: str,
) -> None:
    compiled = runtime.load(MODULES / module / f"{module}.wat")
    with pytest.raises(WasmError, match=message) as error:
        runtime.call(compiled, export, args, limits)
    assert error.value.kind == kind
    still_serves(runtime)


def test_limits_allow_what_they_should(runtime: Runtime) -> None:
    burn = runtime.load(MODULES / "burn" / "burn.wat")
    assert runtime.call(burn, "burn", [100], Limits(fuel=100_000)) == [100]
    grow = runtime.load(MODULES / "grow" / "grow.wat")
    assert runtime.call(grow, "grow", [14], Limits(memory_bytes=2**20)) == [15]  # pages


def test_timeout_is_wall_clock_and_does_not_linger(runtime: Runtime) -> None:
    spin = runtime.load(MODULES / "spin" / "spin.wat")
    started = time.monotonic()
    with pytest.raises(WasmError, match="longer than"):
        runtime.call(spin, "spin", [], Limits(fuel=10**15, timeout=0.05))
    # Generous: the deadline is counted in ticks of a few milliseconds, on a busy machine.
    assert time.monotonic() - started < 5.0


def test_initial_memory_over_the_limit(runtime: Runtime) -> None:
    with pytest.raises(WasmError, match="needs more memory than its limit") as error:
        runtime.run_command(runtime.load(ECHO), b"{}", Limits(memory_bytes=65536))
    assert error.value.kind == "memory"


def test_no_filesystem_unless_preopened(runtime: Runtime, tmp_path: Path) -> None:
    readfile = runtime.load(MODULES / "readfile" / "readfile.wat")
    with pytest.raises(WasmError, match="exited with status 8") as error:  # EBADF: no fd 3
        runtime.run_command(readfile, b"", Limits())
    assert error.value.kind == "exit"
    (tmp_path / "data.txt").write_text("hello")
    output = runtime.run_command(readfile, b"", Limits(), {"/data": str(tmp_path)})
    assert output == b'{"content":"hello"}'
    still_serves(runtime)


def test_output_is_capped(runtime: Runtime) -> None:
    with pytest.raises(WasmError, match="more than 100 bytes") as error:
        runtime.run_command(runtime.load(ECHO), b"x" * 1000, Limits(output_bytes=100))
    assert error.value.kind == "output"


def test_exports_that_are_missing(runtime: Runtime) -> None:
    with pytest.raises(WasmError, match="no function 'nope'"):
        runtime.call(runtime.load(ARITH), "nope", [], Limits())
    with pytest.raises(WasmError, match="not a WASI command"):
        runtime.run_command(runtime.load(ARITH), b"", Limits())


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"(module (func", "not a valid WebAssembly module"),
        (b"\0asm\x01\0\0\0garbage", "not a valid WebAssembly module"),
        (b"\xff\xfe", "not a valid WebAssembly module"),
        (b'(module (import "env" "f" (func)))', "imports env.f: only WASI"),
    ],
)
def test_bad_modules(runtime: Runtime, source: bytes, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        runtime.compile(source, name="bad")


def test_unreadable_module(runtime: Runtime, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot read module"):
        runtime.load(tmp_path / "missing.wasm")


def test_compiled_modules_are_cached_in_memory_and_on_disk(tmp_path: Path) -> None:
    source = ARITH.read_bytes()
    first = Runtime(tmp_path)
    try:
        assert first.compile(source).from_cache == "none"
        assert first.compile(source).from_cache == "memory"
    finally:
        first.close()
    [cached] = list(tmp_path.iterdir())
    assert cached.name.startswith(hashlib.sha256(source).hexdigest())
    # Keyed by the wasmtime version too: a new wasmtime compiles again.
    assert f"wasmtime{importlib.metadata.version('wasmtime')}" in cached.name
    second = Runtime(tmp_path)
    try:
        compiled = second.compile(source)
        assert compiled.from_cache == "disk"
        assert second.call(compiled, "add", [1, 2], Limits()) == [3]
    finally:
        second.close()


def test_a_damaged_cache_file_is_compiled_again(tmp_path: Path) -> None:
    source = ARITH.read_bytes()
    first = Runtime(tmp_path)
    first.compile(source)
    first.close()
    [cached] = list(tmp_path.iterdir())
    cached.write_bytes(b"not a compiled module")
    second = Runtime(tmp_path)
    try:
        compiled = second.compile(source)
        assert compiled.from_cache == "none"
        assert second.call(compiled, "add", [1, 2], Limits()) == [3]
    finally:
        second.close()
    assert cached.read_bytes() != b"not a compiled module"  # replaced


def test_an_unwritable_cache_only_costs_a_compile(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("")  # a file where the cache directory should be
    runtime = Runtime(blocked / "cache")
    try:
        assert runtime.call(runtime.load(ARITH), "add", [1, 1], Limits()) == [2]
    finally:
        runtime.close()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({"MESH_WASM_CACHE": "off"}, None),
        ({"MESH_WASM_CACHE": "/srv/cache"}, Path("/srv/cache")),
        ({"XDG_CACHE_HOME": "/xdg"}, Path("/xdg/mcp-mesh/wasm")),
        ({"MESH_WASM_CACHE": " ", "XDG_CACHE_HOME": "/xdg"}, Path("/xdg/mcp-mesh/wasm")),
    ],
)
def test_default_cache_dir(environ: dict[str, str], expected: Path | None) -> None:
    assert default_cache_dir(environ) == expected


def test_calls_from_many_threads(runtime: Runtime) -> None:
    compiled = runtime.load(ARITH)
    futures = [
        runtime.executor.submit(runtime.call, compiled, "add", [i, i], Limits()) for i in range(200)
    ]
    assert [f.result() for f in futures] == [[2 * i] for i in range(200)]
