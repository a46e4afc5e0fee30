"""Stand-in ingestion: valid events per second and latency percentiles under a bounded loopback load.

The stand-in runs as `klaviyo-snippets stub` in its own process (as users run it); this process
drives it with aiohttp at a fixed concurrency and sends a bounded number of valid client events.

    .venv/bin/python benchmarks/bench_stub_ingest.py [--events 20000] [--concurrency 32]

Target: >= 3,500 events/s on a 2-core machine (10x Klaviyo's per-account burst limit).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp

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
        run(load(f"{base}/client/events/?company_id=ABC123", 500, args.concurrency))  # warm up
        urllib.request.urlopen(urllib.request.Request(base + "/__stub__/reset", method="POST"))
        latencies, elapsed, failures = run(
            load(f"{base}/client/events/?company_id=ABC123", args.events, args.concurrency))
        counts = json.load(urllib.request.urlopen(base + "/__stub__/all"))
    finally:
        server.terminate()
        server.wait(10)

    rate = args.events / elapsed
    q = statistics.quantiles(latencies, n=100)
    print(f"stand-in ingestion: {args.events} valid events, concurrency {args.concurrency}, stand-in in its own process")
    print(f"  throughput  {rate:8.0f} events/s   (target >= {TARGET_PER_SECOND})  {'OK' if rate >= TARGET_PER_SECOND else 'BELOW TARGET'}")
    print(f"  latency     p50 {q[49] * 1000:.2f} ms   p99 {q[98] * 1000:.2f} ms")
    print(f"  recorded    {counts['good']} good, {counts['bad']} bad, {counts['duplicate']} duplicate; {failures} non-202")
    return 0 if counts["good"] == args.events and not failures else 1


if __name__ == "__main__":
    sys.exit(main())
