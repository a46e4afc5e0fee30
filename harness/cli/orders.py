"""`klaviyo-snippets orders sync`: send an orders file's events to Klaviyo's `/api/events`.

Exit codes: 0 everything accepted (or already sent), 1 something failed for good or was left
unsent, 2 a user mistake (bad orders file, missing key, refused key), 130 interrupted. Nothing is
sent unless every order in the file is valid. The options, the state and dead-letter files and
`--replay` are shared with `catalog push` (`_sending.py`); docs/server-side.md, "Sending".
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.server import sending as snd
from klaviyo_snippets.generator.server.orders import Order, order_events, read_orders
from klaviyo_snippets.harness.cli._sending import (
    EXIT_FAILED,
    EXIT_OK,
    add_send_options,
    default_path,
    finish,
    make_sender,
    open_state,
    print_json_lines,
    refuse_same_file,
    replay_dead_letters,
    send_and_record,
    summary_lines,
)

__all__ = ["configure_parser", "run"]

MAX_PROBLEMS_SHOWN = 10


def configure_parser(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="orders_command", metavar="COMMAND", required=True)
    sync = commands.add_parser(
        "sync",
        help="send an orders file's events to Klaviyo (/api/events), resumably",
        description="Validate every order, then send its events (Placed Order, Ordered Product, "
                    "Fulfilled / Canceled / Refunded Order) to Klaviyo's /api/events within the "
                    "rate limits, retrying what may succeed later. A state file remembers what "
                    "was accepted, so a re-run (cron) sends only what is new, and a killed run "
                    "resumes. The private key is read from KLAVIYO_PRIVATE_KEY.",
        epilog="Exit status: 0 all accepted, 1 some failed (see the dead-letter file) or were "
               "left unsent, 2 a mistake in the input or the key, 130 interrupted.",
    )
    source = sync.add_mutually_exclusive_group(required=True)
    source.add_argument("--orders", metavar="FILE.jsonl",
                        help="orders, one JSON object a line (klaviyo-snippets docs server-side)")
    source.add_argument("--replay", metavar="DEAD_LETTER_FILE",
                        help="instead of --orders: send a dead-letter file's entries again (a "
                             "body may be fixed by hand first); what still fails stays in the file")
    sync.add_argument("--since", metavar="T", type=_moment,
                      help="only orders placed at or after T (ISO 8601 date or date-time; naive = UTC)")
    sync.add_argument("--until", metavar="T", type=_moment,
                      help="only orders placed before T")
    sync.add_argument("--backfill", action="store_true",
                      help="mark events backfill: Klaviyo records them without triggering flows "
                           "(for a historical import)")
    add_send_options(sync, rate=snd.KLAVIYO_RATES[snd.EVENTS_PATH], state_suffix=".sync-state",
                     concurrency=16)


def run(args: argparse.Namespace) -> int:
    if args.orders_command == "sync":
        return replay_dead_letters(args, unit="events", command="orders sync") if args.replay else _sync(args)
    raise UserError(f"unknown orders command {args.orders_command!r}")


def _moment(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 date or date-time such as 2024-01-31 or "
            f"2024-01-31T12:00:00Z, got {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _order_moment(order: Order) -> datetime:
    moment = datetime.fromisoformat(order.time)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _load_orders(path: str) -> list[Order]:
    """Every order of the file, or one error listing every bad line (nothing is sent then)."""
    problems: list[UserError] = []
    orders = list(read_orders(path, problems=problems))
    if not problems:
        return orders
    if len(problems) == 1:
        raise problems[0]
    shown = "\n".join(f"  {p}".replace("\n", "\n  ") for p in problems[:MAX_PROBLEMS_SHOWN])
    more = len(problems) - MAX_PROBLEMS_SHOWN
    raise UserError(
        f"{len(problems)} bad lines in the orders file; nothing was sent:\n{shown}"
        + (f"\n  ... and {more} more" if more > 0 else ""),
        hint="fix them and run again (the whole file is checked before anything is sent)")


def _sync(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.since and args.until and args.since >= args.until:
        raise UserError("--since must be before --until")
    orders = _load_orders(args.orders)
    selected = [o for o in orders
                if (args.since is None or _order_moment(o) >= args.since)
                and (args.until is None or _order_moment(o) < args.until)]
    works = [snd.Work.event(body) for order in selected
             for body in order_events(order, backfill=args.backfill)]
    state_path = None if args.no_state else Path(args.state or default_path(args.orders, ".sync-state"))
    dead_path = Path(args.dead_letter or default_path(args.orders, ".dead-letter.jsonl"))
    refuse_same_file(("--orders", args.orders), ("--state", state_path), ("--dead-letter", dead_path))
    skipped = len(orders) - len(selected)
    where = f"{args.orders}: {len(orders)} orders" + \
        (f" ({skipped} outside --since/--until)" if skipped else "") + f", {len(works)} events"

    if args.dry_run:
        state = snd.StateFile.read(state_path) if state_path else None
        pending = [w for w in works if state is None or not state.done(w.keys[0])]
        print_json_lines([w.body for w in pending])
        print(f"dry run, nothing sent. {where}; {len(pending)} would be sent"
              + (f", {len(works) - len(pending)} already sent (state file {state_path})"
                 if len(pending) < len(works) else ""), file=sys.stderr)
        return EXIT_OK

    key = snd.read_private_key()
    sender = make_sender(args, key, snd.EVENTS_PATH)
    dead = snd.DeadLetters(dead_path, state_path=state_path)
    state = open_state(args, state_path, key)
    pending, already, refused = [], 0, 0
    for work in works:
        if state is not None and state.done(work.keys[0]):
            already += 1
        elif state is not None and state.refused_before(work.keys[0], work.body):
            refused += 1
        else:
            pending.append(work)
    tally, aborted = send_and_record(args, sender, pending, state=state, dead=dead, key=key, unit="events")
    code = finish(_event_summary(f"orders sync to {args.api_url} ({where})", tally, already, refused,
                                 dead, state_path, time.monotonic() - started), tally, aborted, sender)
    # Events refused earlier and not resent are still failures waiting in the dead-letter file.
    return EXIT_FAILED if code == EXIT_OK and refused else code


def _event_summary(title: str, tally: snd.Tally, already: int, refused: int, dead: snd.DeadLetters,
                   state_path: Path | None, elapsed: float) -> list[str]:
    rows = [("accepted (202)", tally.accepted),
            ("already sent (state file)", already)]
    if refused:
        rows.append(("refused earlier, unchanged (not resent)", refused))
    rows.append(("failed", tally.failed))
    if tally.unsent:
        rows.append(("not sent (stopped; run again)", tally.unsent))
    notes = []
    if tally.failed:
        notes.append(f"failed events are in {dead.path}; fix the cause, then: "
                     f"orders sync --replay {dead.path}")
    elif refused:
        notes.append(f"refused events are in {dead.path} (orders sync --replay {dead.path})")
    notes.append("deduplicated: not reported by Klaviyo (a duplicate is answered 202 too; Klaviyo "
                 "keeps the first event per profile, metric and unique_id)")
    notes += tally.notes[:10]
    return summary_lines(title, rows, tally, elapsed, notes)
