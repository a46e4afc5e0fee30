"""Progress lines: of a run's sending (`Progress`) and of reading its input file (`ReadProgress`):
a bar on a terminal, a plain `progress: ...` line now and then otherwise."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from klaviyo_snippets.generator.server.sending._work import Tally

__all__ = ["Progress", "ReadProgress"]


class _Line:
    """A line redrawn in place on a terminal (every 0.1 s at most), or printed every `interval`
    seconds otherwise."""

    def __init__(self, stream: TextIO | None, tty: bool | None, interval: float,
                 clock: Callable[[], float]):
        self.stream = stream if stream is not None else sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = 0.1 if self.tty else interval
        self.clock = clock
        self._last = clock()
        self._drawn = False  # a bar is on the terminal's last line
        self._shown = False  # anything was shown

    def _due(self, now: float, force: bool) -> bool:
        if not force and now - self._last < self.interval:
            return False
        self._last = now
        return True

    def _show(self, share: float, text: str) -> None:
        if self.tty:
            width = 24
            filled = int(width * min(max(share, 0.0), 1.0))
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\x1b[K")
            self._drawn = True
        else:
            self.stream.write(f"progress: {text}\n")
        self._shown = True
        self.stream.flush()

    def _end_bar(self) -> None:
        if self._drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


class Progress(_Line):
    """A progress bar on a terminal, or a plain line every `interval` seconds otherwise. The
    total is the tally's (a run that streams its work may learn it smaller as it goes)."""

    def __init__(self, total: int, *, stream: TextIO | None = None, unit: str = "events",
                 interval: float = 10.0, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, ceiling: float | None = None):
        super().__init__(stream, tty, interval, clock)
        self.total = total
        # The most units a second the limits allow in the long run (the steady window): the
        # first seconds run at the burst rate, and an ETA from them alone would be too hopeful.
        self.ceiling = ceiling
        self.unit = unit

    def update(self, tally: Tally, *, force: bool = False) -> None:
        now = self.clock()
        if not self._due(now, force):
            return
        total = tally.total or self.total
        elapsed = max(now - tally.started, 1e-6)
        rate = tally.done / elapsed
        share = tally.done / total if total else 1.0
        pace = min(rate, self.ceiling) if self.ceiling else rate
        eta = (total - tally.done) / pace if pace > 0 else None
        self._show(share, f"{tally.done}/{total} {self.unit} ({share:.0%}), {rate:.0f}/s, "
                          f"{tally.failed} failed, {tally.throttled} throttled"
                          + (f", ~{eta:.0f}s left" if eta is not None and tally.done < total else ""))

    def finish(self, tally: Tally) -> None:
        if self.tty:
            self.update(tally, force=True)
            self._end_bar()


class ReadProgress(_Line):
    """While an input file is read (checked first, then used):

        progress: checking orders.jsonl: 41% (20.5 of 50.0 MB), 81,000 lines, 2 bad, ~12s left

    every `interval` seconds (a bar on a terminal); a last line at 100% if any was shown.
    `problems` (anything with a length) gives the bad count."""

    def __init__(self, path: str | os.PathLike[str], size: int, *, verb: str = "checking",
                 problems: Any = None, stream: TextIO | None = None, interval: float = 10.0,
                 tty: bool | None = None, clock: Callable[[], float] = time.monotonic):
        super().__init__(stream, tty, interval, clock)
        self.path = str(path)
        self.size = size
        self.verb = verb
        self.problems = problems
        self.started = clock()
        self.done = 0
        self.lines = 0

    def update(self, done: int, lines: int, *, force: bool = False) -> None:
        self.done, self.lines = done, lines
        now = self.clock()
        if not self._due(now, force):
            return
        share = done / self.size if self.size else 1.0
        elapsed = now - self.started
        eta = (self.size - done) * elapsed / done if done and elapsed > 0 else None
        bad = f", {len(self.problems):,} bad" if self.problems is not None else ""
        self._show(share, f"{self.verb} {self.path}: {share:.0%} ({done / 1e6:.1f} of "
                          f"{self.size / 1e6:.1f} MB), {lines:,} lines{bad}"
                          + (f", ~{eta:.0f}s left" if eta is not None and done < self.size else ""))

    def finish(self) -> None:
        if self._shown:
            self.update(self.done, self.lines, force=True)
        self._end_bar()
