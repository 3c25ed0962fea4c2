"""Manifests: what is accepted, and errors that name the file and the field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mesh_agent.wasm.manifest import Manifest, find_manifests, read_manifest
from mesh_agent.wasm.runtime import Limits

MODULES = Path(__file__).parent / "modules"
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "wasm"


def write(directory: Path, manifest: dict[str, Any] | str, name: str = "tool.json") -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    path = directory / name
    path.write_text(text)
    return path


def test_defaults() -> None:
    manifest = Manifest()
    assert manifest.version == "1.0.0"
    assert manifest.input_schema == {"type": "object"}
    assert manifest.limits.limits() == Limits()
    assert manifest.kind is None
    assert manifest.functions is None
    assert manifest.preopens == {}


def test_toml_and_json_say_the_same(tmp_path: Path) -> None:
    toml = write(
        tmp_path / "t",
        '[limits]\nfuel = 5\nmemory_bytes = 65536\n[functions.add]\nparams = ["a", "b"]\n',
        "tool.toml",
    )
    json_file = write(
        tmp_path / "j",
        {"limits": {"fuel": 5, "memoryBytes": 65536}, "functions": {"add": {"params": ["a", "b"]}}},
    )
    assert read_manifest(toml).manifest == read_manifest(json_file).manifest


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"version": "1.0"}, "version"),
        ({"name": "has space"}, "name"),
        ({"capabilities": ["not a capability"]}, "capabilities"),
        ({"tags": ["UPPER"]}, "tags"),
        ({"kind": "python"}, "kind"),
        ({"limits": {"fuel": 0}}, "limits.fuel"),
        ({"limits": {"memoryBytes": 1024}}, "limits.memoryBytes"),
        ({"limits": {"timeout": -1}}, "limits.timeout"),
        ({"limits": {"timeout": 86400}}, "limits.timeout"),
        ({"limits": {"outputBytes": 0}}, "limits.outputBytes"),
        ({"limits": {"stack": 1}}, "limits.stack: unknown field"),
        ({"inputSchema": {"type": "object", "properties": 3}}, "inputSchema"),
        ({"inputSchema": {"type": "string"}}, "must describe an object"),
        ({"outputSchema": {"type": 12}}, "outputSchema"),
        ({"preopens": {"data": "."}}, "must be absolute"),
        ({"functions": {"add": {"params": ["a", "a"]}}}, "functions.add.params"),
        ({"functions": {"add": {"params": ["1x"]}}}, "functions.add.params"),
        ({"functions": {"add": {"capabilities": ["x y"]}}}, "functions.add.capabilities"),
        ({"functions": {"add": {"colour": "red"}}}, "functions.add.colour: unknown field"),
        ({"unknown": 1}, "unknown: unknown field"),
    ],
)
def test_bad_manifests_name_the_field(
    tmp_path: Path, manifest: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, manifest)
    with pytest.raises(ValueError, match=message) as error:
        read_manifest(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("text", "name", "message"),
    [
        ("{not json", "tool.json", "not valid JSON"),
        ("fuel = = 1", "tool.toml", "not valid TOML"),
        ("[1, 2]", "tool.json", "a manifest is an object"),
    ],
)
def test_unreadable_manifests(tmp_path: Path, text: str, name: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        read_manifest(write(tmp_path, text, name))


def test_finding_modules(tmp_path: Path) -> None:
    assert len(find_manifests(EXAMPLES)) == 2  # a directory of modules' directories
    assert len(find_manifests(EXAMPLES / "arith")) == 1  # a module's directory
    assert len(find_manifests(EXAMPLES / "arith" / "tool.toml")) == 1  # a manifest
    assert {s.module_path.name for s in find_manifests(MODULES)} >= {"spin.wat", "trap.wat"}
    with pytest.raises(ValueError, match="holds no module"):
        find_manifests(tmp_path)
    with pytest.raises(ValueError, match="no such file"):
        find_manifests(tmp_path / "missing")
    write(tmp_path / "both", {}, "tool.json")
    write(tmp_path / "both", "", "tool.toml")
    with pytest.raises(ValueError, match="keep one"):
        find_manifests(tmp_path / "both")


def test_module_file_is_the_only_one_unless_named(tmp_path: Path) -> None:
    source = read_manifest(write(tmp_path, {}))
    with pytest.raises(ValueError, match=r"module: name the module file.*holds 0"):
        _ = source.module_path
    (tmp_path / "a.wat").write_text("(module)")
    assert source.module_path == tmp_path / "a.wat"
    (tmp_path / "b.wasm").write_bytes(b"")
    with pytest.raises(ValueError, match="holds 2"):
        _ = source.module_path


def test_preopens_resolve_against_the_manifest(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    source = read_manifest(write(tmp_path, {"preopens": {"/data": "data"}}))
    assert source.preopens() == {"/data": str(tmp_path / "data")}
    missing = read_manifest(write(tmp_path / "m", {"preopens": {"/data": "nowhere"}}))
    with pytest.raises(ValueError, match=r"preopens./data: no directory"):
        missing.preopens()
