"""Re-run the load and memory figures of docs/reliability.md and write them into it.

    .venv/bin/python benchmarks/reliability.py            # the full runs (about 15 minutes here)
    .venv/bin/python benchmarks/reliability.py --quick    # smaller runs, projected (about 3 minutes)
    .venv/bin/python benchmarks/reliability.py --print    # print the table, leave the doc alone

Each benchmark runs as its own process (as a user runs it); the lines it prints beside a target
(see _report.py) become rows of the doc's "Measured" table, between its markers, with the date,
the commit and the machine. The exit status is 1 when any benchmark missed a target or failed.
The rest of docs/reliability.md (faults survived, bad inputs tried) names the tests that hold
them; the suite runs those, this script does not.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "reliability.md"
START, END = "<!-- measured: start (benchmarks/reliability.py) -->", "<!-- measured: end -->"

# (what it holds, script, full arguments, quick arguments)
RUNS = [
    ("stand-in ingestion under load", "bench_stub_ingest.py", [], ["--seconds", "4"]),
    ("stand-in memory, 1M events and hostile bodies", "bench_stub_memory.py", [], ["--events", "100000", "--malformed", "40"]),
    ("orders sync memory, 1M orders", "bench_orders_memory.py", [], ["--orders", "200000", "--sent", "10000"]),
    ("a track in a real browser, recorded", "bench_browser_roundtrip.py", [], ["--events", "50", "--pages", "10"]),
]
# A judged line of _report.py: name, figure, "target ≤|≥ …", "ratio …", OK|MISSED.
JUDGED = re.compile(r"^\s+(?P<name>.+?)\s{2,}(?P<figure>\S.*?)\s+target (?P<target>[≤≥].+?)\s+ratio\s+(?P<ratio>\S+)\s+(?P<verdict>OK|MISSED)\s*$")


def run(script: str, args: list[str]) -> tuple[list[dict], int, float, str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args], capture_output=True, text=True,
                          cwd=ROOT)
    rows = [m.groupdict() for m in map(JUDGED.match, done.stdout.splitlines()) if m]
    return rows, done.returncode, time.monotonic() - started, done.stderr.strip()[-500:]


def table(results: list[tuple[str, str, list[str], list[dict], int, float, str]], *, quick: bool) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT).stdout.strip()
    lines = [f"Measured {date.today().isoformat()} at {commit or 'an unknown commit'} on {os.cpu_count()} cores "
             f"(`benchmarks/reliability.py{' --quick' if quick else ''}`).", "",
             "| holds | figure | value | target | verdict |", "|---|---|---|---|---|"]
    for what, script, args, rows, code, seconds, error in results:
        label = f"{what} (`{script}{' ' + ' '.join(args) if args else ''}`, {seconds:.0f} s)"
        if not rows:
            lines.append(f"| {label} | (no figures: exit {code}) | {error.splitlines()[-1] if error else ''} | | FAILED |")
        for row in rows:
            lines.append(f"| {label} | {row['name']} | {row['figure']} | {row['target']} | {row['verdict']} |")
            label = ""
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller runs (their figures projected), about 3 minutes")
    parser.add_argument("--print", dest="print_only", action="store_true", help="print the table; leave the doc alone")
    options = parser.parse_args()
    results = []
    for what, script, full, quick in RUNS:
        args = quick if options.quick else full
        print(f"running {script} {' '.join(args)}", flush=True)
        rows, code, seconds, error = run(script, args)
        results.append((what, script, args, rows, code, seconds, error))
    text = table(results, quick=options.quick)
    print(text)
    if not options.print_only:
        doc = DOC.read_text(encoding="utf-8")
        head, _, rest = doc.partition(START)
        _, _, tail = rest.partition(END)
        DOC.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")
        print(f"wrote {DOC.relative_to(ROOT)}")
    failed = any(code or not rows or any(r["verdict"] != "OK" for r in rows) for _, _, _, rows, code, _, _ in results)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
