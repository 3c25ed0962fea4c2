"""Name rules: Kubernetes' (``apimachinery/pkg/util/validation``) plus the mesh's own.

Each check returns a list of problems (empty when the value is valid), so that callers can report
every problem with the field it belongs to. Messages follow Kubernetes' wording, which operators
already know.

Each rule is also published as a JSON Schema (:meth:`Rule.schema`) in the OpenAPI document and
the MCP tools' schemas. The schema and the check are built from the same regular expression and
length, and a property test holds them to accepting exactly the same strings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
CAPABILITY_NAME_MAX_LENGTH = 253
TOOL_NAME_MAX_LENGTH = 128
TAG_MAX_LENGTH = 63
VERSION_MAX_LENGTH = 256
ENDPOINT_MAX_LENGTH = 2048
RESOURCE_URI_MAX_LENGTH = 2048
MIME_TYPE_MAX_LENGTH = 255

# Character classes are spelled out in ASCII: \d, \w and \s match other scripts' characters
# in Python's engine but not in ECMA-262's, which JSON Schema validators follow.
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_CAPABILITY_SEGMENT_FMT = "[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?"
_CAPABILITY_NAME_FMT = rf"{_CAPABILITY_SEGMENT_FMT}(\.{_CAPABILITY_SEGMENT_FMT})*"
_TOOL_NAME_FMT = "[A-Za-z0-9_.-]+"
_TAG_FMT = "[a-z0-9]([-a-z0-9_.]*[a-z0-9])?"
# An absolute URI (or an RFC 6570 template of one): a scheme, ':', then printable ASCII only
# (no spaces or control characters; anything else percent-encoded).
_RESOURCE_URI_FMT = "[A-Za-z][A-Za-z0-9+.-]*:[!-~]*"
# RFC 6838: type/subtype, each a restricted name (parameters are not part of it here).
_MIME_NAME = "[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MIME_TYPE_FMT = f"{_MIME_NAME}/{_MIME_NAME}"
# semver.org's grammar, with [0-9] for \d.
_NUMBER = "(0|[1-9][0-9]*)"
_PRERELEASE_PART = "(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_BUILD_PART = "[0-9A-Za-z-]+"
_SEMVER_FMT = (
    rf"{_NUMBER}\.{_NUMBER}\.{_NUMBER}"
    rf"(-{_PRERELEASE_PART}(\.{_PRERELEASE_PART})*)?"
    rf"(\+{_BUILD_PART}(\.{_BUILD_PART})*)?"
)
# RFC 3986, for http(s) only: scheme://[userinfo@]host[:port][/path][?query][#fragment], with
# a registered name, an IPv4 address or a bracketed IPv6 address as the host, a port of 1 to
# 65535, and nothing outside the URI character set (no spaces, no raw non-ASCII).
_PCT = "%[0-9A-Fa-f]{2}"
_UNRESERVED_SUB_DELIMS = "A-Za-z0-9._~!$&'()*+,;="
_USERINFO = f"([{_UNRESERVED_SUB_DELIMS}:-]|{_PCT})*@"
_REG_NAME = f"([{_UNRESERVED_SUB_DELIMS}-]|{_PCT})+"
_OCTET = "(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(\.{_OCTET}){{3}}"
_H16 = "[0-9A-Fa-f]{1,4}"
_LS32 = f"({_H16}:{_H16}|{_IPV4})"
_IPV6 = "|".join(
    [
        f"({_H16}:){{6}}{_LS32}",
        f"::({_H16}:){{5}}{_LS32}",
        f"({_H16})?::({_H16}:){{4}}{_LS32}",
        f"(({_H16}:){{0,1}}{_H16})?::({_H16}:){{3}}{_LS32}",
        f"(({_H16}:){{0,2}}{_H16})?::({_H16}:){{2}}{_LS32}",
        f"(({_H16}:){{0,3}}{_H16})?::{_H16}:{_LS32}",
        f"(({_H16}:){{0,4}}{_H16})?::{_LS32}",
        f"(({_H16}:){{0,5}}{_H16})?::{_H16}",
        f"(({_H16}:){{0,6}}{_H16})?::",
    ]
)
_HOST = rf"({_REG_NAME}|\[({_IPV6})\])"
_PORT = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_PCHAR = f"([{_UNRESERVED_SUB_DELIMS}:@-]|{_PCT})"
_ENDPOINT_FMT = (
    f"[Hh][Tt][Tt][Pp][Ss]?://({_USERINFO})?{_HOST}(:{_PORT})?"
    rf"(/({_PCHAR}|/)*)?(\?({_PCHAR}|[/?])*)?(#({_PCHAR}|[/?])*)?"
)


@dataclass(frozen=True, slots=True)
class Rule:
    """A rule on a string: a regular expression the whole value matches, and a length.

    ``also`` holds further expressions the value must match, for what one expression cannot
    say without lookarounds, which Rust's and Go's regex engines (and so pydantic's, and
    FastMCP's client) do not support.
    """

    fmt: str
    max_length: int | None = None
    also: tuple[str, ...] = ()

    def schema(self, *, optional: bool = False) -> dict[str, Any]:
        """The rule as a JSON Schema (a fresh dict); ``optional``: the empty string too.

        Patterns are anchored with ``^…$``, which mean the start and end of the value in
        ECMA-262's engine (which JSON Schema specifies) and in Rust's. Python's ``re.search``,
        which the ``jsonschema`` package uses, also lets ``$`` match before a final newline:
        there a value with one trailing newline passes the pattern, and only the registry
        refuses it.
        """
        fmt = f"({self.fmt})?" if optional else self.fmt
        schema: dict[str, Any] = {"type": "string", "pattern": f"^({fmt})$"}
        if self.also:
            schema["allOf"] = [{"pattern": also} for also in self.also]
        if self.max_length is not None:
            schema["maxLength"] = self.max_length
        return schema


DNS1123_LABEL = Rule(_DNS1123_LABEL_FMT, DNS1123_LABEL_MAX_LENGTH)
DNS1123_SUBDOMAIN = Rule(_DNS1123_SUBDOMAIN_FMT, DNS1123_SUBDOMAIN_MAX_LENGTH)
# An optional prefix, a DNS subdomain of at most 253 characters (the second expression), then
# a name of at most 63.
QUALIFIED_NAME = Rule(
    rf"({_DNS1123_SUBDOMAIN_FMT}/)?"
    rf"([A-Za-z0-9][-A-Za-z0-9_.]{{0,{QUALIFIED_NAME_MAX_LENGTH - 2}}})?[A-Za-z0-9]",
    also=(f"^([^/]*$|[^/]{{1,{DNS1123_SUBDOMAIN_MAX_LENGTH}}}/)",),
)
LABEL_VALUE = Rule(_LABEL_VALUE_FMT, LABEL_VALUE_MAX_LENGTH)
CAPABILITY_NAME = Rule(_CAPABILITY_NAME_FMT, CAPABILITY_NAME_MAX_LENGTH)
TOOL_NAME = Rule(_TOOL_NAME_FMT, TOOL_NAME_MAX_LENGTH)
TAG = Rule(_TAG_FMT, TAG_MAX_LENGTH)
# In queries and dependencies: "x" required, "+x" preferred, "-x" excluded; the length of the
# tag after its sign is bounded in the expression itself.
TAG_FILTER = Rule(f"[+-]?[a-z0-9]([-a-z0-9_.]{{0,{TAG_MAX_LENGTH - 2}}}[a-z0-9])?")
SEMVER = Rule(_SEMVER_FMT, VERSION_MAX_LENGTH)
ENDPOINT = Rule(_ENDPOINT_FMT, ENDPOINT_MAX_LENGTH)
RESOURCE_URI = Rule(_RESOURCE_URI_FMT, RESOURCE_URI_MAX_LENGTH)
MIME_TYPE = Rule(_MIME_TYPE_FMT, MIME_TYPE_MAX_LENGTH)

_DNS1123_LABEL = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT)
_QUALIFIED_NAME = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)
_CAPABILITY_NAME = re.compile(_CAPABILITY_NAME_FMT)
_TOOL_NAME = re.compile(_TOOL_NAME_FMT)
_TAG = re.compile(_TAG_FMT)
_SEMVER = re.compile(_SEMVER_FMT)
_ENDPOINT = re.compile(_ENDPOINT_FMT)
_RESOURCE_URI = re.compile(_RESOURCE_URI_FMT)
_MIME_TYPE = re.compile(_MIME_TYPE_FMT)


def nesting_depth(value: Any, limit: int) -> int:
    """How deeply arrays and objects nest in the JSON value ``value`` (a scalar is 0), counted
    without recursion and only up to ``limit + 1``: enough to say that it is too deep."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > limit:
                    return deepest
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth) for child in children)
    return deepest


def nests_deeper_than(text: bytes | bytearray, document: Any, limit: int) -> bool:
    """Whether ``document``, parsed from the JSON ``text``, nests arrays and objects more than
    ``limit`` levels deep.

    Every level opens with a bracket, so a text with at most ``limit`` of them cannot: counted
    as bytes (in C), in any encoding JSON may come in, and inside strings too, which only errs
    high. Only a document with more brackets than that is walked.
    """
    if text.count(b"[") + text.count(b"{") <= limit:
        return False
    return nesting_depth(document, limit) > limit


def max_length_error(limit: int) -> str:
    return f"must be no more than {limit} characters"


def empty_error() -> str:
    return "must be non-empty"


def regex_error(message: str, fmt: str, *examples: str) -> str:
    shown = ", ".join(f"'{example}'" for example in examples)
    return f"{message} (e.g. {shown}; regex used for validation is '{fmt}')"


def _matches(pattern: re.Pattern[str], value: str) -> bool:
    # fullmatch, not match + '$': Python's '$' also accepts a trailing newline.
    return pattern.fullmatch(value) is not None


def dns1123_label_errors(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1123 label (namespaces)."""
    errors = []
    if len(value) > DNS1123_LABEL_MAX_LENGTH:
        errors.append(max_length_error(DNS1123_LABEL_MAX_LENGTH))
    if not _matches(_DNS1123_LABEL, value):
        errors.append(
            regex_error(
                "a lowercase RFC 1123 label must consist of lower case alphanumeric characters"
                " or '-', and must start and end with an alphanumeric character",
                _DNS1123_LABEL_FMT,
                "my-name",
                "123-abc",
            )
        )
    return errors


def dns1123_subdomain_errors(value: str) -> list[str]:
    """Problems with ``value`` as an RFC 1123 subdomain (object names, label key prefixes)."""
    errors = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errors.append(max_length_error(DNS1123_SUBDOMAIN_MAX_LENGTH))
    if not _matches(_DNS1123_SUBDOMAIN, value):
        errors.append(
            regex_error(
                "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric"
                " characters, '-' or '.', and must start and end with an alphanumeric character",
                _DNS1123_SUBDOMAIN_FMT,
                "example.com",
            )
        )
    return errors


def qualified_name_errors(value: str) -> list[str]:
    """Problems with ``value`` as a label or annotation key: ``[prefix/]name``."""
    errors: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errors.append("prefix part " + empty_error())
        else:
            errors.extend("prefix part " + e for e in dns1123_subdomain_errors(prefix))
    else:
        return [
            "a qualified name "
            + regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start"
                " and end with an alphanumeric character",
                _QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
            + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        ]
    if not name:
        errors.append("name part " + empty_error())
    elif len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errors.append("name part " + max_length_error(QUALIFIED_NAME_MAX_LENGTH))
    if not _matches(_QUALIFIED_NAME, name):
        errors.append(
            "name part "
            + regex_error(
                "must consist of alphanumeric characters, '-', '_' or '.', and must start"
                " and end with an alphanumeric character",
                _QUALIFIED_NAME_FMT,
                "MyName",
                "my.name",
                "123-abc",
            )
        )
    return errors


def label_value_errors(value: str) -> list[str]:
    """Problems with ``value`` as a label value (may be empty)."""
    errors = []
    if len(value) > LABEL_VALUE_MAX_LENGTH:
        errors.append(max_length_error(LABEL_VALUE_MAX_LENGTH))
    if not _matches(_LABEL_VALUE, value):
        errors.append(
            regex_error(
                "a valid label must be an empty string or consist of alphanumeric characters,"
                " '-', '_' or '.', and must start and end with an alphanumeric character",
                _LABEL_VALUE_FMT,
                "MyValue",
                "my_value",
                "12345",
            )
        )
    return errors


def capability_name_errors(value: str) -> list[str]:
    """Problems with ``value`` as a capability name: dot-separated identifiers."""
    errors = []
    if len(value) > CAPABILITY_NAME_MAX_LENGTH:
        errors.append(max_length_error(CAPABILITY_NAME_MAX_LENGTH))
    if not _matches(_CAPABILITY_NAME, value):
        errors.append(
            regex_error(
                "a capability name must be dot-separated segments of alphanumeric characters,"
                " '_' or '-', each starting and ending with an alphanumeric character or '_'",
                _CAPABILITY_NAME_FMT,
                "weather.forecast",
                "geo.lookup_v2",
            )
        )
    return errors


def tool_name_errors(value: str) -> list[str]:
    """Problems with ``value`` as an MCP tool name."""
    errors = []
    if len(value) > TOOL_NAME_MAX_LENGTH:
        errors.append(max_length_error(TOOL_NAME_MAX_LENGTH))
    if not _matches(_TOOL_NAME, value):
        errors.append(
            regex_error(
                "an MCP tool name must consist of alphanumeric characters, '_', '-' or '.'",
                _TOOL_NAME_FMT,
                "forecast",
                "get-weather",
            )
        )
    return errors


def tag_errors(value: str) -> list[str]:
    """Problems with ``value`` as a capability tag."""
    errors = []
    if len(value) > TAG_MAX_LENGTH:
        errors.append(max_length_error(TAG_MAX_LENGTH))
    if not _matches(_TAG, value):
        errors.append(
            regex_error(
                "a tag must consist of lower case alphanumeric characters, '-', '_' or '.',"
                " and must start and end with an alphanumeric character",
                _TAG_FMT,
                "fast",
                "gpu",
                "eu-west",
            )
        )
    return errors


def version_errors(value: str) -> list[str]:
    """Problems with ``value`` as a semantic version (semver 2.0)."""
    errors = []
    if len(value) > VERSION_MAX_LENGTH:
        errors.append(max_length_error(VERSION_MAX_LENGTH))
    if not _matches(_SEMVER, value):
        errors.append(
            regex_error(
                "a version must be a semantic version: MAJOR.MINOR.PATCH, then optionally"
                " -PRERELEASE and +BUILD",
                "semver.org",
                "1.4.0",
                "2.0.0-rc.1",
            )
        )
    return errors


def endpoint_errors(value: str) -> list[str]:
    """Problems with ``value`` as an agent's endpoint: an absolute http(s) URL."""
    if len(value) > ENDPOINT_MAX_LENGTH:
        return [max_length_error(ENDPOINT_MAX_LENGTH)]
    if not _matches(_ENDPOINT, value):
        return [
            "must be an absolute http:// or https:// URL: scheme://[user@]host[:port][/path]"
            "[?query][#fragment], the host a name, an IPv4 address or a bracketed IPv6"
            " address, the port 1 to 65535, and only URI characters (no spaces; percent-encode"
            " anything else)"
        ]
    return []


def resource_uri_errors(value: str) -> list[str]:
    """Problems with ``value`` as an MCP resource URI or URI template."""
    if len(value) > RESOURCE_URI_MAX_LENGTH:
        return [max_length_error(RESOURCE_URI_MAX_LENGTH)]
    if not _matches(_RESOURCE_URI, value):
        return [
            regex_error(
                "must be an absolute URI: a scheme, ':', then printable ASCII characters only"
                " (no spaces; percent-encode anything else)",
                _RESOURCE_URI_FMT,
                "file:///srv/notes.txt",
                "notes://{id}",
            )
        ]
    return []


def mime_type_errors(value: str) -> list[str]:
    """Problems with ``value`` as a MIME type (``type/subtype``)."""
    if len(value) > MIME_TYPE_MAX_LENGTH:
        return [max_length_error(MIME_TYPE_MAX_LENGTH)]
    if not _matches(_MIME_TYPE, value):
        return [regex_error("must be a MIME type", _MIME_TYPE_FMT, "text/plain")]
    return []
