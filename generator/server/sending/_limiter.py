"""Klaviyo's rate limits and the limiter that keeps every request inside them before it leaves,
so a normal run is never answered 429."""

from __future__ import annotations

import asyncio
import collections
import math
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.server.sending._settings import CATALOG_JOBS_PATH, EVENTS_PATH

__all__ = ["Rate", "RateLimiter", "KLAVIYO_RATES"]


@dataclass(frozen=True)
class Rate:
    """A Klaviyo rate limit: `burst` requests a second and `steady` requests a minute."""

    burst: int
    steady: int

    def windows(self) -> tuple[tuple[int, float], ...]:
        return ((self.burst, 1.0), (self.steady, 60.0))

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`"350/3500"`: burst per second / steady per minute."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
        if not match or int(match[1]) < 1 or int(match[2]) < 1:
            raise UserError(f"expected BURST/STEADY, two whole numbers ≥ 1 such as 350/3500 "
                            f"(350 a second, 3500 a minute), not {text!r}")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.burst}/s, {self.steady}/min"


# Klaviyo's published limits [spec] (wire facts §1 and §3).
KLAVIYO_RATES: dict[str, Rate] = {
    EVENTS_PATH: Rate(350, 3500),
    CATALOG_JOBS_PATH: Rate(75, 750),
    "/api/catalog-items": Rate(75, 750),
}


class RateLimiter:
    """Admits a request only if every window stays within its limit.

    `windows` are `(limit, seconds)` pairs. Two modes:

    * `"sliding"` (default): no interval of `seconds + guard` holds more than `limit` requests.
      Any fixed window of the server's, however its clock is aligned with ours, is such an
      interval, and `guard` covers the spread of network and server delays; so this never
      overruns a fixed-window server. Over a long run it reaches `limit / (seconds + guard)`.
    * `"fixed"`: windows aligned to this machine's clock (`floor(t / seconds)`), as the
      stand-in and Klaviyo's docs count them; a request within `guard` of an edge counts in
      both windows. Slightly more throughput in a short run (the first partial window), and
      relies on the server's windows being aligned to the same clock.

    `try_acquire(now)` is the pure core (0.0 = admitted and counted, else seconds to wait);
    `acquire()` waits. `pause_until(t)` holds every request until `t` (after a 429).
    """

    def __init__(self, windows: Iterable[tuple[int, float]], *, mode: str = "sliding",
                 guard: float = 0.1, clock: Callable[[], float] = time.time):
        self.windows = tuple((int(limit), float(seconds)) for limit, seconds in windows)
        if not self.windows or any(limit < 1 or seconds <= 0 for limit, seconds in self.windows):
            raise ValueError("every window needs a limit ≥ 1 and a length > 0")
        if mode not in ("sliding", "fixed"):
            raise ValueError("mode is 'sliding' or 'fixed'")
        if guard < 0:
            raise ValueError("guard must be ≥ 0")
        self.mode = mode
        self.guard = float(guard)
        self.clock = clock
        self.paused_until = 0.0
        self.waited = 0.0  # total seconds callers of acquire() spent waiting (a figure to report)
        self._sent: list[collections.deque[float]] = [collections.deque() for _ in self.windows]
        self._counts: list[dict[int, int]] = [{} for _ in self.windows]

    @classmethod
    def for_rate(cls, rate: Rate, **options: Any) -> RateLimiter:
        return cls(rate.windows(), **options)

    def pause_until(self, moment: float) -> None:
        self.paused_until = max(self.paused_until, moment)

    def try_acquire(self, now: float) -> float:
        if now < self.paused_until:
            return self.paused_until - now
        if self.mode == "sliding":
            return self._try_sliding(now)
        return self._try_fixed(now)

    def _try_sliding(self, now: float) -> float:
        wait = 0.0
        for (limit, seconds), sent in zip(self.windows, self._sent):
            span = seconds + self.guard
            while sent and sent[0] <= now - span:
                sent.popleft()
            if len(sent) >= limit:
                wait = max(wait, sent[len(sent) - limit] + span - now)
        if wait > 0:
            return wait
        for sent in self._sent:
            sent.append(now)
        return 0.0

    def _touched(self, now: float, seconds: float) -> set[int]:
        return {math.floor((now - self.guard) / seconds), math.floor((now + self.guard) / seconds)}

    def _try_fixed(self, now: float) -> float:
        wait = 0.0
        for (limit, seconds), counts in zip(self.windows, self._counts):
            for index in self._touched(now, seconds):
                if counts.get(index, 0) >= limit:
                    # Free once `now - guard` has left window `index`.
                    wait = max(wait, (index + 1) * seconds + self.guard - now)
        if wait > 0:
            return wait
        for (limit, seconds), counts in zip(self.windows, self._counts):
            for index in self._touched(now, seconds):
                counts[index] = counts.get(index, 0) + 1
            oldest = math.floor((now - self.guard) / seconds)
            for index in [i for i in counts if i < oldest]:
                del counts[index]
        return 0.0

    async def acquire(self, sleep: Callable[[float], Any] | None = None) -> bool:
        """Wait for a slot and take it. `sleep(seconds)` may return True to give up (a stop)."""
        sleep = sleep or asyncio.sleep
        while True:
            now = self.clock()
            wait = self.try_acquire(now)
            if wait <= 0:
                return True
            wait = max(wait, 0.001)
            self.waited += wait
            if await sleep(wait):
                return False
