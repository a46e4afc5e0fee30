"""`klaviyo-snippets catalog build | push | check`: the custom catalog feed, the Catalogs API,
and a check that events send the catalog's product ids.

Exit codes: 0 done, 1 some items failed or were left unsent (or `check` found ids missing from
the catalog), 2 a user mistake, 130 interrupted.

`push` sends the products as bulk create jobs (≤ 100 items a request) through the same sender
and options as `orders sync` (`_sending.py`: rate limits, retries, state file, dead letters).
Each command reads its products file twice, a product at a time (every product checked first,
with progress lines, then used as read), so memory does not grow with the catalog. A catalog
is filled by a feed or by the API, never both: `push` refuses to run when the user says a feed is
in use (`--feed-in-use`, or `KLAVIYO_CATALOG_FEED_IN_USE=1` in the environment).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.server import KeyIndex, parse_json, read_text
from klaviyo_snippets.generator.server import sending as snd
from klaviyo_snippets.generator.server.catalog import (
    MAX_FEED_BYTES,
    MAX_ITEMS_PER_JOB,
    RECOMMENDED_FEED_BYTES,
    Check,
    Product,
    ProductProblems,
    api_checks,
    feed_checks,
    feed_pieces,
    iter_products,
    iter_unknown_ids,
    job_bodies,
)
from klaviyo_snippets.generator.server.orders import order_events, read_orders
from klaviyo_snippets.harness.cli._sending import (
    EXIT_OK,
    add_progress_option,
    add_send_options,
    default_path,
    file_path,
    finish,
    make_sender,
    open_state,
    print_json_lines,
    printable,
    read_progress,
    refuse_same_file,
    replay_dead_letters,
    send_and_record,
    summary_lines,
)

FEED_ENV = "KLAVIYO_CATALOG_FEED_IN_USE"
MAX_IDS_SHOWN = 50  # missing ids named in `check`'s last line

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
    build.add_argument("--products", required=True, metavar="FILE", type=file_path,
                       help="products, one JSON object a line (JSONL) or a JSON array")
    build.add_argument("--format", choices=("json", "xml"),
                       help="feed format (default: from --out's suffix, .json or .xml)")
    build.add_argument("--out", required=True, metavar="PATH", type=file_path,
                       help="the feed file; a split feed is written as PATH's stem -1, -2, ...")
    build.add_argument("--max-bytes", type=int, default=RECOMMENDED_FEED_BYTES, metavar="N",
                       help=f"largest feed file in bytes (default {RECOMMENDED_FEED_BYTES}, "
                            f"Klaviyo's recommendation; at most {MAX_FEED_BYTES})")
    add_progress_option(build)

    push = commands.add_parser(
        "push",
        help="send the products to Klaviyo's Catalogs API (bulk create jobs)",
        description="Validate the products and create them in Klaviyo's catalog through the "
                    "Catalogs API: bulk create jobs of at most 100 items, within the rate limit "
                    "(75/s, 750/min), retried like orders sync, with a state file so a re-run "
                    "sends only new items. A catalog is filled by a feed OR by the API: this "
                    "refuses to run when you say a feed is in use. The private key (scope "
                    "catalogs:write) is read from KLAVIYO_PRIVATE_KEY.",
        epilog="Items that already exist are reported, not changed: bulk create does not update. "
               "Exit status: 0 done, 1 some items failed (see the dead-letter file) or were left "
               "unsent, 2 a mistake in the input, the key or --feed-in-use, 130 interrupted.",
    )
    source = push.add_mutually_exclusive_group(required=True)
    source.add_argument("--products", metavar="FILE", type=file_path,
                        help="products, one JSON object a line (JSONL) or a JSON array")
    source.add_argument("--replay", metavar="DEAD_LETTER_FILE", type=file_path,
                        help="instead of --products: send a dead-letter file's jobs again")
    push.add_argument("--feed-in-use", action="store_true",
                      help=f"a custom catalog feed fills this catalog: refuse to push (also: "
                           f"{FEED_ENV}=1)")
    push.add_argument("--batch-size", type=int, default=MAX_ITEMS_PER_JOB, metavar="N",
                      help=f"items per bulk job (default and most {MAX_ITEMS_PER_JOB})")
    add_send_options(push, rate=snd.KLAVIYO_RATES[snd.CATALOG_JOBS_PATH], state_suffix=".push-state",
                     concurrency=4)

    check = commands.add_parser(
        "check",
        help="check that the product ids your events send are the catalog's ids",
        description="Recommendations and catalog lookups tie an event to a product by its id: "
                    "an event's ProductID must equal the catalog item's id. This lists every "
                    "product id sent by Viewed Product, Added to Cart, Started Checkout and the "
                    "order events that the catalog does not have.",
    )
    check.add_argument("--products", required=True, metavar="FILE", type=file_path, help="the catalog's products (JSONL or JSON array)")
    check.add_argument("--orders", metavar="FILE.jsonl", type=file_path, help="orders, as for orders sync: their server-side events")
    check.add_argument("--samples", metavar="FILE", type=file_path,
                       help="a generated samples.json (e.g. dist/samples.json): the snippets' sample calls")
    check.add_argument("--events", metavar="FILE", type=file_path,
                       help="events the stand-in recorded: GET /__stub__/events saved as JSON, "
                            "or a test's klaviyo-traffic.json")
    add_progress_option(check)


def run(args: argparse.Namespace) -> int:
    if args.catalog_command == "build":
        return _build(args)
    if args.catalog_command == "push":
        return _push(args)
    if args.catalog_command == "check":
        return _check(args)
    raise UserError(f"unknown catalog command {args.catalog_command!r}")


def _check_products(args: argparse.Namespace, *, checks: Check | None = None,
                    ids: KeyIndex | None = None, state: snd.StateFile | None = None) -> tuple[int, int]:
    """The first pass over the products file: every product checked (all problems reported at
    once; nothing is done then), one held at a time. Returns (products, already sent per
    `state`); `ids` collects the ids."""
    problems = ProductProblems()
    progress = read_progress(args, args.products, "products file", problems)
    count = already = 0
    try:
        for product in iter_products(args.products, checks=checks, problems=problems, progress=progress):
            count += 1
            if ids is not None:
                ids.add(product["id"])
            if state is not None and state.done(snd.Key("catalog-item", product["id"])):
                already += 1
    finally:
        progress.finish()
    return count, already


def _check(args: argparse.Namespace) -> int:
    known = KeyIndex()
    _check_products(args, ids=known)
    sources: list[tuple[str, Callable[[], Iterable[dict]]]] = []
    if args.orders:
        progress = read_progress(args, args.orders, "orders file")
        try:
            for _ in read_orders(args.orders, progress=progress):  # every order checked first
                pass
        finally:
            progress.finish()
        sources.append((args.orders, lambda: (body for order in read_orders(args.orders, unique=False)
                                              for body in order_events(order))))
    for option, path in (("--samples", args.samples), ("--events", args.events)):
        if not path:
            continue
        data = parse_json(read_text(path, f"{option} file"), path)
        sources.append((path, lambda bodies=_bodies_from(data, option): bodies))
    if not sources:
        raise UserError("nothing to check", hint="give --orders, --samples and/or --events")
    missing, shown = KeyIndex(), []
    references = 0
    for path, bodies in sources:
        checked = 0

        def counted(events: Iterable[dict]) -> Iterator[dict]:
            nonlocal checked
            for body in events:
                checked += 1
                yield body

        for problem in iter_unknown_ids(counted(bodies()), known):
            print(printable(f"{path}: {problem}"))
            references += 1
            if problem.product_id not in missing:
                missing.add(problem.product_id)
                if len(shown) < MAX_IDS_SHOWN:
                    shown.append(problem.product_id)
        print(printable(f"{path}: {checked} events checked"))
    if not missing:
        print("every product id is in the catalog")
        return 0
    more = len(missing) - len(shown)
    print(printable(f"{len(missing)} product id{'' if len(missing) == 1 else 's'} not in the catalog "
                    f"({references} reference{'' if references == 1 else 's'}): {', '.join(shown)}"
                    + (f" and {more} more" if more else "")))
    return 1


def _bodies_from(data: object, option: str) -> list[dict]:
    """Event bodies from a samples.json (sample calls) or a stand-in export (recorded events)."""
    def body(metric, properties):
        return {"data": {"attributes": {"metric": {"data": {"attributes": {"name": metric}}},
                                        "properties": properties or {}}}}

    if isinstance(data, dict) and isinstance(data.get("events"), dict):  # samples.json
        return [body(e["call"][1], e["call"][2]) for e in data["events"].values()
                if e.get("method") == "track" and len(e.get("call") or []) > 2]
    if isinstance(data, dict) and isinstance(data.get("events"), list):  # /__stub__/events, traffic
        return [e["body"] if isinstance(e.get("body"), dict) else body(e.get("metric"), e.get("properties"))
                for e in data["events"] if e.get("metric")]
    raise UserError("not a samples.json nor a stand-in events export", where=option,
                    hint="use dist/samples.json, or save GET /__stub__/events as JSON")


def _build(args: argparse.Namespace) -> int:
    out = Path(args.out)
    snd.check_writable(out, "--out", replaced=True)  # written beside, then renamed over
    refuse_same_file(("--products", args.products), ("--out", out))
    feed_format = args.format or {".json": "json", ".xml": "xml"}.get(out.suffix.lower())
    if feed_format is None:
        raise UserError(f"cannot tell the feed format from the name {out.name!r}: the suffixes "
                        "understood are .json and .xml", where="--out",
                        hint="name the file .json or .xml, or give --format json|xml")
    if not 0 < args.max_bytes <= MAX_FEED_BYTES:
        raise UserError(f"--max-bytes must be from 1 to {MAX_FEED_BYTES} (Klaviyo reads feed "
                        f"files of at most 100 MB), not {args.max_bytes}")
    checks = feed_checks(feed_format, max_bytes=args.max_bytes)
    count, _ = _check_products(args, checks=checks)
    sizes = _write_feed(out, feed_pieces(iter_products(args.products, checks=checks), feed_format,
                                         max_bytes=args.max_bytes))
    targets = [out] if len(sizes) == 1 else [_part(out, n) for n in range(1, len(sizes) + 1)]
    for target, size in zip(targets, sizes):
        print(printable(f"wrote {target} ({_size(size)})"))
    print(f"{count} products in {len(sizes)} {feed_format.upper()} "
          f"file{'s' if len(sizes) > 1 else ''}")
    stale = [p for p in _existing_parts(out) if p not in targets]
    if out.exists() and out not in targets:
        stale.insert(0, out)
    for path in stale:
        print(printable(f"note: {path} is left from an earlier build; remove it (and its catalog "
                        "source) if it is no longer part of the feed"), file=sys.stderr)
    return 0


def _write_feed(out: Path, pieces: Iterable[tuple[int, bytes]]) -> list[int]:
    """Write the feed's files as their pieces come, each beside its target, and rename them all
    into place at the end (`out`, or `out`'s stem -1, -2, ... when there are several), so a feed
    host never serves half a file and a failed build leaves the earlier feed as it was.
    Returns the files' sizes."""
    temporaries: list[str] = []
    sizes: list[int] = []
    handle = None
    try:
        for number, piece in pieces:
            if number == len(temporaries):
                if handle is not None:
                    handle.close()
                fd, temporary = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
                temporaries.append(temporary)
                sizes.append(0)
                handle = os.fdopen(fd, "wb")
            handle.write(piece)
            sizes[number] += len(piece)
        if handle is not None:
            handle.close()
        targets = [out] if len(temporaries) == 1 else [_part(out, n) for n in range(1, len(temporaries) + 1)]
        for temporary, target in zip(temporaries, targets):
            os.chmod(temporary, 0o644)  # mkstemp makes 0600; a feed is meant to be served
            os.replace(temporary, target)
    except BaseException:
        if handle is not None:
            handle.close()
        for temporary in temporaries:
            Path(temporary).unlink(missing_ok=True)
        raise
    return sizes


def _part(out: Path, number: int) -> Path:
    return out.with_name(f"{out.stem}-{number}{out.suffix}")


def _existing_parts(out: Path) -> list[Path]:
    parts = []
    number = 1
    while (candidate := _part(out, number)).exists():
        parts.append(candidate)
        number += 1
    return parts


def _size(count: int) -> str:
    for unit in ("bytes", "kB", "MB"):
        if count < 1000 or unit == "MB":
            return f"{count} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1000
    return f"{count} bytes"


# -- push ------------------------------------------------------------------------------------

def _feed_in_use(args: argparse.Namespace) -> str | None:
    if args.feed_in_use:
        return "--feed-in-use"
    value = os.environ.get(FEED_ENV, "").strip().lower()
    if value and value not in ("0", "false", "no", "off"):
        return f"{FEED_ENV}={os.environ[FEED_ENV]}"
    return None


def _push(args: argparse.Namespace) -> int:
    said = _feed_in_use(args)
    if said:
        raise UserError(
            f"a custom catalog feed is in use ({said}), so this catalog must not be filled through "
            "the Catalogs API as well. The integration guide: \"you can only populate products "
            "using one option. To shift from a custom catalog feed to the new catalog API you must "
            "first disable the existing custom catalog feed before using the API.\"",
            hint="to keep the feed: klaviyo-snippets catalog build (and host the file). To switch "
                 "to the API: disable the feed in Klaviyo (the catalog's sources), then run catalog "
                 f"push without --feed-in-use / {FEED_ENV}")
    if not 1 <= args.batch_size <= MAX_ITEMS_PER_JOB:
        raise UserError(f"--batch-size must be from 1 to {MAX_ITEMS_PER_JOB} (Klaviyo's limit per "
                        f"bulk job), not {args.batch_size}")
    if args.replay:
        return replay_dead_letters(args, unit="items", command="catalog push")

    started = time.monotonic()
    state_path = None if args.no_state else Path(args.state or default_path(args.products, ".push-state"))
    dead_path = Path(args.dead_letter or default_path(args.products, ".dead-letter.jsonl"))
    refuse_same_file(("--products", args.products), ("--state", state_path), ("--dead-letter", dead_path))
    checks = api_checks()
    view = snd.StateFile.read(state_path) if state_path else None
    count, already = _check_products(args, checks=checks, state=view)  # every product checked first

    def bodies(state: snd.StateFile | None, on_extra_skip: Callable[[], None] = lambda: None
               ) -> Iterator[dict | None]:
        """The jobs of the products still to send, read from the file as the run asks for them.
        A product sent since the first pass counted (by a run that ended in between) is skipped
        too, and `on_extra_skip` told, so the run's total shrinks with it."""
        def pending() -> Iterator[Product | None]:
            skipped = 0
            for product in iter_products(args.products, checks=checks):
                if state is None or not state.done(snd.Key("catalog-item", product["id"])):
                    yield product
                    continue
                skipped += 1
                if skipped > already:
                    on_extra_skip()
                if skipped % 256 == 0:
                    yield None  # a pause for the run's event loop while many are skipped
        return job_bodies(pending(), batch_size=args.batch_size)

    if args.dry_run:
        jobs = print_json_lines(bodies(view))
        print(f"dry run, nothing sent. {args.products}: {count} products, {count - already} would "
              f"be sent in {jobs} bulk job{'' if jobs == 1 else 's'}", file=sys.stderr)
        return EXIT_OK

    del view  # the run's own view is loaded under the lock, below
    key = snd.read_private_key()
    sender = make_sender(args, key, snd.CATALOG_JOBS_PATH)
    dead = snd.DeadLetters(dead_path, state_path=state_path)
    state = open_state(args, state_path, key)
    jobs = 0

    def shrink() -> None:
        sender.tally.total -= 1

    def works() -> Iterator[snd.Work | None]:
        nonlocal jobs
        for body in bodies(state, shrink):
            if body is not None:
                jobs += 1
            yield None if body is None else snd.Work.catalog_job(body)

    tally, aborted = send_and_record(args, sender, works(), state=state, dead=dead, key=key, unit="items",
                                     total=count - already, per_request=args.batch_size)
    rows = [("created", tally.accepted),
            ("already in the catalog (not updated)", tally.exists),
            ("already sent (state file)", already),
            ("failed", tally.failed)]
    if tally.unsent:
        rows.append(("not sent (stopped; run again)", tally.unsent))
    notes = []
    if tally.failed:
        notes.append(f"failed items are in {dead.path}; fix the cause, then: "
                     f"catalog push --replay {dead.path}")
    notes += tally.notes[:10]
    title = (f"catalog push to {args.api_url} ({args.products}: {count} products, "
             f"{jobs} bulk job{'' if jobs == 1 else 's'} "
             f"of at most {args.batch_size})")
    return finish(summary_lines(title, rows, tally, time.monotonic() - started, notes),
                  tally, aborted, sender)
