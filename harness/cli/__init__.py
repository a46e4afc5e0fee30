"""The `klaviyo-snippets` command: a thin layer over the generator and the harness.

`main(argv) -> int` is the whole CLI (tests call it in-process). Each command is a module with
`configure_parser(parser)` and `run(args) -> int`, listed once in `COMMANDS`. The one error
handler is here: a `UserError` becomes one short message (red on a terminal, unless NO_COLOR is
set) and its exit code (2), never a traceback; Ctrl-C exits 130; anything else is a bug and
keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.resources import version
from klaviyo_snippets.harness.cli import browsers, catalog, docs, generate, init, orders, preview, stub, verify

__all__ = ["main", "build_parser"]

# (command, help, module with configure_parser(parser) and run(args) -> exit code)
COMMANDS = (
    ("init", "start a tracking plan: a copy of the built-in one, with its JSON Schema", init),
    ("generate", "tracking plan in, JavaScript, types and docs out in dist/", generate),
    ("orders", "server-side order events: sync an orders file to Klaviyo", orders),
    ("catalog", "the product catalog: build a feed, push it through the Catalogs API, check ids", catalog),
    ("stub", "run the stand-in Klaviyo in the foreground", stub),
    ("preview", "a local storefront and a live inspector of what Klaviyo receives", preview),
    ("verify", "load pages in a headless browser against the stand-in and report", verify),
    ("browsers", "which browser each lane of the harness launches; install one where none is found", browsers),
    ("docs", "read a guide: the tracking plan, the harness, server-side events, the stand-in", docs),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="klaviyo-snippets",
        description="Generate Klaviyo onsite snippets from a tracking plan and prove them against a stand-in Klaviyo.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, help_text, module in COMMANDS:
        command = sub.add_parser(name, help=help_text)
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


def _red(text: str) -> str:
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        return f"\033[31m{text}\033[0m"
    return text
