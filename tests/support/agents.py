"""Agent bodies for tests, as a client would send them."""

from __future__ import annotations

from typing import Any


def agent_body(
    name: str,
    capabilities: list[str] | None = None,
    *,
    namespace: str | None = None,
    labels: dict[str, str] | None = None,
    annotations: dict[str, str] | None = None,
    interval: float = 1.0,
    version: str = "1.0.0",
    tags: list[str] | None = None,
    endpoint: str | None = None,
    dependencies: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "labels": labels or {}}
    if namespace is not None:
        metadata["namespace"] = namespace
    if annotations is not None:
        metadata["annotations"] = annotations
    return {
        "apiVersion": "mesh/v1",
        "kind": "Agent",
        "metadata": metadata,
        "spec": {
            "endpoint": endpoint or f"http://127.0.0.1:9100/{name}/mcp",
            "healthInterval": interval,
            "capabilities": [
                {"name": c, "version": version, "tags": tags or []} for c in (capabilities or [])
            ],
            "dependencies": dependencies or [],
        },
    }


def idle_agent(name: str, capabilities: list[str], **fields: Any) -> dict[str, Any]:
    """The body of an agent that never heartbeats, which stays healthy through a test."""
    return agent_body(name, capabilities, interval=3600.0, **fields)
