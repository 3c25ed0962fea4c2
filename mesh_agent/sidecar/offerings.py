"""The child's prompts and resources, served again by the sidecar's own MCP server: each is
passed on to the child as asked, and its answer passed back."""

from __future__ import annotations

import base64
import logging
from typing import Any

import mcp_types
from fastmcp import FastMCP
from fastmcp.prompts.base import Message, Prompt, PromptArgument, PromptResult
from fastmcp.resources.base import Resource, ResourceContent, ResourceResult
from fastmcp.resources.template import ResourceTemplate
from pydantic import PrivateAttr

from mesh_agent.sidecar.child import ChildServer
from mesh_registry.validation import resource_uri_errors, tool_name_errors

log = logging.getLogger(__name__)


class ForwardedPrompt(Prompt):
    _child: ChildServer = PrivateAttr()

    @classmethod
    def of(cls, prompt: mcp_types.Prompt, child: ChildServer) -> ForwardedPrompt:
        forwarded = cls(
            name=prompt.name,
            title=prompt.title,
            description=prompt.description,
            arguments=[
                PromptArgument(name=a.name, description=a.description, required=a.required)
                for a in prompt.arguments or ()
            ],
        )
        forwarded._child = child
        return forwarded

    async def render(self, arguments: dict[str, Any] | None = None) -> PromptResult:
        result = await self._child.get_prompt(self.name, arguments or {})
        messages = [Message(message.content, role=message.role) for message in result.messages]
        return PromptResult(messages, description=result.description)


class ForwardedResource(Resource):
    _child: ChildServer = PrivateAttr()

    @classmethod
    def of(cls, resource: mcp_types.Resource, child: ChildServer) -> ForwardedResource:
        forwarded = cls(
            uri=resource.uri,
            name=resource.name,
            title=resource.title,
            description=resource.description,
            mime_type=resource.mime_type or "text/plain",
        )
        forwarded._child = child
        return forwarded

    async def read(self) -> ResourceResult:
        return _result(await self._child.read_resource(str(self.uri)))


class ForwardedTemplate(ResourceTemplate):
    _child: ChildServer = PrivateAttr()

    @classmethod
    def of(cls, template: mcp_types.ResourceTemplate, child: ChildServer) -> ForwardedTemplate:
        forwarded = cls(
            uri_template=template.uri_template,
            name=template.name,
            title=template.title,
            description=template.description,
            mime_type=template.mime_type or "text/plain",
            parameters={},
        )
        forwarded._child = child
        return forwarded

    async def _read(self, uri: str, params: dict[str, Any]) -> ResourceResult:
        return _result(await self._child.read_resource(uri))


class OfferingMirror:
    """Keeps an MCP server's prompts, resources and resource templates the same as the
    child's; one the registry would refuse (its name or URI) is left out, with a warning."""

    def __init__(self, server: FastMCP, child: ChildServer) -> None:
        self.server = server
        self.child = child
        self._served: tuple[list[str], list[str], list[str]] = ([], [], [])

    def update(
        self,
        prompts: list[mcp_types.Prompt],
        resources: list[mcp_types.Resource],
        templates: list[mcp_types.ResourceTemplate],
    ) -> None:
        provider = self.server.local_provider
        old_prompts, old_resources, old_templates = self._served
        for name in old_prompts:
            provider.remove_prompt(name)
        for uri in old_resources:
            provider.remove_resource(uri)
        for uri_template in old_templates:
            provider.remove_template(uri_template)
        served: tuple[list[str], list[str], list[str]] = ([], [], [])
        for prompt in prompts:
            if _acceptable("prompt", prompt.name, tool_name_errors(prompt.name)):
                self.server.add_prompt(ForwardedPrompt.of(prompt, self.child))
                served[0].append(prompt.name)
        for resource in resources:
            uri = str(resource.uri)
            if _acceptable("resource", uri, resource_uri_errors(uri)):
                self.server.add_resource(ForwardedResource.of(resource, self.child))
                served[1].append(uri)
        for template in templates:
            text = template.uri_template
            if _acceptable("resource template", text, resource_uri_errors(text)):
                self.server.add_template(ForwardedTemplate.of(template, self.child))
                served[2].append(text)
        self._served = served


def _acceptable(what: str, name: str, problems: list[str]) -> bool:
    if problems:
        log.warning("not serving the child's %s %r: %s", what, name, problems[0])
    return not problems


def _result(answer: mcp_types.ReadResourceResult) -> ResourceResult:
    contents = []
    for item in answer.contents:
        if isinstance(item, mcp_types.TextResourceContents):
            contents.append(ResourceContent(item.text, mime_type=item.mime_type))
        else:
            blob = base64.b64decode(item.blob)
            contents.append(ResourceContent(blob, mime_type=item.mime_type))
    return ResourceResult(contents)
