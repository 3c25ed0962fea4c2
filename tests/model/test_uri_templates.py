"""Which URIs a resource template serves (RFC 6570 templates read as patterns)."""

from __future__ import annotations

import pytest

from mesh_registry.uri_templates import fits


@pytest.mark.parametrize(
    ("template", "uri", "fit"),
    [
        ("notes://{name}", "notes://first", True),
        ("notes://{name}", "notes://", True),  # an empty expansion is an expansion
        ("notes://{name}", "notes://a/b", False),  # one segment
        ("notes://{+path}", "notes://a/b", True),  # reserved: slashes too
        ("file:///srv/{dir}/{file}.txt", "file:///srv/x/y.txt", True),
        ("file:///srv/{dir}/{file}.txt", "file:///srv/x/y.md", False),
        ("search://q{?term,page}", "search://q?term=x&page=2", True),
        ("notes://{name}", "other://first", False),
        ("notes://fixed", "notes://fixed", True),
        ("a.b://{x}", "aXb://y", False),  # the template's text is literal, dots included
        ("notes://{name}#{#frag}", "notes://n#x/y", True),
    ],
)
def test_which_uris_a_template_serves(template: str, uri: str, fit: bool) -> None:
    assert fits(template, uri) is fit
