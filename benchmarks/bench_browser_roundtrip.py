"""Browser round trip: `klaviyo.track()` in a warm page → recorded at the stand-in; and the cost of
a fresh routed page (what every browser test pays).

    .venv/bin/python benchmarks/bench_browser_roundtrip.py [--events 200] [--pages 30]

Targets: median track → recorded <= 20 ms; new routed page (context + routes + page + load) <= 150 ms.
Exits 1 when a target is missed (benchmarks/_report.py).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from klaviyo_snippets.harness.browser._choose import choose_browser, context_options  # noqa: E402
from klaviyo_snippets.harness.browser._routing import route_to_stub  # noqa: E402
from klaviyo_snippets.harness.standin import StubKlaviyo  # noqa: E402
from tests.browser.guide import LOADER, SCRIPT_TAG  # noqa: E402
from _report import Report  # noqa: E402

TRACK_TARGET_MS, PAGE_TARGET_MS = 20, 150

PAGE = f"<!doctype html><body>{SCRIPT_TAG}<script>{LOADER}</script></body>"


def new_routed_page(browser, stub):
    context = browser.new_context(**context_options())
    log = route_to_stub(context, stub.url, site={"/index.html": PAGE})
    page = context.new_page()
    page.goto(log.site_url("/index.html"))
    return context, page


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--pages", type=int, default=30)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    choice = choose_browser("chromium")
    with StubKlaviyo() as stub, sync_playwright() as p:
        browser = p.chromium.launch(**choice.launch_options(headless=True))
        context, page = new_routed_page(browser, stub)
        page.evaluate("() => klaviyo.identify({email: 'bench@example.com'})")
        page.wait_for_timeout(500)
        latencies = []
        for i in range(args.events + 10):
            before = stub.store.counts()["total"]
            start = time.perf_counter()
            page.evaluate("i => { klaviyo.track('Bench', {$event_id: 'e' + i, i: i}); }", i)
            while stub.store.counts()["total"] == before:
                page.wait_for_timeout(0.5)  # keeps Playwright's routes running while we wait
            if i >= 10:  # warm-up
                latencies.append(time.perf_counter() - start)
        context.unroute_all(behavior="ignoreErrors")
        context.close()

        opens = []
        for _ in range(args.pages + 3):
            start = time.perf_counter()
            ctx, _page = new_routed_page(browser, stub)
            opens.append(time.perf_counter() - start)
            # Let the page's own requests finish (not timed): closing under a routed request makes
            # Playwright log a cancelled route handler.
            _page.wait_for_load_state("networkidle")
            ctx.unroute_all(behavior="ignoreErrors")
            ctx.close()
        opens = opens[3:]
        browser.close()

    median = statistics.median(latencies) * 1000
    p90 = statistics.quantiles(latencies, n=10)[8] * 1000
    open_median = statistics.median(opens) * 1000
    print(f"browser round trip in {choice.describe()}")
    report = Report()
    report.at_most(f"track -> recorded, median of {args.events}", median, TRACK_TARGET_MS, "ms", digits=1)
    report.note("track -> recorded, p90", f"{p90:.1f} ms")
    report.at_most(f"new routed page, median of {args.pages}", open_median, PAGE_TARGET_MS, "ms", digits=1)
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
