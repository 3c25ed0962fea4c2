"""Schemathesis against the OpenAPI document the registry serves.

Requests generated from the document, valid and invalid, against a real registry process:
none may get a 5xx, and every response must match the document (status code, content type,
body schema). Bounded (``EXAMPLES`` per operation) so that it runs in CI.
"""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from mesh_registry.server.openapi import document
from tests.support.processes import RegistryProcess

EXAMPLES = 20
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


# The document the registry serves, built in process so that the cases exist at collection;
# the first test checks that the running registry serves exactly this one.
DOCUMENT = document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def registry_url(registry: RegistryProcess) -> str:
    return registry.url


def test_the_registry_serves_this_document(registry_url: str) -> None:
    assert httpx.get(registry_url + "/openapi.json").json() == DOCUMENT


@schema.parametrize()
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same cases every run: a CI failure can be reproduced
)
def test_the_api_answers_every_generated_request_as_documented(
    registry_url: str, case: schemathesis.Case
) -> None:
    if case.query and str(case.query.get("watch", "")).lower() in ("true", "1"):
        # A watch is a stream that does not end: what it sends is tested in test_watch_sse.
        case.query["watch"] = "false"
    case.call_and_validate(base_url=registry_url, checks=CHECKS, timeout=10)
