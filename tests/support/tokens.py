"""The bearer tokens a secured registry knows in the tests, and its tokens file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

Subjects = dict[str, tuple[str, dict[str, str], list[str] | None]]

# subject -> (token, namespaces, capability patterns)
TOKENS: Subjects = {
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


def tokens_document(subjects: Subjects) -> Any:
    return {
        "tokens": [
            {"subject": subject, "token": secret, "namespaces": namespaces}
            | ({"capabilities": patterns} if patterns is not None else {})
            for subject, (secret, namespaces, patterns) in subjects.items()
        ]
    }


def write_tokens(path: Path, subjects: Subjects) -> Path:
    path.write_text(json.dumps(tokens_document(subjects)))
    return path
