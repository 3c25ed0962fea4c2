"""The fixed-set mode (``--meta-tools``): two tools that reach every capability of the mesh,
for clients that can hold only a few tools.

- ``list_available_tools(namespace?, selector?, query?)``: the capabilities, with their
  descriptions, schemas and providers;
- ``call_tool(capability, arguments?, tool?)``: call one, routed as any gateway call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import mcp_types as types

from mesh_registry.selector import MAX_SELECTOR_LENGTH

LIST = "list_available_tools"
CALL = "call_tool"
TEXT_LIMIT = 1024
_TEXT = {"type": "string", "maxLength": TEXT_LIMIT}

META_TOOLS: tuple[types.Tool, ...] = (
    types.Tool(
        name=LIST,
        description="The tools of the mesh: each capability of its healthy agents, with its"
        " description, input and output schemas and providers. Narrow it down with a"
        " namespace, a label selector over the providers, or words to look for.",
        input_schema={
            "type": "object",
            "properties": {
                "namespace": {**_TEXT, "description": "Only providers in this namespace."},
                "selector": {
                    "type": "string",
                    "maxLength": MAX_SELECTOR_LENGTH,
                    "description": "A Kubernetes label selector over the providers.",
                },
                "query": {**_TEXT, "description": "Words the name or description contains."},
            },
            "additionalProperties": False,
        },
        output_schema={
            "type": "object",
            "properties": {"tools": {"type": "array", "items": {"type": "object"}}},
            "required": ["tools"],
        },
    ),
    types.Tool(
        name=CALL,
        description="Call a capability of the mesh (see list_available_tools) with its"
        " arguments; `tool` calls another tool of the same provider.",
        input_schema={
            "type": "object",
            "properties": {
                "capability": {**_TEXT, "description": "The capability to call."},
                "arguments": {"type": "object", "description": "Its arguments."},
                "tool": {**_TEXT, "description": "Another tool of its provider."},
            },
            "required": ["capability"],
            "additionalProperties": False,
        },
    ),
)


class MetaArgumentError(ValueError):
    """A meta-tool called with arguments it cannot use: the message names the argument."""


@dataclass(frozen=True)
class MetaCall:
    """A meta-tool call, its arguments checked: a listing (``capability`` is ``None``) or a
    call of ``capability``."""

    capability: str | None = None
    arguments: dict[str, Any] = field(default_factory=dict)
    tool: str | None = None
    namespace: str | None = None
    selector: str = ""
    query: str = ""

    @classmethod
    def parse(cls, name: str, arguments: dict[str, Any]) -> MetaCall:
        """Raise :class:`MetaArgumentError` for an unknown tool or an argument it cannot use."""
        if name == LIST:
            _only(arguments, {"namespace", "selector", "query"})
            return cls(
                namespace=_text(arguments, "namespace", None),
                selector=_text(arguments, "selector", "") or "",
                query=_text(arguments, "query", "") or "",
            )
        if name == CALL:
            _only(arguments, {"capability", "arguments", "tool"})
            capability = _text(arguments, "capability", None)
            if not capability:
                raise MetaArgumentError("capability: required, the capability to call")
            inner = arguments.get("arguments", {})
            if not isinstance(inner, dict):
                raise MetaArgumentError("arguments: must be an object")
            return cls(capability=capability, arguments=inner, tool=_text(arguments, "tool", None))
        raise MetaArgumentError(f"unknown tool {name!r}: this gateway offers {LIST} and {CALL}")


def _only(arguments: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(arguments) - allowed)
    if unknown:
        raise MetaArgumentError(f"{unknown[0]}: not an argument of this tool")


def _text(arguments: dict[str, Any], key: str, default: str | None) -> str | None:
    if key not in arguments:
        return default
    value = arguments[key]
    if not isinstance(value, str):
        raise MetaArgumentError(f"{key}: must be a string")
    limit = MAX_SELECTOR_LENGTH if key == "selector" else TEXT_LIMIT
    if len(value) > limit:
        raise MetaArgumentError(f"{key}: at most {limit} characters")
    return value
