"""What an agent offers besides tools: MCP prompts and resources, as its record advertises them.

Names, argument lists, URIs and URI templates, descriptions: what a client needs to find them
and what the gateway lists on their agent's behalf. The content itself stays with the agent.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

from pydantic import Field

from mesh_registry import validation
from mesh_registry.model.base import Limits, MeshModel
from mesh_registry.model.checks import check, checked, invalid

_TOOL_NAME = validation.TOOL_NAME.schema()
_URI = validation.RESOURCE_URI.schema()
_MIME_TYPE = validation.MIME_TYPE.schema(optional=True)
_DESCRIPTION = Field(default="", max_length=Limits.DESCRIPTION_CHARS)

T = TypeVar("T")


class PromptArgument(MeshModel):
    """One argument of a prompt."""

    name: str = Field(json_schema_extra=_TOOL_NAME)
    description: str = _DESCRIPTION
    required: bool = Field(default=False, strict=True)

    @checked("name")
    def _valid_name(name: str) -> str:
        check(validation.tool_name_errors(name), "argument name", name)
        return name


class Prompt(MeshModel):
    """An MCP prompt the agent serves (``prompts/get``)."""

    name: str = Field(json_schema_extra=_TOOL_NAME)
    description: str = _DESCRIPTION
    arguments: list[PromptArgument] = Field(
        default_factory=list, max_length=Limits.PROMPT_ARGUMENTS
    )

    @checked("name")
    def _valid_name(name: str) -> str:
        check(validation.tool_name_errors(name), "prompt name", name)
        return name

    @checked("arguments")
    def _unique_arguments(arguments: list[PromptArgument]) -> list[PromptArgument]:
        return unique(arguments, lambda a: a.name, "argument")


class _Readable(MeshModel):
    """What a resource and a resource template share: how a client sees them."""

    name: str = Field(min_length=1, max_length=Limits.TITLE_CHARS)
    description: str = _DESCRIPTION
    mime_type: str = Field(default="", json_schema_extra=_MIME_TYPE)

    @checked("mime_type")
    def _valid_mime_type(mime_type: str) -> str:
        if mime_type:
            check(validation.mime_type_errors(mime_type), "MIME type", mime_type)
        return mime_type


class Resource(_Readable):
    """An MCP resource the agent serves at a fixed URI (``resources/read``)."""

    uri: str = Field(json_schema_extra=_URI)

    @checked("uri")
    def _valid_uri(uri: str) -> str:
        check(validation.resource_uri_errors(uri), "resource URI", uri)
        return uri


class ResourceTemplate(_Readable):
    """MCP resources the agent serves at URIs of one RFC 6570 template."""

    uri_template: str = Field(json_schema_extra=_URI)

    @checked("uri_template")
    def _valid_template(template: str) -> str:
        check(validation.resource_uri_errors(template), "URI template", template)
        return template


def unique(items: Sequence[T], key: Callable[[T], str], what: str) -> list[T]:
    """``items``, refused if two have the same ``key``."""
    seen: set[str] = set()
    for item in items:
        name = key(item)
        if name in seen:
            raise invalid(f"{what} {name!r} is declared more than once")
        seen.add(name)
    return list(items)
