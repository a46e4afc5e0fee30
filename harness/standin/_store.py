"""What the stand-in remembers: requests as received, events with their judgement, diagnostics,
profiles and catalog items.

A plain thread-safe object: the server thread writes, tests and the inspection API read. The
shapes returned here are the inspection API's JSON (documented in docs/stub.md).

The log (requests, events, diagnostics) is bounded: each record is kept as compact JSON, encoded
once when it is complete, so it costs what it weighs and every read is a fresh copy (the inspection
API sends the JSON as kept). At most `max_records` of each kind and `max_record_bytes` of JSON in
all are kept; the oldest go first, and `counts()` says how many were forgotten. Counts by status
cover every event since the last reset. A body that is not JSON is kept as its beginning only
(`text_preview`). Profiles, dedup keys (8-byte digests) and catalog items are Klaviyo's state, not
a log: they are kept whole until a reset, which also hands the freed memory back to the system.
"""

from __future__ import annotations

import base64
import copy
import ctypes
import hashlib
import itertools
import json
import threading
import time
import uuid
from collections import deque

from klaviyo_snippets.generator.keys import redact_headers
from klaviyo_snippets.harness.standin import wire
from klaviyo_snippets.harness.standin._responses import json_bytes

PROPERTY_ATTRIBUTES = ("first_name", "last_name", "organization", "title", "image", "locale")
KINDS = ("requests", "events", "diagnostics")  # the bounded log
MAX_RECORDS = 50_000  # of each kind: any test suite's traffic, and benchmarks/bench_sync.py's 40,000 events
MAX_RECORD_BYTES = 128 * 1024 * 1024  # of JSON, all kinds together
PREVIEW_BYTES = 16 * 1024  # what is kept of a body that is not JSON
RELEASE_AFTER_BYTES = 8 * 1024 * 1024  # a reset freeing more hands memory back to the system


_second_cache: list = [None, ""]  # (whole second, its formatted prefix): formatting is a hot spot


def now_iso() -> str:
    """UTC now as ISO 8601 with milliseconds, e.g. 2026-11-26T09:40:01.123Z."""
    now = time.time()
    second = int(now)
    if _second_cache[0] != second:
        _second_cache[:] = [second, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))]
    return f"{_second_cache[1]}.{int((now - second) * 1000):03d}Z"


def _profile_id(seq: int) -> str:
    # Klaviyo ids are 26-character ULIDs; ours are stable per run and sort by creation.
    return f"01STUB{seq:020d}"


def exchange_id(profile_id: str, company_id: str) -> str:
    """`<token>.<company>`, the shape the onsite script stores (regex ^([\\w\\-_=]+)\\.(\\w+)$)."""
    digest = hashlib.sha256(f"{company_id}:{profile_id}".encode()).digest()[:18]
    token = base64.urlsafe_b64encode(digest).decode().rstrip("=")
    return f"{token}.{company_id}"


def text_preview(raw: bytes) -> str:
    """What is kept of a body that is not JSON: its first 16 KiB as text, saying how much there was."""
    if len(raw) <= PREVIEW_BYTES:
        return raw.decode("utf-8", errors="replace")
    return (raw[:PREVIEW_BYTES].decode("utf-8", errors="replace")
            + f"... ({len(raw)} bytes in all; the stand-in keeps the first {PREVIEW_BYTES // 1024} KiB "
              "of a body that is not JSON)")


def release_memory() -> None:
    """Hand freed heap back to the system: glibc keeps it for reuse otherwise (RSS stays high)."""
    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _encode(record: dict, body_json: bytes | None = None) -> bytes:
    """A record as JSON. `body_json`: its "body" (the last key) as received, when that was clean
    JSON (`wire.parse_json` found nothing wrong): spliced in as is, not encoded again."""
    if body_json is None:
        return json_bytes(record)
    body = record.pop("body")
    try:
        rest = json_bytes(record)
    finally:
        record["body"] = body
    return rest[:-1] + b',"body":' + body_json + b"}"


class _Kept:
    """One record of the log: its JSON once complete; until then (a request not yet answered) the
    record itself, and its body as received when that was clean JSON."""

    __slots__ = ("id", "blob", "record", "body_json", "status", "metric")

    def __init__(self, id: int, blob: bytes | None, record: dict | None = None, body_json: bytes | None = None,
                 status: str | None = None, metric: str | None = None):
        self.id, self.blob, self.record, self.body_json = id, blob, record, body_json
        self.status, self.metric = status, metric

    def json(self) -> bytes:
        return self.blob if self.blob is not None else _encode(self.record, self.body_json)


class Store:
    def __init__(self, *, map_property_attributes: bool = True, max_records: int = MAX_RECORDS,
                 max_record_bytes: int = MAX_RECORD_BYTES) -> None:
        if max_records < 1 or max_record_bytes < 1:
            raise ValueError("max_records and max_record_bytes must be at least 1")
        self.map_property_attributes = map_property_attributes  # [inferred], see _merge
        self.max_records = max_records
        self.max_record_bytes = max_record_bytes
        # Re-entrant: wait_for() holds the condition while its predicate reads the store.
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self.generation = 0
        self._bytes = 0
        self.clear()

    def clear(self) -> None:
        with self.changed:
            freed = self._bytes
            self._seq = itertools.count(1)
            self._profile_seq = itertools.count(1)
            self._log: dict[str, deque[_Kept]] = {kind: deque() for kind in KINDS}
            self._unanswered: dict[int, _Kept] = {}  # requests kept, not answered yet, by id
            self._bytes = 0  # JSON kept in the log
            self._received = dict.fromkeys(KINDS, 0)  # since the last reset, kept or not
            self._forgotten = dict.fromkeys(KINDS, 0)
            self._statuses: dict[str, int] = {"good": 0, "bad": 0, "duplicate": 0, "dropped": 0}
            self._profiles: dict[str, dict] = {}
            self._index: dict[tuple[str, str], str] = {}  # (identifier kind, value) -> profile id
            self._seen: set[bytes] = set()  # dedup keys, as digests
            self._catalog: dict[str, dict] = {}  # catalog item id -> item
            self.generation += 1
            self.changed.notify_all()
        if freed > RELEASE_AFTER_BYTES:
            release_memory()

    # -- the log -----------------------------------------------------------------------------

    def _keep(self, kind: str, entry: _Kept) -> None:
        """Add to the log, then forget the oldest records past max_records or max_record_bytes."""
        log = self._log[kind]
        log.append(entry)
        self._received[kind] += 1
        if entry.blob is not None:
            self._bytes += len(entry.blob)
        while len(log) > self.max_records:
            self._forget(kind)
        self._trim_bytes()

    def _trim_bytes(self) -> None:
        while self._bytes > self.max_record_bytes:
            oldest = [(log[0].id, kind) for kind, log in self._log.items() if log]
            if sum(len(log) for log in self._log.values()) <= 1:
                return  # the newest record stays, however large
            self._forget(min(oldest)[1])

    def _forget(self, kind: str) -> None:
        entry = self._log[kind].popleft()
        if entry.blob is not None:
            self._bytes -= len(entry.blob)
        else:
            self._unanswered.pop(entry.id, None)
        self._forgotten[kind] += 1

    # -- recording ---------------------------------------------------------------------------

    def add_request(self, method: str, path: str, query: dict, headers: dict, body: object, raw_size: int,
                    body_json: bytes | None = None) -> dict:
        """Record a request as received; it is encoded for the log when `respond` answers it.
        `body`: the parsed document, or `text_preview(raw)` for a body that is not JSON;
        `body_json`: the raw body when it is clean JSON (kept as is, and for its event)."""
        record = {
            "id": None,
            "received_at": now_iso(),
            "method": method,
            "path": path,
            "query": query,
            "headers": redact_headers(headers),
            "bytes": raw_size,
            "response": None,
            "body": body,
        }
        with self._lock:
            record["id"] = next(self._seq)
            entry = _Kept(record["id"], None, record, body_json)
            self._unanswered[entry.id] = entry
            self._keep("requests", entry)
        return record

    def respond(self, request: dict, status: int, body: object = None) -> None:
        """The answer to a recorded request (status 0: none was delivered); the record is final."""
        with self.changed:
            request["response"] = {"status": status, "body": body}
            entry = self._unanswered.pop(request["id"], None)
            if entry is not None:  # else forgotten meanwhile
                entry.blob, entry.record, entry.body_json = _encode(request, entry.body_json), None, None
                self._bytes += len(entry.blob)
                self._trim_bytes()
            self.changed.notify_all()

    def add_event(self, record: dict) -> dict:
        """Record a judged event. Its "body" (the last key) is the request's own when it is the
        whole document of a request not answered yet; its raw JSON is then reused."""
        with self.changed:
            record["id"] = next(self._seq)
            record.setdefault("received_at", now_iso())
            request = self._unanswered.get(record.get("request_id"))
            same_body = (request is not None and record.get("body") is not None
                         and request.record["body"] is record["body"])
            blob = _encode(record, request.body_json if same_body else None)
            self._keep("events", _Kept(record["id"], blob, status=record["status"], metric=record.get("metric")))
            self._statuses[record["status"]] = self._statuses.get(record["status"], 0) + 1
            self.changed.notify_all()
        return record

    def add_diagnostic(self, report: dict) -> dict:
        """Record a page's report; its `id` and `received_at` are the stand-in's, whatever it sent."""
        with self.changed:
            report["id"] = next(self._seq)
            report["received_at"] = now_iso()
            self._keep("diagnostics", _Kept(report["id"], _encode(report)))
            self.changed.notify_all()
        return report

    # -- profiles ----------------------------------------------------------------------------

    def resolve_profile(self, data: dict, *, company: str | None, client: bool = True) -> tuple[dict | None, str | None]:
        """Find (or make) the profile a resource names, and merge its attributes into it.

        Returns (snapshot: id, attributes, exchange_ids; problem). One stand-in is one Klaviyo account: profiles are
        shared by the client and server endpoints. Explicit identifiers win over an exchange
        id; an exchange id this stand-in never issued is a problem (the event has no person).
        `client`: a client endpoint, which ignores a change of an existing identifier.
        """
        ids = wire.profile_identifiers(data)
        attrs = data.get("attributes") or {}
        with self._lock:
            profile = None
            if "id" in ids:
                profile = self._profiles.get(ids["id"])
                if profile is None:
                    return None, f"no profile has id {ids['id']!r}"
            for kind in ("email", "phone_number", "external_id", "anonymous_id"):
                if profile is None and kind in ids:
                    pid = self._index.get((kind, ids[kind]))
                    profile = self._profiles.get(pid) if pid else None
            kx = ids.get("_kx")
            if profile is None and kx:
                pid = self._index.get(("_kx", kx))
                if pid is None and set(ids) == {"_kx"}:
                    return None, (
                        f"the exchange id {kx!r} was never issued by this Klaviyo, so the event "
                        "belongs to nobody (identify the visitor first)"
                    )
                profile = self._profiles.get(pid) if pid else None
            if profile is None:
                pid = _profile_id(next(self._profile_seq))
                profile = {
                    "id": pid,
                    "created_at": now_iso(),
                    "updated_at": None,
                    "attributes": {},
                    "properties": {},
                    "exchange_ids": {},
                    "subscriptions": [],
                }
                self._profiles[pid] = profile
            # /client/profiles carries meta beside attributes; an event's profile, inside them.
            self._merge(profile, attrs, data.get("meta") or attrs.get("meta"), keep_identifiers=client)
            if company and company not in profile["exchange_ids"]:
                kx_new = exchange_id(profile["id"], company)
                profile["exchange_ids"][company] = kx_new
                self._index[("_kx", kx_new)] = profile["id"]
            # A snapshot of what callers read; stored values are replaced, never mutated in place.
            return {"id": profile["id"], "attributes": dict(profile["attributes"]),
                    "exchange_ids": dict(profile["exchange_ids"])}, None

    def add_subscription(self, profile_id: str, subscription: dict) -> None:
        with self.changed:
            self._profiles[profile_id]["subscriptions"].append(subscription)
            self.changed.notify_all()

    def _merge(self, profile: dict, attrs: dict, meta: dict | None, *, keep_identifiers: bool) -> None:
        stored = profile["attributes"]
        for key, value in attrs.items():
            if key in ("properties", "meta", "_kx", "subscriptions") or value is None:
                continue
            if key in wire.PROFILE_IDENTIFIERS and stored.get(key) not in (None, value):
                if keep_identifiers:
                    continue  # client endpoints ignore attempts to change an existing identifier [spec]
                self._index.pop((key, stored[key]), None)
            stored[key] = copy.deepcopy(value)
            if key in wire.PROFILE_IDENTIFIERS:
                self._index[(key, value)] = profile["id"]
        props = dict(attrs.get("properties") or {})
        # [inferred] The onsite script sends an unprefixed first_name inside properties; Klaviyo's
        # docs call it special, so the server must map it (and its siblings) to the attribute.
        for key in PROPERTY_ATTRIBUTES if self.map_property_attributes else ():
            if isinstance(props.get(key), str) and key not in attrs:
                stored[key] = props.pop(key)
        profile["properties"].update(copy.deepcopy(props))
        patch = (meta or {}).get("patch_properties") or {}
        for key, value in (patch.get("append") or {}).items():
            current = profile["properties"].get(key)
            current = current if isinstance(current, list) else ([] if current is None else [current])
            current.extend(value if isinstance(value, list) else [value])
            profile["properties"][key] = current
        for key, value in (patch.get("unappend") or {}).items():
            current = profile["properties"].get(key)
            if isinstance(current, list):
                drop = value if isinstance(value, list) else [value]
                profile["properties"][key] = [v for v in current if v not in drop]
        unset = patch.get("unset")
        for key in [unset] if isinstance(unset, str) else (unset or []):
            profile["properties"].pop(key, None)
        profile["updated_at"] = now_iso()

    def first_time_seen(self, key: tuple) -> bool:
        """Dedup: True the first time a (profile, metric, unique_id) key arrives. Kept as an 8-byte
        digest (a million keys: about 70 MB): a false duplicate needs a 64-bit collision."""
        digest = hashlib.blake2b(repr(key).encode("utf-8", "surrogatepass"), digest_size=8).digest()
        with self._lock:
            if digest in self._seen:
                return False
            self._seen.add(digest)
            return True

    # -- catalog -----------------------------------------------------------------------------

    def add_catalog_item(self, item_id: str, attributes: dict, categories: list[str]) -> dict | None:
        """Store a catalog item; None when the id exists already (Klaviyo answers 409)."""
        with self.changed:
            if item_id in self._catalog:
                return None
            now = now_iso()
            item = {"id": item_id, "attributes": copy.deepcopy(attributes), "categories": categories,
                    "created": now, "updated": now}
            self._catalog[item_id] = item
            self.changed.notify_all()
            return copy.deepcopy(item)

    def catalog(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._catalog.values()))

    # -- reading -----------------------------------------------------------------------------

    def events(self, *, status: str | None = None, metric: str | None = None) -> list[dict]:
        return [json.loads(blob) for blob in self.events_json(status=status, metric=metric)]

    def requests(self) -> list[dict]:
        return [json.loads(blob) for blob in self.log_json("requests")]

    def diagnostics(self) -> list[dict]:
        return [json.loads(blob) for blob in self.log_json("diagnostics")]

    def events_json(self, *, status: str | None = None, metric: str | None = None) -> list[bytes]:
        """The kept events as JSON, oldest first (what `events()` decodes)."""
        with self._lock:
            return [e.blob for e in self._log["events"]
                    if (status is None or e.status == status) and (metric is None or e.metric == metric)]

    def log_json(self, kind: str) -> list[bytes]:
        """The kept records of one kind ("requests", "events", "diagnostics") as JSON, oldest first."""
        with self._lock:
            return [entry.json() for entry in self._log[kind]]

    def profiles(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._profiles.values()))

    def counts(self) -> dict:
        """Since the last reset: events by status, requests, diagnostics (kept or not), profiles,
        catalog items, and how many records of each kind the log has forgotten."""
        with self._lock:
            counts = {"total": sum(self._statuses.values()), **self._statuses}
            counts["requests"] = self._received["requests"]
            counts["profiles"] = len(self._profiles)
            counts["diagnostics"] = self._received["diagnostics"]
            counts["catalog_items"] = len(self._catalog)
            counts["forgotten"] = dict(self._forgotten)
            return counts

    def wait_for(self, predicate, timeout: float):
        """Block until predicate() returns something truthy (re-checked on every change) or time out."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                result = predicate()
                if result:
                    return result
                left = deadline - time.monotonic()
                if left <= 0:
                    return result
                self.changed.wait(left)


def new_uuid() -> str:
    return str(uuid.uuid4())
