"""`klaviyo-snippets verify`: load pages (or a storefront of the generated snippets) in a headless
browser against the stand-in and report what Klaviyo would have received; exit 1 when an event
was bad or lost, or a page ran out of --timeout. The work is `klaviyo_snippets.harness.verify`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.cli._options import positive_seconds

__all__ = ["configure_parser", "run"]


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("pages", nargs="*", metavar="PAGE", help="HTML files or http(s) URLs to load")
    p.add_argument("--generated", metavar="DIR", type=Path,
                   help="instead of pages: a storefront of the snippets generated in DIR (e.g. dist), "
                        "one page per event, its clicks and submits fired as a shopper would")
    p.add_argument("--plan", metavar="FILE", type=Path,
                   help="with --generated: the tracking plan DIR was generated from (default: the built-in plan)")
    p.add_argument("--identify", metavar="EMAIL", help="identify the visitor with this email before the page runs")
    p.add_argument("--click", action="append", default=[], metavar="SELECTOR",
                   help="click the first element matching this CSS selector after load (repeatable)")
    p.add_argument("--browser", choices=("chromium", "firefox", "webkit"), default="chromium",
                   help="browser to run (default: chromium)")
    p.add_argument("--headed", action="store_true", help="show the browser window")
    p.add_argument("--browser-executable", metavar="PATH", help="browser binary to use instead of the automatic choice")
    p.add_argument("--timeout", type=positive_seconds, default=10.0, metavar="SECONDS",
                   help="time for each page: loading, clicks and every request they cause (default: 10); "
                        "a page that needs longer is reported as timed out, with what it had not sent, "
                        "and its browser is killed")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from klaviyo_snippets.generator.plan import selector_problem
    from klaviyo_snippets.harness.verify import verify, verify_generated

    options = dict(identify=args.identify, browser=args.browser, headed=args.headed,
                   executable=args.browser_executable, timeout=args.timeout)
    if args.generated and args.pages:
        raise UserError("give PAGE arguments or --generated DIR, not both")
    if args.plan and not args.generated:
        raise UserError("--plan only applies with --generated DIR", hint="verify --generated dist --plan my-plan.yaml")
    for selector in args.click:
        if problem := selector_problem(selector):
            raise UserError(f"--click {selector!r} is not a CSS selector: {problem}",
                            hint="e.g. --click '#Like' or --click '[data-klaviyo-banner]'")
    if args.click and not args.pages:
        raise UserError("--click only applies to PAGE arguments",
                        hint="with --generated, each event's own click and submit triggers are fired")
    if args.generated:
        report = verify_generated(args.generated, args.plan, **options)
    elif args.pages:
        report = verify(args.pages, clicks=tuple(args.click), **options)
    else:
        raise UserError("nothing to verify", hint="give HTML files or URLs, or --generated dist")
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else report.format())
    return 0 if report.ok else 1
