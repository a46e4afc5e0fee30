"""`klaviyo-snippets orders sync`: send an orders file's events to Klaviyo's `/api/events`.

Exit codes: 0 everything accepted (or already sent), 1 something failed for good or was left
unsent, 2 a user mistake (bad orders file, missing key, refused key), 130 interrupted. Nothing is
sent unless every order in the file is valid: the file is read twice, a line at a time (first
every line is checked and the events counted, with progress lines; then the events are sent as
they are read), so memory does not grow with the file. The options, the state and dead-letter files and
`--replay` are shared with `catalog push` (`_sending.py`); docs/server-side.md, "Sending".
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.server import Problems
from klaviyo_snippets.generator.server import sending as snd
from klaviyo_snippets.generator.server.orders import Order, order_events, read_orders
from klaviyo_snippets.harness.cli._sending import (
    EXIT_FAILED,
    EXIT_OK,
    add_send_options,
    default_path,
    file_path,
    finish,
    make_sender,
    open_state,
    print_json_lines,
    read_progress,
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
    source.add_argument("--orders", metavar="FILE.jsonl", type=file_path,
                        help="orders, one JSON object a line (klaviyo-snippets docs server-side)")
    source.add_argument("--replay", metavar="DEAD_LETTER_FILE", type=file_path,
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


def _selected(args: argparse.Namespace, order: Order) -> bool:
    return ((args.since is None or _order_moment(order) >= args.since)
            and (args.until is None or _order_moment(order) < args.until))


@dataclass
class _Scan:
    """What the first pass over the orders file found (events: of the orders selected)."""

    size: int = 0  # bytes checked: the second pass reads no further
    orders: int = 0
    selected: int = 0
    events: int = 0
    already: int = 0  # accepted before (state file)
    refused: int = 0  # refused for good before, unchanged


def _check_orders(args: argparse.Namespace, state: snd.StateFile | None) -> _Scan:
    """The first pass: every line checked (one error listing every bad line; nothing is sent
    then), and the events counted against the state file. Only one order is held at a time."""
    problems = Problems(MAX_PROBLEMS_SHOWN)
    progress = read_progress(args, args.orders, "orders file", problems)
    scan = _Scan()
    try:
        for order in read_orders(args.orders, problems=problems, progress=progress):
            scan.orders += 1
            if not _selected(args, order):
                continue
            scan.selected += 1
            for body in order_events(order, backfill=args.backfill):
                scan.events += 1
                if state is None:
                    continue
                key = snd.Work.event(body).keys[0]
                if state.done(key):
                    scan.already += 1
                elif state.refused_before(key, body):
                    scan.refused += 1
    finally:
        progress.finish()
    scan.size = progress.done
    if not problems:
        return scan
    if problems.count == 1:
        raise problems.first[0]
    shown = "\n".join(f"  {p}".replace("\n", "\n  ") for p in problems.first)
    more = problems.count - len(problems.first)
    raise UserError(
        f"{problems.count} bad lines in the orders file; nothing was sent:\n{shown}"
        + (f"\n  ... and {more} more" if more > 0 else ""),
        hint="fix them and run again (the whole file is checked before anything is sent)")


class _Pending:
    """The second pass: the events still to send, read from the file as the run asks for them.
    Counts what it skips; when it skips more than the first pass counted (one event twice in the
    file: the second is sent already), `on_extra_skip` is told, so the run's total shrinks."""

    def __init__(self, args: argparse.Namespace, scan: _Scan, state: snd.StateFile | None, *,
                 skip_refused: bool, on_extra_skip: Callable[[], None] = lambda: None):
        self.args, self.scan, self.state = args, scan, state
        self.skip_refused = skip_refused
        self.on_extra_skip = on_extra_skip
        self.already = self.refused = 0
        self.finished = False

    def works(self) -> Iterator[snd.Work | None]:
        expected = self.scan.already + (self.scan.refused if self.skip_refused else 0)
        skipped = 0
        for order in self._orders():
            if not _selected(self.args, order):
                continue
            for body in order_events(order, backfill=self.args.backfill):
                work = snd.Work.event(body)
                if self.state is not None and self.state.done(work.keys[0]):
                    self.already += 1
                elif self.skip_refused and self.state is not None \
                        and self.state.refused_before(work.keys[0], body):
                    self.refused += 1
                else:
                    yield work
                    continue
                skipped += 1
                if skipped > expected:
                    self.on_extra_skip()
                if skipped % 256 == 0:
                    yield None  # a pause for the run's event loop while many are skipped
        self.finished = True

    def _orders(self) -> Iterator[Order]:
        try:
            yield from read_orders(self.args.orders, unique=False, limit=self.scan.size)
        except UserError as error:
            raise UserError(f"the orders file changed while it was being sent: {error}",
                            hint="run again: what was accepted is in the state file") from None


def _sync(args: argparse.Namespace) -> int:
    started = time.monotonic()
    if args.since and args.until and args.since >= args.until:
        raise UserError("--since must be before --until")
    state_path = None if args.no_state else Path(args.state or default_path(args.orders, ".sync-state"))
    dead_path = Path(args.dead_letter or default_path(args.orders, ".dead-letter.jsonl"))
    refuse_same_file(("--orders", args.orders), ("--state", state_path), ("--dead-letter", dead_path))
    view = snd.StateFile.read(state_path) if state_path else None
    scan = _check_orders(args, view)
    skipped = scan.orders - scan.selected
    where = f"{args.orders}: {scan.orders} orders" + \
        (f" ({skipped} outside --since/--until)" if skipped else "") + f", {scan.events} events"

    if args.dry_run:
        pending = _Pending(args, scan, view, skip_refused=False)
        count = print_json_lines(w.body if w is not None else None for w in pending.works())
        print(f"dry run, nothing sent. {where}; {count} would be sent"
              + (f", {pending.already} already sent (state file {state_path})" if pending.already else ""),
              file=sys.stderr)
        return EXIT_OK

    del view  # the run's own view is loaded under the lock, below
    key = snd.read_private_key()
    sender = make_sender(args, key, snd.EVENTS_PATH)
    dead = snd.DeadLetters(dead_path, state_path=state_path)
    state = open_state(args, state_path, key)

    def shrink() -> None:
        sender.tally.total -= 1

    pending = _Pending(args, scan, state, skip_refused=True, on_extra_skip=shrink)
    tally, aborted = send_and_record(args, sender, pending.works(), state=state, dead=dead, key=key,
                                     unit="events", total=scan.events - scan.already - scan.refused)
    already, refused = (pending.already, pending.refused) if pending.finished else (scan.already, scan.refused)
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
