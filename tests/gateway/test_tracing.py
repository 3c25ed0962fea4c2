"""One trace across the hops of a call: client → gateway → agent → the agent's dependency.

Every process exports its spans to its stderr (``OTEL_TRACES_EXPORTER=console``, one JSON
object a line); the test reads them back and follows the trace id and the parent links.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client

from mesh_agent.tracing import exporters
from tests.support.agent_processes import AgentProcess, GatewayProcess
from tests.support.processes import Process, running_registry, wait_until

pytestmark = pytest.mark.heavy
TRACED = {"OTEL_TRACES_EXPORTER": "console"}


def spans(process: Process) -> list[dict[str, Any]]:
    found = []
    for line in process.lines:
        if line.startswith("{") and '"trace_id"' in line:
            found.append(json.loads(line))
    return found


def named(process: Process, name: str) -> dict[str, Any] | None:
    return next((span for span in spans(process) if span["name"] == name), None)


@pytest.fixture
def traced_mesh() -> Iterator[tuple[str, dict[str, Process]]]:
    with running_registry("--db", ":memory:") as registry:
        processes: dict[str, Process] = {
            name: AgentProcess(
                script,
                registry=registry.url,
                name=name,
                namespace="default",
                interval=0.5,
                env={**TRACED, "OTEL_SERVICE_NAME": name},
            )
            for name, script in (("echo", "provider.py"), ("relay", "consumer.py"))
        }
        gateway = GatewayProcess(registry.url, env=TRACED)
        processes["gateway"] = gateway
        try:
            for name in ("echo", "relay"):
                agent = processes[name]
                assert isinstance(agent, AgentProcess)
                agent.wait_healthy()
            yield gateway.wait_serving(), processes
        finally:
            for process in processes.values():
                process.stop()


async def test_a_call_through_the_gateway_is_one_trace(
    traced_mesh: tuple[str, dict[str, Process]],
) -> None:
    url, processes = traced_mesh
    async with Client(url) as client:
        result = await client.call_tool("echo.relay", {"text": "traced"})
    assert result.structured_content["text"] == "traced"
    gateway, relay, echo = processes["gateway"], processes["relay"], processes["echo"]

    hop = wait_until(lambda: named(gateway, "mesh call echo.relay"))
    served = wait_until(lambda: named(relay, "tools/call relay"))
    onward = wait_until(lambda: named(relay, "mesh call echo.say"))
    last = wait_until(lambda: named(echo, "tools/call say"))
    trace_id = hop["context"]["trace_id"]
    assert {s["context"]["trace_id"] for s in (served, onward, last)} == {trace_id}
    # Each hop is the child of the one before: the client span of each call is the parent of
    # the server span of the tool it reaches.
    assert served["parent_id"] == hop["context"]["span_id"]
    assert onward["parent_id"] == served["context"]["span_id"]
    assert last["parent_id"] == onward["context"]["span_id"]
    assert hop["kind"] == "SpanKind.CLIENT"
    assert hop["attributes"]["mesh.provider"] == "default/relay"
    assert echo.alive()  # and nothing on stdout broke anything


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, []),
        ({"OTEL_TRACES_EXPORTER": "none"}, []),
        ({"OTEL_TRACES_EXPORTER": "console"}, ["console"]),
        ({"OTEL_TRACES_EXPORTER": "otlp, console"}, ["otlp", "console"]),
        ({"OTEL_TRACES_EXPORTER": "OTLP"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, ["otlp"]),
        ({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, ["otlp"]),
        (
            {"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"},
            [],
        ),
    ],
)
def test_spans_are_exported_only_when_the_variables_ask(
    environ: dict[str, str], expected: list[str]
) -> None:
    assert exporters(environ) == expected
