"""Logging set-up: readable text, or one JSON object per line for log collectors.

Whatever the format, credentials in URLs are redacted from every line (an access log writes the
query strings clients send, and a client may put a token there even though it is refused).
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


def redact(text: str) -> str:
    """``text`` with the values of credential-like URL query parameters replaced."""
    if "=" not in text:
        return text
    return _CREDENTIAL_PARAMETER.sub(lambda match: match.group(1) + REDACTED, text)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


# Attributes every LogRecord has; anything else was passed in `extra=` and is kept as a field.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
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
        return redact(json.dumps(entry, default=str))


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
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
