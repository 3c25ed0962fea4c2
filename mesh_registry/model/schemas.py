"""The JSON Schemas the API publishes for what clients send, as strict as the parsers."""

from __future__ import annotations

from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

from mesh_registry.model.agent import IGNORED_FIELDS, IGNORED_METADATA, Agent
from mesh_registry.model.base import MeshModel


class RequestSchemas(GenerateJsonSchema):
    """JSON schemas in which request bodies are as strict as :func:`parse_agent`: in validation
    mode, objects accept no unknown fields (``additionalProperties: false``)."""

    def model_schema(self, schema: core_schema.ModelSchema) -> JsonSchemaValue:
        generated = super().model_schema(schema)
        if self.mode == "validation" and issubclass(schema["cls"], MeshModel):
            generated["additionalProperties"] = False
        return generated


# What a client may send but the registry sets itself: accepted with any value, and ignored.


def ignore_registry_fields(agent: dict[str, Any], metadata: dict[str, Any]) -> None:
    """Make the request schemas of an Agent (``agent``) and its ObjectMeta (``metadata``)
    accept, with any value, the fields that :func:`parse_agent` drops."""
    for fields, schema in ((IGNORED_FIELDS, agent), (IGNORED_METADATA, metadata)):
        for name, description in fields.items():
            schema["properties"][name] = {"description": description}


def agent_request_schema() -> dict[str, Any]:
    """The JSON schema of an Agent sent by a client: as strict as :func:`parse_agent`."""
    schema = Agent.model_json_schema(by_alias=True, schema_generator=RequestSchemas)
    definitions = schema.get("$defs", {})
    ignore_registry_fields(schema, definitions["ObjectMeta"])
    for unused in ("AgentStatus", "Condition", "Phase"):
        definitions.pop(unused, None)
    return schema


def inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with its ``$defs`` substituted for their ``$ref``s (the API's types are not
    recursive): a schema given to ``WithJsonSchema`` cannot carry definitions."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            if "$ref" in node:
                return resolve(definitions[node["$ref"].rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved
