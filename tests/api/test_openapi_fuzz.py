"""Schemathesis against the OpenAPI document the registry serves.

Requests generated from the document, valid and invalid, against a real registry process:
none may get a 5xx, and every response must match the document (status code, content type,
body schema). Bounded (``EXAMPLES`` per operation) so that it runs in CI.
"""

from __future__ import annotations

import re
from collections.abc import Callable

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

# One of the longest modules (13 operations): scheduled first (tests/conftest.py).
pytestmark = pytest.mark.heavy
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


def _call_and_validate(registry_url: str, case: schemathesis.Case) -> None:
    if case.query and str(case.query.get("watch", "")).lower() in ("true", "1"):
        # A watch is a stream that does not end: what it sends is tested in test_watch_sse.
        case.query["watch"] = "false"
    case.call_and_validate(base_url=registry_url, checks=CHECKS, timeout=10)


def _operation_test(method: str, path: str) -> Callable[..., None]:
    """The fuzz test of one operation. One test function per operation, not one function
    parametrized by schemathesis over all of them: its tests would share one node ID, and
    xdist's ``--dist loadscope`` (``make test``) runs one test per node ID."""

    @schema.include(method=method, path=path).parametrize()
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,  # the same cases every run: a CI failure can be reproduced
    )
    def test(registry_url: str, case: schemathesis.Case) -> None:
        _call_and_validate(registry_url, case)

    return test


# Named after their operation: test_get_api_v1_agents for GET /api/v1/agents.
FUZZ_TESTS = {
    label: "test_" + re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")
    for label in (result.ok().label for result in schema.get_all_operations())
}
for _label, _name in FUZZ_TESTS.items():
    globals()[_name] = _operation_test(*_label.split(" ", 1))


def test_every_documented_operation_has_a_fuzz_test_of_its_own() -> None:
    documented = {
        f"{method.upper()} {path}"
        for path, item in DOCUMENT["paths"].items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch")
    }
    assert set(FUZZ_TESTS) == documented
    assert len(set(FUZZ_TESTS.values())) == len(documented)  # no two share a name
    assert all(callable(globals()[name]) for name in FUZZ_TESTS.values())
