"""`orders sync` against the real stand-in on loopback, over real HTTP.

Each test starts its own stand-in (port 0) and points `--api-url` at it. What counts is what the
stand-in recorded: every expected event (metric + unique_id) judged `good` exactly once, nothing
`bad`, no `duplicate` unless the test says why one is allowed. The private key must never show
up in the output, the state file or the dead-letter file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest

from klaviyo_snippets.generator.server import sending as snd
from klaviyo_snippets.generator.server.orders import order_events, placed_order_body, read_orders
from klaviyo_snippets.harness.cli import main
from klaviyo_snippets.harness.standin import StubKlaviyo, StubSettings
from klaviyo_snippets.harness.standin._limits import RateLimits
from tests.processes import running

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ORDERS = ROOT / "examples/orders.jsonl"
KEY = "pk_integrationTest0123456789"


# -- helpers -----------------------------------------------------------------------------------

def sync(*argv: str) -> int:
    return main(["orders", "sync", *argv])


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("KLAVIYO_PRIVATE_KEY", KEY)
    return KEY


@pytest.fixture
def orders(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text(EXAMPLE_ORDERS.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def expected_events(path: Path) -> Counter:
    return Counter((b["data"]["attributes"]["metric"]["data"]["attributes"]["name"],
                    b["data"]["attributes"]["unique_id"])
                   for order in read_orders(path) for b in order_events(order))


def recorded(stub: StubKlaviyo, status: str = "good") -> Counter:
    return Counter((e["metric"], e["unique_id"]) for e in stub.events(status=status))


def statuses(stub: StubKlaviyo) -> Counter:
    return Counter(r["response"]["status"] for r in stub.requests() if r["path"].startswith("/api/events"))


def waits_after_429(stub: StubKlaviyo) -> list[float]:
    """For each request answered 429, the seconds until the same body was sent again, measured
    by the stand-in's own clock (when each request arrived), not by the test's."""
    attempts: dict[str, list[dict]] = {}
    for r in stub.requests():
        if r["path"].startswith("/api/events"):
            attempts.setdefault(json.dumps(r["body"], sort_keys=True), []).append(r)
    waits = []
    for tries in attempts.values():
        for this, retry in zip(tries, tries[1:]):
            if this["response"]["status"] == 429:
                waits.append((datetime.fromisoformat(retry["received_at"].replace("Z", "+00:00"))
                              - datetime.fromisoformat(this["received_at"].replace("Z", "+00:00"))).total_seconds())
    return waits


def synthetic_orders(path: Path, count: int, *, prefix: str = "S") -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for n in range(count):
            lines = [{"ProductID": f"P{n % 50}", "ProductName": f"Product {n % 50}", "Quantity": 1,
                      "ItemPrice": 5 + n % 7, "RowTotal": 5 + n % 7}]
            handle.write(json.dumps({
                "OrderId": f"{prefix}{n:05d}", "time": f"2024-03-{1 + n % 28:02d}T10:{n % 60:02d}:00Z",
                "value": 5 + n % 7, "currency": "EUR", "customer": {"email": f"c{n % 40}@example.com"},
                "Items": lines}) + "\n")
    return path


def assert_exactly_once(stub: StubKlaviyo, expected: Counter) -> None:
    good = recorded(stub)
    assert good == expected, {"missing": expected - good, "extra": good - expected}
    assert stub.events(status="bad") == []


def assert_no_key(*texts: str, files: tuple[Path, ...] = ()) -> None:
    for text in texts:
        assert KEY not in text and KEY[3:] not in text
    for path in files:
        if path.exists():
            content = path.read_text(encoding="utf-8")
            assert KEY not in content and KEY[3:] not in content, path


# -- the examples, once and only once -------------------------------------------------------------

def test_sync_sends_every_event_once_and_a_rerun_sends_nothing(stub, key, orders, capsys):
    assert sync("--orders", str(orders), "--api-url", stub.url) == 0
    first = capsys.readouterr()
    expected = expected_events(orders)
    assert sum(expected.values()) == 16
    assert_exactly_once(stub, expected)
    assert "accepted (202)             16" in first.out
    assert "already sent (state file)  0" in first.out
    requests = len(stub.requests())

    assert sync("--orders", str(orders), "--api-url", stub.url) == 0
    second = capsys.readouterr()
    assert len(stub.requests()) == requests  # nothing sent
    assert "already sent (state file)  16" in second.out
    assert_exactly_once(stub, expected)

    state = orders.with_name("orders.jsonl.sync-state")
    lines = [json.loads(line) for line in state.read_text().splitlines()]
    assert lines[0]["state"] == "klaviyo-snippets send state" and lines[0]["api_url"] == stub.url
    assert Counter((line["metric"], line["unique_id"]) for line in lines[1:]) == expected
    assert not orders.with_name("orders.jsonl.dead-letter.jsonl").exists()
    assert_no_key(first.out, first.err, second.out, second.err, files=(state,))
    # What went over the wire: the private endpoint, JSON:API, a revision, the key in the header only.
    request = stub.requests()[0]
    assert request["headers"]["authorization"] == "Klaviyo-API-Key [redacted]"
    assert request["headers"]["content-type"] == "application/vnd.api+json"
    assert request["headers"]["revision"] == snd.REVISION


def test_new_orders_appended_later_are_the_only_ones_sent(stub, key, orders, capsys):
    assert sync("--orders", str(orders), "--api-url", stub.url) == 0
    synthetic_orders(orders.with_name("more.jsonl"), 3, prefix="N")
    with orders.open("a", encoding="utf-8") as handle:
        handle.write(orders.with_name("more.jsonl").read_text())
    before = len(stub.requests())
    assert sync("--orders", str(orders), "--api-url", stub.url) == 0
    assert len(stub.requests()) - before == 6  # 3 orders x (Placed Order + Ordered Product)
    assert_exactly_once(stub, expected_events(orders))


def test_since_and_until_pick_orders_by_their_time(stub, key, orders, capsys):
    assert sync("--orders", str(orders), "--api-url", stub.url, "--no-state",
                "--since", "2022-11-12", "--until", "2023-01-01T00:00:00Z") == 0
    sent = {uid for _, uid in recorded(stub)}
    assert sent == {"1235", "1235-1", "1235-2", "1236", "1236-1", "1236-2"}
    assert "(2 outside --since/--until)" in capsys.readouterr().out


def test_dry_run_prints_the_bodies_and_sends_nothing(stub, orders, capsys, monkeypatch):
    monkeypatch.delenv("KLAVIYO_PRIVATE_KEY", raising=False)
    assert sync("--orders", str(orders), "--api-url", stub.url, "--dry-run") == 0
    out, err = capsys.readouterr()
    bodies = [json.loads(line) for line in out.splitlines()]
    assert bodies == [b for o in read_orders(orders) for b in order_events(o)]
    assert stub.requests() == []
    assert "dry run, nothing sent" in err and "16 would be sent" in err
    assert not orders.with_name("orders.jsonl.sync-state").exists()


def test_a_missing_or_wrong_key_is_a_clear_error(stub, orders, capsys, monkeypatch):
    monkeypatch.delenv("KLAVIYO_PRIVATE_KEY", raising=False)
    assert sync("--orders", str(orders), "--api-url", stub.url) == 2
    assert "KLAVIYO_PRIVATE_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("KLAVIYO_PRIVATE_KEY", "AbC123")
    assert sync("--orders", str(orders), "--api-url", stub.url) == 2
    err = capsys.readouterr().err
    assert "a public key" in err and "AbC123" not in err
    assert stub.requests() == []


def test_a_refused_key_stops_the_run_and_marks_nothing(orders, capsys, monkeypatch):
    monkeypatch.setenv("KLAVIYO_PRIVATE_KEY", KEY)
    with StubKlaviyo(settings=StubSettings(api_keys=("pk_theRightKey",))) as stub:
        code = sync("--orders", str(orders), "--api-url", stub.url, "--concurrency", "2")
        out, err = capsys.readouterr()
        assert code == 2
        assert "private key was refused (401)" in err
        assert len(stub.requests()) <= 2  # the requests in flight, then nothing more
    state = orders.with_name("orders.jsonl.sync-state").read_text()
    assert '"result"' not in state  # nothing accepted, nothing dead-lettered
    assert not orders.with_name("orders.jsonl.dead-letter.jsonl").exists()
    assert_no_key(out, err)


def test_every_bad_line_is_reported_and_nothing_is_sent(stub, key, orders, capsys):
    lines = orders.read_text().splitlines()
    broken = json.loads(lines[1])
    broken["value"] = "35.98"
    lines[1] = json.dumps(broken)
    lines.append("{not json")
    orders.write_text("\n".join(lines) + "\n")
    assert sync("--orders", str(orders), "--api-url", stub.url) == 2
    err = capsys.readouterr().err
    assert "2 bad lines in the orders file; nothing was sent" in err
    assert f"{orders}:2 (OrderId '1235') at /value" in err and f"{orders}:5: not valid JSON" in err
    assert stub.requests() == []


def test_a_state_file_of_another_destination_is_refused(stub, key, orders, capsys):
    assert sync("--orders", str(orders), "--api-url", stub.url) == 0
    with StubKlaviyo() as other:
        assert sync("--orders", str(orders), "--api-url", other.url) == 2
        assert "does not belong to this run" in capsys.readouterr().err
        assert other.requests() == []
        assert sync("--orders", str(orders), "--api-url", other.url, "--rebind-state") == 0
        assert other.requests() == []  # same account, as the user says: all sent already


# -- rate limits -----------------------------------------------------------------------------

def test_within_klaviyos_limits_the_stand_in_never_answers_429(key, tmp_path, capsys):
    """Klaviyo's limits scaled by 0.4 (/api/events: 140/s, 1400/min) and 600 events: the burst
    window is what binds; the sender keeps under it."""
    path = synthetic_orders(tmp_path / "orders.jsonl", 300)
    limits = RateLimits.klaviyo(scale=0.4)
    with StubKlaviyo(settings=StubSettings(rate_limits=limits)) as stub:
        assert sync("--orders", str(path), "--api-url", stub.url, "--rate", "140/1400") == 0
        # The stand-in enforces 140 a second: 600 events with no 429 means the limiter held them
        # back (the next test is the control: without it, the stand-in throttles).
        assert statuses(stub) == {202: 600}
        assert_exactly_once(stub, expected_events(path))
    assert "0 throttled (429)" in capsys.readouterr().out


def test_without_our_limiter_the_stand_in_throttles_and_retries_still_deliver_once(key, tmp_path, capsys):
    """The control for the test above: the same limits, the sender's own limiter opened wide.
    The stand-in answers 429 with Retry-After; everything still arrives exactly once."""
    path = synthetic_orders(tmp_path / "orders.jsonl", 150)
    with StubKlaviyo(settings=StubSettings(rate_limits=RateLimits.klaviyo(scale=0.4))) as stub:
        assert sync("--orders", str(path), "--api-url", stub.url, "--rate", "100000/1000000") == 0
        throttled = statuses(stub)[429]
        assert throttled > 0
        assert_exactly_once(stub, expected_events(path))
        assert stub.events(status="duplicate") == []
    assert f"{throttled} throttled (429)" in capsys.readouterr().out


# -- faults ------------------------------------------------------------------------------------

def test_429s_5xx_and_dropped_connections_are_retried_into_exactly_once(stub, key, orders, capsys):
    stub.inject_fault("429", 3, path="/api/events", retry_after=1)
    stub.inject_fault("500", 2, path="/api/events")
    stub.inject_fault("503", 2, path="/api/events")
    stub.inject_fault("drop", 2, path="/api/events")
    assert sync("--orders", str(orders), "--api-url", stub.url, "--max-backoff", "0.2") == 0
    out = capsys.readouterr().out
    assert_exactly_once(stub, expected_events(orders))
    assert stub.events(status="duplicate") == []
    assert statuses(stub) == {429: 3, 500: 2, 503: 2, 0: 2, 202: 16}
    assert "25 requests, 9 retried (3 throttled (429), 4 server errors, 2 connection errors)" in out
    waits = waits_after_429(stub)
    assert len(waits) == 3 and min(waits) >= 0.999, waits  # Retry-After: 1 was honoured, though backoff is 0.2 s


def test_retries_exhausted_go_to_the_dead_letter_file_and_the_next_run_sends_them(stub, key, orders, capsys):
    stub.inject_fault("503", 2, path="/api/events")
    code = sync("--orders", str(orders), "--api-url", stub.url, "--concurrency", "1",
                "--max-attempts", "2", "--max-backoff", "0.05")
    out = capsys.readouterr().out
    assert code == 1
    dead_file = orders.with_name("orders.jsonl.dead-letter.jsonl")
    [entry] = [json.loads(line) for line in dead_file.read_text().splitlines()]
    assert (entry["metric"], entry["unique_id"], entry["status"]) == ("Placed Order", "1234", 503)
    assert entry["transient"] is True and entry["reason"].startswith("gave up after 2 attempts")
    assert "failed                     1" in out and "--replay" in out

    # The next run sends it again (a transient failure may succeed now) ...
    assert sync("--orders", str(orders), "--api-url", stub.url) == 0
    assert_exactly_once(stub, expected_events(orders))
    # ... and a replay of the dead letter finds it already sent and empties the file.
    before = len(stub.requests())
    assert sync("--replay", str(dead_file), "--api-url", stub.url) == 0
    out = capsys.readouterr().out
    assert len(stub.requests()) == before and not dead_file.exists()
    assert "already sent (state file)  1" in out
    assert_no_key(out, files=(dead_file, orders.with_name("orders.jsonl.sync-state")))


def test_a_refused_event_is_dead_lettered_then_fixed_and_replayed(stub, key, orders, capsys):
    """A Placed Order the stand-in refuses with 400 (a property longer than 100 KB)."""
    big = {"OrderId": "9001", "time": "2024-01-05T10:00:00Z", "value": 12, "currency": "USD",
           "customer": {"email": "long.note@example.com"}, "extra": {"GiftNote": "x" * 110_000},
           "Items": [{"ProductID": "1111", "ProductName": "Winnie the Pooh", "Quantity": 1,
                      "ItemPrice": 12, "RowTotal": 12}]}
    with orders.open("a") as handle:
        handle.write(json.dumps(big) + "\n")
    assert sync("--orders", str(orders), "--api-url", stub.url) == 1
    out = capsys.readouterr().out
    dead_file = orders.with_name("orders.jsonl.dead-letter.jsonl")
    [entry] = [json.loads(line) for line in dead_file.read_text().splitlines()]
    assert (entry["metric"], entry["unique_id"], entry["status"]) == ("Placed Order", "9001", 400)
    assert "longer than 100 KB" in entry["reason"] and "/properties/GiftNote" in entry["reason"]
    assert entry["transient"] is False and entry["attempts"] == 1
    assert entry["body"]["data"]["attributes"]["unique_id"] == "9001"
    assert "accepted (202)             17" in out and "failed                     1" in out

    assert dead_file.stat().st_mode & 0o777 == 0o600  # customers' data: its owner's only

    # A re-run does not send the same refused body again (it would fail again), and still exits 1:
    # the failure is waiting in the dead-letter file (cron must not call this a success).
    before = len(stub.requests())
    assert sync("--orders", str(orders), "--api-url", stub.url) == 1
    assert len(stub.requests()) == before
    assert "refused earlier, unchanged (not resent)  1" in capsys.readouterr().out

    # Fix the body in the dead-letter file by hand, and replay it.
    entry["body"]["data"]["attributes"]["properties"]["GiftNote"] = "Happy birthday!"
    dead_file.write_text(json.dumps(entry) + "\n")
    assert sync("--replay", str(dead_file), "--api-url", stub.url) == 0
    out = capsys.readouterr().out
    assert "accepted" in out and not dead_file.exists()
    [placed] = [e for e in stub.events(status="good") if e["unique_id"] == "9001" and e["metric"] == "Placed Order"]
    assert placed["properties"]["GiftNote"] == "Happy birthday!"
    expected = expected_events(EXAMPLE_ORDERS) + Counter({("Placed Order", "9001"): 1, ("Ordered Product", "9001-1"): 1})
    assert recorded(stub) == expected
    assert_no_key(out, files=(orders.with_name("orders.jsonl.sync-state"),))


# -- killed or stopped mid-run ---------------------------------------------------------------------

def _start_sync(path: Path, url: str, *extra: str):
    """`with _start_sync(...) as process:` the sync, stopped however the block ends."""
    env = {**os.environ, "KLAVIYO_PRIVATE_KEY": KEY, "PYTHONPATH": str(ROOT)}
    return running(
        [sys.executable, "-m", "klaviyo_snippets", "orders", "sync", "--orders", str(path),
         "--api-url", url, *extra],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _wait_for_events(stub: StubKlaviyo, count: int, process: subprocess.Popen, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while len(stub.events()) < count:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the sync did not get going"
        time.sleep(0.02)


def test_killed_mid_run_the_next_run_resumes_none_missing_none_twice(stub, tmp_path, key, capsys):
    path = synthetic_orders(tmp_path / "orders.jsonl", 400)  # 800 events
    expected = expected_events(path)
    with _start_sync(path, stub.url, "--rate", "200/100000") as process:
        _wait_for_events(stub, 250, process)
        process.send_signal(signal.SIGKILL)
        out, err = process.communicate(timeout=10)
    assert process.returncode == -signal.SIGKILL
    at_kill = len(stub.events())
    assert 250 <= at_kill < 800

    assert sync("--orders", str(path), "--api-url", stub.url) == 0
    rerun = capsys.readouterr()
    assert_exactly_once(stub, expected)
    # The journal line of an accepted event is written as its answer arrives, so only requests
    # in flight at the kill (at most --concurrency, 16) can be sent twice; Klaviyo's unique_id
    # dedup keeps the first (the stand-in records the second as `duplicate`).
    duplicates = recorded(stub, "duplicate")
    assert sum(duplicates.values()) <= 16
    assert set(duplicates) <= set(expected)
    state = path.with_name("orders.jsonl.sync-state")
    assert len(snd.StateFile.read(state).accepted) == 800
    assert_no_key(out, err, rerun.out, rerun.err, files=(state,))


def test_stopped_with_sigterm_it_settles_what_is_in_flight_and_resumes_without_duplicates(stub, tmp_path, key, capsys):
    path = synthetic_orders(tmp_path / "orders.jsonl", 300)  # 600 events
    with _start_sync(path, stub.url, "--rate", "200/100000", "--progress-interval", "0.2") as process:
        _wait_for_events(stub, 250, process)  # past the first second's 200
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    assert process.returncode == 130
    assert "not sent (stopped; run again)" in out and "interrupted (SIGTERM)" in err
    assert "progress: " in err  # stderr is a pipe here: plain periodic lines, no bar
    assert sync("--orders", str(path), "--api-url", stub.url) == 0
    capsys.readouterr()
    assert_exactly_once(stub, expected_events(path))
    assert stub.events(status="duplicate") == []  # every request in flight was journalled


# -- the official SDK and our sender agree ------------------------------------------------------

def test_the_official_sdk_and_our_sender_are_answered_alike(stub):
    from klaviyo_api import KlaviyoAPI

    sdk = KlaviyoAPI(KEY, test_host=stub.url, max_retries=3, max_delay=5)
    ours = snd.Sender(stub.url, KEY)
    first, second = list(read_orders(EXAMPLE_ORDERS))[:2]

    # Ours first, then the SDK with the same body: good, then duplicate.
    body = placed_order_body(first)
    tally = ours.run([snd.Work.event(body)])
    assert tally.accepted == 1
    sdk.Events.create_event(body)
    # The SDK first, then ours: the same.
    other = placed_order_body(second)
    sdk.Events.create_event(other)
    assert snd.Sender(stub.url, KEY).run([snd.Work.event(other)]).accepted == 1

    events = stub.events()
    assert [(e["unique_id"], e["status"]) for e in events] == [
        ("1234", "good"), ("1234", "duplicate"), ("1235", "good"), ("1235", "duplicate")]
    assert [r["response"]["status"] for r in stub.requests()] == [202, 202, 202, 202]
    for a, b in ((events[0], events[1]), (events[2], events[3])):
        assert a["profile_id"] == b["profile_id"]
        assert (a["metric"], a["properties"], a["value"], a["time"]) == (b["metric"], b["properties"], b["value"], b["time"])
    agents = [r["headers"]["user-agent"] for r in stub.requests()]
    assert agents[0].startswith("klaviyo-snippets") and agents[1].startswith("klaviyo-api-python/")


def test_the_sdk_and_our_sender_both_wait_out_a_429(stub):
    from klaviyo_api import KlaviyoAPI

    [body_a, body_b] = [placed_order_body(o) for o in list(read_orders(EXAMPLE_ORDERS))[2:4]]
    stub.inject_fault("429", 1, retry_after=1)
    KlaviyoAPI(KEY, test_host=stub.url, max_retries=3, max_delay=5).Events.create_event(body_a)
    stub.inject_fault("429", 1, retry_after=1)
    assert snd.Sender(stub.url, KEY).run([snd.Work.event(body_b)]).accepted == 1
    assert [r["response"]["status"] for r in stub.requests()] == [429, 202, 429, 202]
    assert [w >= 0.999 for w in waits_after_429(stub)] == [True, True]  # Retry-After: 1, for both
    assert [e["status"] for e in stub.events()] == ["good", "good"]


def test_the_cli_knows_the_orders_command():
    with pytest.raises(SystemExit) as done:
        main(["orders", "sync", "--help"])
    assert done.value.code == 0


# -- streaming (issue 12): the file is read twice, a line at a time ---------------------------------

def test_an_event_twice_in_the_file_is_sent_once_and_the_run_still_ends_complete(stub, key, tmp_path, capsys):
    """Two orders that share a `unique_id`: their Placed Orders (and Ordered Products) are one
    event each to Klaviyo. The first pass counts both copies as to send; the second skips a copy
    once the first is accepted, and the run's total shrinks with it (no "not sent", exit 0)."""
    path = synthetic_orders(tmp_path / "orders.jsonl", 3)
    lines = path.read_text().splitlines()
    twin = json.loads(lines[2]) | {"unique_id": json.loads(lines[1])["OrderId"]}
    path.write_text("\n".join([*lines[:2], json.dumps(twin)]) + "\n")
    assert sync("--orders", str(path), "--api-url", stub.url, "--concurrency", "1") == 0
    out = capsys.readouterr().out
    assert "not sent" not in out and "accepted (202)             4" in out
    assert "already sent (state file)  2" in out
    assert recorded(stub)[("Placed Order", "S00001")] == 1 and stub.events(status="duplicate") == []


def test_orders_appended_while_a_run_sends_are_left_for_the_next_run(stub, key, tmp_path, capsys, monkeypatch):
    """The second pass reads no further than the first checked: an order appended in between (a
    shop writing its export meanwhile) is neither sent unchecked nor counted as left unsent."""
    import klaviyo_snippets.harness.cli.orders as orders_cli

    path = synthetic_orders(tmp_path / "orders.jsonl", 40)
    late = synthetic_orders(tmp_path / "late.jsonl", 1, prefix="LATE").read_text()
    check = orders_cli._check_orders

    def check_then_append(*args):
        scan = check(*args)
        with path.open("a") as handle:
            handle.write(late)
        return scan

    monkeypatch.setattr(orders_cli, "_check_orders", check_then_append)
    assert sync("--orders", str(path), "--api-url", stub.url) == 0
    assert "not sent" not in capsys.readouterr().out
    assert ("Placed Order", "LATE00000") not in recorded(stub) and len(recorded(stub)) == 80
    monkeypatch.setattr(orders_cli, "_check_orders", check)
    assert sync("--orders", str(path), "--api-url", stub.url) == 0  # the next run sends it
    assert recorded(stub)[("Placed Order", "LATE00000")] == 1
