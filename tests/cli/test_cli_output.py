"""What `mcp-mesh` prints of a record is shown, never obeyed by the terminal."""

from __future__ import annotations

from mesh_registry.cli.output import agent_rows, describe
from mesh_registry.model import parse_agent

HOSTILE = "a\x1b[31mred\x1b]0;title\x07\nsecond line\r"


def hostile_agent():  # type: ignore[no-untyped-def]
    return parse_agent(
        {
            "metadata": {"name": "x", "annotations": {"note": HOSTILE}},
            "spec": {
                "endpoint": "http://h:54321/",
                "capabilities": [{"name": "a.b", "description": HOSTILE}],
            },
        }
    )


def test_describe_escapes_control_characters_of_free_text() -> None:
    text = describe(hostile_agent())
    assert "\x1b" not in text
    assert "\x07" not in text
    assert "\r" not in text
    assert "note=a\\x1b[31mred\\x1b]0;title\\x07\\nsecond line\\r" in text
    assert "second line" not in text.splitlines()[0]


def test_tables_escape_every_cell() -> None:
    rows = agent_rows([hostile_agent()], wide=True, namespaces=True)
    assert "\x1b" not in rows
    assert len(rows.splitlines()) == 2
