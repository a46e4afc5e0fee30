"""What the stand-in remembers: requests as received, events with their judgement, profiles.

A plain thread-safe object: the server thread writes, tests and the inspection API read. The
shapes returned here are the inspection API's JSON (documented in docs/stub.md).
"""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import threading
import time
import uuid

from klaviyo_snippets.generator.keys import redact_headers
from klaviyo_snippets.harness.standin import wire

PROPERTY_ATTRIBUTES = ("first_name", "last_name", "organization", "title", "image", "locale")


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


class Store:
    def __init__(self, *, map_property_attributes: bool = True) -> None:
        self.map_property_attributes = map_property_attributes  # [inferred], see _merge
        # Re-entrant: wait_for() holds the condition while its predicate reads the store.
        self._lock = threading.RLock()
        self.changed = threading.Condition(self._lock)
        self.generation = 0
        self.clear()

    def clear(self) -> None:
        with self.changed:
            self._seq = itertools.count(1)
            self._profile_seq = itertools.count(1)
            self._requests: list[dict] = []
            self._events: list[dict] = []
            self._diagnostics: list[dict] = []
            self._profiles: dict[str, dict] = {}
            self._index: dict[tuple[str, str], str] = {}  # (identifier kind, value) -> profile id
            self._seen: set[tuple] = set()  # dedup keys
            self._catalog: dict[str, dict] = {}  # catalog item id -> item
            self.generation += 1
            self.changed.notify_all()

    # -- recording ---------------------------------------------------------------------------

    def add_request(self, method: str, path: str, query: dict, headers: dict, body: object, raw_size: int) -> dict:
        record = {
            "id": None,
            "received_at": now_iso(),
            "method": method,
            "path": path,
            "query": query,
            "headers": redact_headers(headers),
            "body": body,
            "bytes": raw_size,
            "response": None,
        }
        with self._lock:
            record["id"] = next(self._seq)
            self._requests.append(record)
        return record

    def respond(self, request: dict, status: int, body: object = None) -> None:
        with self.changed:
            request["response"] = {"status": status, "body": body}
            self.changed.notify_all()

    def add_event(self, record: dict) -> dict:
        with self.changed:
            record["id"] = next(self._seq)
            record.setdefault("received_at", now_iso())
            self._events.append(record)
            self.changed.notify_all()
        return record

    def add_diagnostic(self, report: dict) -> dict:
        with self.changed:
            report["id"] = next(self._seq)
            report.setdefault("received_at", now_iso())
            self._diagnostics.append(report)
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
        """Dedup: True the first time a (profile, metric, unique_id) key arrives."""
        with self._lock:
            if key in self._seen:
                return False
            self._seen.add(key)
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
        with self._lock:
            out = [
                e
                for e in self._events
                if (status is None or e["status"] == status) and (metric is None or e["metric"] == metric)
            ]
            return copy.deepcopy(out)

    def requests(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._requests)

    def diagnostics(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(self._diagnostics)

    def profiles(self) -> list[dict]:
        with self._lock:
            return copy.deepcopy(list(self._profiles.values()))

    def counts(self) -> dict:
        with self._lock:
            counts = {"total": len(self._events), "good": 0, "bad": 0, "duplicate": 0, "dropped": 0}
            for e in self._events:
                counts[e["status"]] = counts.get(e["status"], 0) + 1
            counts["requests"] = len(self._requests)
            counts["profiles"] = len(self._profiles)
            counts["diagnostics"] = len(self._diagnostics)
            counts["catalog_items"] = len(self._catalog)
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
