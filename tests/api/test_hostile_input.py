"""Hostile input, generated (hypothesis): control characters in every path segment and string
field, JSON nested to any depth, log messages of any text.

Against a registry process: no answer is a 5xx or anything but a ``Status`` when it fails,
nothing invalid is stored, and every line the registry logs stays one line with no control
character. In process: nesting depth is measured right, and the log formatter keeps any text
on one line. Bounded, derandomized: the same cases every run.
"""

from __future__ import annotations

import json
import logging
import string
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mesh_registry.logs import JsonFormatter, TextFormatter
from mesh_registry.validation import nesting_depth, nests_deeper_than
from tests.support.agents import agent_body
from tests.support.processes import RegistryProcess, running_registry

LIVE = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
CONTROLS = "".join(map(chr, range(32))) + "\x7f\x85\u2028\u2029\x1b"
HOSTILE = st.text(alphabet=st.sampled_from(CONTROLS + string.ascii_letters + "-./%☃ "), max_size=40)


@pytest.fixture(scope="module")
def logged() -> Iterator[RegistryProcess]:
    with running_registry("--db", ":memory:", "--access-log") as process:
        yield process


def is_status(response: httpx.Response) -> bool:
    body = response.json()
    return bool(body["kind"] == "Status" and body["code"] == response.status_code)


@LIVE
@given(
    namespace=HOSTILE,
    name=HOSTILE,
    operation=st.sampled_from(["get", "put", "delete", "heartbeat", "token", "list", "watch"]),
)
def test_hostile_path_segments_get_a_status_and_store_nothing(
    logged: RegistryProcess, namespace: str, name: str, operation: str
) -> None:
    ns, item = quote(namespace, safe=""), quote(name, safe="")
    base = f"{logged.url}/api/v1/namespaces/{ns}/agents"
    with httpx.Client(timeout=10) as client:
        before = client.get(logged.url + "/readyz").json()["revision"]
        if operation == "put":
            response = client.put(f"{base}/{item}", json=agent_body("x", ["x.y"]))
        elif operation in ("heartbeat", "token"):
            response = client.post(f"{base}/{item}/{operation}")
        elif operation == "list":
            response = client.get(base)
        elif operation == "watch":
            with client.stream("GET", base, params={"watch": "1"}) as streamed:
                response = streamed
                streamed.read() if streamed.status_code != 200 else None
            if response.status_code == 200:
                return  # a valid namespace: a watch, tested elsewhere
        else:
            response = client.request(operation.upper(), f"{base}/{item}")
        assert response.status_code < 500, response.text
        if response.status_code >= 400:
            assert is_status(response)
        if response.status_code in (200, 201) and operation == "put":
            client.delete(f"{base}/{item}")  # a valid pair: clean up
        else:
            assert client.get(logged.url + "/readyz").json()["revision"] == before


FIELDS = [
    ("metadata", "name"),
    ("metadata", "namespace"),
    ("spec", "endpoint"),
    ("capability", "name"),
    ("capability", "tool"),
    ("capability", "version"),
    ("capability", "description"),
    ("label", "key"),
    ("label", "value"),
    ("annotation", "value"),
    ("dependency", "selector"),
    ("dependency", "version"),
]


def with_value(where: tuple[str, str], value: str) -> dict[str, Any]:
    body = agent_body("fuzzed", ["x.y"], dependencies=[{"capability": "a.b"}])
    part, field = where
    if part in ("metadata", "spec"):
        body[part][field] = value
    elif part == "capability":
        body["spec"]["capabilities"][0][field] = value
    elif part == "dependency":
        body["spec"]["dependencies"][0][field] = value
    elif part == "label":
        body["metadata"]["labels"] = {value: "v"} if field == "key" else {"k": value}
    else:
        body["metadata"]["annotations"] = {"note": value}
    return body


@LIVE
@given(where=st.sampled_from(FIELDS), value=HOSTILE)
def test_hostile_strings_in_every_field_are_refused_or_stored_intact(
    logged: RegistryProcess, where: tuple[str, str], value: str
) -> None:
    body = with_value(where, value)
    namespace = body["metadata"].get("namespace", "fuzz")
    item = f"{logged.url}/api/v1/namespaces/{quote(namespace, safe='')}/agents/"
    item += quote(body["metadata"]["name"], safe="")
    with httpx.Client(timeout=10) as client:
        response = client.put(item, json=body)
        assert response.status_code in (200, 201, 400, 404, 422), response.text  # 404: no name
        if response.status_code >= 400:
            assert is_status(response)
            return
        stored = client.get(item).json()
        client.delete(item)
    # Free text is kept exactly as sent, control characters and all.
    if where == ("annotation", "value"):
        assert stored["metadata"]["annotations"] == {"note": value}
    if where == ("capability", "description"):
        assert stored["spec"]["capabilities"][0]["description"] == value


def test_every_line_the_registry_logged_is_one_clean_line(
    logged: RegistryProcess,
) -> None:
    # Runs after the hostile requests above (module order): their access log lines and
    # warnings carried every control character there is.
    assert len(logged.lines) > 50
    for line in logged.lines:
        assert not any(char in line for char in CONTROLS), repr(line)


# -- in process ----------------------------------------------------------------------------------

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=3)),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=40,
)


def reference_depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max(map(reference_depth, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(reference_depth, value), default=0)
    return 0


@settings(max_examples=500, deadline=None)
@given(json_values, st.integers(0, 10))
def test_nesting_depth_is_measured_right_up_to_its_limit(value: Any, limit: int) -> None:
    measured = nesting_depth(value, limit)
    true = reference_depth(value)
    assert measured == true if true <= limit else measured == limit + 1


def test_nesting_depth_needs_no_recursion() -> None:
    value: Any = 0
    for _ in range(100_000):  # far beyond Python's recursion limit
        value = [value]
    assert nesting_depth(value, 64) == 65
    assert nesting_depth(value, 10**6) == 100_000


@settings(max_examples=500, deadline=None)
@given(
    json_values,
    st.integers(0, 10),
    st.sampled_from(["utf-8", "utf-16", "utf-16-be", "utf-32", "utf-32-le"]),
    st.booleans(),
)
def test_a_body_too_deep_is_told_from_its_text_and_document_alike(
    value: Any, limit: int, encoding: str, compact: bool
) -> None:
    """The bracket count that spares the walk never spares a document that is too deep: in
    every encoding ``json.loads`` reads, brackets in strings included."""
    separators = (",", ":") if compact else None
    text = json.dumps(value, ensure_ascii=False, separators=separators).encode(encoding)
    assert json.loads(text) == value
    assert nests_deeper_than(text, value, limit) == (reference_depth(value) > limit)


@pytest.mark.parametrize(
    ("text", "limit", "deeper"),
    [
        ("[" * 3 + "]" * 3, 3, False),
        ("[" * 4 + "]" * 4, 3, True),
        ('{"a": [{"b": []}]}', 4, False),
        ('{"a": [{"b": []}]}', 3, True),
        ('["[[[[[[[[", "{{{{{{{"]', 1, False),  # brackets in strings: walked, not deep
        ('"[[[[["', 0, False),
    ],
)
def test_nests_deeper_than_at_its_edges(text: str, limit: int, deeper: bool) -> None:
    assert nests_deeper_than(text.encode(), json.loads(text), limit) is deeper


@settings(max_examples=500, deadline=None)
@given(st.text(), st.text())
def test_any_log_message_stays_one_line_in_either_format(message: str, argument: str) -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%s %s", (message, argument), None)
    text = TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s").format(record)
    assert "\n" not in text
    assert not any(char in text for char in CONTROLS)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    assert json.loads(line)["message"] == message + " " + argument
