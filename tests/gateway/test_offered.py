"""The prompts and resources the gateway aggregates."""

from __future__ import annotations

from typing import Any

from mesh_agent.gateway.offered import Offerings
from mesh_registry.model import Agent


def agent(name: str, phase: str = "healthy", **offers: list[dict[str, Any]]) -> Agent:
    return Agent.model_validate(
        {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"endpoint": f"http://{name}:80/mcp", **offers},
            "status": {"phase": phase},
        }
    )


def test_the_first_offerer_describes_and_every_healthy_one_serves() -> None:
    agents = [
        agent("b", prompts=[{"name": "summarize", "description": "from b"}]),
        agent("a", prompts=[{"name": "summarize", "description": "from a"}]),
        agent("c", "unhealthy", prompts=[{"name": "summarize"}, {"name": "hidden"}]),
        agent(
            "d",
            resources=[{"uri": "notes://index", "name": "Index"}],
            resourceTemplates=[{"uriTemplate": "notes://{name}", "name": "A note"}],
        ),
        agent("e", resourceTemplates=[{"uriTemplate": "notes://{+path}", "name": "Any"}]),
    ]
    offered = Offerings.of(agents)
    assert list(offered.prompts) == ["summarize"]
    assert offered.prompts["summarize"].item.description == "from a"
    assert [a.metadata.name for a in offered.prompts["summarize"].agents] == ["a", "b"]
    assert [a.metadata.name for a in offered.readers("notes://index")] == ["d"]  # fixed first
    assert [a.metadata.name for a in offered.readers("notes://x")] == ["d", "e"]
    assert [a.metadata.name for a in offered.readers("notes://x/y")] == ["e"]
    assert offered.readers("other://x") == ()


def test_listings_change_with_what_clients_see() -> None:
    one = Offerings.of([agent("a", prompts=[{"name": "p"}])])
    same = Offerings.of([agent("a", prompts=[{"name": "p"}]), agent("b", prompts=[{"name": "p"}])])
    other = Offerings.of([agent("a", prompts=[{"name": "p", "description": "new"}])])
    assert one.listings() == same.listings()
    assert one.listings() != other.listings()
    assert Offerings().listings() != one.listings()
