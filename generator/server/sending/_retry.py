"""When and how long to wait before a request is tried again: 429 waits for `Retry-After`; 5xx,
timeouts and dropped connections back off exponentially with jitter; some answers stop the run.
Every event carries a `unique_id`, so a retry of a request that did arrive is deduplicated by
Klaviyo."""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass

__all__ = ["RetryPolicy", "parse_retry_after", "RETRY_STATUSES", "FATAL_STATUSES"]


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries. `max_attempts` counts every try of one request (1 = never retry).

    429: wait `Retry-After` (plus up to `retry_after_jitter` of it, never less), and hold every
    other request too. 5xx, timeouts and dropped connections: `base_delay * 2**(n-1)` capped at
    `max_delay`, with "equal jitter" (a random point in the upper half), so a crowd of workers
    that failed together does not come back together.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    retry_after_jitter: float = 0.1
    retry_after_default: float = 1.0  # a 429 without a usable Retry-After

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be ≥ 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 ≤ base_delay ≤ max_delay")

    def backoff(self, failures: int, rng: random.Random) -> float:
        """The wait after the `failures`-th failed attempt (1-based)."""
        cap = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
        return cap / 2 + rng.uniform(0, cap / 2)

    def after_throttle(self, retry_after: float | None, rng: random.Random) -> float:
        wait = self.retry_after_default if retry_after is None else retry_after
        return wait + rng.uniform(0, self.retry_after_jitter * max(wait, 1.0))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header: Klaviyo sends whole seconds; a decimal or an HTTP
    date is read too (the SDK would crash on `1.5`; we do not). None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


# Answers that mean "the same request may succeed later".
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
# Answers that mean every further request fails the same way: stop the run, keep the rest.
FATAL_STATUSES = {
    401: "the private key was refused (401): check KLAVIYO_PRIVATE_KEY",
    403: "the private key lacks a permission (403): give it the scope this endpoint needs "
         "(events:write for orders sync, catalogs:write for catalog push)",
    404: "no such endpoint (404): check --api-url",
    405: "method not allowed (405): check --api-url",
    410: "this endpoint is retired (410)",
    415: "the server refused the content type (415)",
}
