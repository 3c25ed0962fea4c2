"""An agent's settings: code, environment, defaults, and what is refused."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from mesh_agent.settings import DEFAULT_HEALTH_INTERVAL, DEFAULT_REGISTRY_URL, AgentSettings

CODE = AgentSettings(
    name="weather",
    namespace="prod",
    registry_url="http://registry:8000",
    port=9000,
    health_interval=5.0,
    labels={"region": "eu", "team": "ops"},
)


@pytest.mark.parametrize(
    ("variable", "value", "field", "expected"),
    [
        ("MESH_AGENT_NAME", "weather-2", "name", "weather-2"),
        ("MESH_NAMESPACE", "staging", "namespace", "staging"),
        ("MESH_REGISTRY_URL", "http://other:1", "registry_url", "http://other:1"),
        ("MESH_AGENT_HOST", "0.0.0.0", "host", "0.0.0.0"),
        ("MESH_AGENT_PORT", "0", "port", 0),
        ("MESH_ADVERTISE_HOST", "weather.svc", "advertise_host", "weather.svc"),
        ("MESH_HEALTH_INTERVAL", "0.25", "health_interval", 0.25),
        ("MESH_AGENT_VERSION", "2.1.0", "version_override", "2.1.0"),
        ("MESH_AGENT_TAGS", "fast, gpu,", "tags_override", ("fast", "gpu")),
        # Labels merge over the code's; the environment wins on a shared key.
        (
            "MESH_AGENT_LABELS",
            "region=us, tier=1",
            "labels",
            {"region": "us", "team": "ops", "tier": "1"},
        ),
        ("MESH_TOKEN", "t0ken-t0ken-t0ken", "token", "t0ken-t0ken-t0ken"),
        ("MESH_CA_BUNDLE", "/etc/mesh/ca.pem", "ca_bundle", "/etc/mesh/ca.pem"),
        ("MESH_REQUIRE_TOKEN", "1", "require_token", True),
        ("MESH_REQUIRE_TOKEN", "True", "require_token", True),
        ("MESH_REQUIRE_TOKEN", "no", "require_token", False),
        ("MESH_REQUIRE_TOKEN", "0", "require_token", False),
        # An empty variable is "not set".
        ("MESH_AGENT_NAME", "", "name", "weather"),
        ("MESH_AGENT_PORT", "", "port", 9000),
        ("MESH_AGENT_TAGS", "", "tags_override", None),
    ],
)
def test_the_environment_overrides_the_code(
    variable: str, value: str, field: str, expected: Any
) -> None:
    assert getattr(CODE.with_environment({variable: value}), field) == expected


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("MESH_AGENT_PORT", "eighty", "MESH_AGENT_PORT='eighty' is not a number"),
        ("MESH_AGENT_PORT", "80.5", "MESH_AGENT_PORT='80.5' is not a number"),
        ("MESH_HEALTH_INTERVAL", "soon", "MESH_HEALTH_INTERVAL='soon' is not a number"),
        ("MESH_AGENT_LABELS", "region=eu,oops", "MESH_AGENT_LABELS: 'oops' is not key=value"),
        ("MESH_REQUIRE_TOKEN", "maybe", "MESH_REQUIRE_TOKEN='maybe' is not 1 or 0"),
    ],
)
def test_a_malformed_variable_is_named(variable: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        CODE.with_environment({variable: value})


def test_the_environment_is_read_when_none_is_given(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MESH_AGENT_NAME", "from-env")
    assert CODE.with_environment().name == "from-env"


def test_merging_adds_what_is_set_and_keeps_agreements() -> None:
    other = AgentSettings(name="weather", health_interval=5.0, labels={"team": "ops", "x": "1"})
    merged = AgentSettings(name="weather", version="1.2.0").merged(other)
    assert merged.name == "weather"
    assert merged.health_interval == 5.0
    assert merged.version == "1.2.0"
    assert merged.labels == {"team": "ops", "x": "1"}


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (AgentSettings(name="a"), AgentSettings(name="b"), "name is set to 'a' and to 'b' on f"),
        (
            AgentSettings(health_interval=1.0),
            AgentSettings(health_interval=2.0),
            "health_interval is set to 1.0 and to 2.0 on f",
        ),
        (
            AgentSettings(labels={"env": "prod"}),
            AgentSettings(labels={"env": "dev"}),
            "label 'env' is set to 'prod' and to 'dev' on f",
        ),
    ],
)
def test_merging_conflicting_settings_is_an_error(
    first: AgentSettings, second: AgentSettings, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        first.merged(second, source=" on f")


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.argv", ["/srv/agents/Weather_Agent.py"])
    resolved = AgentSettings().resolved()
    assert resolved.name.startswith("weather-agent-")
    assert len(resolved.name) == len("weather-agent-") + 6
    assert resolved.namespace == "default"
    assert resolved.registry_url == DEFAULT_REGISTRY_URL
    assert (resolved.host, resolved.port, resolved.advertise_host) == ("127.0.0.1", 0, "127.0.0.1")
    assert resolved.health_interval == DEFAULT_HEALTH_INTERVAL
    assert resolved.version == "1.0.0"
    assert AgentSettings().resolved().name != resolved.name  # two unnamed agents do not collide


@pytest.mark.parametrize(
    ("host", "advertised"),
    [
        ("0.0.0.0", socket.gethostname()),
        ("::", socket.gethostname()),
        ("10.1.2.3", "10.1.2.3"),
        ("::1", "::1"),
    ],
)
def test_a_wildcard_host_is_advertised_as_the_machine_name(host: str, advertised: str) -> None:
    assert AgentSettings(host=host).resolved().advertise_host == advertised
    assert AgentSettings(host=host, advertise_host="a.svc").resolved().advertise_host == "a.svc"


def test_an_interval_of_zero_is_kept_for_the_record_to_refuse() -> None:
    # Not silently replaced by the default: the record's validation names it.
    assert AgentSettings(health_interval=0).resolved().health_interval == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (AgentSettings(port=70000), "port must be between 0 and 65535, got 70000"),
        (AgentSettings(port=-1), "port must be between 0 and 65535, got -1"),
        (AgentSettings(registry_url="localhost:8000"), "registry_url must be an http"),
        (AgentSettings(registry_url="ftp://registry"), "registry_url must be an http"),
        (AgentSettings(registry_url="http://"), "registry_url must be an http"),
    ],
)
def test_unusable_settings_are_refused_by_name(settings: AgentSettings, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        settings.resolved()


def test_a_trailing_slash_on_the_registry_url_is_dropped() -> None:
    assert AgentSettings(registry_url="http://r:1/").resolved().registry_url == "http://r:1"
