"""Stand-in memory: RSS after many events, while they are read back, after hostile bodies, after a reset.

The stand-in runs as `klaviyo-snippets stub` in its own process (as users run it), with its
default store limits (StubSettings.max_records, max_record_bytes); its RSS and peak RSS come from
/proc. The load comes from `wrk` (Debian's package; a Lua script makes each event unique and stops
after the asked count) when it is installed, else from aiohttp in this process.

    .venv/bin/python benchmarks/bench_stub_memory.py [--events 1000000] [--malformed 200] [--client wrk|aiohttp]

Phases, each printed with the stand-in's RSS:
1. `--events` valid events to /client/events (500 shoppers, each event its own unique_id);
2. one `GET /__stub__/requests` (what a developer's inspector reads): its size, time and peak RSS;
3. `--malformed` bodies of 5 MB that are not JSON (each answered 400);
4. `POST /__stub__/reset`: RSS afterwards.

Target: <= 500 MB RSS after 1,000,000 events (about 5 to 8 minutes here). A smaller `--events`
is projected to 1M: once the store keeps its maximum and forgets the oldest, from the growth
measured since (only dedup keys and profiles still grow); before that, linearly from the start
(an upper bound).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from _report import Report

TARGET_MB = 500
TARGET_EVENTS = 1_000_000
CLI = Path(sys.executable).with_name("klaviyo-snippets")
URL_PATH = "/client/events/?company_id=ABC123"
HEADERS = {"Content-Type": "application/json", "revision": "2026-07-15"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory(pid: int) -> tuple[float, float]:
    """(RSS, peak RSS) of a process, in MB."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
    peak = int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))
    return rss / 1024, peak / 1024


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=120) as reply:
        return json.load(reply)


def event(i: int) -> bytes:
    return json.dumps({"data": {"type": "event", "attributes": {
        "properties": {"ProductName": "Winnie the Pooh", "ProductID": "1111", "Price": 9.99, "n": i},
        "unique_id": f"mem-{i}",
        "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product", "service": "api"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": f"shopper{i % 500}@example.com"}}},
    }}}, separators=(",", ":")).encode()


# wrk stops its thread after `limit` answers, but sleeps out its duration: the caller ends it.
WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["revision"] = "2026-07-15"
local sent, done, limit = 0, 0, %d
request = function()
  sent = sent + 1
  local body = '{"data":{"type":"event","attributes":{"properties":{"ProductName":"Winnie the Pooh",'
    .. '"ProductID":"1111","Price":9.99,"n":' .. sent .. '},"unique_id":"mem-' .. sent .. '",'
    .. '"metric":{"data":{"type":"metric","attributes":{"name":"Viewed Product","service":"api"}}},'
    .. '"profile":{"data":{"type":"profile","attributes":{"email":"shopper' .. (sent %% 500) .. '@example.com"}}}}}}'
  return wrk.format(nil, nil, nil, body)
end
response = function(status, headers, body)
  done = done + 1
  if done >= limit then wrk.thread:stop() end
end
"""


def start_wrk(url: str, events: int, connections: int) -> subprocess.Popen:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % events)
    return subprocess.Popen(["wrk", "-t1", f"-c{connections}", "-d3600s", "-s", script.name, url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def aiohttp_load(url: str, events: int, connections: int) -> None:
    import aiohttp

    queue = iter(range(events))

    async def worker(session) -> None:
        for i in queue:
            async with session.post(url, data=event(i), headers=HEADERS) as resp:
                await resp.read()

    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=connections)) as session:
        await asyncio.gather(*(worker(session) for _ in range(connections)))


def load(base: str, pid: int, args: argparse.Namespace) -> list[tuple[int, int, float]]:
    """Send the events; every second a sample (events counted, events forgotten, RSS MB)."""
    url = base + URL_PATH
    if args.client == "wrk":
        wrk = start_wrk(url, args.events, args.concurrency)
        running = lambda: wrk.poll() is None  # noqa: E731
    else:
        thread = threading.Thread(target=asyncio.run, args=(aiohttp_load(url, args.events, args.concurrency),))
        thread.start()
        running = thread.is_alive
    samples = []
    try:
        while True:
            counts = get_json(base + "/__stub__/all")
            forgotten = counts.get("forgotten", {}).get("events", 0)  # a build before the bounded store: none
            samples.append((counts["total"], forgotten, memory(pid)[0]))
            if counts["total"] >= args.events or not running():
                break
            time.sleep(1)
    finally:
        if args.client == "wrk":
            wrk.send_signal(signal.SIGINT)
            wrk.wait(30)
        else:
            thread.join()
    return samples


def projected(samples: list[tuple[int, int, float]], start_rss: float) -> tuple[float, str]:
    """RSS at TARGET_EVENTS, from the growth once the store began forgetting, else from the start."""
    total, _, rss = samples[-1]
    full = [s for s in samples if s[1] > 0]
    if len(full) >= 2 and total > full[0][0]:
        first_total, _, first_rss = full[0]
        slope = max(0.0, (rss - first_rss) / (total - first_total))
        return rss + slope * (TARGET_EVENTS - total), "from the growth once the store was full"
    return start_rss + (rss - start_rss) * TARGET_EVENTS / max(1, total), "linear from the start: an upper bound"


def post_raw(port: int, body: bytes) -> int:
    """POST `body` to /client/events over a plain socket; the answer's status."""
    head = (f"POST {URL_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            f"revision: 2026-07-15\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(head + body)
        answer = s.recv(64)
    return int(answer.split()[1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=TARGET_EVENTS)
    parser.add_argument("--malformed", type=int, default=200, help="5 MB bodies that are not JSON (default 200)")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--client", choices=("wrk", "aiohttp"), default="wrk" if shutil.which("wrk") else "aiohttp")
    parser.add_argument("--cli", type=Path, default=CLI, help="the klaviyo-snippets to run (another build, to compare)")
    args = parser.parse_args()

    port = free_port()
    server = subprocess.Popen([str(args.cli), "stub", "--port", str(port)], stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    report = Report(width=40)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/__stub__/all", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        start_rss, _ = memory(server.pid)
        print(f"stand-in memory: {args.events:,} events from {args.client}, {args.concurrency} connections, "
              "stand-in in its own process")
        report.note("RSS at start", f"{start_rss:,.0f} MB")

        began = time.monotonic()
        samples = load(base, server.pid, args)
        took = time.monotonic() - began
        counts = get_json(base + "/__stub__/all")
        rss, peak = memory(server.pid)
        total = counts["total"]
        report.note(f"after {total:,} events", f"RSS {rss:,.0f} MB, peak {peak:,.0f} MB ({took:.0f} s, "
                                               f"{total / took:,.0f} events/s; {counts['good']:,} good)")
        report.note("  the store forgot", ", ".join(f"{n:,} {kind}" for kind, n in counts.get("forgotten", {}).items())
                    or "nothing (this build keeps everything)")
        if total >= TARGET_EVENTS:
            report.at_most(f"RSS after {TARGET_EVENTS:,} events", rss, TARGET_MB, "MB")
        else:
            figure, how = projected(samples, start_rss)
            report.at_most(f"RSS projected to {TARGET_EVENTS:,} events", figure, TARGET_MB, "MB")
            report.note("  projected", f"{how}; run --events {TARGET_EVENTS} to measure it")

        began = time.monotonic()
        with urllib.request.urlopen(base + "/__stub__/requests", timeout=600) as reply:
            size = len(reply.read())
        rss, peak = memory(server.pid)
        report.note("GET /__stub__/requests", f"{size / 2**20:,.1f} MB of JSON in {time.monotonic() - began:.1f} s; "
                                              f"RSS {rss:,.0f} MB, peak {peak:,.0f} MB")

        if args.malformed:
            blob = b"{" + b"x" * (5 * 1024 * 1024 - 2) + b"}"
            statuses = sorted({post_raw(port, blob) for _ in range(args.malformed)})
            rss, peak = memory(server.pid)
            report.note(f"after {args.malformed} malformed 5 MB bodies",
                        f"RSS {rss:,.0f} MB, peak {peak:,.0f} MB (answered {', '.join(map(str, statuses))})")

        urllib.request.urlopen(urllib.request.Request(base + "/__stub__/reset", method="POST"), timeout=60)
        time.sleep(1)
        rss, _ = memory(server.pid)
        report.note("RSS after POST /__stub__/reset", f"{rss:,.0f} MB (at start {start_rss:,.0f} MB)")
    finally:
        server.terminate()
        server.wait(10)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
