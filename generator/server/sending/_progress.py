"""The progress line of a run: a bar on a terminal, a plain line now and then otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

from klaviyo_snippets.generator.server.sending._work import Tally

__all__ = ["Progress"]


class Progress:
    """A progress bar on a terminal, or a plain line every `interval` seconds otherwise."""

    def __init__(self, total: int, *, stream: TextIO | None = None, unit: str = "events",
                 interval: float = 10.0, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, ceiling: float | None = None):
        self.total = total
        # The most units a second the limits allow in the long run (the steady window): the
        # first seconds run at the burst rate, and an ETA from them alone would be too hopeful.
        self.ceiling = ceiling
        self.stream = stream if stream is not None else sys.stderr
        self.unit = unit
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = 0.1 if self.tty else interval
        self.clock = clock
        self._last = clock()
        self._drawn = False

    def update(self, tally: Tally, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        elapsed = max(now - tally.started, 1e-6)
        rate = tally.done / elapsed
        share = tally.done / self.total if self.total else 1.0
        pace = min(rate, self.ceiling) if self.ceiling else rate
        eta = (self.total - tally.done) / pace if pace > 0 else None
        text = (f"{tally.done}/{self.total} {self.unit} ({share:.0%}), {rate:.0f}/s, "
                f"{tally.failed} failed, {tally.throttled} throttled"
                + (f", ~{eta:.0f}s left" if eta is not None and tally.done < self.total else ""))
        if self.tty:
            width = 24
            filled = int(width * share)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\x1b[K")
            self._drawn = True
        else:
            self.stream.write(f"progress: {text}\n")
        self.stream.flush()

    def finish(self, tally: Tally) -> None:
        if self.tty:
            self.update(tally, force=True)
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()
