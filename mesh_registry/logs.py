"""Logging set-up: readable text, or one JSON object per line for log collectors.

Whatever the format, every line is safe to read and to parse:

- each record is exactly one line: control characters from any source (a name in a request
  path, a value in a header) are escaped, so that nobody can forge a second line, or colour a
  terminal; a traceback's own lines are indented under the record they belong to;
- credentials in URLs are redacted (an access log writes the query strings clients send, and a
  client may put a token there even though it is refused);
- libraries that install handlers of their own (FastMCP prints through Rich) are routed through
  the same handler, so a JSON log holds nothing but JSON lines.
"""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]

# Query parameters that carry credentials by common convention (OAuth, API keys, signed URLs).
_CREDENTIAL_PARAMETER = re.compile(
    r"(?i)([?&;](?:access_token|refresh_token|id_token|token|api[-_]?key|key|secret"
    r"|client_secret|password|passwd|pwd|auth|authorization|credentials?|session(?:_?id)?"
    r"|sig|signature|x-amz-signature|x-goog-signature)=)[^&#\s\"']*"
)
REDACTED = "[REDACTED]"
# C0 controls, DEL and C1 controls, and the Unicode line and paragraph separators.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
# Libraries that log through handlers of their own unless told otherwise.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "fastmcp")


def redact(text: str) -> str:
    """``text`` with the values of credential-like URL query parameters replaced."""
    if "=" not in text:
        return text
    return _CREDENTIAL_PARAMETER.sub(lambda match: match.group(1) + REDACTED, text)


def escape_controls(text: str) -> str:
    """``text`` with every control character written as an escape (``\\n``, ``\\x1b``)."""
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(char) or f"\\x{ord(char):02x}"


def _safe(text: str) -> str:
    return redact(escape_controls(text))


class TextFormatter(logging.Formatter):
    """One line per record; a traceback follows on indented lines, escaped line by line."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = _safe(record.getMessage())
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info:
            trace = self.formatException(record.exc_info)
            line += "".join(f"\n    {_safe(part)}" for part in trace.splitlines())
        return line


# Attributes every LogRecord has; anything else was passed in `extra=` and is kept as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line (JSON escapes control characters itself)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        for key, value in entry.items():
            if isinstance(value, str):
                entry[key] = redact(value)
        # ensure_ascii: the line separators U+2028/9 too are written as escapes.
        return redact(json.dumps(entry, default=str, ensure_ascii=True))


def configure(level: str = "info", log_format: LogFormat = "text") -> None:
    """Route every logger (uvicorn's included) to one handler on stderr."""
    handler = logging.StreamHandler()
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    adopt_library_loggers()


def configure_unless_configured() -> None:
    """For agents: text lines on stderr, unless the program set up logging itself. httpx's
    line per request is noise there (one per heartbeat and per call)."""
    if logging.getLogger().handlers:
        return
    configure("info", "text")
    logging.getLogger("httpx").setLevel(logging.WARNING)


def adopt_library_loggers() -> None:
    """Route the libraries' loggers through the root handler. Call again after importing one
    that sets itself up on import (FastMCP)."""
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
        logger.setLevel(logging.NOTSET)
