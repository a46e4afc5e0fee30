"""Benchmark: `orders sync` of many orders against the stand-in with Klaviyo's rate limits on.

    .venv/bin/python benchmarks/bench_sync.py [--orders 20000] [--scale 10] [--windows sliding]

Both sides are real processes on loopback: the stand-in (`klaviyo-snippets stub --rate-limits
klaviyo --rate-limit-scale X`) and the sync command (`orders sync`), so they do not share one
interpreter lock on this 2-core machine. The synthetic orders (one line each: a Placed Order and
an Ordered Product, so 2 events an order) are written to a temp folder.

Klaviyo's /api/events limits are 350/s burst and 3500/min steady; scaled by X they are 350X/s and
3500X/min. Printed: events sent, achieved rate vs the allowed steady rate (target ≥ 95%), 429s
received (target 0), lost (0), duplicated (0), wall time, and how long the limiter held requests.

A steady limit is counted per minute, so a run shows it only once it needs more than one
minute's quota (events > 3500X): with the defaults (40,000 events, X = 10: 35,000 a minute) the
first 35,000 go as fast as the machine allows, the rest when the window has passed, so the run
takes a little over a minute. Below one minute's quota the machine's speed, not the limiter, sets
the rate.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEY = "pk_benchmark0123456789"


def write_orders(path: Path, count: int) -> int:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    with path.open("w", encoding="utf-8") as handle:
        for n in range(count):
            order = {
                "OrderId": f"B{n:07d}",
                "time": (start + timedelta(minutes=n)).isoformat(),
                "value": 10 + n % 90,
                "currency": "USD",
                "customer": {"email": f"buyer{n % 5000}@example.com"},
                "Items": [{"ProductID": f"P{n % 300}", "ProductName": f"Product {n % 300}",
                           "Quantity": 1, "ItemPrice": 10 + n % 90, "RowTotal": 10 + n % 90}],
            }
            handle.write(json.dumps(order) + "\n")
    return count * 2


def get(url: str):
    with urllib.request.urlopen(url, timeout=120) as reply:
        return json.loads(reply.read())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=20_000, help="orders to sync (default 20000)")
    parser.add_argument("--scale", type=float, default=10.0,
                        help="multiply Klaviyo's limits at the stand-in and in the sender (default 10)")
    parser.add_argument("--windows", choices=("sliding", "fixed"), default="sliding")
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args(argv)

    burst, steady = max(1, int(350 * args.scale)), max(1, int(3500 * args.scale))
    env = {**os.environ, "KLAVIYO_PRIVATE_KEY": KEY, "PYTHONPATH": str(ROOT)}
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as folder:
        orders = Path(folder) / "orders.jsonl"
        events = write_orders(orders, args.orders)
        stub = subprocess.Popen(
            [sys.executable, "-m", "klaviyo_snippets", "stub", "--port", "0", "--rate-limits", "klaviyo",
             "--rate-limit-scale", str(args.scale)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        try:
            first = stub.stdout.readline()
            url = first.split(" on ", 1)[1].strip()
            command = [sys.executable, "-m", "klaviyo_snippets", "orders", "sync", "--orders", str(orders),
                       "--api-url", url, "--rate", f"{burst}/{steady}", "--windows", args.windows,
                       "--concurrency", str(args.concurrency), "--progress-interval", "5"]
            print(f"{args.orders} orders = {events} events; stand-in limits ×{args.scale:g}: "
                  f"{burst}/s burst, {steady}/min steady ({steady / 60:.0f}/s); "
                  f"windows {args.windows}, concurrency {args.concurrency}", flush=True)
            began = time.monotonic()
            run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
            wall = time.monotonic() - began
            if run.returncode != 0:
                print(run.stdout, run.stderr, sep="\n")
                print(f"orders sync exited {run.returncode}")
                return 1
            counts = get(url + "/__stub__/all")
            good = get(url + "/__stub__/events?status=good")["events"]
        finally:
            stub.terminate()
            stub.wait(10)

    # Every /api/events request the stand-in let through became an event record (good, bad or
    # duplicate); the others were throttled (no faults are scripted here).
    throttled = counts["requests"] - counts["total"]
    ids = [(e["metric"], e["unique_id"]) for e in good]
    expected = {("Placed Order", f"B{n:07d}") for n in range(args.orders)} | \
               {("Ordered Product", f"B{n:07d}-1") for n in range(args.orders)}
    lost = len(expected - set(ids))
    duplicated = counts["duplicate"] + (len(ids) - len(set(ids)))
    times = [datetime.fromisoformat(e["received_at"].replace("Z", "+00:00")) for e in good]
    span = (max(times) - min(times)).total_seconds() if times else 0.0
    rate = len(good) / span if span else float("inf")
    allowed = steady / 60
    held = _limiter_note(run.stdout)
    print(f"events sent         {len(good)} accepted of {events} ({counts['requests']} requests)")
    print(f"achieved rate       {rate:.0f}/s over {span:.1f}s (first to last event at the stand-in)")
    print(f"allowed steady rate {allowed:.0f}/s -> {rate / allowed:.0%} of it (target ≥ 95%)")
    print(f"429s received       {throttled} (target 0)")
    print(f"lost                {lost} (target 0)")
    print(f"duplicated          {duplicated} (target 0)")
    print(f"wall time           {wall:.1f}s for the whole command (reading and checking "
          f"{args.orders} orders included){held}")
    ok = throttled == 0 and lost == 0 and duplicated == 0 and rate >= 0.95 * allowed
    print("result              " + ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


def _limiter_note(summary: str) -> str:
    for line in summary.splitlines():
        if "requests," in line:
            return f"\nsync summary        {line.strip()}"
    return ""


if __name__ == "__main__":
    sys.exit(main())
