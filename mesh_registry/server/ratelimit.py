"""Requests per subject: a fixed window per key, from the ``limits`` package."""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage
from limits.strategies import FixedWindowRateLimiter

from mesh_registry.errors import TooManyRequests


class RateLimit:
    """At most ``rate`` requests (``"100/second"``) per subject, or per client address for
    requests without a known subject."""

    def __init__(self, rate: str) -> None:
        try:
            self._item: RateLimitItem = parse(rate)
        except ValueError:
            raise ValueError(f"rate limit {rate!r}: expected e.g. 100/second") from None
        self._limiter = FixedWindowRateLimiter(MemoryStorage())
        self.rate = rate

    def check(self, key: str) -> None:
        if self._limiter.hit(self._item, key):
            return
        reset = self._limiter.get_window_stats(self._item, key).reset_time
        raise TooManyRequests.after(
            f"too many requests (the limit is {self.rate})", math.ceil(reset - time.time())
        )
