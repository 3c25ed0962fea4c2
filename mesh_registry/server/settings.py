"""Settings of the HTTP face of the registry (the service has its own, in ``config.py``)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ServerSettings:
    max_body_size: int = 1024 * 1024  # bytes; larger request bodies get 413
    watch_keepalive: float = 15.0  # seconds between SSE comment lines on a quiet watch
    watch_send_timeout: float = 30.0  # a watcher whose socket takes no data this long is dropped
    metrics: bool = True  # serve /metrics
    protect_metrics: bool = False  # /metrics needs a token too (when tokens are configured)
    rate_limit: str | None = None  # requests per subject, e.g. "100/second"; None: no limit
    watches_per_subject: int | None = None  # open watches per subject; None: no limit

    def __post_init__(self) -> None:
        if self.max_body_size < 1:
            raise ValueError("max_body_size must be at least 1 byte")
        if self.watch_keepalive <= 0:
            raise ValueError("watch keepalive must be positive (seconds)")
        if self.watch_send_timeout <= 0:
            raise ValueError("watch send timeout must be positive (seconds)")
        if self.watches_per_subject is not None and self.watches_per_subject < 1:
            raise ValueError("watches per subject must be at least 1")
