"""The asynchronous HTTP client (aiohttp) that sends `Work` through the limiters with retries,
polls catalog bulk jobs to their end, and turns each answer into a `Delivery`.

The private key lives only in the `Authorization` header of the HTTP session. It is never in a
reason, a log or an exception message (`redact` is the last guard).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import random
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import aiohttp

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.keys import redact
from klaviyo_snippets.generator.server.sending._limiter import KLAVIYO_RATES, Rate, RateLimiter
from klaviyo_snippets.generator.server.sending._progress import Progress
from klaviyo_snippets.generator.server.sending._retry import (
    FATAL_STATUSES, RETRY_STATUSES, RetryPolicy, parse_retry_after,
)
from klaviyo_snippets.generator.server.sending._settings import (
    CATALOG_JOBS_PATH, REVISION, USER_AGENT, check_api_url,
)
from klaviyo_snippets.generator.server.sending._work import Delivery, Key, Tally, Work

__all__ = ["Sender", "SendAborted"]


class SendAborted(UserError):
    """A run stopped because every further request would fail the same way (401, 404...)."""


_END = object()  # the end of a run's works



class Sender:
    """Sends `Work` concurrently through per-path rate limiters, with retries, and hands each
    `Delivery` to `on_result` (which writes the state file and dead letters) as it settles.

        sender = Sender("https://a.klaviyo.com", key, rates={EVENTS_PATH: Rate(350, 3500)})
        tally = sender.run([Work.event(b) for b in bodies], on_result=record)

    `run()` returns the `Tally`; a 401/403/404 stops the run (requests in flight finish) and
    raises `SendAborted` after `on_result` has seen everything that settled. SIGINT/SIGTERM stop
    it the same way: nothing new is started, what is in flight settles, the rest is unsent.
    """

    def __init__(self, api_url: str, private_key: str, *,
                 rates: Mapping[str, Rate] | None = None,
                 limiters: Mapping[str, RateLimiter] | None = None,
                 retry: RetryPolicy = RetryPolicy(),
                 concurrency: int = 16, timeout: float = 30.0,
                 windows: str = "sliding", guard: float = 0.1,
                 revision: str = REVISION,
                 job_poll_interval: float = 2.0, job_poll_timeout: float = 600.0,
                 rng: random.Random | None = None,
                 clock: Callable[[], float] = time.time):
        check_api_url(api_url)
        if concurrency < 1:
            raise UserError("--concurrency must be at least 1")
        self.api_url = api_url.rstrip("/")
        self._secret = private_key
        self._headers = {
            "Authorization": f"Klaviyo-API-Key {private_key}",
            "revision": revision,
            "Accept": "application/vnd.api+json",
            "Content-Type": "application/vnd.api+json",
            "User-Agent": USER_AGENT,
        }
        rates = dict(KLAVIYO_RATES if rates is None else rates)
        self.limiters: dict[str, RateLimiter] = {
            path: RateLimiter.for_rate(rate, mode=windows, guard=guard, clock=clock)
            for path, rate in rates.items()
        }
        self.limiters.update(limiters or {})
        self.retry = retry
        self.concurrency = concurrency
        self.timeout = timeout
        self.job_poll_interval = job_poll_interval
        self.job_poll_timeout = job_poll_timeout
        self.rng = rng or random.Random()
        self.clock = clock
        self.tally = Tally()
        self.stopped: str | None = None  # why the run stopped early
        self._fatal: SendAborted | None = None
        self._source_error: Exception | None = None
        self._stop: asyncio.Event | None = None

    def __repr__(self) -> str:  # never the key
        return f"<Sender {self.api_url} concurrency={self.concurrency}>"

    # public ---------------------------------------------------------------------------------

    def run(self, works: Iterable[Work | None], *, on_result: Callable[[Delivery], None] = lambda r: None,
            progress: Progress | None = None, total: int | None = None) -> Tally:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.send(works, on_result=on_result, progress=progress, total=total,
                                         signals=True))
        # An event loop already runs in this thread (sync Playwright, a notebook): use our own thread.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self.send(works, on_result=on_result, progress=progress,
                                                      total=total)).result()

    async def send(self, works: Iterable[Work | None], *,
                   on_result: Callable[[Delivery], None] = lambda r: None,
                   progress: Progress | None = None, signals: bool = False,
                   total: int | None = None) -> Tally:
        """Send `works`: a list, or (with `total`, the keys it will carry) any iterable, read as
        requests are sent, so a run holds only the requests in flight. An iterable may yield
        None now and then (while it skips what was sent before) to let answers be handled."""
        if total is None:
            works = list(works)
            total = sum(len(w.keys) for w in works if w is not None)
        source = iter(works)
        # The progress line measures the run on its own clock (time.monotonic unless a test gives one).
        started = progress.clock() if progress is not None else time.monotonic()
        self.tally = Tally(total=total, started=started)
        self._source_error = None
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop) if signals else []

        def settle(result: Delivery) -> None:
            for outcome in result.outcomes.values():
                if outcome == "accepted":
                    self.tally.accepted += 1
                elif outcome == "exists":
                    self.tally.exists += 1
                else:
                    self.tally.failed += 1
            if result.reason and "failed" not in result.outcomes.values() and len(self.tally.notes) < 100:
                self.tally.notes.append(f"{result.work}: {result.reason}")  # a summary shows 10
            on_result(result)
            if progress is not None:
                progress.update(self.tally)

        async def tick() -> None:  # a line even while the limiter holds every request back
            while True:
                await asyncio.sleep(progress.interval)
                progress.update(self.tally)

        ticker = asyncio.create_task(tick()) if progress is not None else None
        try:
            connector = aiohttp.TCPConnector(limit=self.concurrency)
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout,
                                             headers=self._headers) as session:
                workers = [asyncio.create_task(self._worker(session, source, settle))
                           for _ in range(min(self.concurrency, total))]
                if workers:
                    await asyncio.gather(*workers)
        finally:
            if ticker is not None:
                ticker.cancel()
            for sig in installed:
                loop.remove_signal_handler(sig)
            if progress is not None:
                progress.finish(self.tally)
        if self._source_error is not None:
            raise self._source_error
        if self._fatal is not None:
            raise self._fatal
        return self.tally

    def stop(self, reason: str) -> None:
        """Start nothing new; let what is in flight settle."""
        if self.stopped is None:
            self.stopped = reason
        if self._stop is not None:
            self._stop.set()

    # internals ------------------------------------------------------------------------------

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        import signal

        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            def handler(sig=sig) -> None:
                self.stop(f"interrupted ({signal.Signals(sig).name})")
                loop.remove_signal_handler(sig)  # a second signal acts at once
            try:
                loop.add_signal_handler(sig, handler)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                pass
        return installed

    async def _sleep(self, seconds: float) -> bool:
        """Sleep; True if the run was stopped meanwhile."""
        assert self._stop is not None
        if self._stop.is_set():
            return True
        try:
            await asyncio.wait_for(self._stop.wait(), timeout=seconds)
        except TimeoutError:
            return False
        return True

    async def _worker(self, session: aiohttp.ClientSession, source: Iterator[Work | None],
                      settle: Callable[[Delivery], None]) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            try:
                work = next(source, _END)
            except Exception as error:  # the input failed (e.g. a file changed meanwhile): stop
                self._source_error = error
                self.stop("stopped: the input could not be read")
                return
            if work is _END:
                return
            if work is None:
                await asyncio.sleep(0)
                continue
            result = await self._deliver(session, work)
            if result is not None:
                settle(result)

    def _limiter(self, path: str) -> RateLimiter | None:
        return self.limiters.get(path.rstrip("/"))

    async def _deliver(self, session: aiohttp.ClientSession, work: Work) -> Delivery | None:
        """Send one request until it settles; None if the run stopped before it did."""
        payload = json.dumps(work.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        url = self.api_url + work.path
        limiter = self._limiter(work.path)
        attempt = 0
        while True:
            if limiter is not None and not await limiter.acquire(self._sleep):
                return None
            if self._stop is not None and self._stop.is_set():
                return None  # not sent: the next run sends it
            attempt += 1
            self.tally.requests += 1
            if attempt > 1:
                self.tally.retried += 1
            status: int | None = None
            answer: Any = None
            retry_after: float | None = None
            try:
                async with session.post(url, data=payload) as response:
                    status = response.status
                    raw = await response.read()
                    retry_after = parse_retry_after(response.headers.get("Retry-After"))
                answer = _json_or_none(raw)
                reason = None if status < 300 else _reason(status, answer, raw)
            except TimeoutError:
                reason = f"no answer within {self.timeout:g}s"
            except aiohttp.ClientError as error:
                reason = f"connection failed ({type(error).__name__}: {error})"
            except OSError as error:
                reason = f"connection failed ({error.strerror or error})"
            if reason is not None:
                reason = redact(reason, self._secret)

            if status is not None and 200 <= status < 300:
                return await self._accepted(session, work, status, attempt, answer)
            if status in FATAL_STATUSES:
                self._fatal = SendAborted(
                    f"stopped: {FATAL_STATUSES[status]}. {reason}",
                    where=f"{self.api_url}{work.path}",
                    hint="nothing was marked sent that was not accepted; fix it and run again to "
                         "send the rest")
                self.stop(f"stopped by a {status} answer")
                return None
            transient = status is None or status in RETRY_STATUSES
            if not transient:
                return Delivery(work, status, attempt, {k: "failed" for k in work.keys}, reason)
            if status is None:
                self.tally.connection_errors += 1
            elif status == 429:
                self.tally.throttled += 1
            elif status >= 500:
                self.tally.server_errors += 1
            if attempt >= self.retry.max_attempts:
                return Delivery(work, status, attempt, {k: "failed" for k in work.keys},
                                f"gave up after {attempt} attempts; last: {reason}", transient=True)
            if status == 429:
                wait = self.retry.after_throttle(retry_after, self.rng)
                if limiter is not None:  # Klaviyo says the account is over: hold everyone
                    limiter.pause_until(self.clock() + wait)
                    continue
            else:
                wait = self.retry.backoff(attempt, self.rng)
            if await self._sleep(wait):
                return None

    async def _accepted(self, session: aiohttp.ClientSession, work: Work, status: int,
                        attempts: int, answer: Any) -> Delivery:
        if work.path != CATALOG_JOBS_PATH:
            return Delivery(work, status, attempts, {k: "accepted" for k in work.keys})
        answer = await self._job_outcome(session, answer)
        return _job_result(work, status, attempts, answer)

    async def _job_outcome(self, session: aiohttp.ClientSession, answer: Any) -> Any:
        """A bulk job runs asynchronously at Klaviyo: poll it until it completes."""
        deadline = time.monotonic() + self.job_poll_timeout
        while _job_status(answer) in ("queued", "processing"):
            job_id = ((answer or {}).get("data") or {}).get("id")
            if not job_id or time.monotonic() > deadline:
                return answer
            if await self._sleep(self.job_poll_interval):
                return answer
            url = f"{self.api_url}{CATALOG_JOBS_PATH}/{job_id}"
            try:
                async with session.get(url) as response:
                    raw = await response.read()
                    if response.status != 200:
                        return _with_note(answer, f"the job's status could not be read "
                                                  f"({response.status}); check it in Klaviyo")
                answer = _json_or_none(raw)
            except (TimeoutError, aiohttp.ClientError, OSError) as error:
                return _with_note(answer, f"the job's status could not be read ({type(error).__name__})")
        return answer


def _json_or_none(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _reason(status: int, answer: Any, raw: bytes) -> str:
    """`400 invalid at /data/attributes/time: must be ...` from a JSON:API error document."""
    errors = answer.get("errors") if isinstance(answer, dict) else None
    if isinstance(errors, list) and errors:
        parts = []
        for error in errors[:5]:
            if not isinstance(error, dict):
                continue
            pointer = (error.get("source") or {}).get("pointer") if isinstance(error.get("source"), dict) else None
            text = error.get("detail") or error.get("title") or "no detail"
            parts.append(f"{error.get('code') or 'error'}{f' at {pointer}' if pointer else ''}: {text}")
        if len(errors) > 5:
            parts.append(f"and {len(errors) - 5} more")
        return f"{status} " + "; ".join(parts)
    snippet = raw[:200].decode("utf-8", errors="replace").strip()
    return f"{status}" + (f": {snippet}" if snippet else "")


def _job_status(answer: Any) -> str | None:
    try:
        return answer["data"]["attributes"]["status"]
    except (KeyError, TypeError):
        return None


def _with_note(answer: Any, note: str) -> Any:
    if isinstance(answer, dict):
        return {**answer, "_note": note}
    return {"_note": note}


_ITEM_POINTER = re.compile(r"^/data/attributes/items/data/(\d+)(?:/|$)")


def _job_result(work: Work, status: int, attempts: int, answer: Any) -> Delivery:
    """Per-item outcomes of a bulk create job: `duplicate_object` means the item was already in
    the catalog (`exists`: create does not update it); any other item error fails the item."""
    job_status = _job_status(answer)
    outcomes = {key: "accepted" for key in work.keys}
    reasons: dict[Key, str] = {}
    if job_status == "cancelled":
        return Delivery(work, status, attempts, {k: "failed" for k in work.keys},
                        "the bulk job was cancelled at Klaviyo", transient=True)
    attributes = ((answer or {}).get("data") or {}).get("attributes") or {}
    for error in attributes.get("errors") or []:
        if not isinstance(error, dict):
            continue
        pointer = (error.get("source") or {}).get("pointer") or ""
        match = _ITEM_POINTER.match(pointer)
        if not match or int(match[1]) >= len(work.keys):
            continue
        key = work.keys[int(match[1])]
        if error.get("code") == "duplicate_object":
            outcomes[key] = "exists"
        else:
            outcomes[key] = "failed"
            reasons[key] = f"{error.get('code') or 'error'}: {error.get('detail') or error.get('title')}"
    note = (answer or {}).get("_note") if isinstance(answer, dict) else None
    reason = "; ".join(sorted(set(reasons.values()))) or None
    result = Delivery(work, status, attempts, outcomes, reason, reasons=reasons)
    if note:
        result.reason = note if reason is None else f"{reason}; {note}"
    return result
