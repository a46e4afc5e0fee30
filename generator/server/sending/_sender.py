"""Send JSON:API bodies to Klaviyo's private API, the way a batch job should.

Plain objects, no CLI (the commands are `orders_command` and `catalog_command`):

* `RateLimiter`: keeps every request inside Klaviyo's windows (burst per second, steady per
  minute) before it leaves, so a normal run is never answered 429.
* `RetryPolicy`: 429 waits for `Retry-After`; 5xx, timeouts and dropped connections back off
  exponentially with jitter; bounded attempts. Every event carries a `unique_id`, so a retry of
  a request that did arrive is deduplicated by Klaviyo.
* `StateFile`: an append-only journal of what was accepted (events by metric + `unique_id`,
  catalog items by `external_id`). Each line is written as soon as the answer arrives (a
  `kill -9` loses nothing written) and fsynced often; the next run skips what it lists.
* `DeadLetters`: what failed for good (a 4xx other than 429, or retries exhausted), one JSON
  line each with the body, status and reason; replayable.
* `Sender`: the concurrent HTTP client (aiohttp) tying them together; `Progress` draws the bar.

The private key lives only in the `Authorization` header of the HTTP session. It is never in a
reason, a state or dead-letter line, a log or an exception message (`redact` is the last guard).
File formats and choices: docs/server-side.md, "Sending".
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import hashlib
import hmac
import json
import math
import os
import random
import re
import secrets
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

import aiohttp

from klaviyo_snippets.generator.keys import is_private_key, redact
from klaviyo_snippets.generator.net import is_absolute_http_url, is_loopback_host
from klaviyo_snippets.generator.server._bodies import parse_json, read_text
from klaviyo_snippets.generator.errors import UserError

__all__ = [
    "DEFAULT_API_URL", "REVISION", "EVENTS_PATH", "CATALOG_JOBS_PATH", "KLAVIYO_RATES",
    "Rate", "RateLimiter", "RetryPolicy", "Key", "Work", "Result", "Tally",
    "StateFile", "DeadLetters", "Progress", "Sender", "SendAborted",
    "read_private_key", "parse_retry_after", "body_digest", "redact", "check_api_url",
    "check_writable",
]

DEFAULT_API_URL = "https://a.klaviyo.com"
REVISION = "2026-07-15"  # the OpenAPI extract's revision; Klaviyo accepts any published one
EVENTS_PATH = "/api/events"
CATALOG_JOBS_PATH = "/api/catalog-item-bulk-create-jobs"
USER_AGENT = "klaviyo-snippets (server-side sender)"
KEY_VARIABLE = "KLAVIYO_PRIVATE_KEY"


# -- the private key ---------------------------------------------------------------------------

def read_private_key(environ: Mapping[str, str] | None = None) -> str:
    """The private API key from `KLAVIYO_PRIVATE_KEY`; a clear error (without the value) if it
    is missing or not a private key."""
    environ = os.environ if environ is None else environ
    key = (environ.get(KEY_VARIABLE) or "").strip()
    if not key:
        raise UserError(f"{KEY_VARIABLE} is not set: the private API key is read from it "
                        "(never from the command line, where other users can see it)",
                        hint=f"export {KEY_VARIABLE}=pk_... (Klaviyo: Settings > API keys; "
                             "scope events:write, and catalogs:write for catalog push)")
    if not is_private_key(key):
        kind = "holds a public key (6 characters, for the onsite script)" if len(key) == 6 else \
            "does not hold a private API key"
        raise UserError(f"{KEY_VARIABLE} {kind}: a private key starts with 'pk_' "
                        f"(the value has {len(key)} characters; it is not shown)",
                        hint="use a private API key from Klaviyo: Settings > API keys")
    return key


def check_api_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host (and a valid port, if it has one)."""
    if not is_absolute_http_url(url or ""):
        raise UserError(f"{url!r} is not an http(s) URL with a host (and a port from 0 to 65535, "
                        "if any)", where="--api-url",
                        hint=f"e.g. {DEFAULT_API_URL}, or http://127.0.0.1:8765 for a stand-in")
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise UserError(f"{url!r} would send the private API key unencrypted over the network",
                        where="--api-url", hint="use https://, or http:// only for this machine (127.0.0.1, localhost)")
    return url



def check_writable(path: str | os.PathLike[str], option: str, *, replaced: bool = False) -> None:
    """Refuse, before anything is sent, a file this run could not write: a folder, a missing
    folder, no permission. `replaced`: the file is rewritten through a temporary file beside it,
    so its folder must be writable too."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a folder", where=option, hint="give a file's path")
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"the folder {str(folder)!r} does not exist", where=option)
    target = path if path.exists() and not replaced else folder
    if not os.access(target, os.W_OK | (os.X_OK if target == folder else 0)):
        raise UserError(f"cannot write {str(path)!r}: permission denied"
                        + (f" in the folder {str(folder)!r}" if target == folder else ""),
                        where=option, hint="give a path this user can write")


# -- rate limits -------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rate:
    """A Klaviyo rate limit: `burst` requests a second and `steady` requests a minute."""

    burst: int
    steady: int

    def windows(self) -> tuple[tuple[int, float], ...]:
        return ((self.burst, 1.0), (self.steady, 60.0))

    @classmethod
    def parse(cls, text: str) -> Rate:
        """`"350/3500"`: burst per second / steady per minute."""
        match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
        if not match or int(match[1]) < 1 or int(match[2]) < 1:
            raise UserError(f"expected BURST/STEADY, two whole numbers ≥ 1 such as 350/3500 "
                            f"(350 a second, 3500 a minute), not {text!r}")
        return cls(int(match[1]), int(match[2]))

    def __str__(self) -> str:
        return f"{self.burst}/s, {self.steady}/min"


# Klaviyo's published limits [spec] (wire facts §1 and §3).
KLAVIYO_RATES: dict[str, Rate] = {
    EVENTS_PATH: Rate(350, 3500),
    CATALOG_JOBS_PATH: Rate(75, 750),
    "/api/catalog-items": Rate(75, 750),
}


class RateLimiter:
    """Admits a request only if every window stays within its limit.

    `windows` are `(limit, seconds)` pairs. Two modes:

    * `"sliding"` (default): no interval of `seconds + guard` holds more than `limit` requests.
      Any fixed window of the server's, however its clock is aligned with ours, is such an
      interval, and `guard` covers the spread of network and server delays; so this never
      overruns a fixed-window server. Over a long run it reaches `limit / (seconds + guard)`.
    * `"fixed"`: windows aligned to this machine's clock (`floor(t / seconds)`), as the
      stand-in and Klaviyo's docs count them; a request within `guard` of an edge counts in
      both windows. Slightly more throughput in a short run (the first partial window), and
      relies on the server's windows being aligned to the same clock.

    `try_acquire(now)` is the pure core (0.0 = admitted and counted, else seconds to wait);
    `acquire()` waits. `pause_until(t)` holds every request until `t` (after a 429).
    """

    def __init__(self, windows: Iterable[tuple[int, float]], *, mode: str = "sliding",
                 guard: float = 0.1, clock: Callable[[], float] = time.time):
        self.windows = tuple((int(limit), float(seconds)) for limit, seconds in windows)
        if not self.windows or any(limit < 1 or seconds <= 0 for limit, seconds in self.windows):
            raise ValueError("every window needs a limit ≥ 1 and a length > 0")
        if mode not in ("sliding", "fixed"):
            raise ValueError("mode is 'sliding' or 'fixed'")
        if guard < 0:
            raise ValueError("guard must be ≥ 0")
        self.mode = mode
        self.guard = float(guard)
        self.clock = clock
        self.paused_until = 0.0
        self.waited = 0.0  # total seconds callers of acquire() spent waiting (a figure to report)
        self._sent: list[collections.deque[float]] = [collections.deque() for _ in self.windows]
        self._counts: list[dict[int, int]] = [{} for _ in self.windows]

    @classmethod
    def for_rate(cls, rate: Rate, **options: Any) -> RateLimiter:
        return cls(rate.windows(), **options)

    def pause_until(self, moment: float) -> None:
        self.paused_until = max(self.paused_until, moment)

    def try_acquire(self, now: float) -> float:
        if now < self.paused_until:
            return self.paused_until - now
        if self.mode == "sliding":
            return self._try_sliding(now)
        return self._try_fixed(now)

    def _try_sliding(self, now: float) -> float:
        wait = 0.0
        for (limit, seconds), sent in zip(self.windows, self._sent):
            span = seconds + self.guard
            while sent and sent[0] <= now - span:
                sent.popleft()
            if len(sent) >= limit:
                wait = max(wait, sent[len(sent) - limit] + span - now)
        if wait > 0:
            return wait
        for sent in self._sent:
            sent.append(now)
        return 0.0

    def _touched(self, now: float, seconds: float) -> set[int]:
        return {math.floor((now - self.guard) / seconds), math.floor((now + self.guard) / seconds)}

    def _try_fixed(self, now: float) -> float:
        wait = 0.0
        for (limit, seconds), counts in zip(self.windows, self._counts):
            for index in self._touched(now, seconds):
                if counts.get(index, 0) >= limit:
                    # Free once `now - guard` has left window `index`.
                    wait = max(wait, (index + 1) * seconds + self.guard - now)
        if wait > 0:
            return wait
        for (limit, seconds), counts in zip(self.windows, self._counts):
            for index in self._touched(now, seconds):
                counts[index] = counts.get(index, 0) + 1
            oldest = math.floor((now - self.guard) / seconds)
            for index in [i for i in counts if i < oldest]:
                del counts[index]
        return 0.0

    async def acquire(self, sleep: Callable[[float], Any] | None = None) -> bool:
        """Wait for a slot and take it. `sleep(seconds)` may return True to give up (a stop)."""
        sleep = sleep or asyncio.sleep
        while True:
            now = self.clock()
            wait = self.try_acquire(now)
            if wait <= 0:
                return True
            wait = max(wait, 0.001)
            self.waited += wait
            if await sleep(wait):
                return False


# -- retries -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries. `max_attempts` counts every try of one request (1 = never retry).

    429: wait `Retry-After` (plus up to `retry_after_jitter` of it, never less), and hold every
    other request too. 5xx, timeouts and dropped connections: `base_delay * 2**(n-1)` capped at
    `max_delay`, with "equal jitter" (a random point in the upper half), so a crowd of workers
    that failed together does not come back together.
    """

    max_attempts: int = 8
    base_delay: float = 0.5
    max_delay: float = 30.0
    retry_after_jitter: float = 0.1
    retry_after_default: float = 1.0  # a 429 without a usable Retry-After

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be ≥ 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 ≤ base_delay ≤ max_delay")

    def backoff(self, failures: int, rng: random.Random) -> float:
        """The wait after the `failures`-th failed attempt (1-based)."""
        cap = min(self.max_delay, self.base_delay * 2 ** (failures - 1))
        return cap / 2 + rng.uniform(0, cap / 2)

    def after_throttle(self, retry_after: float | None, rng: random.Random) -> float:
        wait = self.retry_after_default if retry_after is None else retry_after
        return wait + rng.uniform(0, self.retry_after_jitter * max(wait, 1.0))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a `Retry-After` header: Klaviyo sends whole seconds; a decimal or an HTTP
    date is read too (the SDK would crash on `1.5`; we do not). None when absent or unreadable."""
    if value is None:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        from email.utils import parsedate_to_datetime

        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if moment is None:
            return None
        seconds = moment.timestamp() - (time.time() if now is None else now)
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


# Answers that mean "the same request may succeed later".
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524})
# Answers that mean every further request fails the same way: stop the run, keep the rest.
FATAL_STATUSES = {
    401: "the private key was refused (401): check KLAVIYO_PRIVATE_KEY",
    403: "the private key lacks a permission (403): give it the scope this endpoint needs "
         "(events:write for orders sync, catalogs:write for catalog push)",
    404: "no such endpoint (404): check --api-url",
    405: "method not allowed (405): check --api-url",
    410: "this endpoint is retired (410)",
    415: "the server refused the content type (415)",
}


# -- what is sent ------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Key:
    """What the state file remembers: an event by metric + `unique_id`, a catalog item by id."""

    kind: str  # "event" or "catalog-item"
    id: str  # unique_id, or the item's external_id
    metric: str = ""

    def fields(self) -> dict[str, str]:
        if self.kind == "event":
            return {"metric": self.metric, "unique_id": self.id}
        return {"catalog_item": self.id}

    @classmethod
    def from_fields(cls, data: Mapping[str, Any]) -> Key | None:
        if isinstance(data.get("metric"), str) and isinstance(data.get("unique_id"), str):
            return cls("event", data["unique_id"], data["metric"])
        if isinstance(data.get("catalog_item"), str):
            return cls("catalog-item", data["catalog_item"])
        return None

    def __str__(self) -> str:
        return f"{self.metric} {self.id!r}" if self.kind == "event" else f"catalog item {self.id!r}"


def body_digest(body: Any) -> str:
    """A stable fingerprint of a body: a refused body is not sent again unless it changed."""
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32]


@dataclass
class Work:
    """One request: its path, its body, and the keys it carries (1 event, or ≤ 100 items)."""

    path: str
    body: dict[str, Any]
    keys: tuple[Key, ...]

    @classmethod
    def event(cls, body: Mapping[str, Any]) -> Work:
        try:
            attributes = body["data"]["attributes"]
            metric = attributes["metric"]["data"]["attributes"]["name"]
            unique_id = attributes.get("unique_id")
        except (KeyError, TypeError):
            raise ValueError("not a POST /api/events body (data.attributes.metric...)") from None
        if not isinstance(metric, str) or not isinstance(unique_id, str) or not unique_id:
            raise ValueError("an event needs a metric name and a unique_id to be sent safely "
                             "(a retry without one could be counted twice)")
        return cls(EVENTS_PATH, dict(body), (Key("event", unique_id, metric),))

    @classmethod
    def catalog_job(cls, body: Mapping[str, Any]) -> Work:
        try:
            items = body["data"]["attributes"]["items"]["data"]
            ids = tuple(Key("catalog-item", str(item["attributes"]["external_id"])) for item in items)
        except (KeyError, TypeError):
            raise ValueError("not a catalog-item-bulk-create-job body") from None
        return cls(CATALOG_JOBS_PATH, dict(body), ids)

    @classmethod
    def for_path(cls, path: str, body: Mapping[str, Any]) -> Work:
        if path.rstrip("/") == EVENTS_PATH:
            return cls.event(body)
        if path.rstrip("/") == CATALOG_JOBS_PATH:
            return cls.catalog_job(body)
        raise ValueError(f"this sender sends to {EVENTS_PATH} and {CATALOG_JOBS_PATH}, not {path!r}")

    def only(self, indexes: list[int]) -> Work:
        """A catalog job narrowed to some of its items (for the dead-letter file)."""
        items = self.body["data"]["attributes"]["items"]["data"]
        body = {"data": {**self.body["data"],
                         "attributes": {**self.body["data"]["attributes"],
                                        "items": {"data": [items[i] for i in indexes]}}}}
        return Work(self.path, body, tuple(self.keys[i] for i in indexes))

    def __str__(self) -> str:
        if len(self.keys) == 1:
            return str(self.keys[0])
        return f"catalog job of {len(self.keys)} items ({self.keys[0].id!r}…)"


@dataclass
class Result:
    """What became of one request. `outcomes` maps each key to accepted / exists / failed."""

    work: Work
    status: int | None  # the last HTTP status; None for a connection failure
    attempts: int
    outcomes: dict[Key, str]
    reason: str | None = None  # why it failed (for failed keys)
    transient: bool = False  # failed after retries of 5xx/429/connection errors
    reasons: dict[Key, str] = field(default_factory=dict)  # per-key reasons (catalog items)

    def failed_work(self) -> Work | None:
        indexes = [i for i, key in enumerate(self.work.keys) if self.outcomes.get(key) == "failed"]
        if not indexes:
            return None
        return self.work if len(indexes) == len(self.work.keys) else self.work.only(indexes)


@dataclass
class Tally:
    """Counts for the summary and the progress bar. Units are events or catalog items."""

    total: int = 0  # to send in this run
    accepted: int = 0
    exists: int = 0  # catalog items that were already there
    failed: int = 0
    requests: int = 0  # HTTP attempts
    retried: int = 0  # attempts after the first
    throttled: int = 0  # 429 answers received
    server_errors: int = 0  # 5xx answers
    connection_errors: int = 0  # dropped connections, timeouts
    notes: list[str] = field(default_factory=list)  # accepted, with something to say
    started: float = field(default_factory=time.monotonic)

    @property
    def done(self) -> int:
        return self.accepted + self.exists + self.failed

    @property
    def unsent(self) -> int:
        return self.total - self.done


class SendAborted(UserError):
    """A run stopped because every further request would fail the same way (401, 404...)."""


# -- the state file ----------------------------------------------------------------------------

def _now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class StateFile:
    """An append-only journal of JSON lines. The first line is a header:

        {"state": "klaviyo-snippets send state", "version": 1, "api_url": "https://a.klaviyo.com",
         "account": "<16 hex>", "salt": "<hex>", "created_at": "..."}

    `account` is an HMAC of the private key under a random `salt` (it tells one account from
    another and cannot give the key back). Then one line per settled key:

        {"metric": "Placed Order", "unique_id": "1234", "result": "accepted", "status": 202, "at": "..."}
        {"catalog_item": "1111", "result": "exists", "status": 202, "at": "..."}
        {"metric": "...", "unique_id": "...", "result": "failed", "status": 400,
         "transient": false, "digest": "sha256:...", "at": "..."}

    A later line wins. Each line is one `write()` as soon as the answer arrives (a killed process
    keeps it), fsynced at least every `sync_every` seconds and at the end (a power cut loses at
    most that much, which Klaviyo's unique_id dedup then absorbs). A torn last line from a crash
    is ignored. The file is locked while a run uses it: two runs cannot share it.
    """

    HEADER = "klaviyo-snippets send state"
    VERSION = 1

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.accepted: set[Key] = set()
        self.failed: dict[Key, dict[str, Any]] = {}
        self.header: dict[str, Any] | None = None
        self.damaged_lines = 0
        self._fd: int | None = None
        self._sync_every = 1.0
        self._last_sync = 0.0
        self._dirty = False

    # reading ------------------------------------------------------------------------------

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> StateFile:
        """A read-only view (dry runs); an absent file is an empty state."""
        state = cls(path)
        if state.path.exists():
            try:
                raw = state.path.read_bytes()
            except OSError as error:
                raise UserError(f"cannot read the state file: {error.strerror}", where=str(state.path),
                                hint="pass another --state (a file), or --no-state") from None
            state._load(raw)
        return state

    def _load(self, raw: bytes) -> None:
        for number, line in enumerate(raw.split(b"\n"), start=1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except (ValueError, RecursionError):
                entry = None
            if isinstance(entry, dict) and entry.get("state") == self.HEADER:
                self.header = entry
                continue
            if self.header is None:  # the first line is always the header: this file is not ours
                raise UserError("this is not a klaviyo-snippets state file (its first line is not "
                                "a state header); it is left as it is",
                                where=f"{self.path}:{number}",
                                hint="pass another --state, or move this file away")
            key = Key.from_fields(entry) if isinstance(entry, dict) else None
            if key is None:
                self.damaged_lines += 1  # a write cut short by a crash
                continue
            if entry.get("result") in ("accepted", "exists"):
                self.accepted.add(key)
                self.failed.pop(key, None)
            elif entry.get("result") == "failed" and key not in self.accepted:
                self.failed[key] = entry

    def done(self, key: Key) -> bool:
        return key in self.accepted

    def refused_before(self, key: Key, body: Any) -> dict[str, Any] | None:
        """The earlier failure of this very body, if it was refused for good (a 4xx): sending it
        again would fail again. A changed body, or a transient failure, is sent again."""
        entry = self.failed.get(key)
        if entry and not entry.get("transient") and entry.get("digest") == body_digest(body):
            return entry
        return None

    # writing ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, api_url: str, private_key: str,
             rebind: bool = False, sync_every: float = 1.0) -> StateFile:
        """Open (or create) for a run: lock it, load it, check it belongs to this account and
        destination, and repair a torn last line."""
        state = cls(path)
        state._sync_every = sync_every
        check_writable(state.path, "--state")
        try:
            fd = os.open(state.path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        except OSError as error:
            raise UserError(f"cannot open the state file: {error.strerror}", where=str(state.path)) from None
        state._fd = fd
        try:
            _lock(fd, state.path)
            raw = _read_all(fd)
            state._load(raw)
            if raw and not raw.endswith(b"\n"):
                os.write(fd, b"\n")  # the next line must not glue onto a torn one
            api_url = api_url.rstrip("/")
            if state.header is None:
                state._write_header(api_url, private_key)
            else:
                state._check_header(api_url, private_key, rebind)
            os.fsync(fd)
        except BaseException:
            state.close()
            raise
        return state

    def _write_header(self, api_url: str, private_key: str) -> None:
        salt = secrets.token_hex(8)
        header = {"state": self.HEADER, "version": self.VERSION, "api_url": api_url,
                  "account": _account(salt, private_key), "salt": salt, "created_at": _now_iso()}
        self._append([header])
        self.header = header

    def _check_header(self, api_url: str, private_key: str, rebind: bool) -> None:
        header = self.header or {}
        problems = []
        if header.get("api_url") != api_url:
            problems.append(f"it was written for {header.get('api_url')!r}, not {api_url!r}")
        salt = str(header.get("salt", ""))
        if header.get("account") != _account(salt, private_key):
            problems.append("it was written with another private key (another account?)")
        if not problems:
            return
        if not rebind:
            raise UserError(
                f"the state file does not belong to this run: {'; and '.join(problems)}. It lists "
                f"{len(self.accepted)} accepted keys that this run would skip",
                where=str(self.path),
                hint="keep one state file per account and destination (--state FILE); if this is "
                     "the same account (e.g. a rotated key), pass --rebind-state")
        self._write_header(api_url, private_key)

    def _append(self, entries: list[dict[str, Any]]) -> None:
        if self._fd is None:
            raise RuntimeError("the state file is open read-only")
        data = "".join(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries)
        os.write(self._fd, data.encode("utf-8"))  # one write: O_APPEND keeps lines whole
        self._dirty = True

    def record(self, result: Result) -> None:
        at = _now_iso()
        entries = []
        for key, outcome in result.outcomes.items():
            entry: dict[str, Any] = {**key.fields(), "result": outcome, "status": result.status, "at": at}
            if outcome == "failed":
                entry["transient"] = result.transient
                entry["digest"] = body_digest(result.work.body)
                self.failed[key] = entry
            else:
                self.accepted.add(key)
                self.failed.pop(key, None)
            entries.append(entry)
        if entries:
            self._append(entries)
        self.maybe_sync()

    def maybe_sync(self, force: bool = False) -> None:
        if self._fd is None or not self._dirty:
            return
        now = time.monotonic()
        if force or now - self._last_sync >= self._sync_every:
            os.fsync(self._fd)
            self._last_sync = now
            self._dirty = False

    def close(self) -> None:
        if self._fd is not None:
            try:
                self.maybe_sync(force=True)
            finally:
                os.close(self._fd)  # also releases the lock
                self._fd = None


def _account(salt: str, private_key: str) -> str:
    return hmac.new(salt.encode(), private_key.encode(), hashlib.sha256).hexdigest()[:16]


def _lock(fd: int, path: Path) -> None:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, documented
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        raise UserError("another run is using this state file right now",
                        where=str(path),
                        hint="wait for it to finish (two runs at once would send the same events)") from None


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


# -- dead letters ------------------------------------------------------------------------------

class DeadLetters:
    """Appends what failed for good, one JSON line each (created on the first failure):

        {"failed_at": "...", "path": "/api/events", "metric": "Placed Order", "unique_id": "1234",
         "status": 400, "reason": "400 invalid at /data/attributes/...: ...", "attempts": 1,
         "transient": false, "state": "/abs/path/orders.jsonl.sync-state",
         "body": {...the request body...}}

    A catalog line has `"catalog_items": [ids]` instead of metric and unique_id, and `body` is a
    bulk job of just the failed items. Each line is written and fsynced at once.
    """

    def __init__(self, path: str | os.PathLike[str], *, state_path: str | os.PathLike[str] | None = None):
        self.path = Path(path)
        check_writable(self.path, "--dead-letter")  # now, not at the first failure, when it is too late
        self.state_path = None if state_path is None else str(Path(state_path).resolve())
        self.count = 0
        self.failed_keys: set[Key] = set()
        self._handle: TextIO | None = None

    def add(self, result: Result, *, secret: str | None = None) -> None:
        work = result.failed_work()
        if work is None:
            return
        entry: dict[str, Any] = {"failed_at": _now_iso(), "path": work.path}
        if len(work.keys) == 1 and work.keys[0].kind == "event":
            entry.update(work.keys[0].fields())
        else:
            entry["catalog_items"] = [key.id for key in work.keys]
        reasons = sorted({result.reasons.get(k, result.reason or "") for k in work.keys})
        entry.update(status=result.status, reason=redact("; ".join(r for r in reasons if r), secret),
                     attempts=result.attempts, transient=result.transient, state=self.state_path,
                     body=work.body)
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"))
        if self._handle is None:  # customers' data: readable by its owner only, like the state file
            self._handle = os.fdopen(os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
                                     "a", encoding="utf-8")
        self._handle.write(redact(line, secret) + "\n")
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self.count += len(work.keys)
        self.failed_keys.update(work.keys)

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    @staticmethod
    def read(path: str | os.PathLike[str]) -> list[tuple[int, dict[str, Any], Work]]:
        """The entries of a dead-letter file, each with its line number and the work to resend.
        The body is read from the file, so a body fixed by hand is sent as fixed."""
        hint = ("each line is {\"path\": ..., \"body\": {...}, ...} as the sender wrote it; a body "
                "may be edited, not the shape")
        entries = []
        for number, line in enumerate(read_text(path, "dead-letter file").split("\n"), start=1):
            if not line.strip():
                continue
            entry = parse_json(line, str(path), line=number, hint=hint)
            try:
                work = Work.for_path(entry["path"], entry["body"])
            except (ValueError, KeyError, TypeError) as error:
                detail = error.args[0] if isinstance(error, ValueError) and error.args else \
                    f"missing {error}" if isinstance(error, KeyError) else "not a dead-letter entry"
                raise UserError(f"not a dead-letter entry: {detail}", where=f"{path}:{number}",
                                hint=hint) from None
            entries.append((number, entry, work))
        return entries


# -- progress ----------------------------------------------------------------------------------

class Progress:
    """A progress bar on a terminal, or a plain line every `interval` seconds otherwise."""

    def __init__(self, total: int, *, stream: TextIO | None = None, unit: str = "events",
                 interval: float = 10.0, tty: bool | None = None,
                 clock: Callable[[], float] = time.monotonic, ceiling: float | None = None):
        self.total = total
        # The most units a second the limits allow in the long run (the steady window): the
        # first seconds run at the burst rate, and an ETA from them alone would be too hopeful.
        self.ceiling = ceiling
        self.stream = stream if stream is not None else sys.stderr
        self.unit = unit
        self.tty = self.stream.isatty() if tty is None else tty
        self.interval = 0.1 if self.tty else interval
        self.clock = clock
        self._last = clock()
        self._drawn = False

    def update(self, tally: Tally, *, force: bool = False) -> None:
        now = self.clock()
        if not force and now - self._last < self.interval:
            return
        self._last = now
        elapsed = max(now - tally.started, 1e-6)
        rate = tally.done / elapsed
        share = tally.done / self.total if self.total else 1.0
        pace = min(rate, self.ceiling) if self.ceiling else rate
        eta = (self.total - tally.done) / pace if pace > 0 else None
        text = (f"{tally.done}/{self.total} {self.unit} ({share:.0%}), {rate:.0f}/s, "
                f"{tally.failed} failed, {tally.throttled} throttled"
                + (f", ~{eta:.0f}s left" if eta is not None and tally.done < self.total else ""))
        if self.tty:
            width = 24
            filled = int(width * share)
            self.stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {text}\x1b[K")
            self._drawn = True
        else:
            self.stream.write(f"progress: {text}\n")
        self.stream.flush()

    def finish(self, tally: Tally) -> None:
        if self.tty:
            self.update(tally, force=True)
            if self._drawn:
                self.stream.write("\n")
                self.stream.flush()


# -- the sender --------------------------------------------------------------------------------

class Sender:
    """Sends `Work` concurrently through per-path rate limiters, with retries, and hands each
    `Result` to `on_result` (which writes the state file and dead letters) as it settles.

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
        self._stop: asyncio.Event | None = None

    def __repr__(self) -> str:  # never the key
        return f"<Sender {self.api_url} concurrency={self.concurrency}>"

    # public ---------------------------------------------------------------------------------

    def run(self, works: Iterable[Work], *, on_result: Callable[[Result], None] = lambda r: None,
            progress: Progress | None = None) -> Tally:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(self.send(works, on_result=on_result, progress=progress, signals=True))
        # An event loop already runs in this thread (sync Playwright, a notebook): use our own thread.
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            return pool.submit(asyncio.run, self.send(works, on_result=on_result, progress=progress)).result()

    async def send(self, works: Iterable[Work], *, on_result: Callable[[Result], None] = lambda r: None,
                   progress: Progress | None = None, signals: bool = False) -> Tally:
        queue = collections.deque(works)
        self.tally = Tally(total=sum(len(w.keys) for w in queue))
        self._stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop) if signals else []

        def settle(result: Result) -> None:
            for outcome in result.outcomes.values():
                if outcome == "accepted":
                    self.tally.accepted += 1
                elif outcome == "exists":
                    self.tally.exists += 1
                else:
                    self.tally.failed += 1
            if result.reason and "failed" not in result.outcomes.values():
                self.tally.notes.append(f"{result.work}: {result.reason}")
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
                workers = [asyncio.create_task(self._worker(session, queue, settle))
                           for _ in range(min(self.concurrency, len(queue)) or 0)]
                if workers:
                    await asyncio.gather(*workers)
        finally:
            if ticker is not None:
                ticker.cancel()
            for sig in installed:
                loop.remove_signal_handler(sig)
            if progress is not None:
                progress.finish(self.tally)
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

    async def _worker(self, session: aiohttp.ClientSession, queue: collections.deque,
                      settle: Callable[[Result], None]) -> None:
        assert self._stop is not None
        while queue and not self._stop.is_set():
            work = queue.popleft()
            result = await self._deliver(session, work)
            if result is not None:
                settle(result)

    def _limiter(self, path: str) -> RateLimiter | None:
        return self.limiters.get(path.rstrip("/"))

    async def _deliver(self, session: aiohttp.ClientSession, work: Work) -> Result | None:
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
                return Result(work, status, attempt, {k: "failed" for k in work.keys}, reason)
            if status is None:
                self.tally.connection_errors += 1
            elif status == 429:
                self.tally.throttled += 1
            elif status >= 500:
                self.tally.server_errors += 1
            if attempt >= self.retry.max_attempts:
                return Result(work, status, attempt, {k: "failed" for k in work.keys},
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
                        attempts: int, answer: Any) -> Result:
        if work.path != CATALOG_JOBS_PATH:
            return Result(work, status, attempts, {k: "accepted" for k in work.keys})
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


def _job_result(work: Work, status: int, attempts: int, answer: Any) -> Result:
    """Per-item outcomes of a bulk create job: `duplicate_object` means the item was already in
    the catalog (`exists`: create does not update it); any other item error fails the item."""
    job_status = _job_status(answer)
    outcomes = {key: "accepted" for key in work.keys}
    reasons: dict[Key, str] = {}
    if job_status == "cancelled":
        return Result(work, status, attempts, {k: "failed" for k in work.keys},
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
    result = Result(work, status, attempts, outcomes, reason, reasons=reasons)
    if note:
        result.reason = note if reason is None else f"{reason}; {note}"
    return result
