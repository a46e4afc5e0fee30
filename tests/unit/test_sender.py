"""The sender's parts without a network: the limiter (on a fake clock, checked against the
stand-in's own fixed-window counter), backoff, Retry-After, the key, the state file, dead
letters, bulk job outcomes and the progress line (on a fake clock too). Real-HTTP checks of job
polling and of the progress ticker close it; throughput is measured in benchmarks/bench_sync.py."""

from __future__ import annotations

import asyncio
import concurrent.futures
import io
import json
import random

import pytest
from aiohttp import web

from klaviyo_snippets.generator.keys import redact
from klaviyo_snippets.generator.server import sending as snd
from klaviyo_snippets.generator.server.sending._client import _job_result
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.standin._limits import Limit, RateLimits

KEY = "pk_unitTest0123456789secret"


def run_coroutine(coro):
    """asyncio.run, also when a browser test earlier in the session left a loop running here."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


class FakeClock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def _drive(limiter: snd.RateLimiter, clock: FakeClock, count: int, *, jitter: float = 0.0,
           pace: float | None = None, seed: int = 1) -> list[float]:
    """Admit `count` requests as fast as the limiter allows, or at about `pace` a second (a client
    just faster than the burst limit spreads its requests to the very end of each window);
    arrival = admission + a random delay in [0, jitter) (the network and the server's queue)."""
    rng = random.Random(seed)
    arrivals = []
    while len(arrivals) < count:
        wait = limiter.try_acquire(clock.now)
        if wait > 0:
            clock.now += wait
            continue
        arrivals.append(clock.now + rng.uniform(0, jitter))
        if pace:
            clock.now += rng.expovariate(pace)
        else:
            clock.now += rng.choice((0.0, 0.0, 0.0005, 0.003))  # a few at the same instant
    return sorted(arrivals)


def _max_in_any_window(times: list[float], seconds: float) -> int:
    best, start = 0, 0
    for end, t in enumerate(times):
        while times[start] <= t - seconds:
            start += 1
        best = max(best, end - start + 1)
    return best


# -- the limiter -----------------------------------------------------------------------------

def test_sliding_admits_a_burst_then_says_how_long_to_wait():
    clock = FakeClock(100.0)
    limiter = snd.RateLimiter([(3, 1.0)], guard=0.1, clock=clock)
    assert [limiter.try_acquire(100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.try_acquire(100.5) == pytest.approx(0.6)  # 100.0 + 1.1 - 100.5
    assert limiter.try_acquire(101.1) == 0.0


@pytest.mark.parametrize("offset", [0.0, 0.25, 0.5, 0.999])
def test_sliding_never_overfills_a_fixed_window_however_it_is_aligned(offset):
    clock = FakeClock(5000.0 + offset)
    limiter = snd.RateLimiter([(35, 1.0), (350, 60.0)], guard=0.05, clock=clock)
    arrivals = _drive(limiter, clock, 1200, jitter=0.05)
    assert _max_in_any_window(arrivals, 1.0) <= 35
    assert _max_in_any_window(arrivals, 60.0) <= 350


def _refused_by_the_stand_in(arrivals: list[float], rate: snd.Rate) -> int:
    server_clock = FakeClock()
    server = RateLimits({"/api/events": Limit(rate.burst, rate.steady)}, clock=server_clock)
    refused = 0
    for t in arrivals:
        server_clock.now = t
        allowed, _ = server.take("key:pk_x", "/api/events")
        refused += not allowed
    return refused


@pytest.mark.parametrize("mode", ["sliding", "fixed"])
@pytest.mark.parametrize("pace", [None, 360.0, 2000.0])
@pytest.mark.parametrize("start", [123.4, 159.97])
def test_the_stand_ins_own_counter_never_refuses_what_the_limiter_admits(mode, pace, start):
    """Klaviyo's limits at the stand-in (klaviyo_snippets.harness.standin._limits, fixed windows on the same fake clock),
    two minute windows and more, network delays up to the guard: not one 429."""
    clock = FakeClock(1_700_000_000 + start)
    rate = snd.Rate(350, 3500)
    limiter = snd.RateLimiter.for_rate(rate, mode=mode, guard=0.1, clock=clock)
    arrivals = _drive(limiter, clock, 3500 * 2 + 500, jitter=0.1, pace=pace)
    assert _refused_by_the_stand_in(arrivals, rate) == 0


@pytest.mark.parametrize("mode", ["sliding", "fixed"])
def test_without_the_guard_delays_do_overfill_a_window(mode):
    """The control: the same traffic with guard 0 is refused now and then, so the test above
    would see a limiter that ignored delays."""
    rate = snd.Rate(350, 3500 * 100)  # the burst window binds
    refused_bare = 0
    for start in (123.4, 123.95, 123.99):  # where in the server's second the run begins
        for pace in (None, 360.0):  # instant bursts, and a client just faster than the limit
            clock = FakeClock(1_700_000_000 + start)
            bare = snd.RateLimiter.for_rate(rate, mode=mode, guard=0.0, clock=clock)
            refused_bare += _refused_by_the_stand_in(_drive(bare, clock, 2000, jitter=0.1, pace=pace), rate)
            clock = FakeClock(1_700_000_000 + start)
            guarded = snd.RateLimiter.for_rate(rate, mode=mode, guard=0.1, clock=clock)
            assert _refused_by_the_stand_in(_drive(guarded, clock, 2000, jitter=0.1, pace=pace), rate) == 0
    assert refused_bare > 0, "without the guard nothing was refused: the control shows nothing"


def test_sliding_reaches_the_steady_rate_over_a_long_run():
    clock = FakeClock(0.0)
    limiter = snd.RateLimiter.for_rate(snd.Rate(350, 3500), guard=0.1, clock=clock)
    arrivals = _drive(limiter, clock, 3500 * 10 + 1)
    minutes = (arrivals[-1] - arrivals[0]) / 60
    assert 3500 * 10 / minutes >= 0.99 * 3500  # the guard costs 0.1 s a minute


def test_fixed_windows_are_aligned_to_the_clock_and_count_near_an_edge_in_both():
    clock = FakeClock(10.5)
    limiter = snd.RateLimiter([(2, 1.0)], mode="fixed", guard=0.1, clock=clock)
    assert limiter.try_acquire(10.5) == 0.0
    assert limiter.try_acquire(10.95) == 0.0  # counts in windows 10 and 11
    assert limiter.try_acquire(10.96) == pytest.approx(11.1 - 10.96)  # window 10 is full
    assert limiter.try_acquire(11.1) == 0.0  # window 11 held one (the edge request); now two
    assert limiter.try_acquire(11.5) == pytest.approx(12.1 - 11.5)


def test_a_pause_holds_every_request():
    limiter = snd.RateLimiter([(100, 1.0)], clock=FakeClock())
    limiter.pause_until(50.0)
    assert limiter.try_acquire(48.0) == pytest.approx(2.0)
    assert limiter.try_acquire(50.0) == 0.0


def test_acquire_sleeps_until_admitted_and_gives_up_when_stopped():
    clock = FakeClock(0.0)
    limiter = snd.RateLimiter([(1, 1.0)], guard=0.0, clock=clock)
    slept = []

    async def sleep(seconds):
        slept.append(seconds)
        clock.now += seconds
        return False

    async def stopped(seconds):
        return True

    async def go():
        assert await limiter.acquire(sleep)
        assert await limiter.acquire(sleep)
        assert not await limiter.acquire(stopped)

    run_coroutine(go())
    assert slept == [pytest.approx(1.0)]
    assert limiter.waited == pytest.approx(1.0 + 1.0)


def test_limiter_refuses_nonsense():
    with pytest.raises(ValueError):
        snd.RateLimiter([(0, 1.0)])
    with pytest.raises(ValueError):
        snd.RateLimiter([(1, 1.0)], mode="leaky")


# -- rates, retries, Retry-After ---------------------------------------------------------------

def test_rate_parses_burst_slash_steady():
    assert snd.Rate.parse("350/3500") == snd.Rate(350, 3500)
    assert snd.Rate.parse(" 75 / 750 ").windows() == ((75, 1.0), (750, 60.0))
    for bad in ("350", "0/10", "a/b", "350/3500/1", "-1/5"):
        with pytest.raises(UserError, match="BURST/STEADY"):
            snd.Rate.parse(bad)


def test_backoff_doubles_up_to_the_cap_with_jitter_in_the_upper_half():
    policy = snd.RetryPolicy(base_delay=0.5, max_delay=4.0)
    rng = random.Random(7)
    for failures, cap in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (12, 4.0)]:
        waits = [policy.backoff(failures, rng) for _ in range(200)]
        assert min(waits) >= cap / 2 and max(waits) <= cap
        assert max(waits) - min(waits) > cap / 4  # jittered, not one value


def test_a_throttled_request_never_comes_back_before_retry_after():
    policy = snd.RetryPolicy()
    rng = random.Random(3)
    assert all(3 <= policy.after_throttle(3, rng) <= 3.3 for _ in range(100))
    assert 1 <= policy.after_throttle(None, rng) <= 1.1


@pytest.mark.parametrize("header, seconds", [
    ("3", 3.0), ("0", 0.0), ("1.5", 1.5), (" 7 ", 7.0), ("-2", 0.0),
    ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0), ("soon", None), (None, None), ("nan", None),
])
def test_retry_after_is_read_like_a_careful_client(header, seconds):
    now = 1445412480.0  # 07:28:00 that day
    assert snd.parse_retry_after(header, now=now) == seconds


def test_retry_policy_is_bounded():
    with pytest.raises(ValueError):
        snd.RetryPolicy(max_attempts=0)


# -- the key ------------------------------------------------------------------------------------

def test_the_key_comes_from_the_environment_and_is_never_echoed():
    assert snd.read_private_key({"KLAVIYO_PRIVATE_KEY": f" {KEY}\n"}) == KEY
    with pytest.raises(UserError, match="KLAVIYO_PRIVATE_KEY is not set"):
        snd.read_private_key({})
    with pytest.raises(UserError, match="public key") as public:
        snd.read_private_key({"KLAVIYO_PRIVATE_KEY": "ABC123"})
    assert "ABC123" not in str(public.value)
    with pytest.raises(UserError, match="starts with 'pk_'") as wrong:
        snd.read_private_key({"KLAVIYO_PRIVATE_KEY": "sk_live_9876543210"})
    assert "9876543210" not in str(wrong.value)
    assert redact(f"oops {KEY} here", KEY) == "oops pk_[redacted] here"
    assert KEY not in repr(snd.Sender("http://127.0.0.1:9", KEY))



@pytest.mark.parametrize("value, words", [
    ("pk_abcdé0123456789", "character 8 is U+00E9, not an ASCII letter or digit"),
    ("pk_abcd0123456789\u200b", "character 18 is U+200B, not an ASCII letter or digit"),
    ("pk_abcd 0123456789", "character 8 is U+0020, not an ASCII letter or digit"),
    ("pk_", "has nothing after 'pk_'"),
    ("PK_abcd0123456789", "'pk_' is in lower case"),
])
def test_a_key_that_starts_with_pk_says_what_is_actually_wrong(value, words):
    """Was "a private key starts with 'pk_'" for a key that does (issue 12, item 10)."""
    with pytest.raises(UserError) as wrong:
        snd.read_private_key({"KLAVIYO_PRIVATE_KEY": value})
    message = str(wrong.value)
    assert words in message and "a private key starts with 'pk_'" not in message
    assert "0123456789" not in message and "abcd" not in message

# -- bodies and keys -----------------------------------------------------------------------------

def _event(unique_id="1234", metric="Placed Order", **attributes):
    return {"data": {"type": "event", "attributes": {
        "properties": {"OrderId": unique_id}, "unique_id": unique_id, **attributes,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}}}}}


def _job(*ids):
    return {"data": {"type": "catalog-item-bulk-create-job", "attributes": {"items": {"data": [
        {"type": "catalog-item", "attributes": {"external_id": i, "title": i, "description": i,
                                                "url": f"https://shop.example.com/{i}"}}
        for i in ids]}}}}


def test_work_knows_its_keys():
    work = snd.Work.event(_event("1234-2", "Ordered Product"))
    assert work.keys == (snd.Key("event", "1234-2", "Ordered Product"),)
    assert str(work) == "Ordered Product '1234-2'"
    job = snd.Work.catalog_job(_job("a", "b", "c"))
    assert [k.id for k in job.keys] == ["a", "b", "c"]
    narrowed = job.only([0, 2])
    assert [i["attributes"]["external_id"] for i in narrowed.body["data"]["attributes"]["items"]["data"]] == ["a", "c"]
    assert snd.Work.for_path("/api/events/", _event()).path == snd.EVENTS_PATH
    with pytest.raises(ValueError, match="unique_id"):
        snd.Work.event(_event(None))
    with pytest.raises(ValueError):
        snd.Work.for_path("/api/profiles", {})


def test_bulk_job_outcomes_per_item():
    work = snd.Work.catalog_job(_job("a", "b", "c"))
    answer = {"data": {"type": "catalog-item-bulk-create-job", "id": "j1", "attributes": {
        "status": "complete", "errors": [
            {"code": "duplicate_object", "detail": "exists", "source": {"pointer": "/data/attributes/items/data/1"}},
            {"code": "invalid", "detail": "bad url", "source": {"pointer": "/data/attributes/items/data/2/attributes/url"}},
        ]}}}
    result = _job_result(work, 202, 1, answer)
    assert [result.outcomes[k] for k in work.keys] == ["accepted", "exists", "failed"]
    assert result.reason == "invalid: bad url"
    assert [k.id for k in result.failed_work().keys] == ["c"]
    cancelled = _job_result(work, 202, 1, {"data": {"attributes": {"status": "cancelled"}}})
    assert set(cancelled.outcomes.values()) == {"failed"} and cancelled.transient


# -- the state file -----------------------------------------------------------------------------

def _accepted(body, status=202):
    work = snd.Work.event(body)
    return snd.Delivery(work, status, 1, {k: "accepted" for k in work.keys})


def _failed(body, status=400, transient=False):
    work = snd.Work.event(body)
    return snd.Delivery(work, status, 1, {k: "failed" for k in work.keys}, "400 invalid", transient=transient)


def test_state_file_remembers_across_runs_and_never_holds_the_key(tmp_path):
    path = tmp_path / "orders.jsonl.sync-state"
    state = snd.StateFile.open(path, api_url="http://x.test/", private_key=KEY)
    state.record(_accepted(_event("1")))
    state.record(_failed(_event("2")))
    state.close()
    again = snd.StateFile.open(path, api_url="http://x.test", private_key=KEY)
    assert again.done(snd.Key("event", "1", "Placed Order"))
    assert not again.done(snd.Key("event", "2", "Placed Order"))
    assert again.refused_before(snd.Key("event", "2", "Placed Order"), _event("2"))
    assert again.refused_before(snd.Key("event", "2", "Placed Order"), _event("2", value=3)) is None
    again.close()
    text = path.read_text()
    assert KEY not in text and KEY[3:] not in text
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["state"] == snd.StateFile.HEADER and lines[0]["api_url"] == "http://x.test"
    assert lines[1] == {"metric": "Placed Order", "unique_id": "1", "result": "accepted", "status": 202,
                        "at": lines[1]["at"]}
    assert (path.stat().st_mode & 0o777) == 0o600


def test_a_transient_failure_is_sent_again_and_a_later_success_wins(tmp_path):
    path = tmp_path / "s"
    state = snd.StateFile.open(path, api_url="http://x.test", private_key=KEY)
    state.record(_failed(_event("1"), status=503, transient=True))
    assert state.refused_before(snd.Key("event", "1", "Placed Order"), _event("1")) is None
    state.record(_accepted(_event("1")))
    state.close()
    assert snd.StateFile.read(path).done(snd.Key("event", "1", "Placed Order"))


def test_a_line_torn_by_a_crash_is_ignored_and_the_next_line_starts_clean(tmp_path):
    path = tmp_path / "s"
    state = snd.StateFile.open(path, api_url="http://x.test", private_key=KEY)
    state.record(_accepted(_event("1")))
    state.close()
    with path.open("a") as handle:
        handle.write('{"metric": "Placed Order", "unique_id": "2", "resu')  # kill -9 mid-write
    state = snd.StateFile.open(path, api_url="http://x.test", private_key=KEY)
    assert state.damaged_lines == 1
    state.record(_accepted(_event("3")))
    state.close()
    reread = snd.StateFile.read(path)
    assert [reread.done(snd.Key("event", str(n), "Placed Order")) for n in (1, 2, 3)] == [True, False, True]
    assert len(reread.accepted) == 2
    assert reread.damaged_lines == 1


def test_a_state_file_belongs_to_one_account_and_destination(tmp_path):
    path = tmp_path / "s"
    snd.StateFile.open(path, api_url="http://x.test", private_key=KEY).close()
    with pytest.raises(UserError, match="another private key") as other_key:
        snd.StateFile.open(path, api_url="http://x.test", private_key="pk_someoneElse123")
    assert "pk_someoneElse123" not in str(other_key.value)
    with pytest.raises(UserError, match="written for 'http://x.test'"):
        snd.StateFile.open(path, api_url="https://a.klaviyo.com", private_key=KEY)
    snd.StateFile.open(path, api_url="https://a.klaviyo.com", private_key="pk_rotated123",
                       rebind=True).close()
    snd.StateFile.open(path, api_url="https://a.klaviyo.com", private_key="pk_rotated123").close()


def test_two_runs_cannot_share_a_state_file(tmp_path):
    first = snd.StateFile.open(tmp_path / "s", api_url="http://x.test", private_key=KEY)
    try:
        with pytest.raises(UserError, match="another run is using"):
            snd.StateFile.open(tmp_path / "s", api_url="http://x.test", private_key=KEY)
    finally:
        first.close()


def test_a_foreign_file_is_not_taken_for_a_state_file(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text('{"OrderId": "1"}\n')
    with pytest.raises(UserError, match="not a klaviyo-snippets state file"):
        snd.StateFile.open(path, api_url="http://x.test", private_key=KEY)


# -- dead letters -------------------------------------------------------------------------------

def test_dead_letters_round_trip_without_the_key(tmp_path):
    dead = snd.DeadLetters(tmp_path / "dead.jsonl", state_path=tmp_path / "s")
    result = _failed(_event("9"))
    result.reason = f"400 invalid: echoed header Klaviyo-API-Key {KEY}"
    dead.add(result, secret=KEY)
    job = snd.Work.catalog_job(_job("a", "b"))
    dead.add(snd.Delivery(job, 202, 1, {job.keys[0]: "accepted", job.keys[1]: "failed"},
                          "invalid: bad", reasons={job.keys[1]: "invalid: bad"}), secret=KEY)
    dead.close()
    text = (tmp_path / "dead.jsonl").read_text()
    assert KEY not in text
    [(first, event, work), (second, item, job_work)] = snd.DeadLetters.read(tmp_path / "dead.jsonl")
    assert (first, second) == (1, 2)
    assert event["metric"] == "Placed Order" and event["unique_id"] == "9" and event["status"] == 400
    assert "pk_[redacted]" in event["reason"] and event["state"] == str((tmp_path / "s").resolve())
    assert work.body == _event("9")
    assert item["catalog_items"] == ["b"] and [k.id for k in job_work.keys] == ["b"]
    assert dead.count == 2 and dead.has_failed(work.keys[0]) and dead.has_failed(job.keys[1])
    assert not dead.has_failed(job.keys[0])


def test_a_damaged_dead_letter_file_is_refused_with_its_line(tmp_path):
    path = tmp_path / "dead.jsonl"
    path.write_text(json.dumps({"path": "/api/events", "body": _event()}) + "\n{not json\n")
    with pytest.raises(UserError, match=r"dead.jsonl:2"):
        snd.DeadLetters.read(path)


# -- progress -----------------------------------------------------------------------------------

def test_progress_is_a_bar_on_a_terminal_and_a_periodic_line_otherwise():
    clock = FakeClock(0.0)
    tally = snd.Tally(total=10, started=0.0)
    plain = io.StringIO()
    progress = snd.Progress(10, stream=plain, tty=False, interval=5.0, clock=clock)
    for n in range(10):
        clock.now += 1.0
        tally.accepted += 1
        progress.update(tally)
    progress.finish(tally)
    assert plain.getvalue().splitlines() == [
        "progress: 5/10 events (50%), 1/s, 0 failed, 0 throttled, ~5s left",
        "progress: 10/10 events (100%), 1/s, 0 failed, 0 throttled",
    ]
    bar = io.StringIO()
    progress = snd.Progress(10, stream=bar, tty=True, clock=clock)
    clock.now += 1.0
    progress.update(tally)
    progress.finish(tally)
    assert bar.getvalue().startswith("\r[########################] 10/10 events") and bar.getvalue().endswith("\n")


# -- bulk jobs that are still running are polled (a real HTTP server on loopback) --------------

def test_a_queued_bulk_job_is_polled_until_complete():
    polls = []

    async def create(request):
        return web.json_response({"data": {"type": "catalog-item-bulk-create-job", "id": "job-1",
                                           "attributes": {"status": "queued"}}}, status=202)

    async def status(request):
        polls.append(request.match_info["id"])
        done = len(polls) >= 2
        errors = [{"code": "duplicate_object", "source": {"pointer": "/data/attributes/items/data/0"}}]
        return web.json_response({"data": {"type": "catalog-item-bulk-create-job", "id": "job-1",
                                           "attributes": {"status": "complete" if done else "processing",
                                                          "errors": errors if done else []}}})

    async def go():
        app = web.Application()
        app.router.add_post("/api/catalog-item-bulk-create-jobs", create)
        app.router.add_get("/api/catalog-item-bulk-create-jobs/{id}", status)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        try:
            sender = snd.Sender(f"http://127.0.0.1:{port}", KEY, job_poll_interval=0.01)
            results = []
            await sender.send([snd.Work.catalog_job(_job("a", "b"))], on_result=results.append)
            return results
        finally:
            await runner.cleanup()

    [result] = run_coroutine(go())
    assert polls == ["job-1", "job-1"]
    assert [result.outcomes[k] for k in result.work.keys] == ["exists", "accepted"]


def test_the_eta_counts_on_the_steady_rate_not_the_first_burst():
    clock = FakeClock(10.0)
    tally = snd.Tally(total=1000, started=0.0)
    tally.accepted = 500  # 50/s so far, all of it burst
    out = io.StringIO()
    snd.Progress(1000, stream=out, tty=False, interval=0.0, clock=clock, ceiling=10.0).update(tally)
    assert out.getvalue() == "progress: 500/1000 events (50%), 50/s, 0 failed, 0 throttled, ~50s left\n"


class SteppingClock(FakeClock):
    """A fake clock that moves on `step` seconds each time it is read: every progress update is
    `step` after the last one, so each writes its line, whatever the real time between them."""

    def __init__(self, now: float = 0.0, step: float = 1.0):
        super().__init__(now)
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_progress_keeps_reporting_while_every_request_waits():
    """The one request is answered only after three progress lines were written, so those lines
    came from the ticker, not from a delivery. Fake clock, no time window: the server (real HTTP
    on loopback) holds the answer until the lines are there, or gives up after 10 s and the test fails."""
    out = io.StringIO()
    progress = snd.Progress(1, stream=out, tty=False, interval=0.01, clock=SteppingClock())
    held = {}

    def waiting_lines() -> list[str]:
        return [line for line in out.getvalue().splitlines() if line.startswith("progress: 0/1")]

    async def events(request):
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10.0
        while len(waiting_lines()) < 3 and loop.time() < deadline:
            await asyncio.sleep(0.005)
        held["lines"] = len(waiting_lines())
        return web.Response(status=202)

    async def go():
        app = web.Application()
        app.router.add_post("/api/events", events)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            sender = snd.Sender(f"http://127.0.0.1:{runner.addresses[0][1]}", KEY)
            return await sender.send([snd.Work.event(_event("w1", "Waited"))], progress=progress)
        finally:
            await runner.cleanup()

    assert run_coroutine(go()).accepted == 1
    assert held["lines"] >= 3, out.getvalue()
    # The run is timed on the progress line's clock: one event over three or more of its seconds.
    assert waiting_lines()[0] == "progress: 0/1 events (0%), 0/s, 0 failed, 0 throttled"
    assert out.getvalue().splitlines()[-1] == "progress: 1/1 events (100%), 0/s, 0 failed, 0 throttled"


# -- works read as the run goes (issue 12: constant memory) ------------------------------------------

def _serve_events(handler):
    """Run `handler(sender_url)` (a coroutine) against a real HTTP server on loopback that
    answers every POST /api/events 202 and counts them."""
    seen = []

    async def events(request):
        seen.append(await request.json())
        return web.Response(status=202)

    async def go():
        app = web.Application()
        app.router.add_post("/api/events", events)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        try:
            return await handler(f"http://127.0.0.1:{runner.addresses[0][1]}")
        finally:
            await runner.cleanup()

    return run_coroutine(go()), seen


def test_the_sender_reads_its_works_as_it_sends_them():
    """A generator of works, with its total: at most `concurrency` works are taken ahead of the
    answers (a run holds only what is in flight), and a None from the source is a pause."""
    taken, answered = [], []

    def works():
        for n in range(40):
            if n % 7 == 0:
                yield None
                continue
            taken.append(n)
            assert len(taken) - len(answered) <= 4, "read ahead of what is in flight"
            yield snd.Work.event(_event(f"s{n}"))

    async def handler(url):
        sender = snd.Sender(url, KEY, concurrency=4)
        return await sender.send(works(), total=34, on_result=lambda r: answered.append(r))

    tally, seen = _serve_events(handler)
    assert (tally.accepted, tally.total, tally.unsent) == (34, 34, 0)
    assert sorted(b["data"]["attributes"]["unique_id"] for b in seen) == sorted(
        f"s{n}" for n in range(40) if n % 7)


def test_a_source_that_fails_stops_the_run_after_what_is_in_flight_settles():
    """An orders file changed under a run: its error is raised once the requests in flight have
    settled and been handed to on_result (so the state file has them)."""
    answered = []

    def works():
        for n in range(10):
            yield snd.Work.event(_event(f"f{n}"))
        raise UserError("the orders file changed while it was being sent")

    async def handler(url):
        sender = snd.Sender(url, KEY, concurrency=3)
        try:
            await sender.send(works(), total=20, on_result=answered.append)
        except UserError as error:
            return sender, error
        return sender, None

    (sender, error), seen = _serve_events(handler)
    assert error is not None and "changed" in str(error)
    assert len(answered) == len(seen) == 10 and sender.tally.unsent == 10


def test_the_reading_progress_line_says_how_far_into_the_file_and_how_long_is_left():
    out = io.StringIO()
    clock = FakeClock(0.0)
    progress = snd.ReadProgress("orders.jsonl", 50_000_000, problems=[1, 2], stream=out, tty=False,
                                interval=10.0, clock=clock)  # any object with a length counts the bad
    clock.now = 5.0
    progress.update(20_000_000, 81_000)  # not yet due
    clock.now = 10.0
    progress.update(25_000_000, 100_000)
    clock.now = 12.0
    progress.update(26_000_000, 104_000)  # not due again until 20 s
    progress.finish()  # the last figures, once something was shown
    assert out.getvalue().splitlines() == [
        "progress: checking orders.jsonl: 50% (25.0 of 50.0 MB), 100,000 lines, 2 bad, ~10s left",
        "progress: checking orders.jsonl: 52% (26.0 of 50.0 MB), 104,000 lines, 2 bad, ~11s left",
    ]
    quiet = io.StringIO()
    small = snd.ReadProgress("small.jsonl", 100, stream=quiet, tty=False, interval=10.0, clock=FakeClock(0.0))
    small.update(100, 1)
    small.finish()
    assert quiet.getvalue() == ""  # a read shorter than the interval prints nothing
