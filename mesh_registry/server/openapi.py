"""The OpenAPI 3.1 document of the REST API, built from the same models the API speaks."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from mesh_registry import __version__, validation
from mesh_registry.model import (
    Agent,
    AgentList,
    CallToken,
    DeleteOptions,
    EventType,
    HeartbeatResponse,
    RequestSchemas,
    Status,
    TokenReview,
    ignore_registry_fields,
)
from mesh_registry.query import Operation, openapi_parameters

_REF = "#/components/schemas/{model}"
_REASONS = {
    400: "Bad request: an invalid namespace or name in the path, or a malformed parameter,"
    " selector, continue token or resume revision",
    404: "No such agent",
    409: "Conflict: the name is taken, or the resourceVersion or uid precondition failed",
    410: "Expired: the revision is no longer in the history; list again",
    413: "The request body is over the size limit",
    415: "The request body is not JSON",
    422: "Invalid object; details.causes names each bad field",
    401: "With a tokens file: no bearer token, or one the registry does not know",
    403: "The token may not do this: its role in the namespace, the record's owner, or a "
    "capability outside its patterns",
    429: "Over the request or watch limit of the subject; Retry-After says when to retry",
    503: "The registry cannot serve this now (store failure, shutdown, or its connection limit)",
    408: "The request head did not arrive in time; the connection is closed",
    414: "The URL is over the request head limit; the connection is closed",
    431: "The request head (URL and headers) is over its limit; the connection is closed",
}


@cache
def document() -> dict[str, Any]:
    """The document, built once."""
    schemas, refs = _schemas()
    paths = {
        **_agent_paths(refs),
        **_token_paths(refs),
        "/api/v1/discover": {
            "get": {
                "operationId": "discover",
                "summary": "Agents providing every capability asked for, best first",
                "parameters": _DISCOVER_PARAMETERS,
                "responses": {**refs.ok("Ranked providers", AgentList), **refs.errors(400)},
            }
        },
        **_operations_paths(refs),
    }
    _secure_api(paths, refs.errors(401, 403, 429), refs.errors(408, 414, 431, 503))
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mcp-mesh registry",
            "version": __version__,
            "description": "A passive registry for MCP agents, with Kubernetes API conventions.",
            "license": {"name": "Apache 2.0", "identifier": "Apache-2.0"},
        },
        # Relative: the registry that serves this document.
        "servers": [{"url": "/", "description": "This registry"}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token of the registry's --tokens-file",
                }
            },
        },
    }


class _Refs:
    """References to the models' schemas, by model and direction, and the responses made of
    them."""

    def __init__(self, refs: Mapping[Any, dict[str, Any]]) -> None:
        self._refs = refs

    def content(self, model: type[BaseModel]) -> dict[str, Any]:
        """``model`` as a JSON response's content."""
        return _json(self._refs[(model, "serialization")])

    def request(self, model: type[BaseModel]) -> dict[str, Any]:
        """A required JSON body of ``model``."""
        return {"required": True, "content": _json(self._refs[(model, "validation")])}

    def ok(self, description: str, model: type[BaseModel], code: int = 200) -> dict[str, Any]:
        return {str(code): {"description": description, "content": self.content(model)}}

    def errors(self, *codes: int) -> dict[str, Any]:
        status = self._refs[(Status, "serialization")]
        return {
            str(code): {"description": _REASONS[code], "content": _json(status)} for code in codes
        }


def _schemas() -> tuple[dict[str, Any], _Refs]:
    """The models' schemas (what requests may hold, what responses hold), and their refs."""
    (refs, schemas) = models_json_schema(
        [
            (Agent, "validation"),
            (Agent, "serialization"),
            (AgentList, "serialization"),
            (HeartbeatResponse, "serialization"),
            (DeleteOptions, "validation"),
            (Status, "serialization"),
            (CallToken, "serialization"),
            (TokenReview, "validation"),
            (TokenReview, "serialization"),
        ],
        ref_template=_REF,
        by_alias=True,
        schema_generator=RequestSchemas,
    )
    definitions = schemas["$defs"]
    ignore_registry_fields(definitions["Agent-Input"], definitions["ObjectMeta-Input"])
    for unused in ("AgentStatus-Input", "Condition-Input"):
        definitions.pop(unused, None)
    return definitions, _Refs(refs)


def _agent_paths(refs: _Refs) -> dict[str, Any]:
    """Lists, watches, writes and heartbeats of agents."""
    list_or_watch = {
        "summary": "List agents, or watch them with ?watch=true (Server-Sent Events)",
        "parameters": _LIST_PARAMETERS,
        "responses": {
            "200": {
                "description": "An AgentList; with watch=true, a stream of Server-Sent Events,"
                " each `event: ADDED|MODIFIED|DELETED|BOOKMARK|ERROR` with the object as JSON in"
                " `data`, and `id: <resourceVersion>` on every event but the initial ADDED ones"
                " and ERROR (resume from the last `id` seen)",
                "content": {
                    **refs.content(AgentList),
                    "text/event-stream": {"schema": _SSE_EVENT},
                },
            },
            **refs.errors(400, 410, 503),
        },
    }
    namespace = _path_parameter("namespace", validation.DNS1123_LABEL)
    name = _path_parameter("name", validation.DNS1123_SUBDOMAIN)
    return {
        "/api/v1/agents": {"get": {**list_or_watch, "operationId": "listAgentsAllNamespaces"}},
        "/api/v1/namespaces/{namespace}/agents": {
            "parameters": [namespace],
            "get": {**list_or_watch, "operationId": "listAgents"},
            "post": {
                "operationId": "createAgent",
                "summary": "Register a new agent",
                "requestBody": refs.request(Agent),
                "responses": {
                    **refs.ok("Created", Agent, 201),
                    **refs.errors(400, 409, 413, 415, 422, 503),
                },
            },
        },
        "/api/v1/namespaces/{namespace}/agents/{name}": {
            "parameters": [namespace, name],
            "get": {
                "operationId": "getAgent",
                "summary": "Read one agent",
                "responses": {**refs.ok("The agent", Agent), **refs.errors(400, 404)},
            },
            "put": {
                "operationId": "replaceAgent",
                "summary": "Create or replace an agent; with metadata.resourceVersion, only "
                "that version is replaced",
                "requestBody": refs.request(Agent),
                "responses": {
                    **refs.ok("Replaced (or unchanged)", Agent),
                    **refs.ok("Created", Agent, 201),
                    **refs.errors(400, 404, 409, 413, 415, 422, 503),
                },
            },
            "delete": {
                "operationId": "deleteAgent",
                "summary": "Unregister an agent; returns its last state",
                "requestBody": {**refs.request(DeleteOptions), "required": False},
                "responses": {
                    **refs.ok("Deleted", Agent),
                    **refs.errors(400, 404, 409, 413, 415, 503),
                },
            },
        },
        "/api/v1/namespaces/{namespace}/agents/{name}/heartbeat": {
            "parameters": [namespace, name],
            "post": {
                "operationId": "heartbeat",
                "summary": "Renew the agent's lease",
                "responses": {
                    **refs.ok("The agent's phase after the heartbeat", HeartbeatResponse),
                    **refs.errors(400, 404, 503),
                },
            },
        },
    }


def _token_paths(refs: _Refs) -> dict[str, Any]:
    """Call tokens between agents: issued, and reviewed."""
    namespace = _path_parameter("namespace", validation.DNS1123_LABEL)
    name = _path_parameter("name", validation.DNS1123_SUBDOMAIN)
    return {
        "/api/v1/namespaces/{namespace}/agents/{name}/token": {
            "parameters": [namespace, name],
            "post": {
                "operationId": "createCallToken",
                "summary": "A short-lived token to call this agent with (for agents that "
                "require one)",
                "responses": {**refs.ok("The token", CallToken, 201), **refs.errors(400, 404)},
            },
        },
        "/api/v1/tokenreviews": {
            "post": {
                "operationId": "reviewCallToken",
                "summary": "Whether a call token is valid for an agent of the caller's, and "
                "whose it is",
                "requestBody": refs.request(TokenReview),
                "responses": {
                    **refs.ok("The review", TokenReview, 201),
                    **refs.errors(400, 413, 415),
                },
            },
        },
    }


def _operations_paths(refs: _Refs) -> dict[str, Any]:
    """The probes and the metrics."""
    return {
        "/healthz": {"get": _probe("healthz", "200 while the process runs", _HEALTHZ, 200)},
        "/readyz": {
            "get": _probe(
                "readyz", "200 once serving; 503 before, and when stopping", _READYZ, 200, 503
            )
        },
        "/metrics": {
            "get": {
                "operationId": "metrics",
                "summary": "Prometheus metrics",
                # A token only with --protect-metrics, hence the empty alternative.
                "security": [{"bearer": []}, {}],
                "responses": {
                    "200": {
                        "description": "Metrics in the Prometheus text format",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **refs.errors(401, 429),
                },
            }
        },
    }


def _secure_api(paths: dict[str, Any], refusals: dict[str, Any], limits: dict[str, Any]) -> None:
    """Every API operation takes a bearer token (required only when the registry has a
    tokens file, hence the empty alternative) and may be refused for it, or for going over
    the bounds of the HTTP layer."""
    for path, item in paths.items():
        if not path.startswith("/api/"):
            continue
        for method, operation in item.items():
            if method == "parameters":
                continue
            operation["security"] = [{"bearer": []}, {}]
            operation["responses"].update(refusals)
            operation["responses"].update(limits)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _path_parameter(name: str, rule: validation.Rule) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": rule.schema()}


_REVISION = {"type": "string", "pattern": "^[0-9]{0,18}$"}
_SSE_EVENT = {
    "type": "object",
    "required": ["event", "data"],
    "properties": {
        "event": {"enum": [kind.value for kind in EventType]},
        "id": _REVISION,
        "data": {"type": "string", "contentMediaType": "application/json"},
    },
}
_LIST_PARAMETERS = [
    *openapi_parameters(Operation.LIST),
    {
        "name": "watch",
        "in": "query",
        "required": False,
        "description": "Stream changes as Server-Sent Events (limit and continue do not apply).",
        "schema": {"type": "boolean"},
    },
    {
        "name": "resourceVersion",
        "in": "query",
        "required": False,
        "description": "With watch: send every change after this revision (0 or absent: the"
        " current state first).",
        "schema": _REVISION,
    },
    {
        "name": "Last-Event-ID",
        "in": "header",
        "required": False,
        "description": "With watch: resume after this revision (wins over resourceVersion).",
        "schema": _REVISION,
    },
]
_DISCOVER_PARAMETERS = openapi_parameters(Operation.DISCOVER)


def _probe(operation: str, summary: str, body: dict[str, Any], *codes: int) -> dict[str, Any]:
    described = {200: "Healthy or ready", 503: "Not ready"}
    responses = {
        str(code): {"description": described[code], "content": _json(body)} for code in codes
    }
    return {
        "operationId": operation,
        "summary": summary,
        "security": [],  # probes never need a token
        "responses": {
            **responses,
            "4XX": {"description": "A malformed request, refused before it reaches the probe"},
        },
    }


_HEALTHZ = {
    "type": "object",
    "required": ["status"],
    "properties": {"status": {"const": "ok"}},
}
_READYZ = {
    "type": "object",
    "required": ["ready", "revision", "agents", "selfPreservation", "quarantined", "leader"],
    "properties": {
        "ready": {"type": "boolean"},
        "revision": _REVISION,
        "agents": {"type": "integer", "minimum": 0},
        "quarantined": {
            "type": "integer",
            "minimum": 0,
            "description": "Stored records set aside at start because they could not be read",
        },
        "damaged": {
            "type": "string",
            "description": "Present when the database is damaged: why (not ready until restored)",
        },
        "unavailable": {
            "type": "string",
            "description": "Present while the database cannot be reached: why (ready again"
            " by itself once it can)",
        },
        "leader": {
            "type": "boolean",
            "description": "Whether this process decides health deadlines (with replicas on"
            " PostgreSQL, one of them does)",
        },
        "selfPreservation": {
            "type": "boolean",
            "description": "Whether offline transitions and deletions are held because far"
            " more agents went quiet at once than normal churn explains",
        },
    },
}
