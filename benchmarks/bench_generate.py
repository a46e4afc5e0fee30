"""How long generation takes in-process: the default plan (target 150 ms) and synthetic plans of
10, 100 and 1,000 events (target 1.5 s at 1,000), with how time grows per event.

    python benchmarks/bench_generate.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from generator import generate, load_plan  # noqa: E402

DEFAULT_TARGET = 0.150
THOUSAND_TARGET = 1.5


def synthetic_plan(events: int) -> str:
    lines = ["version: 1", "public_key: AbC123", "samples:", "  thing: {id: '1', title: T, price: 9.99, tags: [a, b]}", "events:"]
    for i in range(events):
        lines += [
            f"  event_{i}:",
            f"    metric: Synthetic Event {i}",
            "    description: A synthetic event for the benchmark.",
            "    inputs: [thing]",
            "    fire: {load: true}" if i % 2 else "    fire: {click: {selector: '#b'}}",
            "    properties:",
            "      ID: {type: string, required: true, from: thing.id}",
            "      Title: {type: string, from: thing.title}",
            "      Price: {type: number, from: thing.price}",
            "      Tags: {type: string_list, from: thing.tags}",
            "      Count: {type: number, derive: {count: event.Tags}}",
            "      Key: {type: string, derive: {format: '{thing.id}_{now}'}}",
            "    sample: {thing: thing}",
        ]
    return "\n".join(lines) + "\n"


def best_of(runs: int, fn) -> tuple[float, float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def main() -> int:
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        load_plan()  # import-time and first-template costs are not what we measure
        best, median = best_of(5, lambda: generate(out_dir=tmp / "default" / "dist"))
        best_check, _ = best_of(5, lambda: generate(out_dir=tmp / "default" / "dist", check=True))
        verdict = "ok" if best <= DEFAULT_TARGET else "OVER"
        ok &= best <= DEFAULT_TARGET
        print(f"default plan (11 events): {best * 1000:7.1f} ms best, {median * 1000:7.1f} ms median "
              f"(target {DEFAULT_TARGET * 1000:.0f} ms: {verdict}); --check {best_check * 1000:.1f} ms")
        previous = None
        for events in (10, 100, 1000):
            plan = tmp / f"plan-{events}.yaml"
            plan.write_text(synthetic_plan(events))
            out = tmp / f"out-{events}" / "dist"
            best, median = best_of(3 if events < 1000 else 2, lambda: generate(plan, out))
            growth = f", x{best / previous:.1f} for x10 events" if previous else ""
            target = f" (target {THOUSAND_TARGET} s: {'ok' if best <= THOUSAND_TARGET else 'OVER'})" if events == 1000 else ""
            if events == 1000:
                ok &= best <= THOUSAND_TARGET
            print(f"{events:>5} events: {best:7.3f} s best, {median:7.3f} s median, "
                  f"{best / events * 1000:6.2f} ms per event{growth}{target}")
            previous = best
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
