"""Benchmark: the peak memory (RSS) of `orders sync` for a 1,000,000-line orders file.

    .venv/bin/python benchmarks/bench_orders_memory.py [--orders 1000000] [--sent 40000]

Two runs of the real command, each in its own process, its peak RSS read from the kernel
(`wait4`'s ru_maxrss):

* `--dry-run` over `--orders` lines (default 1,000,000: about 280 MB of JSON Lines, 2 events an
  order), and over a quarter of them;
* a real sync of `--sent` orders (default 40,000 = 80,000 events), and of a quarter of them,
  against the stand-in (`klaviyo-snippets stub`, its own process) with the sender's limits
  raised (`--rate 100000/6000000`): at Klaviyo's 3,500 events a minute a million orders take
  about ten hours, and the stand-in keeps every request it gets.

Each figure is projected to 1,000,000 orders along the line through its two runs (the memory
that grows with the file: the index of OrderIds and of the events the state file holds, a few
dozen bytes each), and judged against 200 MB. A run at 1,000,000 lines is measured directly
(`--orders 1000000`, the default for the dry run; about 10 minutes on a quiet 2-core machine).
Exits 1 when a target is missed (benchmarks/_report.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _report import Report, number

ROOT = Path(__file__).resolve().parents[1]
KEY = "pk_benchmark0123456789"
TARGET_MB = 200
TARGET_ORDERS = 1_000_000
ORDER = ('{{"OrderId": "B{n:07d}", "time": "2024-01-{day:02d}T{hour:02d}:{minute:02d}:00+00:00", '
         '"value": {value}, "currency": "USD", "customer": {{"email": "buyer{buyer}@example.com"}}, '
         '"Items": [{{"ProductID": "P{product}", "ProductName": "Product {product}", "Quantity": 1, '
         '"ItemPrice": {value}, "RowTotal": {value}}}], "extra": {{"Channel": "web", "Note": "{note}"}}}}\n')


def write_orders(path: Path, count: int) -> int:
    """`count` orders (2 events each), one a line; returns the file's size."""
    with path.open("w", encoding="utf-8") as handle:
        for n in range(count):
            handle.write(ORDER.format(n=n, day=1 + n % 28, hour=n % 24, minute=n % 60, value=10 + n % 90,
                                      buyer=n % 5000, product=n % 300, note="gift wrap " * (n % 4)))
    return path.stat().st_size


def peak_rss(argv: list[str], env: dict[str, str], stdout) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit status) of one run of `argv` in its own process."""
    began = time.monotonic()
    process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.monotonic() - began, process.returncode


def projected(small: tuple[int, float], large: tuple[int, float], to: int) -> float:
    (n1, mb1), (n2, mb2) = small, large
    slope = (mb2 - mb1) / (n2 - n1) if n2 != n1 else 0.0
    return mb2 + max(slope, 0.0) * (to - n2)


def sync_command(orders: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "klaviyo_snippets", "orders", "sync", "--orders", str(orders),
            "--progress-interval", "60", *extra]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--orders", type=int, default=TARGET_ORDERS, help="orders in the dry run (default 1,000,000)")
    parser.add_argument("--sent", type=int, default=40_000, help="orders in the real sync (default 40,000)")
    args = parser.parse_args(argv)
    env = {**os.environ, "KLAVIYO_PRIVATE_KEY": KEY, "PYTHONPATH": str(ROOT)}
    report = Report(width=44)
    with tempfile.TemporaryDirectory(prefix="bench-orders-memory-") as folder:
        folder = Path(folder)

        # -- the dry run -------------------------------------------------------------------------
        runs = []
        for count in (args.orders // 4, args.orders):
            path = folder / f"dry-{count}.jsonl"
            size = write_orders(path, count)
            mb, seconds, code = peak_rss(sync_command(path, "--dry-run", "--no-state"), env, subprocess.DEVNULL)
            if code != 0:
                print(f"orders sync --dry-run exited {code} on {count} orders")
                return 1
            runs.append((count, mb))
            report.note(f"dry run, {number(count)} orders", f"peak RSS {mb:.0f} MB; {size / 1e6:.0f} MB of "
                        f"orders, {2 * count:,} bodies printed; {seconds:.0f} s")
            path.unlink()
        label = "measured" if args.orders == TARGET_ORDERS else "projected"
        report.at_most(f"dry run at 1M orders ({label})", projected(*runs, TARGET_ORDERS), TARGET_MB, "MB")

        # -- a real sync against the stand-in -------------------------------------------------------
        stub = subprocess.Popen([sys.executable, "-m", "klaviyo_snippets", "stub", "--port", "0"],
                                cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        try:
            url = stub.stdout.readline().split(" on ", 1)[1].strip()
            runs = []
            for count in (args.sent // 4, args.sent):
                path = folder / f"sent-{count}.jsonl"
                write_orders(path, count)
                with (folder / "summary.txt").open("w+") as summary:
                    mb, seconds, code = peak_rss(sync_command(path, "--api-url", url, "--rate", "100000/6000000",
                                                              "--concurrency", "32"), env, summary)
                    summary.seek(0)
                    accepted = next((line.split()[-1] for line in summary if "accepted (202)" in line), "?")
                if code != 0 or accepted != str(2 * count):
                    print(f"orders sync exited {code} on {count} orders, {accepted} events accepted")
                    return 1
                runs.append((count, mb))
                report.note(f"real sync, {number(count)} orders", f"peak RSS {mb:.0f} MB; {2 * count:,} "
                            f"events accepted by the stand-in in {seconds:.0f} s (state file included)")
        finally:
            stub.terminate()
            stub.wait(30)
        report.at_most("real sync at 1M orders (projected)", projected(*runs, TARGET_ORDERS), TARGET_MB, "MB")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
