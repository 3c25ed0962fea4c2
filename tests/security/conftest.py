"""A registry with authentication on, one process per test module, and the tokens it knows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import RegistryProcess, running_registry

# subject -> (token, namespaces, capability patterns)
TOKENS: dict[str, tuple[str, dict[str, str], list[str] | None]] = {
    "admin-all": ("tok-admin-all-0123456789", {"*": "admin"}, None),
    "admin-a": ("tok-admin-a-0123456789", {"team-a": "admin"}, None),
    "agent-a": ("tok-agent-a-0123456789", {"team-a": "agent"}, ["weather.*", "echo.*"]),
    "agent-a2": ("tok-agent-a2-0123456789", {"team-a": "agent"}, None),
    "reader-a": ("tok-reader-a-0123456789", {"team-a": "reader"}, None),
    "reader-all": ("tok-reader-all-0123456789", {"*": "reader"}, None),
    "agent-b": ("tok-agent-b-0123456789", {"team-b": "agent"}, None),
}


def token(subject: str) -> str:
    return TOKENS[subject][0]


def bearer(subject: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(subject)}"} if subject else {}


def tokens_document(subjects: dict[str, tuple[str, dict[str, str], list[str] | None]]) -> Any:
    return {
        "tokens": [
            {"subject": subject, "token": secret, "namespaces": namespaces}
            | ({"capabilities": patterns} if patterns is not None else {})
            for subject, (secret, namespaces, patterns) in subjects.items()
        ]
    }


def write_tokens(
    path: Path, subjects: dict[str, tuple[str, dict[str, str], list[str] | None]]
) -> Path:
    path.write_text(json.dumps(tokens_document(subjects)))
    return path


def agent_body(name: str, capabilities: list[str], **metadata: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name, **metadata},
        "spec": {
            "endpoint": f"http://127.0.0.1:9/{name}",
            "healthInterval": 3600,
            "capabilities": [{"name": c} for c in capabilities],
        },
    }


@pytest.fixture(scope="module")
def tokens_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tokens(tmp_path_factory.mktemp("auth") / "tokens.json", TOKENS)


@pytest.fixture(scope="module")
def secured(tokens_file: Path) -> Iterator[RegistryProcess]:
    with running_registry(
        "--db", ":memory:", "--tokens-file", str(tokens_file), "--bookmark-interval", "0.2"
    ) as process:
        yield process
