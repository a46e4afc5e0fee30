"""`klaviyo-snippets catalog build`: write the custom catalog feed from a products file.

`configure_parser(parser)` takes the parser of the `catalog` command and adds its `build`
sub-command; `run(args)` runs the chosen one and returns the exit code (0 done, 2 for a user
mistake, printed as one short message without a traceback).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .catalog import MAX_FEED_BYTES, RECOMMENDED_FEED_BYTES, build_feed, read_products
from .errors import UserError

__all__ = ["configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="catalog_command", metavar="COMMAND", required=True)
    build = commands.add_parser(
        "build",
        help="write the custom catalog feed (JSON or XML) from a products file",
        description="Validate the products and write Klaviyo's custom catalog feed, split into "
                    "several files past --max-bytes. Host the files publicly and add them as "
                    "catalog sources in Klaviyo.",
    )
    build.add_argument("--products", required=True, metavar="FILE",
                       help="products, one JSON object a line (JSONL) or a JSON array")
    build.add_argument("--format", choices=("json", "xml"),
                       help="feed format (default: from --out's suffix, .xml → xml, else json)")
    build.add_argument("--out", required=True, metavar="PATH",
                       help="the feed file; a split feed is written as PATH's stem -1, -2, ...")
    build.add_argument("--max-bytes", type=int, default=RECOMMENDED_FEED_BYTES, metavar="N",
                       help=f"largest feed file in bytes (default {RECOMMENDED_FEED_BYTES}, "
                            f"Klaviyo's recommendation; at most {MAX_FEED_BYTES})")


def run(args: argparse.Namespace) -> int:
    try:
        if args.catalog_command == "build":
            return _build(args)
        raise UserError(f"unknown catalog command {args.catalog_command!r}")
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


def _build(args: argparse.Namespace) -> int:
    out = Path(args.out)
    feed_format = args.format or ("xml" if out.suffix.lower() == ".xml" else "json")
    if not 0 < args.max_bytes <= MAX_FEED_BYTES:
        raise UserError(f"--max-bytes must be from 1 to {MAX_FEED_BYTES} (Klaviyo reads feed "
                        f"files of at most 100 MB), not {args.max_bytes}")
    if not out.parent.is_dir():
        raise UserError(f"the folder {str(out.parent)!r} does not exist", where="--out")
    products = read_products(args.products)
    files = build_feed(products, feed_format, max_bytes=args.max_bytes)

    targets = [out] if len(files) == 1 else [_part(out, n) for n in range(1, len(files) + 1)]
    for target, content in zip(targets, files):
        _write_atomically(target, content)
        print(f"wrote {target} ({_size(len(content))})")
    print(f"{len(products)} products in {len(files)} {feed_format.upper()} "
          f"file{'s' if len(files) > 1 else ''}")
    stale = [p for p in _existing_parts(out) if p not in targets]
    if out.exists() and out not in targets:
        stale.insert(0, out)
    for path in stale:
        print(f"note: {path} is left from an earlier build; remove it (and its catalog source) "
              "if it is no longer part of the feed", file=sys.stderr)
    return 0


def _part(out: Path, number: int) -> Path:
    return out.with_name(f"{out.stem}-{number}{out.suffix}")


def _existing_parts(out: Path) -> list[Path]:
    parts = []
    number = 1
    while (candidate := _part(out, number)).exists():
        parts.append(candidate)
        number += 1
    return parts


def _write_atomically(path: Path, content: bytes) -> None:
    """Write beside the target and rename, so a feed host never serves half a file."""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; a feed is meant to be served
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _size(count: int) -> str:
    for unit in ("bytes", "kB", "MB"):
        if count < 1000 or unit == "MB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count} bytes"
