"""Versions and version ranges (npm semantics), table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mesh_registry.versions import (
    VersionError,
    VersionRange,
    parse_version,
    parse_version_range,
    precedence_key,
)

RANGES = [
    (">=1.2 <2", "1.2.0", True),
    (">=1.2 <2", "1.9.9", True),
    (">=1.2 <2", "2.0.0", False),
    (">=1.2 <2", "1.1.9", False),
    (">=1.2 <2", "1.5.0-beta", False),  # prereleases need a range that names one
    ("^1.2", "1.2.0", True),
    ("^1.2", "1.99.0", True),
    ("^1.2", "2.0.0", False),
    ("^1.2", "1.1.0", False),
    ("^0.2.3", "0.2.5", True),
    ("^0.2.3", "0.3.0", False),
    ("~1.2.3", "1.2.3", True),
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2", "1.2.7", True),
    ("1.2.3", "1.2.3", True),
    ("1.2.3", "1.2.4", False),
    ("=1.2.3", "1.2.3", True),
    ("*", "0.0.1", True),
    ("*", "3.0.0-rc.1", False),
    ("", "7.0.0", True),
    ("1.x", "1.7.0", True),
    ("1.x", "2.0.0", False),
    ("1.x || >=3", "3.1.0", True),
    ("1.x || >=3", "2.5.0", False),
    ("1.2 - 2.3", "2.3.9", True),
    ("1.2 - 2.3", "2.4.0", False),
    (">=1.2.0-beta <2", "1.2.0-beta.2", True),
    (">=1.2.0-beta <2", "1.3.0-beta", False),
    (">1.0.0", "1.0.0+build.7", False),  # build metadata does not count
    ("^1.2", "not-a-version", False),
]


@pytest.mark.parametrize(("spec", "version", "expected"), RANGES)
def test_range_matches(spec: str, version: str, expected: bool) -> None:
    assert VersionRange(spec).matches(version) is expected


@pytest.mark.parametrize("spec", ["abc", ">>1", "1.2.3.4", "^", ">=1.2 <", "~>1.2", "1.2.3 ||| 2"])
def test_range_rejects(spec: str) -> None:
    with pytest.raises(VersionError, match="invalid version range"):
        parse_version_range(spec)


@pytest.mark.parametrize(
    "text", ["1.0.0", "0.0.1", "1.4.0", "2.0.0-rc.1", "1.0.0-alpha+001", "10.20.30"]
)
def test_versions_accepted(text: str) -> None:
    assert str(parse_version(text)) == text


@pytest.mark.parametrize(
    "text", ["1.0", "1", "01.2.3", "1.2.3.4", "v1.2.3", "", "1.2.3-", "latest"]
)
def test_versions_rejected(text: str) -> None:
    with pytest.raises(VersionError, match="invalid semantic version"):
        parse_version(text)


@pytest.mark.parametrize(
    ("older", "newer"),
    [
        ("1.0.0", "1.0.1"),
        ("1.9.0", "1.10.0"),
        ("1.0.0-rc.1", "1.0.0"),
        ("1.0.0-alpha", "1.0.0-beta"),
    ],
)
def test_version_order(older: str, newer: str) -> None:
    assert parse_version(older) < parse_version(newer)


def test_any_range() -> None:
    assert VersionRange("").any
    assert VersionRange("*").any
    assert not VersionRange("^1").any
    assert str(VersionRange("  ^1.2 ")) == "^1.2"


@given(st.text(max_size=30))
def test_fuzz_range_raises_only_version_error(text: str) -> None:
    try:
        VersionRange(text)
    except VersionError:
        pass


versions = st.builds(
    lambda major, minor, patch, pre: f"{major}.{minor}.{patch}" + (f"-{pre}" if pre else ""),
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    st.one_of(
        st.just(""),
        st.lists(
            st.one_of(
                st.from_regex(r"[1-9][0-9]?|0", fullmatch=True),
                st.sampled_from(["a", "b", "rc", "alpha"]),
            ),
            min_size=1,
            max_size=3,
        ).map(".".join),
    ),
)


@given(versions, versions)
def test_precedence_key_orders_as_semver(a: str, b: str) -> None:
    va, vb = parse_version(a), parse_version(b)
    ka, kb = precedence_key(a), precedence_key(b)
    assert (ka < kb) == (va < vb)
    assert (ka == kb) == (va == vb)
