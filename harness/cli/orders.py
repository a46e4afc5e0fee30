"""`klaviyo-snippets orders sync`: send an orders file's events to Klaviyo's `/api/events`.

`configure_parser(parser)` takes the parser of the `orders` command and adds its `sync`
sub-command; `run(args)` runs it and returns the exit code: 0 everything accepted (or already
sent), 1 something failed for good or was left unsent, 2 a user mistake (bad orders file,
missing key, refused key), 130 interrupted. Nothing is sent unless every order in the file is
valid. The sending itself (limits, retries, state file, dead letters) is `klaviyo_snippets.generator.server.sending._sender`;
docs/server-side.md, "Sending", describes the options and the files.

The shared option and summary helpers here are used by `catalog push` too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from klaviyo_snippets.generator.server.sending import _sender as snd
from klaviyo_snippets.harness.cli._options import checked, positive_int, positive_seconds
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.server.orders import Order, order_events, read_orders

__all__ = ["configure_parser", "run", "main", "add_send_options", "make_sender"]

EXIT_OK, EXIT_FAILED, EXIT_USER, EXIT_INTERRUPTED = 0, 1, 2, 130
MAX_PROBLEMS_SHOWN = 10


# -- options shared with `catalog push` ------------------------------------------------------------

def add_send_options(parser: argparse.ArgumentParser, *, rate: snd.Rate, state_suffix: str,
                     concurrency: int) -> None:
    parser.add_argument("--api-url", type=checked(snd.check_api_url), default=snd.DEFAULT_API_URL,
                        metavar="URL",
                        help=f"where to send (default {snd.DEFAULT_API_URL}; a stand-in's URL for tests)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the request bodies that would be sent (JSON lines) and send "
                             "nothing; no key needed")
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--state", metavar="FILE",
                       help=f"the state file: what was accepted, so a re-run sends nothing twice "
                            f"(default: the input file's name + {state_suffix})")
    state.add_argument("--no-state", action="store_true",
                       help="keep no state file (every run sends everything; Klaviyo keeps one copy: "
                            "of each event by its unique_id, of each catalog item by its id)")
    parser.add_argument("--rebind-state", action="store_true",
                        help="accept a state file written for another key or --api-url (the same "
                             "account with a rotated key)")
    parser.add_argument("--dead-letter", metavar="FILE",
                        help="where requests that failed for good go (default: the input file's "
                             "name + .dead-letter.jsonl)")
    parser.add_argument("--rate", type=checked(snd.Rate.parse), default=rate, metavar="BURST/STEADY",
                        help=f"requests a second / a minute (default {rate.burst}/{rate.steady}, "
                             "Klaviyo's limits; lower it to leave room for other senders on the account)")
    parser.add_argument("--windows", choices=("sliding", "fixed"), default="sliding",
                        help="how the limiter counts: sliding (default: safe whatever the server's "
                             "window alignment) or fixed (aligned to this machine's clock)")
    parser.add_argument("--concurrency", type=positive_int, default=concurrency, metavar="N",
                        help=f"requests in flight at once (default {concurrency})")
    parser.add_argument("--max-attempts", type=positive_int, default=snd.RetryPolicy.max_attempts,
                        metavar="N", help="tries per request before it goes to the dead-letter file "
                                          f"(default {snd.RetryPolicy.max_attempts})")
    parser.add_argument("--max-backoff", type=positive_seconds, default=snd.RetryPolicy.max_delay,
                        metavar="SECONDS", help="longest wait between retries of a 5xx or a dropped "
                                                f"connection (default {snd.RetryPolicy.max_delay:g})")
    parser.add_argument("--timeout", type=positive_seconds, default=30.0, metavar="SECONDS",
                        help="longest wait for one answer (default 30)")
    parser.add_argument("--progress-interval", type=positive_seconds, default=10.0, metavar="SECONDS",
                        help="when stderr is not a terminal, print a progress line this often (default 10)")


def make_sender(args: argparse.Namespace, key: str, path: str) -> snd.Sender:
    return snd.Sender(
        args.api_url, key, rates={path: args.rate}, windows=args.windows,
        concurrency=args.concurrency, timeout=args.timeout,
        retry=snd.RetryPolicy(max_attempts=args.max_attempts,
                              base_delay=min(snd.RetryPolicy.base_delay, args.max_backoff),
                              max_delay=args.max_backoff))


def default_path(source: str | os.PathLike[str], suffix: str) -> Path:
    source = Path(source)
    return source.with_name(source.name + suffix)


def refuse_same_file(*files: tuple[str, str | os.PathLike[str] | None]) -> None:
    """Refuse a run in which two of its files (`(option, path)`; None = not used) are one file:
    it would append its state or its failures to its own input."""
    seen: list[tuple[str, Path]] = []
    for option, path in files:
        if path is None:
            continue
        path = Path(path)
        for other_option, other in seen:
            try:
                same = os.path.samefile(path, other)
            except OSError:  # one of them does not exist yet
                same = path.resolve() == other.resolve()
            if same:
                raise UserError(f"{other_option} and {option} are the same file ({path}): the run "
                                "would write into it; nothing was done",
                                hint=f"give {other_option} and {option} a file each")
        seen.append((option, path))


def open_state(args: argparse.Namespace, path: Path | None, key: str) -> snd.StateFile | None:
    if path is None:
        return None
    return snd.StateFile.open(path, api_url=args.api_url, private_key=key, rebind=args.rebind_state)


def print_json_lines(bodies: list[dict[str, Any]]) -> None:
    out = sys.stdout
    try:
        for body in bodies:
            out.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
        out.flush()
    except BrokenPipeError:  # `... --dry-run | head`: the reader has had enough
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())


def send_and_record(args: argparse.Namespace, sender: snd.Sender, works: list[snd.Work], *,
                    state: snd.StateFile | None, dead: snd.DeadLetters, key: str,
                    unit: str, accepted: set[snd.Key] | None = None
                    ) -> tuple[snd.Tally, snd.SendAborted | None]:
    """Send, journalling each result as it settles; a fatal stop is returned, not raised, so the
    caller prints its summary first."""
    def on_result(result: snd.Result) -> None:
        # The dead letter first: a crash between the two writes then resends the event (and
        # dead-letters it twice at worst) rather than remembering a failure nobody can replay.
        if "failed" in result.outcomes.values():
            dead.add(result, secret=key)
        if state is not None:
            state.record(result)
        if accepted is not None:
            accepted.update(k for k, outcome in result.outcomes.items() if outcome != "failed")

    per_request = max(len(w.keys) for w in works) if works else 1  # events: 1; catalog items: a batch
    progress = snd.Progress(sum(len(w.keys) for w in works), unit=unit, interval=args.progress_interval,
                            ceiling=args.rate.steady / 60 * per_request) if works else None
    aborted = None
    try:
        tally = sender.run(works, on_result=on_result, progress=progress)
    except snd.SendAborted as error:
        aborted = error
        tally = sender.tally
    finally:
        if state is not None:
            state.close()
        dead.close()
    return tally, aborted


def summary_lines(title: str, rows: list[tuple[str, int]], tally: snd.Tally | None,
                  elapsed: float, notes: list[str]) -> list[str]:
    lines = [title]
    width = max(len(label) for label, _ in rows)
    lines += [f"  {label:<{width}}  {count}" for label, count in rows]
    if tally is not None and tally.requests:
        detail = (f"{tally.throttled} throttled (429), {tally.server_errors} server errors, "
                  f"{tally.connection_errors} connection errors")
        rate = tally.done / elapsed if elapsed > 0 else 0.0
        lines.append(f"  {tally.requests} requests, {tally.retried} retried ({detail}); "
                     f"{elapsed:.1f}s, {rate:.0f}/s")
    lines += [f"  {note}" for note in notes]
    return lines


def finish(lines: list[str], tally: snd.Tally | None, aborted: snd.SendAborted | None,
           sender: snd.Sender | None) -> int:
    print("\n".join(lines), flush=True)
    if aborted is not None:
        raise aborted
    if sender is not None and sender.stopped and sender.stopped.startswith("interrupted"):
        print(f"{sender.stopped}: run the same command again to send the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    if tally is not None and (tally.failed or tally.unsent):
        return EXIT_FAILED
    return EXIT_OK


# -- the orders command -------------------------------------------------------------------------

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
                        help="orders, one JSON object a line (docs/server-side.md)")
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
    try:
        if args.orders_command == "sync":
            return _replay(args) if args.replay else _sync(args)
        raise UserError(f"unknown orders command {args.orders_command!r}")
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return error.exit_code


def main(argv: list[str] | None = None) -> int:
    """`python -m klaviyo_snippets.harness.cli.orders sync ...` (the same as `klaviyo-snippets orders sync`)."""
    parser = argparse.ArgumentParser(prog="klaviyo-snippets orders")
    configure_parser(parser)
    args = parser.parse_args(argv)
    try:
        return run(args)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


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


def load_orders(path: str) -> list[Order]:
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
    orders = load_orders(args.orders)
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


def replay_dead_letters(args: argparse.Namespace, *, unit: str, command: str) -> int:
    """`--replay FILE`: send a dead-letter file's entries again. Entries already accepted (state
    file) are dropped; the file is rewritten (atomically) with what failed again or was left
    unsent, and removed when nothing is left. A file without entries is left alone."""
    started = time.monotonic()
    dead_file = Path(args.replay)
    entries = snd.DeadLetters.read(dead_file)
    if not entries:
        print(f"{dead_file}: nothing to replay (no entries); the file is left as it is", file=sys.stderr)
        return EXIT_OK
    state_path = None
    if not args.no_state:
        recorded = {e["state"] for _, e, _ in entries if isinstance(e.get("state"), str) and e["state"]}
        if args.state:
            state_path = Path(args.state)
        elif len(recorded) == 1:
            state_path = Path(recorded.pop())
        elif len(recorded) > 1:
            raise UserError("the entries name several state files", where=str(dead_file),
                            hint="pass --state FILE (or --no-state)")
    refuse_same_file(("--replay", dead_file), ("--state", state_path))
    if args.dry_run:
        state = snd.StateFile.read(state_path) if state_path else None
        works = [w for w in (_narrow(w, state) for _, _, w in entries) if w is not None]
        print_json_lines([w.body for w in works])
        print(f"dry run, nothing sent. {dead_file}: {len(entries)} entries, {len(works)} would be "
              "sent", file=sys.stderr)
        return EXIT_OK

    snd.check_writable(dead_file, "--replay", replaced=True)  # rewritten when the run ends
    key = snd.read_private_key()
    sender = make_sender(args, key, entries[0][2].path)
    for path in {w.path for _, _, w in entries}:
        sender.limiters.setdefault(path, snd.RateLimiter.for_rate(
            snd.KLAVIYO_RATES.get(path, args.rate), mode=args.windows))
    state = open_state(args, state_path, key)
    todo: list[tuple[dict[str, Any], snd.Work]] = []
    already = 0
    for _, entry, work in entries:
        narrowed = _narrow(work, state)
        already += len(work.keys) - (len(narrowed.keys) if narrowed else 0)
        if narrowed is not None:
            todo.append((entry, narrowed))
    fd, temporary = tempfile.mkstemp(dir=dead_file.parent, prefix=f".{dead_file.name}.", suffix=".tmp")
    os.close(fd)
    dead = snd.DeadLetters(temporary, state_path=state_path)
    accepted: set[snd.Key] = set()
    try:
        tally, aborted = send_and_record(args, sender, [w for _, w in todo], state=state, dead=dead,
                                         key=key, unit=unit, accepted=accepted)
        # What failed again is in the new file already; add back what was never settled.
        with open(temporary, "a", encoding="utf-8") as handle:
            for entry, work in todo:
                unsettled = [i for i, k in enumerate(work.keys)
                             if k not in accepted and k not in dead.failed_keys]
                if unsettled:
                    part = work if len(unsettled) == len(work.keys) else work.only(unsettled)
                    kept = {**entry, "body": part.body}
                    if "catalog_items" in kept:
                        kept["catalog_items"] = [k.id for k in part.keys]
                    handle.write(json.dumps(kept, ensure_ascii=False, separators=(",", ":")) + "\n")
        if os.path.getsize(temporary) == 0:
            os.unlink(temporary)
            dead_file.unlink(missing_ok=True)
            remaining = f"{dead_file} is empty now and was removed"
        else:
            os.replace(temporary, dead_file)
            remaining = f"{dead_file} now holds what failed again or was not sent"
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    rows = [("accepted", tally.accepted)]
    if tally.exists:
        rows.append(("already in the catalog", tally.exists))
    rows += [("already sent (state file)", already), ("failed again", tally.failed)]
    if tally.unsent:
        rows.append(("not sent (stopped; run again)", tally.unsent))
    lines = summary_lines(f"{command} --replay {dead_file} to {args.api_url}", rows, tally,
                          time.monotonic() - started, [remaining] + tally.notes[:10])
    return finish(lines, tally, aborted, sender)


def _narrow(work: snd.Work, state: snd.StateFile | None) -> snd.Work | None:
    if state is None:
        return work
    indexes = [i for i, key in enumerate(work.keys) if not state.done(key)]
    if not indexes:
        return None
    return work if len(indexes) == len(work.keys) else work.only(indexes)


def _replay(args: argparse.Namespace) -> int:
    return replay_dead_letters(args, unit="events", command="orders sync")


if __name__ == "__main__":
    sys.exit(main())
