"""Name rules, table-driven: Kubernetes' for names and labels, ours for capabilities and tags."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mesh_registry import validation as v

CASES: list[tuple[Callable[[str], list[str]], str, bool]] = [
    # RFC 1123 labels (namespaces)
    (v.dns1123_label_errors, "default", True),
    (v.dns1123_label_errors, "a", True),
    (v.dns1123_label_errors, "0", True),
    (v.dns1123_label_errors, "my-ns-1", True),
    (v.dns1123_label_errors, "a" * 63, True),
    (v.dns1123_label_errors, "a" * 64, False),
    (v.dns1123_label_errors, "", False),
    (v.dns1123_label_errors, "-a", False),
    (v.dns1123_label_errors, "a-", False),
    (v.dns1123_label_errors, "A", False),
    (v.dns1123_label_errors, "a.b", False),
    (v.dns1123_label_errors, "a_b", False),
    (v.dns1123_label_errors, "a\n", False),
    # RFC 1123 subdomains (object names)
    (v.dns1123_subdomain_errors, "weather-7f3a", True),
    (v.dns1123_subdomain_errors, "a.b.c", True),
    (v.dns1123_subdomain_errors, "a" * 253, True),
    (v.dns1123_subdomain_errors, "a" * 254, False),
    (v.dns1123_subdomain_errors, "a..b", False),
    (v.dns1123_subdomain_errors, ".a", False),
    (v.dns1123_subdomain_errors, "a.", False),
    (v.dns1123_subdomain_errors, "Weather", False),
    (v.dns1123_subdomain_errors, "a b", False),
    (v.dns1123_subdomain_errors, "", False),
    # label keys
    (v.qualified_name_errors, "team", True),
    (v.qualified_name_errors, "Team_A.b-c", True),
    (v.qualified_name_errors, "example.com/team", True),
    (v.qualified_name_errors, "k" * 63, True),
    (v.qualified_name_errors, "k" * 64, False),
    (v.qualified_name_errors, "/team", False),
    (v.qualified_name_errors, "example.com/", False),
    (v.qualified_name_errors, "a/b/c", False),
    (v.qualified_name_errors, "Example.com/team", False),
    (v.qualified_name_errors, "_team", False),
    (v.qualified_name_errors, "team_", False),
    (v.qualified_name_errors, "", False),
    # label values
    (v.label_value_errors, "", True),
    (v.label_value_errors, "prod", True),
    (v.label_value_errors, "1.2.3", True),
    (v.label_value_errors, "A_b-C.d", True),
    (v.label_value_errors, "v" * 63, True),
    (v.label_value_errors, "v" * 64, False),
    (v.label_value_errors, "-prod", False),
    (v.label_value_errors, "prod.", False),
    (v.label_value_errors, "a b", False),
    (v.label_value_errors, "a/b", False),
    # capability names
    (v.capability_name_errors, "weather.forecast", True),
    (v.capability_name_errors, "geo.lookup_v2", True),
    (v.capability_name_errors, "files.read-file", True),
    (v.capability_name_errors, "_private.x", True),
    (v.capability_name_errors, "single", True),
    (v.capability_name_errors, "a" * 253, True),
    (v.capability_name_errors, "a" * 254, False),
    (v.capability_name_errors, "", False),
    (v.capability_name_errors, ".weather", False),
    (v.capability_name_errors, "weather.", False),
    (v.capability_name_errors, "weather..forecast", False),
    (v.capability_name_errors, "weather.-x", False),
    (v.capability_name_errors, "weather forecast", False),
    (v.capability_name_errors, "weather/forecast", False),
    # MCP tool names
    (v.tool_name_errors, "forecast", True),
    (v.tool_name_errors, "get-weather.v2_x", True),
    (v.tool_name_errors, "t" * 128, True),
    (v.tool_name_errors, "t" * 129, False),
    (v.tool_name_errors, "", False),
    (v.tool_name_errors, "get weather", False),
    # tags
    (v.tag_errors, "fast", True),
    (v.tag_errors, "eu-west.1", True),
    (v.tag_errors, "gpu_a100", True),
    (v.tag_errors, "Fast", False),
    (v.tag_errors, "+fast", False),
    (v.tag_errors, "", False),
    (v.tag_errors, "t" * 64, False),
]


@pytest.mark.parametrize(("check", "value", "valid"), CASES)
def test_rules(check: Callable[[str], list[str]], value: str, valid: bool) -> None:
    problems = check(value)
    assert (problems == []) is valid, problems
    assert all(isinstance(p, str) and p for p in problems)
