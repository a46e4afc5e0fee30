"""`klaviyo-snippets browsers which | ensure`: which browser each lane of the harness would launch,
and the set-up step (./bootstrap runs it) that installs Debian's packages where one is missing.
The work is `klaviyo_snippets.harness.browser` (`choose_browser`, `which_lanes`, `ensure`).
"""

from __future__ import annotations

import argparse

from klaviyo_snippets.harness.browser import BROWSER_NAMES, BrowserUnavailable, choose_browser, ensure, which_lanes

__all__ = ["configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = "Which browser the harness drives, and installing one where none is found."
    commands = parser.add_subparsers(dest="browsers_command", metavar="COMMAND", required=True)
    which = commands.add_parser(
        "which", help="print the browser each lane would launch (chromium, firefox, webkit, the WebKit smoke lane)"
    )
    which.add_argument("--browser", default=None, choices=BROWSER_NAMES, help="only this lane")
    which.add_argument("--headed", action="store_true", help="a Chromium that can show a window")
    which.add_argument("--executable", help="use this binary (checked, then printed)")
    setup = commands.add_parser("ensure", help="install a browser if none is found (as root)")
    setup.add_argument("--headed", action="store_true", help="also the full chromium")
    setup.add_argument("--firefox", action="store_true", help="also Firefox")
    setup.add_argument("--webkit", action="store_true",
                       help="also the WebKit smoke lane (WebKitGTK driver and Xvfb, for Selenium)")
    setup.add_argument("--strict", action="store_true",
                       help="a lane that cannot be installed is an error, not a warning (CI)")


def run(args: argparse.Namespace) -> int:
    if args.browsers_command == "ensure":
        return ensure(headed=args.headed, firefox=args.firefox, webkit=args.webkit, strict=args.strict)
    if args.browser is None and args.executable is None:
        return which_lanes(headed=args.headed)
    try:
        choice = choose_browser(args.browser or "chromium", headed=args.headed, explicit=args.executable)
    except BrowserUnavailable as error:
        error.exit_code = 1  # `which` answers "none here", as every lane's report does: not a usage mistake
        raise
    print(choice.describe())
    return 0
