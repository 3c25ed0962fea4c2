"""The manifest next to a WebAssembly module: what it provides and what it may use.

A module lives in a directory with ``tool.toml`` or ``tool.json``::

    module = "arith.wat"          # default: the only .wasm or .wat file of the directory
    version = "1.0.0"
    [limits]                      # per call
    fuel = 1_000_000
    memory_bytes = 1_048_576
    timeout = 0.5                 # seconds
    [functions.add]               # core convention: numeric exports become tools
    params = ["a", "b"]
    capabilities = ["math.add"]

A WASI command (it exports ``_start``) is one tool: its input is one JSON object on stdin,
checked against ``input_schema``, and its result one JSON object on stdout. It sees a host
directory only if ``preopens`` maps a guest path to it (relative to the manifest, read-only).

Keys may be written ``snake_case`` or ``camelCase``.
"""

from __future__ import annotations

import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import jsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from mesh_agent.wasm.runtime import Limits
from mesh_registry.model import field_errors
from mesh_registry.validation import capability_name_errors, tag_errors, tool_name_errors
from mesh_registry.versions import parse_version

MANIFEST_NAMES = ("tool.toml", "tool.json")
MODULE_SUFFIXES = (".wasm", ".wat")
_DEFAULTS = Limits()


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", alias_generator=to_camel, populate_by_name=True, frozen=True
    )


class LimitsSpec(_Strict):
    """What one call may use (every call starts from a fresh sandbox)."""

    fuel: int = Field(_DEFAULTS.fuel, gt=0)
    memory_bytes: int = Field(_DEFAULTS.memory_bytes, ge=65536)
    timeout: float = Field(_DEFAULTS.timeout, gt=0, le=3600)
    output_bytes: int = Field(_DEFAULTS.output_bytes, gt=0)

    def limits(self) -> Limits:
        return Limits(self.fuel, self.memory_bytes, self.timeout, self.output_bytes)


class _Offered(_Strict):
    """What a tool offers the mesh: its name, capabilities and tags, checked as the registry
    will check them."""

    name: str | None = None
    description: str = ""
    capabilities: list[str] | None = None  # default: one named like the tool
    tags: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _tool_name(cls, name: str | None) -> str | None:
        return _checked(name, tool_name_errors)

    @field_validator("capabilities")
    @classmethod
    def _capability_names(cls, names: list[str] | None) -> list[str] | None:
        for name in names or ():
            _checked(name, capability_name_errors)
        return names

    @field_validator("tags")
    @classmethod
    def _tags(cls, tags: list[str]) -> list[str]:
        for tag in tags:
            _checked(tag, tag_errors)
        return tags


class FunctionSpec(_Offered):
    """One exported function offered as a tool (core convention); ``name`` defaults to the
    export's."""

    params: list[str] | None = None  # parameter names; default: a, b, c, …

    @field_validator("params")
    @classmethod
    def _identifiers(cls, names: list[str] | None) -> list[str] | None:
        for name in names or ():
            if not name.isidentifier():
                raise ValueError(f"{name!r} is not a parameter name (letters, digits, '_')")
        if names and len(set(names)) != len(names):
            raise ValueError("parameter names must differ")
        return names


class Manifest(_Offered):
    """A module's manifest (see the module docstring). ``name``, ``capabilities`` and
    ``tags`` are a WASI command's (its name defaults to the directory's)."""

    module: str | None = None
    kind: Literal["core", "wasi"] | None = None  # default: "wasi" if it exports _start
    version: str = "1.0.0"
    input_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    functions: dict[str, FunctionSpec] | None = None  # core: default every exported function
    limits: LimitsSpec = Field(default_factory=LimitsSpec)
    preopens: dict[str, str] = Field(default_factory=dict)  # guest path → host directory

    @field_validator("version")
    @classmethod
    def _semver(cls, version: str) -> str:
        parse_version(version)  # ValueError says what is wrong
        return version

    @field_validator("input_schema", "output_schema")
    @classmethod
    def _json_schema(cls, schema: dict[str, Any] | None) -> dict[str, Any] | None:
        if schema is None:
            return None
        try:
            jsonschema.validators.validator_for(schema).check_schema(schema)
        except jsonschema.SchemaError as error:
            raise ValueError(f"not a valid JSON Schema: {error.message}") from None
        if schema.get("type", "object") != "object":
            raise ValueError("must describe an object (type: object)")
        return schema

    @field_validator("preopens")
    @classmethod
    def _guest_paths(cls, preopens: dict[str, str]) -> dict[str, str]:
        for guest in preopens:
            if not guest.startswith("/"):
                raise ValueError(f"guest path {guest!r} must be absolute (e.g. /data)")
        return preopens


class ModuleSource:
    """A manifest together with the files it names, resolved against its directory."""

    def __init__(self, manifest: Manifest, path: Path) -> None:
        self.manifest = manifest
        self.path = path  # the manifest file
        self.directory = path.parent

    @property
    def module_path(self) -> Path:
        if self.manifest.module is not None:
            return self.directory / self.manifest.module
        found = sorted(p for p in self.directory.iterdir() if p.suffix in MODULE_SUFFIXES)
        if len(found) != 1:
            raise ValueError(
                f"{self.path}: module: name the module file; the directory holds"
                f" {len(found)} .wasm/.wat files"
            )
        return found[0]

    @property
    def default_name(self) -> str:
        return self.manifest.name or self.directory.name

    def preopens(self) -> dict[str, str]:
        """Guest path → absolute host directory; ``ValueError`` if one is missing."""
        resolved = {}
        for guest, host in self.manifest.preopens.items():
            directory = (self.directory / host).resolve()
            if not directory.is_dir():
                raise ValueError(f"{self.path}: preopens.{guest}: no directory {directory}")
            resolved[guest] = str(directory)
        return resolved


def read_manifest(path: Path | str) -> ModuleSource:
    """Parse and check the manifest at ``path``; ``ValueError`` names the file and field."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read {file}: {error.strerror}") from None
    try:
        data = tomllib.loads(text) if file.suffix == ".toml" else json.loads(text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{file}: not valid {file.suffix[1:].upper()}: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{file}: a manifest is an object (a table)")
    try:
        manifest = Manifest.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(f"{e.field}: {e.message}" for e in field_errors(error))
        raise ValueError(f"{file}: {problems}") from None
    return ModuleSource(manifest, file)


def find_manifests(path: Path | str) -> list[ModuleSource]:
    """The manifests at ``path``: a manifest file, a module's directory, or a directory of
    modules' directories. ``ValueError`` if there is none."""
    root = Path(path)
    if root.is_file():
        return [read_manifest(root)]
    if not root.is_dir():
        raise ValueError(f"no such file or directory: {root}")
    here = _manifest_in(root)
    if here is not None:
        return [read_manifest(here)]
    found = [m for d in sorted(root.iterdir()) if d.is_dir() and (m := _manifest_in(d))]
    if not found:
        names = " or ".join(MANIFEST_NAMES)
        raise ValueError(f"{root} holds no module: put a {names} next to each module")
    return [read_manifest(m) for m in found]


def _manifest_in(directory: Path) -> Path | None:
    present = [directory / n for n in MANIFEST_NAMES if (directory / n).is_file()]
    if len(present) > 1:
        raise ValueError(f"{directory} has both {' and '.join(MANIFEST_NAMES)}: keep one")
    return present[0] if present else None


def _checked(value: str | None, errors_of: Callable[[str], list[str]]) -> str | None:
    if value is not None:
        problems = errors_of(value)
        if problems:
            raise ValueError(f"{value!r}: {problems[0]}")
    return value
