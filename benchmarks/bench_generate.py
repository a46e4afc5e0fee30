"""How long generation takes in-process: the default plan (target 150 ms) and synthetic plans of
10, 100 and 1,000 events (target 1.5 s at 1,000), with how time grows per event.

Each size is timed three ways: cold (an empty output folder: every file is written), warm (the
folder is current: everything is generated and compared, nothing written; the usual case when
re-running after a small edit) and --check. Wall-clock time is the best of a few runs; CPU time
(process time) is printed beside it because on a shared machine the wall clock also measures the
neighbours. The 1,000-event target is judged on the warm best wall-clock time, and the cold run
is shown against it too.

    python benchmarks/bench_generate.py

Exits 1 when a target is missed (benchmarks/_report.py).
"""

from __future__ import annotations

import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from klaviyo_snippets.generator import generate, load_plan  # noqa: E402
from _report import Report  # noqa: E402

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


def timed(fn) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def runs(count: int, fn) -> tuple[float, float, float]:
    """Best wall, median wall and best CPU time of ``count`` calls."""
    results = [timed(fn) for _ in range(count)]
    walls = [w for w, _ in results]
    return min(walls), statistics.median(walls), min(c for _, c in results)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def main() -> int:
    report = Report(width=40)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        load_plan()  # import-time and first-template costs are not what we measure
        generate(out_dir=tmp / "warmup" / "dist")
        out = tmp / "default" / "dist"
        cold, cold_cpu = timed(lambda: generate(out_dir=out))
        best, median, cpu = runs(7, lambda: generate(out_dir=out))
        check, _, _ = runs(5, lambda: generate(out_dir=out, check=True))
        report.at_most("default plan, warm, best of 7", best * 1000, DEFAULT_TARGET * 1000, "ms", digits=1)
        report.note("default plan, the rest", f"warm {ms(median)} median, {ms(cpu)} CPU; cold {ms(cold)}; "
                    f"--check {ms(check)}")
        print()
        print(f"{'events':>6}  {'cold (writes all)':>18}  {'warm best':>10}  {'median':>10}  {'CPU':>10}  "
              f"{'--check':>10}  {'per event':>10}  growth")
        previous = None
        for events in (10, 100, 1000):
            plan = tmp / f"plan-{events}.yaml"
            plan.write_text(synthetic_plan(events))
            out = tmp / f"out-{events}" / "dist"
            cold, _ = timed(lambda: generate(plan, out))
            count = 5 if events < 1000 else 3
            best, median, cpu = runs(count, lambda: generate(plan, out))
            check, _, _ = runs(count, lambda: generate(plan, out, check=True))
            growth = f"x{best / previous:.1f} for x10 events" if previous else ""
            print(f"{events:>6}  {cold:>16.3f} s  {best:>8.3f} s  {median:>8.3f} s  {cpu:>8.3f} s  "
                  f"{check:>8.3f} s  {best / events * 1000:>7.2f} ms  {growth}")
            if events == 1000:
                thousand = (best, cold)
            previous = best
            shutil.rmtree(out.parent)
    print()
    best, cold = thousand
    report.at_most("1,000 events, warm, best of 3", best, THOUSAND_TARGET, "s", digits=3)
    report.note("1,000 events, cold (not judged)", f"{cold:.3f} s = {cold / THOUSAND_TARGET:.2f} x the target")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
