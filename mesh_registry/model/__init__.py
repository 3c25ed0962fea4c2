"""The API's types, as pydantic models, with Kubernetes' JSON conventions (camelCase,
``metadata / spec / status``). Pure: the SDK uses them too.

- ``base``: what every type shares (API version, limits, phases, the object key, the base model);
- ``agent``: the Agent object, and how a client's JSON and a stored record become one;
- ``api``: lists, heartbeats, call tokens, ``Status`` errors, watch events, delete options;
- ``offerings``: the prompts and resources an agent offers besides its tools;
- ``checks``: the field checks of client input; ``fields``: their errors, named by field path;
- ``schemas``: the JSON Schemas published for requests.
"""

from mesh_registry.model.agent import (
    Agent,
    AgentSpec,
    AgentStatus,
    Capability,
    Condition,
    DependencySpec,
    ObjectMeta,
    load_agent,
    parse_agent,
)
from mesh_registry.model.api import (
    INITIAL_EVENTS_END,
    AgentList,
    Bookmark,
    BookmarkMeta,
    CallToken,
    DeleteOptions,
    EventType,
    HeartbeatResponse,
    ListMeta,
    Preconditions,
    Status,
    StatusCause,
    StatusDetails,
    TokenReview,
    TokenReviewSpec,
    TokenReviewStatus,
    WatchEvent,
)
from mesh_registry.model.base import (
    API_VERSION,
    DEFAULT_NAMESPACE,
    Limits,
    MeshModel,
    ObjectKey,
    Phase,
    Transport,
)
from mesh_registry.model.fields import FieldError, field_errors, field_path
from mesh_registry.model.offerings import Prompt, PromptArgument, Resource, ResourceTemplate
from mesh_registry.model.schemas import (
    RequestSchemas,
    agent_request_schema,
    ignore_registry_fields,
    inlined,
)

__all__ = [
    "API_VERSION",
    "DEFAULT_NAMESPACE",
    "INITIAL_EVENTS_END",
    "Agent",
    "AgentList",
    "AgentSpec",
    "AgentStatus",
    "Bookmark",
    "BookmarkMeta",
    "CallToken",
    "Capability",
    "Condition",
    "DeleteOptions",
    "DependencySpec",
    "EventType",
    "FieldError",
    "HeartbeatResponse",
    "Limits",
    "ListMeta",
    "MeshModel",
    "ObjectKey",
    "ObjectMeta",
    "Phase",
    "Preconditions",
    "Prompt",
    "PromptArgument",
    "RequestSchemas",
    "Resource",
    "ResourceTemplate",
    "Status",
    "StatusCause",
    "StatusDetails",
    "TokenReview",
    "TokenReviewSpec",
    "TokenReviewStatus",
    "Transport",
    "WatchEvent",
    "agent_request_schema",
    "field_errors",
    "field_path",
    "ignore_registry_fields",
    "inlined",
    "load_agent",
    "parse_agent",
]
