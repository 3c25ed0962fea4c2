"""Name rules: Kubernetes' (``apimachinery/pkg/util/validation``) plus the mesh's own.

Each check returns a list of problems (empty when the value is valid), so that callers can report
every problem with the field it belongs to. Messages follow Kubernetes' wording, which operators
already know.
"""

from __future__ import annotations

import re

DNS1123_LABEL_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
CAPABILITY_NAME_MAX_LENGTH = 253
TOOL_NAME_MAX_LENGTH = 128
TAG_MAX_LENGTH = 63

_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_SUBDOMAIN_FMT = rf"{_DNS1123_LABEL_FMT}(\.{_DNS1123_LABEL_FMT})*"
_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_VALUE_FMT = f"({_QUALIFIED_NAME_FMT})?"
_CAPABILITY_SEGMENT_FMT = "[A-Za-z0-9_]([-A-Za-z0-9_]*[A-Za-z0-9_])?"
_CAPABILITY_NAME_FMT = rf"{_CAPABILITY_SEGMENT_FMT}(\.{_CAPABILITY_SEGMENT_FMT})*"
_TOOL_NAME_FMT = "[A-Za-z0-9_.-]+"
_TAG_FMT = "[a-z0-9]([-a-z0-9_.]*[a-z0-9])?"

# The same rules as JSON-Schema patterns, for the API's published schemas.
DNS1123_LABEL_PATTERN = f"^{_DNS1123_LABEL_FMT}$"
DNS1123_SUBDOMAIN_PATTERN = f"^{_DNS1123_SUBDOMAIN_FMT}$"
QUALIFIED_NAME_PATTERN = f"^({_DNS1123_SUBDOMAIN_FMT}/)?{_QUALIFIED_NAME_FMT}$"
LABEL_VALUE_PATTERN = f"^{_LABEL_VALUE_FMT}$"
CAPABILITY_NAME_PATTERN = f"^{_CAPABILITY_NAME_FMT}$"
TOOL_NAME_PATTERN = f"^{_TOOL_NAME_FMT}$"
TAG_PATTERN = "^[a-z0-9]([-a-z0-9_.]{0,61}[a-z0-9])?$"  # bounded: at most 63 characters
# semver.org's pattern for a version (ECMA-262 compatible).
SEMVER_PATTERN = (
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)

_DNS1123_LABEL = re.compile(_DNS1123_LABEL_FMT)
_DNS1123_SUBDOMAIN = re.compile(_DNS1123_SUBDOMAIN_FMT)
_QUALIFIED_NAME = re.compile(_QUALIFIED_NAME_FMT)
_LABEL_VALUE = re.compile(_LABEL_VALUE_FMT)
_CAPABILITY_NAME = re.compile(_CAPABILITY_NAME_FMT)
_TOOL_NAME = re.compile(_TOOL_NAME_FMT)
_TAG = re.compile(_TAG_FMT)


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
