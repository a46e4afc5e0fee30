"""`klaviyo-snippets docs [TOPIC]`: the guides, readable wherever the package is installed.

Messages of every command point at a topic by this command (``klaviyo-snippets docs
server-side``), which works for a pip user as well as in a checkout (the same files as docs/).
"""

from __future__ import annotations

import argparse
import difflib

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.resources import docs_dir

__all__ = ["configure_parser", "run", "topics"]


def topics() -> dict[str, str]:
    """Topic name -> the guide's title (its first heading)."""
    found = {}
    for path in sorted(docs_dir().glob("*.md")):
        first = path.read_text(encoding="utf-8").split("\n", 1)[0]
        found[path.stem] = first.lstrip("# ").strip()
    return found


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = "Print a guide (Markdown); without a topic, list them."
    parser.add_argument("topic", nargs="?", metavar="TOPIC", help="e.g. tracking-plan, server-side, harness")
    parser.add_argument("--path", action="store_true", help="print the file's path instead of its text")


def run(args: argparse.Namespace) -> int:
    available = topics()
    if args.topic is None:
        width = max(map(len, available))
        for name, title in available.items():
            print(f"{name:<{width}}  {title}")
        print("\nklaviyo-snippets docs TOPIC prints one.")
        return 0
    topic = args.topic.removesuffix(".md").lower()
    if topic not in available:
        close = difflib.get_close_matches(topic, available, n=1)
        raise UserError(f"no guide named {args.topic!r}",
                        hint=(f"did you mean {close[0]}? " if close else "") + f"topics: {', '.join(available)}")
    path = docs_dir() / f"{topic}.md"
    print(path if args.path else path.read_text(encoding="utf-8"), end="" if not args.path else "\n")
    return 0
