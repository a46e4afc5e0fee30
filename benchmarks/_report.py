"""How every benchmark reports: each figure beside its target, the ratio, OK or MISSED, and an exit
status of 1 when any target was missed (so a script or CI can act on it).

    report = Report()
    report.at_least("throughput", 3812.4, 3500, "events/s")   # higher is better
    report.at_most("p99 latency", 12.3, 20, "ms")              # lower is better
    report.note("recorded", "20000 good, 0 bad")               # a figure without a target
    sys.exit(report.finish())

prints

      throughput         3,812 events/s   target ≥ 3,500 events/s   ratio 1.09   OK
      p99 latency         12.3 ms         target ≤ 20 ms            ratio 0.62   OK
      recorded           20000 good, 0 bad
    all 2 targets met

The ratio is figure / target (for "at most", below 1 is good); a target of 0 has none.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO

__all__ = ["Report", "number"]


def number(value: float, digits: int | None = None) -> str:
    """1,234 for whole numbers, 12.3 otherwise (or `digits` decimals)."""
    if digits is None:
        digits = 0 if float(value).is_integer() or abs(value) >= 100 else 1
    return f"{value:,.{digits}f}"


@dataclass
class Report:
    stream: TextIO = field(default_factory=lambda: sys.stdout)
    width: int = 34  # of the name column
    missed: list[str] = field(default_factory=list)
    judged: int = 0

    def at_least(self, name: str, value: float, target: float, unit: str = "", *, digits: int | None = None) -> bool:
        return self._line(name, value, target, unit, value >= target, "≥", digits)

    def at_most(self, name: str, value: float, target: float, unit: str = "", *, digits: int | None = None) -> bool:
        return self._line(name, value, target, unit, value <= target, "≤", digits)

    def note(self, name: str, text: str) -> None:
        self.stream.write(f"  {name:<{self.width}} {text}\n")
        self.stream.flush()

    def finish(self) -> int:
        """Print the verdict; 0 when every target was met, else 1."""
        if self.missed:
            self.stream.write(f"MISSED {len(self.missed)} of {self.judged} targets: {', '.join(self.missed)}\n")
        else:
            self.stream.write(f"all {self.judged} targets met\n")
        self.stream.flush()
        return 1 if self.missed else 0

    def _line(self, name: str, value: float, target: float, unit: str, ok: bool, sign: str,
              digits: int | None) -> bool:
        self.judged += 1
        if not ok:
            self.missed.append(name)
        unit = f" {unit}" if unit else ""
        figure = f"{number(value, digits)}{unit}"
        wanted = f"target {sign} {number(target, digits)}{unit}"
        ratio = f"ratio {value / target:5.2f}" if target else "ratio    -"
        self.stream.write(f"  {name:<{self.width}} {figure:>16}   {wanted:<26} {ratio}   {'OK' if ok else 'MISSED'}\n")
        self.stream.flush()
        return ok
