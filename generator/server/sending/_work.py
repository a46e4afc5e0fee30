"""What is sent and what became of it: a request (`Work`) with the keys it carries, the outcome
of one request (`Delivery`), and the run's counts (`Tally`)."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from klaviyo_snippets.generator.server.sending._settings import CATALOG_JOBS_PATH, EVENTS_PATH

__all__ = ["Key", "Work", "Delivery", "Tally", "body_digest"]


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

    def text(self) -> str:
        """The key as one text: what a `KeyIndex` of sent or failed keys holds."""
        return f"{self.kind}\0{self.metric}\0{self.id}"

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
class Delivery:
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
