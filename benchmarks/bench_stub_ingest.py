"""Stand-in ingestion: valid events per second and latency percentiles under a bounded loopback load.

The stand-in runs as `klaviyo-snippets stub` in its own process (as users run it). The load comes
from `wrk` (Debian's package; a Lua script makes each event unique) when it is installed, so the
load generator does not eat the stand-in's CPU on a 2-core machine; otherwise from aiohttp in
this process. Either way the run is bounded (a fixed number of events, or a fixed time for wrk)
and every event must be recorded good.

    .venv/bin/python benchmarks/bench_stub_ingest.py [--events 20000] [--concurrency 32] [--client wrk|aiohttp]

Target: >= 3,500 events/s on a 2-core machine (10x Klaviyo's per-account burst limit), every event
recorded good. Exits 1 when a target is missed (benchmarks/_report.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from _report import Report

TARGET_PER_SECOND = 3500
CLI = Path(sys.executable).with_name("klaviyo-snippets")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def body(i: int) -> bytes:
    return json.dumps({"data": {"type": "event", "attributes": {
        "properties": {"ProductName": "Winnie the Pooh", "ProductID": "1111", "Price": 9.99, "n": i},
        "unique_id": f"bench-{i}",
        "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product", "service": "api"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": f"shopper{i % 500}@example.com"}}},
    }}}).encode()


async def load(url: str, events: int, concurrency: int) -> tuple[list[float], float, int]:
    latencies: list[float] = []
    failures = 0
    queue = iter(range(events))
    headers = {"Content-Type": "application/json", "revision": "2026-07-15"}

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal failures
        for i in queue:
            data = body(i)
            start = time.perf_counter()
            async with session.post(url, data=data, headers=headers) as resp:
                await resp.read()
                if resp.status != 202:
                    failures += 1
            latencies.append(time.perf_counter() - start)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        start = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return latencies, elapsed, failures


WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["revision"] = "2026-07-15"
local n = 0
local id = tostring(math.random(1, 1000000000))
request = function()
  n = n + 1
  local body = '{"data":{"type":"event","attributes":{"properties":{"ProductName":"Winnie the Pooh",'
    .. '"ProductID":"1111","Price":9.99,"n":' .. n .. '},"unique_id":"wrk-' .. id .. '-' .. n .. '",'
    .. '"metric":{"data":{"type":"metric","attributes":{"name":"Viewed Product","service":"api"}}},'
    .. '"profile":{"data":{"type":"profile","attributes":{"email":"shopper' .. (n % 500) .. '@example.com"}}}}}}'
  return wrk.format(nil, nil, nil, body)
end
"""


def wrk_load(url: str, seconds: int, connections: int) -> tuple[int, float, dict]:
    """Run wrk for `seconds`; (requests, elapsed, latency percentiles in ms)."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script.name, url],
        capture_output=True, text=True, check=True).stdout
    m = re.search(r"(\d+) requests in ([\d.]+)(m?s)", out)
    requests = int(m.group(1))
    elapsed = float(m.group(2)) / (1000 if m.group(3) == "ms" else 1)

    def pct(label):
        found = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(found.group(1)), found.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return requests, elapsed, {"p50": pct("50"), "p99": pct("99")}


def run(coro):
    try:  # the load generator must not be the bottleneck
        import uvloop
    except ImportError:
        return asyncio.run(coro)
    return uvloop.run(coro)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--client", choices=("wrk", "aiohttp"), default="wrk" if shutil.which("wrk") else "aiohttp")
    parser.add_argument("--seconds", type=int, default=8, help="wrk's run time (bounded by time, not count)")
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen([str(CLI), "stub", "--port", str(port)], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/__stub__/all", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        url = f"{base}/client/events/?company_id=ABC123"
        run(load(url, 500, args.concurrency))  # warm up
        urllib.request.urlopen(urllib.request.Request(base + "/__stub__/reset", method="POST"))
        if args.client == "wrk":
            sent, elapsed, pcts = wrk_load(url, args.seconds, args.concurrency)
            failures = 0
        else:
            latencies, elapsed, failures = run(load(url, args.events, args.concurrency))
            q = statistics.quantiles(latencies, n=100)
            sent, pcts = args.events, {"p50": q[49] * 1000, "p99": q[98] * 1000}
        counts = json.load(urllib.request.urlopen(base + "/__stub__/all"))
    finally:
        server.terminate()
        server.wait(10)

    rate = min(counts["good"], sent) / elapsed  # wrk ends with some requests in flight
    print(f"stand-in ingestion: {sent} valid events from {args.client}, {args.concurrency} connections, "
          "stand-in in its own process")
    report = Report()
    report.at_least("throughput", rate, TARGET_PER_SECOND, "events/s")
    report.note("latency", f"p50 {pcts['p50']:.2f} ms, p99 {pcts['p99']:.2f} ms")
    # wrk may stop with requests in flight: those were sent but not counted as completed.
    report.at_most("sent but not recorded good", max(0, sent - counts["good"]), 0, "events")
    report.at_most("recorded bad or duplicate", counts["bad"] + counts["duplicate"], 0, "events")
    report.at_most("answers other than 202", failures, 0)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
