"""Klaviyo's rate limits (fixed windows per account and endpoint) and scripted faults.

Both are off by default. Rate limits follow the docs: two fixed windows, burst (1 s) and steady
(1 min), counted per account; a 429 carries an integer `Retry-After` (the official SDK parses it
with `int()`). Faults let a client's tests say "the next 3 requests get a 429".
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from klaviyo_snippets.harness.standin import wire

# "slow": the request is answered as usual, `delay` seconds late (a slow network or Klaviyo).
FAULT_KINDS = ("429", "400", "403", "500", "503", "504", "524", "drop", "slow")


@dataclass(frozen=True)
class Limit:
    burst_per_second: int
    steady_per_minute: int


class RateLimits:
    """Limits per endpoint path. `RateLimits.klaviyo()` gives Klaviyo's own values."""

    def __init__(self, limits: dict[str, Limit], *, clock=time.time):
        self.limits = dict(limits)
        self._clock = clock
        self._counts: dict[tuple, int] = {}
        self._lock = threading.Lock()

    @classmethod
    def klaviyo(cls, *, scale: float = 1.0, clock=time.time) -> "RateLimits":
        """Klaviyo's published limits, optionally scaled (a benchmark may want them higher)."""
        return cls(
            {
                path: Limit(max(1, int(e.burst_per_second * scale)), max(1, int(e.steady_per_minute * scale)))
                for path, e in wire.ENDPOINTS.items()
            },
            clock=clock,
        )

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def take(self, account: str, path: str) -> tuple[bool, dict]:
        """Count one request. Returns (allowed, headers); when refused, headers has Retry-After."""
        limit = self.limits.get(path)
        if limit is None:
            return True, {}
        now = self._clock()
        burst_window = int(now)
        steady_window = int(now // 60)
        burst_key = (account, path, "burst", burst_window)
        steady_key = (account, path, "steady", steady_window)
        with self._lock:
            if len(self._counts) > 10_000:  # forget old windows
                self._counts = {k: v for k, v in self._counts.items() if k[3] in (burst_window, steady_window)}
            burst = self._counts.get(burst_key, 0)
            steady = self._counts.get(steady_key, 0)
            if steady >= limit.steady_per_minute:
                wait = (steady_window + 1) * 60 - now
                return False, {"Retry-After": str(max(1, math.ceil(wait)))}
            if burst >= limit.burst_per_second:
                wait = burst_window + 1 - now
                return False, {"Retry-After": str(max(1, math.ceil(wait)))}
            self._counts[burst_key] = burst + 1
            self._counts[steady_key] = steady + 1
            remaining = min(limit.burst_per_second - burst - 1, limit.steady_per_minute - steady - 1)
            reset = math.ceil(burst_window + 1 - now)
        return True, {
            "RateLimit-Limit": f"{limit.burst_per_second}, {limit.burst_per_second};w=1, {limit.steady_per_minute};w=60",
            "RateLimit-Remaining": str(max(0, remaining)),
            "RateLimit-Reset": str(max(0, reset)),
        }


@dataclass
class Fault:
    kind: str  # one of FAULT_KINDS
    remaining: int
    path: str | None = None  # only requests to this endpoint path; None = any endpoint
    retry_after: int = 1
    delay: float = 0.0  # seconds, for "slow"

    def to_dict(self) -> dict:
        return {"kind": self.kind, "remaining": self.remaining, "path": self.path, "retry_after": self.retry_after,
                "delay": self.delay}


class Faults:
    """A queue of scripted failures, consumed by the next matching requests."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, kind: str, count: int = 1, *, path: str | None = None, retry_after: int = 1,
            delay: float = 0.0) -> None:
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; choose one of {', '.join(FAULT_KINDS)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"count must be a whole number, at least 1; got {count!r}")
        if path is not None:  # as the requests are matched: an endpoint's path, no trailing slash
            if not isinstance(path, str) or path.rstrip("/") not in wire.ENDPOINTS:
                raise ValueError(f"path {path!r} is not an endpoint of the stand-in, so the fault would never "
                                 f"fire; give one of {', '.join(wire.ENDPOINTS)}, or none for any endpoint")
            path = path.rstrip("/")
        if not isinstance(retry_after, int) or retry_after < 0:
            raise ValueError("retry_after must be a whole number of seconds (Klaviyo sends integers)")
        if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 <= delay <= 60:
            raise ValueError(f"delay must be 0 to 60 seconds; got {delay!r}")
        if kind == "slow" and not delay:
            raise ValueError("a slow fault needs a delay in seconds, e.g. 0.5")
        with self._lock:
            self._faults.append(Fault(kind, count, path, retry_after, float(delay)))

    def take(self, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.path in (None, path):
                    fault.remaining -= 1
                    if fault.remaining == 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[dict]:
        with self._lock:
            return [f.to_dict() for f in self._faults]

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()
