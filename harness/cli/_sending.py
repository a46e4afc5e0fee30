"""What `orders sync` and `catalog push` share: the sending options, the sender built from them,
the state and dead-letter files, the JSON lines of a dry run, the run's summary and exit code,
and `--replay` of a dead-letter file. The sending itself (limits, retries, state file, dead
letters) is `klaviyo_snippets.generator.server.sending`; docs/server-side.md, "Sending",
describes the options and the files.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.server import file_size
from klaviyo_snippets.generator.server import sending as snd
from klaviyo_snippets.harness.cli._options import checked, positive_int, positive_seconds

EXIT_OK, EXIT_FAILED, EXIT_INTERRUPTED = 0, 1, 130


def file_path(text: str) -> str:
    """An argparse type for a file option: refuses, as a usage error, what no file can be called
    (empty, a NUL, a name too long for the system), so no later check trips over it."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a file's path, got an empty text")
    if "\0" in text:
        raise argparse.ArgumentTypeError("a path cannot contain a NUL character")
    try:
        os.stat(text)
    except (FileNotFoundError, NotADirectoryError, PermissionError):
        pass  # a file to create, or a problem the command reports with its context
    except OSError as error:  # a name too long, a loop of links
        shown = text if len(text) <= 80 else text[:60] + f"... ({len(text)} characters)"
        raise argparse.ArgumentTypeError(f"{error.strerror}: {shown!r}") from None
    return text


def printable(text: str) -> str:
    """`text` as it can be printed on any UTF-8 stdout: a path made of bytes that are not UTF-8
    (Python holds them as surrogates) is shown with escapes instead of failing to print."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def add_send_options(parser: argparse.ArgumentParser, *, rate: snd.Rate, state_suffix: str,
                     concurrency: int) -> None:
    parser.add_argument("--api-url", type=checked(snd.check_api_url), default=snd.DEFAULT_API_URL,
                        metavar="URL",
                        help=f"where to send (default {snd.DEFAULT_API_URL}; a stand-in's URL for tests)")
    parser.add_argument("--dry-run", action="store_true",
                        help="print the request bodies that would be sent (JSON lines) and send "
                             "nothing; no key needed")
    state = parser.add_mutually_exclusive_group()
    state.add_argument("--state", metavar="FILE", type=file_path,
                       help=f"the state file: what was accepted, so a re-run sends nothing twice "
                            f"(default: the input file's name + {state_suffix})")
    state.add_argument("--no-state", action="store_true",
                       help="keep no state file (every run sends everything; Klaviyo keeps one copy: "
                            "of each event by its unique_id, of each catalog item by its id)")
    parser.add_argument("--rebind-state", action="store_true",
                        help="accept a state file written for another key or --api-url (the same "
                             "account with a rotated key)")
    parser.add_argument("--dead-letter", metavar="FILE", type=file_path,
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
    add_progress_option(parser)


def make_sender(args: argparse.Namespace, key: str, path: str) -> snd.Sender:
    return snd.Sender(
        args.api_url, key, rates={path: args.rate}, windows=args.windows,
        concurrency=args.concurrency, timeout=args.timeout,
        retry=snd.RetryPolicy(max_attempts=args.max_attempts,
                              base_delay=min(snd.RetryPolicy.base_delay, args.max_backoff),
                              max_delay=args.max_backoff))


def default_path(source: str | os.PathLike[str], suffix: str) -> Path:
    """The input file's path with `suffix` added (orders.jsonl.sync-state)."""
    source = Path(source)
    if not source.name:  # "", ".", "/": no file's name to add to
        raise UserError(f"{str(source)!r} is not the path of a file", hint="give the input file's path")
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


def print_json_lines(bodies: Iterable[dict[str, Any] | None]) -> int:
    """Print each body as it comes (None: skip); the number printed. After `... | head` closed
    the pipe, the rest is counted, not printed."""
    out = sys.stdout
    count, writing = 0, True
    for body in bodies:
        if body is None:
            continue
        count += 1
        if writing:
            try:
                out.write(json.dumps(body, ensure_ascii=False, separators=(",", ":")) + "\n")
            except BrokenPipeError:  # the reader has had enough
                writing = False
                _silence(out)
    try:
        out.flush()
    except BrokenPipeError:
        _silence(out)
    return count


def _silence(out: Any) -> None:
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, out.fileno())
    except (OSError, ValueError):  # no file descriptor (captured output)
        pass
    finally:
        os.close(devnull)


def read_progress(args: argparse.Namespace, path: str | os.PathLike[str], what: str,
                  problems: Any = None, verb: str = "checking") -> snd.ReadProgress:
    """The progress line of reading `path` (a regular file: `UserError` otherwise)."""
    return snd.ReadProgress(path, file_size(path, what), verb=verb, problems=problems,
                            interval=args.progress_interval)


def add_progress_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--progress-interval", type=positive_seconds, default=10.0, metavar="SECONDS",
                        help="when stderr is not a terminal, print a progress line this often (default 10)")


def send_and_record(args: argparse.Namespace, sender: snd.Sender, works: Iterable[snd.Work | None], *,
                    state: snd.StateFile | None, dead: snd.DeadLetters, key: str,
                    unit: str, accepted: set[snd.Key] | None = None,
                    total: int | None = None, per_request: int = 1
                    ) -> tuple[snd.Tally, snd.SendAborted | None]:
    """Send, journalling each result as it settles; a fatal stop is returned, not raised, so the
    caller prints its summary first. `works`: a list, or with `total` (the keys it carries) and
    `per_request` (the most keys a request carries) an iterable read as the run goes."""
    def on_result(result: snd.Delivery) -> None:
        # The dead letter first: a crash between the two writes then resends the event (and
        # dead-letters it twice at worst) rather than remembering a failure nobody can replay.
        if "failed" in result.outcomes.values():
            dead.add(result, secret=key)
        if state is not None:
            state.record(result)
        if accepted is not None:
            accepted.update(k for k, outcome in result.outcomes.items() if outcome != "failed")

    if total is None:
        works = list(works)
        total = sum(len(w.keys) for w in works if w is not None)
        per_request = max((len(w.keys) for w in works if w is not None), default=1)
    progress = snd.Progress(total, unit=unit, interval=args.progress_interval,
                            ceiling=args.rate.steady / 60 * per_request) if total else None
    aborted = None
    try:
        tally = sender.run(works, on_result=on_result, progress=progress, total=total)
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
    print(printable("\n".join(lines)), flush=True)
    if aborted is not None:
        raise aborted
    if sender is not None and sender.stopped and sender.stopped.startswith("interrupted"):
        print(f"{sender.stopped}: run the same command again to send the rest", file=sys.stderr)
        return EXIT_INTERRUPTED
    if tally is not None and (tally.failed or tally.unsent):
        return EXIT_FAILED
    return EXIT_OK


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
                             if k not in accepted and not dead.has_failed(k)]
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
