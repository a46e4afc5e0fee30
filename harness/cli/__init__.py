"""The `klaviyo-snippets` command: a thin layer over the generator and the harness.

`main(argv) -> int` is the whole CLI (tests call it in-process). A `UserError` becomes a short
message and exit code 2, never a traceback; anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from klaviyo_snippets.harness.cli._options import port_number, positive_seconds
from klaviyo_snippets.generator.errors import UserError


def _version() -> str:
    try:
        return metadata.version("klaviyo-snippets")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _red(text: str) -> str:
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        return f"\033[31m{text}\033[0m"
    return text


# -- stub -----------------------------------------------------------------------------------

def _configure_stub(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8765, help="port to listen on, 0 for any free one (default: 8765)")
    p.add_argument("--rate-limits", choices=("off", "klaviyo"), default="off",
                   help="enforce Klaviyo's per-endpoint rate limits (default: off)")
    p.add_argument("--rate-limit-scale", type=float, default=1.0, metavar="X",
                   help="multiply Klaviyo's limits by X (with --rate-limits klaviyo)")
    p.add_argument("--api-key-env", metavar="VAR", action="append", default=[],
                   help="accept only the private key held in this environment variable "
                        "(repeatable; default: any key shaped like pk_...)")
    p.add_argument("--company-id", action="append", default=[], metavar="KEY",
                   help="accept only this public key (repeatable; default: any 6-character key)")
    p.add_argument("--direct", action="store_true",
                   help="make the onsite script post to this server instead of a.klaviyo.com "
                        "(for pages loaded without request routing)")


def _run_stub(args: argparse.Namespace) -> int:
    from klaviyo_snippets.harness.standin import RateLimits
    from klaviyo_snippets.harness.standin import StubSettings, serve_forever

    keys = []
    for var in args.api_key_env:
        if not os.environ.get(var):
            raise UserError(f"--api-key-env {var}: the variable is not set", hint=f"export {var}=pk_...")
        keys.append(os.environ[var])
    from klaviyo_snippets.harness.standin.wire import COMPANY_ID

    for company in args.company_id:
        if company.startswith("pk_"):  # never echo a private key
            raise UserError("--company-id was given a private API key (pk_...)",
                            hint="give the 6-character public key (company id); a private key belongs in --api-key-env")
        if not COMPANY_ID.match(company):
            raise UserError(f"--company-id {company!r} is not a public key", hint="a Klaviyo company id is 6 letters and digits")
    if args.rate_limit_scale != 1.0 and args.rate_limits != "klaviyo":
        raise UserError("--rate-limit-scale only applies with --rate-limits klaviyo",
                        hint="add --rate-limits klaviyo, or leave out --rate-limit-scale")
    if args.rate_limit_scale <= 0:
        raise UserError("--rate-limit-scale must be more than 0", hint="e.g. 10 for ten times Klaviyo's limits")
    settings = StubSettings(
        api_keys=tuple(keys) or None,
        company_ids=tuple(args.company_id) or None,
        rate_limits=RateLimits.klaviyo(scale=args.rate_limit_scale) if args.rate_limits == "klaviyo" else None,
    )
    if args.direct:
        host = f"[{args.host}]" if ":" in args.host else args.host
        settings.onsite_api_base = f"http://{host}:{args.port}"
        if args.port == 0:
            raise UserError("--direct needs a fixed --port", hint="e.g. --port 8765")
    serve_forever(args.host, args.port, settings)
    return 0


# -- verify ---------------------------------------------------------------------------------

def _configure_verify(p: argparse.ArgumentParser) -> None:
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
                   help="longest wait for a page and its events (default: 10)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _run_verify(args: argparse.Namespace) -> int:
    from klaviyo_snippets.harness.verify import verify, verify_generated

    options = dict(identify=args.identify, browser=args.browser, headed=args.headed,
                   executable=args.browser_executable, timeout=args.timeout)
    if args.generated and args.pages:
        raise UserError("give PAGE arguments or --generated DIR, not both")
    if args.plan and not args.generated:
        raise UserError("--plan only applies with --generated DIR", hint="verify --generated dist --plan my-plan.yaml")
    from klaviyo_snippets.generator.plan._load import selector_problem

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


# -- main -----------------------------------------------------------------------------------

class _Stub:
    configure_parser, run = staticmethod(_configure_stub), staticmethod(_run_stub)


class _Verify:
    configure_parser, run = staticmethod(_configure_verify), staticmethod(_run_verify)


# (command, help, module with configure_parser(parser) and run(args) -> exit code)
COMMANDS = (
    ("init", "start a tracking plan: a copy of the built-in one, with its JSON Schema", "klaviyo_snippets.harness.cli.init"),
    ("generate", "tracking plan in, JavaScript, types and docs out in dist/", "klaviyo_snippets.harness.cli.generate"),
    ("orders", "server-side order events: sync an orders file to Klaviyo", "klaviyo_snippets.harness.cli.orders"),
    ("catalog", "the product catalog: build a feed, push it through the Catalogs API, check ids",
     "klaviyo_snippets.harness.cli.catalog"),
    ("stub", "run the stand-in Klaviyo in the foreground", _Stub),
    ("preview", "a local storefront and a live inspector of what Klaviyo receives", "klaviyo_snippets.harness.preview"),
    ("verify", "load pages in a headless browser against the stand-in and report", _Verify),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="klaviyo-snippets",
        description="Generate Klaviyo onsite snippets from a tracking plan and prove them against a stand-in Klaviyo.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    for name, help_text, module in COMMANDS:
        command = sub.add_parser(name, help=help_text)
        if isinstance(module, str):
            module = importlib.import_module(module)
        module.configure_parser(command)
        command.set_defaults(run=module.run, command_parser=command)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # with the command's own usage, not the top level's
            args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return args.run(args)
    except UserError as err:
        print(_red(f"error: {err}"), file=sys.stderr)
        return err.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
