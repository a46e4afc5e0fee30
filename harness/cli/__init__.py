"""The `klaviyo-snippets` command: a thin layer over the generator and the harness.

`main(argv) -> int` is the whole CLI (tests call it in-process). Each command is a module with
`configure_parser(parser)` and `run(args) -> int`, listed once in `COMMANDS`. The one error
handler is here: a `UserError` becomes one short message (red on a terminal, unless NO_COLOR is
set; control and bidirectional characters escaped, so a name cannot rewrite the terminal) and its
exit code (2), never a traceback; Ctrl-C exits 130; output to a pipe that was closed (`generate |
head -1`) ends the command quietly with 141, as a shell reports a command stopped by SIGPIPE;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import os
import select
import sys

from klaviyo_snippets.generator.errors import UserError, printable
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


#: The exit status of a command whose output pipe was closed: 128 + SIGPIPE, as a shell says it.
CLOSED_PIPE = 141


def main(argv: list[str] | None = None) -> int:
    try:
        try:
            code = _run(argv)
        except SystemExit:  # argparse's --help, --version and usage errors: flush here, not at exit
            _flush()
            raise
        _flush()
        return code
    except BrokenPipeError:
        if not _closed(sys.stdout) and not _closed(sys.stderr):
            raise  # not ours to hide: some other pipe or socket
        _quiet()
        return CLOSED_PIPE


def _run(argv: list[str] | None) -> int:
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown:  # with the command's own usage, not the top level's
            args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
        return args.run(args)
    except UserError as err:
        try:
            print(_red(f"error: {printable(str(err))}"), file=sys.stderr, flush=True)
        except BrokenPipeError:  # nowhere to say it: the exit code still does
            _quiet()
        return err.exit_code
    except KeyboardInterrupt:
        return 130


def _red(text: str) -> str:
    if sys.stderr.isatty() and not os.environ.get("NO_COLOR"):
        return f"\033[31m{text}\033[0m"
    return text


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        if stream is not None:
            stream.flush()


def _closed(stream) -> bool:
    """Whether `stream` writes to a pipe nobody reads any more (poll reports an error on it)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a file (a test's StringIO)
        return False
    try:
        poller = select.poll()
    except AttributeError:  # pragma: no cover - no poll (Windows): a broken pipe is the output's
        return True
    poller.register(fd, 0)
    return any(events & select.POLLERR for _, events in poller.poll(0))


def _quiet() -> None:
    """Send what is left of output and errors to /dev/null, so that flushing them at exit does
    not fail again ("Exception ignored ... BrokenPipeError")."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            try:
                fd = stream.fileno()
            except (AttributeError, OSError, ValueError):
                continue
            if _closed(stream):
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)
