"""Each setting is declared once; the README's tables are made from the declarations, and
these tests fail when the README drifts from them (regenerate the table between its markers)."""

from __future__ import annotations

import click
import pytest

from mesh_agent.settings import VARIABLES, AgentSettings
from mesh_agent.settings import markdown_table as agent_table
from mesh_registry.cli.options import OPTIONS, RegistrySettings, settings_from
from mesh_registry.cli.options import markdown_table as registry_table
from mesh_registry.cli.registry import main
from tests.support.processes import ROOT

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize(
    ("table", "marker"),
    [(registry_table, "registry-options"), (agent_table, "agent-variables")],
)
def test_the_readme_tables_are_the_declarations(table, marker: str) -> None:  # type: ignore[no-untyped-def]
    start = README.index(f"<!-- {marker}:")
    end = README.index(f"<!-- end of {marker} -->")
    shown = README[README.index("\n", start) + 1 : end].strip()
    assert shown == table(), f"the README's {marker} table is out of date"


def test_every_option_of_the_command_is_declared_once() -> None:
    parameters = {p.name for p in main.params if isinstance(p, click.Option)}
    assert parameters == {option.parameter for option in OPTIONS}
    assert len({option.environment for option in OPTIONS}) == len(OPTIONS)


def test_the_command_defaults_are_the_layers_defaults() -> None:
    context = main.make_context("mcp-mesh-registry", [])
    assert settings_from(context.params) == RegistrySettings()


def test_values_reach_their_layers_together() -> None:
    # Checked together: 6 < 12 holds, though 6 > the default offline-after of 5.
    context = main.make_context(
        "mcp-mesh-registry",
        ["--unhealthy-after", "6", "--offline-after", "12", "--history-max-events", "7"],
    )
    settings = settings_from(context.params)
    assert (settings.config.health.unhealthy_after, settings.config.health.offline_after) == (6, 12)
    assert settings.config.retention.max_events == 7


def test_every_variable_sets_its_field() -> None:
    environment = {
        "MESH_AGENT_NAME": "n",
        "MESH_NAMESPACE": "ns",
        "MESH_AGENT_PORT": "9",
        "MESH_HEALTH_INTERVAL": "0.5",
        "MESH_AGENT_LABELS": "a=b",
        "MESH_AGENT_TAGS": "x,y",
        "MESH_REQUIRE_TOKEN": "1",
    }
    settings = AgentSettings(labels={"c": "d"}).with_environment(environment)
    assert (settings.name, settings.namespace, settings.port) == ("n", "ns", 9)
    assert settings.health_interval == 0.5
    assert settings.labels == {"c": "d", "a": "b"}
    assert settings.tags_override == ("x", "y")
    assert settings.require_token is True
    fields = {variable.field for variable in VARIABLES if variable.field}
    assert fields <= set(AgentSettings.__dataclass_fields__)
