"""`klaviyo-snippets verify`: load pages (or a storefront of the generated snippets) in a headless
browser against the stand-in and report what Klaviyo would have received; exit 1 when an event
was bad or dropped, an expected event did not arrive good, the generated code or the stand-in
warned (unless --allow-warnings), or a page ran out of --timeout. The work is
`klaviyo_snippets.harness.verify`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.cli._options import checked, positive_int, positive_seconds

__all__ = ["configure_parser", "run"]


def _event_name(text: str) -> str:
    if not text.strip():
        raise UserError("an event name is needed", hint='e.g. --expect "Viewed Product"')
    return text.strip()


def _host(text: str) -> str:
    from klaviyo_snippets.harness.browser import allowed_host

    return allowed_host(text)


def _served(text: str) -> tuple[str, Path]:
    from klaviyo_snippets.harness.browser import served_prefix

    return served_prefix(text)


def _condition(text: str) -> str:
    from klaviyo_snippets.harness.verify import condition_names

    condition_names([text])  # a usage error naming the conditions there are
    return text.strip()


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("pages", nargs="*", metavar="PAGE", help="HTML files or http(s) URLs to load")
    p.add_argument("--generated", metavar="DIR", type=Path,
                   help="instead of pages: a storefront of the snippets generated in DIR (e.g. dist), "
                        "one page per event, its clicks and submits fired as a shopper would")
    p.add_argument("--plan", metavar="FILE", type=Path,
                   help="the tracking plan the pages' generated code came from: the events whose data islands "
                        "are on a page, or whose click or submit trigger was used, must arrive good "
                        "(with --generated: DIR's own plan, as its manifest names it, by default)")
    p.add_argument("--expect", action="append", default=[], metavar="EVENT", type=checked(_event_name),
                   help="every page must send this event good, e.g. \"Viewed Product\" (repeatable; "
                        "\"Identify\" for an identify)")
    p.add_argument("--identify", metavar="EMAIL", help="identify the visitor with this email before the page runs")
    p.add_argument("--click", action="append", default=[], metavar="SELECTOR",
                   help="click the first element matching this CSS selector after load (repeatable)")
    p.add_argument("--allow-warnings", action="store_true",
                   help="warnings (a property left out, a trigger that cannot work, the stand-in's lint) do not "
                        "fail the run; dropped events still do")
    p.add_argument("--allow-host", action="append", default=[], metavar="HOST", type=checked(_host),
                   help="let requests to this host through, e.g. your theme's CDN (repeatable; *.example.com "
                        "for its subdomains); every other host but Klaviyo's and local ones is blocked")
    p.add_argument("--serve", action="append", default=[], metavar="URL_PREFIX=DIR", type=checked(_served),
                   help="answer every URL under this prefix from a local folder, e.g. "
                        "https://cdn.example.com/assets/=theme/assets (repeatable; offline CI)")
    p.add_argument("--browser", choices=("chromium", "firefox", "webkit"), default="chromium",
                   help="browser to run (default: chromium)")
    p.add_argument("--headed", action="store_true", help="show the browser window")
    p.add_argument("--browser-executable", metavar="PATH", help="browser binary to use instead of the automatic choice")
    p.add_argument("--timeout", type=positive_seconds, default=10.0, metavar="SECONDS",
                   help="time for each page: loading, clicks and every request they cause (default: 10); "
                        "a page that needs longer is reported as timed out, with what it had not sent, "
                        "and its browser is killed")
    p.add_argument("--jobs", type=positive_int, metavar="N",
                   help="pages to run at once, each in a page of its own in one browser (default: three per core, "
                        "at most 8, and at most a third of the pages)")
    p.add_argument("--condition", action="append", default=[], metavar="NAME", type=checked(_condition),
                   help="run every page under this real page condition and report it apart (repeatable): "
                        "email-visit, csp-strict, spa, delayed-scripts, consent-denied, consent-granted-late, "
                        "or all (docs/conditions.md)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def run(args: argparse.Namespace) -> int:
    from klaviyo_snippets.generator.plan import selector_problem
    from klaviyo_snippets.harness.verify import verify, verify_generated

    options = dict(identify=args.identify, browser=args.browser, headed=args.headed,
                   executable=args.browser_executable, timeout=args.timeout, expect=tuple(args.expect),
                   allow_warnings=args.allow_warnings, allow_hosts=tuple(args.allow_host),
                   serve=dict(args.serve), jobs=args.jobs, conditions=tuple(args.condition))
    if args.generated and args.pages:
        raise UserError("give PAGE arguments or --generated DIR, not both")
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
        report = verify(args.pages, clicks=tuple(args.click), plan=args.plan, **options)
    else:
        raise UserError("nothing to verify", hint="give HTML files or URLs, or --generated dist")
    print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False) if args.json else report.format())
    return 0 if report.ok else 1
