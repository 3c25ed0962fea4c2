"""Capability versions (semver 2.0) and version constraints (npm-style ranges).

Ranges use npm's syntax, which most developers already write: ``>=1.2 <2``, ``^1.2``, ``~1.2.3``,
``1.2.3``, ``1.x``, ``1.2 - 2.3``, ``a || b`` and ``*`` (or the empty string) for any version.
As in npm, a prerelease such as ``2.0.0-rc.1`` only satisfies a range that names a prerelease of
the same ``major.minor.patch``. The parsing and matching are ``semantic_version``'s; this module
gives them a small typed face and caches, because discovery evaluates them for every candidate.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TypeAlias

import semantic_version

Version: TypeAlias = semantic_version.Version  # the package ships no type hints


class VersionError(ValueError):
    """A version or version range that cannot be parsed."""


@lru_cache(maxsize=65536)
def parse_version(text: str) -> Version:
    """A strict semver 2.0 version (``1.4.0``, ``2.0.0-rc.1+build.5``)."""
    try:
        version: Version = Version(text)
    except ValueError as error:
        raise VersionError(f"invalid semantic version {text!r}: {error}") from None
    return version


PrecedenceKey = tuple[int, int, int, int, tuple[tuple[int, int, str], ...]]


@lru_cache(maxsize=65536)
def precedence_key(text: str) -> PrecedenceKey:
    """A tuple that sorts versions by semver 2.0 precedence (build metadata ignored).

    Plain tuples compare in C, which matters when discovery sorts many providers. A release
    sorts after its prereleases; prerelease identifiers compare numerically when numeric,
    lexically otherwise, and numeric ones sort first.
    """
    version = parse_version(text)
    if not version.prerelease:
        return (version.major, version.minor, version.patch, 1, ())
    identifiers = tuple(
        (0, int(part), "") if part.isdigit() else (1, 0, part) for part in version.prerelease
    )
    return (version.major, version.minor, version.patch, 0, identifiers)


class VersionRange:
    """A set of versions, written as an npm range."""

    __slots__ = ("_spec", "_text")

    def __init__(self, text: str) -> None:
        self._text = text.strip()
        try:
            self._spec = semantic_version.NpmSpec(self._text or "*")
        except ValueError as error:
            raise VersionError(f"invalid version range {text!r}: {error}") from None

    @property
    def any(self) -> bool:
        """Whether every release version matches (the range is ``*`` or empty)."""
        return self._text in ("", "*")

    def matches(self, version: str | Version) -> bool:
        """Whether ``version`` is in the range; an unparseable version is not."""
        if isinstance(version, str):
            try:
                version = parse_version(version)
            except VersionError:
                return False
        return version in self._spec

    def __str__(self) -> str:
        return self._text or "*"

    def __repr__(self) -> str:
        return f"VersionRange({self._text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VersionRange) and self._text == other._text

    def __hash__(self) -> int:
        return hash(self._text)


@lru_cache(maxsize=4096)
def parse_version_range(text: str) -> VersionRange:
    """A cached :class:`VersionRange`; raise :class:`VersionError` when invalid."""
    return VersionRange(text)
