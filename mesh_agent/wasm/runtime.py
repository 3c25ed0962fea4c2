"""Run WebAssembly sandboxed: one wasmtime engine per process, a fresh store per call.

Every call gets its own store (so no state leaks from one call to the next) with a fuel budget,
a memory limit and a wall-clock deadline. The deadline uses epoch interruption: while any call
runs, a thread advances the engine's epoch every ``TICK`` seconds, and a store traps once its
deadline (in ticks) has passed. A module sees no filesystem, network, environment or clock
source beyond what WASI gives every program, and a directory only if it is pre-opened.

Compiled modules are cached in memory and on disk, keyed by the module's content hash, the
wasmtime version and the engine settings: a cached start deserializes instead of compiling.
The disk cache holds native code, so it must be writable only by the agent's own user.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

import wasmtime

WASI_MODULE = "wasi_snapshot_preview1"
TICK = 0.005  # seconds between epoch increments while a call runs
PAGE = 65536
_ENGINE_TAG = "fuel+epoch-v1"  # the engine settings compiled code depends on
Number = int | float
T = TypeVar("T")


def default_cache_dir(environ: Mapping[str, str] | None = None) -> Path | None:
    """``MESH_WASM_CACHE`` (``off`` for none), else ``$XDG_CACHE_HOME/mcp-mesh/wasm``."""
    env = os.environ if environ is None else environ
    configured = env.get("MESH_WASM_CACHE", "").strip()
    if configured.lower() == "off":
        return None
    if configured:
        return Path(configured)
    base = env.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mcp-mesh" / "wasm"


@dataclass(frozen=True)
class Limits:
    """What one call may use."""

    fuel: int = 1_000_000_000  # units: about one per simple instruction
    memory_bytes: int = 64 * 1024 * 1024
    timeout: float = 1.0  # seconds of wall-clock time
    output_bytes: int = 1024 * 1024  # stdout of a WASI command


class WasmError(Exception):
    """A call that did not complete: ``kind`` says why, the message says it for people.

    Kinds: ``trap``, ``out_of_fuel``, ``timeout``, ``memory``, ``exit``, ``output``,
    ``instantiate``.
    """

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


@dataclass(frozen=True)
class Compiled:
    """A compiled module and what the runtime needs to know about it."""

    module: wasmtime.Module
    linked: wasmtime.InstancePre  # imports resolved once: instantiating is then cheap
    digest: str
    uses_wasi: bool
    source: str = ""  # where it came from, for messages
    from_cache: str = "none"  # "memory", "disk" or "none" (compiled now)

    def functions(self) -> dict[str, wasmtime.FuncType]:
        """Exported functions, by name."""
        return {
            export.name: export.type
            for export in self.module.exports
            if isinstance(export.type, wasmtime.FuncType)
        }


@dataclass
class _Output:
    """A capped capture of one stream."""

    limit: int
    chunks: list[bytes] = field(default_factory=list)
    size: int = 0
    overflowed: bool = False

    def write(self, data: bytes) -> int:
        if self.size + len(data) > self.limit:
            self.overflowed = True
            return -5  # EIO: the module sees a failed write and usually stops
        self.chunks.append(data)
        self.size += len(data)
        return len(data)

    def text(self) -> bytes:
        return b"".join(self.chunks)


class Runtime:
    """The process's wasmtime engine, its module cache and its epoch ticker."""

    def __init__(self, cache_dir: Path | str | None = None) -> None:
        config = wasmtime.Config()
        config.consume_fuel = True
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        self._linker = wasmtime.Linker(self.engine)
        self._linker.define_wasi()
        self.cache_dir = Path(cache_dir) if cache_dir is not None else None
        self._modules: dict[str, wasmtime.Module] = {}
        self._lock = threading.Lock()
        self._running = 0
        self._busy = threading.Event()
        self._closed = False
        self._ticker = threading.Thread(target=self._tick, name="wasm-epoch", daemon=True)
        self._ticker.start()
        # Calls run here, off the event loop; the pool's size bounds how many sandboxes (and
        # how much sandbox memory) exist at once.
        self.executor = ThreadPoolExecutor(
            max_workers=os.cpu_count() or 2, thread_name_prefix="wasm"
        )

    # -- loading ---------------------------------------------------------------------------

    def load(self, path: Path | str) -> Compiled:
        """Compile the module at ``path`` (binary ``.wasm`` or WAT text), or take it from the
        cache. ``ValueError`` names the file if it is not a valid module."""
        file = Path(path)
        try:
            source = file.read_bytes()
        except OSError as error:
            raise ValueError(f"cannot read module {file}: {error.strerror}") from None
        return self.compile(source, name=str(file))

    def compile(self, source: bytes, *, name: str = "module") -> Compiled:
        """Like :meth:`load`, from the module's bytes."""
        digest = hashlib.sha256(source).hexdigest()
        module, origin = self._cached(digest)
        if module is None:
            module = self._compile(source, name)
            origin = "none"
            self._store_on_disk(digest, module)
        with self._lock:
            self._modules[digest] = module
        uses_wasi = any(entry.module == WASI_MODULE for entry in module.imports)
        foreign = [f"{i.module}.{i.name}" for i in module.imports if i.module != WASI_MODULE]
        if foreign:
            raise ValueError(
                f"{name} imports {', '.join(foreign)}: only WASI ({WASI_MODULE}) is provided"
            )
        return Compiled(
            module, self._linker.instantiate_pre(module), digest, uses_wasi, name, origin
        )

    def _compile(self, source: bytes, name: str) -> wasmtime.Module:
        try:
            if source.lstrip()[:1] == b"(":
                return wasmtime.Module(self.engine, source.decode("utf-8"))
            return wasmtime.Module(self.engine, source)
        except (wasmtime.WasmtimeError, UnicodeDecodeError) as error:
            first_line = str(error).strip().splitlines()[0] if str(error).strip() else "invalid"
            raise ValueError(f"{name} is not a valid WebAssembly module: {first_line}") from None

    def _cached(self, digest: str) -> tuple[wasmtime.Module | None, str]:
        with self._lock:
            module = self._modules.get(digest)
        if module is not None:
            return module, "memory"
        file = self._cache_file(digest)
        if file is None or not file.is_file():
            return None, "none"
        try:
            return wasmtime.Module.deserialize(self.engine, file.read_bytes()), "disk"
        except (OSError, wasmtime.WasmtimeError):
            return None, "none"  # stale or damaged: compile again and replace it

    def _store_on_disk(self, digest: str, module: wasmtime.Module) -> None:
        file = self._cache_file(digest)
        if file is None:
            return
        try:
            file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Written aside and renamed: a reader never sees half a file.
            with tempfile.NamedTemporaryFile(dir=file.parent, delete=False) as partial:
                partial.write(module.serialize())
            os.replace(partial.name, file)
        except OSError:
            pass  # a cache that cannot be written only costs the next start a compile

    def _cache_file(self, digest: str) -> Path | None:
        if self.cache_dir is None:
            return None
        return self.cache_dir / f"{digest}-wasmtime{_wasmtime_version()}-{_ENGINE_TAG}.cwasm"

    # -- calling ---------------------------------------------------------------------------

    def call(
        self, compiled: Compiled, export: str, args: Sequence[Number], limits: Limits
    ) -> list[Number]:
        """Call the exported function ``export`` with numeric ``args`` in a fresh sandbox."""
        with self._sandbox(compiled, limits, stdin=b"") as sandbox:
            function = sandbox.instance.exports(sandbox.store).get(export)
            if not isinstance(function, wasmtime.Func):
                raise WasmError("instantiate", f"the module exports no function {export!r}")
            result = sandbox.run(lambda: function(sandbox.store, *args))
        if result is None:
            return []
        values = result if isinstance(result, list | tuple) else [result]
        return [v for v in values if isinstance(v, int | float)]

    def run_command(
        self,
        compiled: Compiled,
        stdin: bytes,
        limits: Limits,
        preopens: dict[str, str] | None = None,
    ) -> bytes:
        """Run a WASI command module (its ``_start``) with ``stdin``; return its stdout. A
        non-zero exit status is a :class:`WasmError` with the end of its stderr."""
        with self._sandbox(compiled, limits, stdin=stdin, preopens=preopens) as sandbox:
            start = sandbox.instance.exports(sandbox.store).get("_start")
            if not isinstance(start, wasmtime.Func):
                raise WasmError("instantiate", "the module is not a WASI command (no _start)")
            sandbox.run(lambda: start(sandbox.store))
            return sandbox.stdout.text()

    def _sandbox(
        self,
        compiled: Compiled,
        limits: Limits,
        *,
        stdin: bytes,
        preopens: dict[str, str] | None = None,
    ) -> _Sandbox:
        return _Sandbox(self, compiled, limits, stdin, preopens or {})

    # -- the epoch ticker ------------------------------------------------------------------

    def _enter(self) -> None:
        with self._lock:
            self._running += 1
            self._busy.set()

    def _leave(self) -> None:
        with self._lock:
            self._running -= 1
            if self._running == 0:
                self._busy.clear()

    def _tick(self) -> None:
        # Ticks only while a call runs: an idle agent does not wake up 200 times a second.
        while not self._closed:
            self._busy.wait()
            time.sleep(TICK)
            self.engine.increment_epoch()

    def close(self) -> None:
        """Stop the ticker and the call threads (the runtime cannot be used afterwards)."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        self._closed = True
        self._busy.set()
        self._ticker.join(timeout=1.0)


class _Sandbox:
    """One call's store, instance and captured output; maps every failure to a WasmError."""

    def __init__(
        self,
        runtime: Runtime,
        compiled: Compiled,
        limits: Limits,
        stdin: bytes,
        preopens: dict[str, str],
    ) -> None:
        self.runtime = runtime
        self.compiled = compiled
        self.limits = limits
        self.stdout = _Output(limits.output_bytes)
        self.stderr = _Output(4096)
        self._stdin = stdin
        self._preopens = preopens
        self.store = wasmtime.Store(runtime.engine)
        self.store.set_fuel(limits.fuel)
        self.store.set_limits(memory_size=limits.memory_bytes)
        self.instance: wasmtime.Instance

    def __enter__(self) -> _Sandbox:
        if self.compiled.uses_wasi:
            # Always, for a module importing WASI: calling a WASI import from a store without
            # a WASI context aborts the whole process.
            self.store.set_wasi(self._wasi())
        self.runtime._enter()
        try:
            self.store.set_epoch_deadline(math.ceil(self.limits.timeout / TICK) + 1)
            instance = self.run(lambda: self.compiled.linked.instantiate(self.store))
            if instance is None:  # a start function that exits
                raise WasmError("instantiate", "the module exited while it was instantiated")
            self.instance = instance
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *_: object) -> None:
        self.runtime._leave()

    def run(self, call: Callable[[], T]) -> T | None:
        """Run ``call`` and translate what wasmtime raises; ``None`` after a WASI exit(0)."""
        try:
            return call()
        except wasmtime.ExitTrap as exit_trap:
            if exit_trap.code == 0:
                return None
            raise WasmError(
                "exit", f"the module exited with status {exit_trap.code}{self._stderr_tail()}"
            ) from None
        except wasmtime.Trap as trap:
            raise self._trap_error(trap) from None
        except wasmtime.WasmtimeError as error:
            raise self._instantiate_error(error) from None
        finally:
            if self.stdout.overflowed:
                raise WasmError(
                    "output", f"the module wrote more than {self.limits.output_bytes} bytes"
                )

    def _trap_error(self, trap: wasmtime.Trap) -> WasmError:
        code = trap.trap_code
        if code == wasmtime.TrapCode.OUT_OF_FUEL:
            return WasmError("out_of_fuel", f"the call ran out of fuel ({self.limits.fuel} units)")
        if code == wasmtime.TrapCode.INTERRUPT:
            return WasmError("timeout", f"the call took longer than {self.limits.timeout:g} s")
        reason = code.name.lower().replace("_", " ") if code is not None else "trap"
        if self._memory_exhausted():
            return WasmError(
                "memory",
                f"the module reached its memory limit ({self.limits.memory_bytes} bytes)"
                f" and trapped: {reason}",
            )
        return WasmError("trap", f"the module trapped: {reason}")

    def _instantiate_error(self, error: wasmtime.WasmtimeError) -> WasmError:
        text = str(error).strip()
        if "memory" in text and ("limit" in text or "minimum" in text):
            return WasmError(
                "memory",
                f"the module needs more memory than its limit ({self.limits.memory_bytes} bytes)",
            )
        first_line = text.splitlines()[0] if text else "failed"
        return WasmError("instantiate", f"the module could not start: {first_line}")

    def _memory_exhausted(self) -> bool:
        try:
            exports = self.instance.exports(self.store)
        except AttributeError:  # trapped while instantiating
            return False
        for export in exports.values():
            if isinstance(export, wasmtime.Memory):
                used = export.size(self.store) * PAGE
                if used + PAGE > self.limits.memory_bytes:
                    return True
        return False

    def _stderr_tail(self) -> str:
        text = self.stderr.text().decode("utf-8", "replace").strip()
        return f": {text[-500:]}" if text else ""

    def _wasi(self) -> wasmtime.WasiConfig:
        wasi = wasmtime.WasiConfig()
        # WASI reads stdin from a file only: an in-memory one (memfd), so a call touches no
        # disk. wasmtime opens it anew, so ours can be closed at once.
        fd = os.memfd_create("wasm-stdin", os.MFD_CLOEXEC)
        try:
            _write_all(fd, self._stdin)
            wasi.stdin_file = f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)
        wasi.stdout_custom = self.stdout.write
        wasi.stderr_custom = self.stderr.write
        for guest, host in self._preopens.items():
            wasi.preopen_dir(host, guest, fs_mutable=False)
        return wasi


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


@functools.cache
def _wasmtime_version() -> str:
    return importlib.metadata.version("wasmtime")
