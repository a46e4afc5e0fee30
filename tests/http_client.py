"""A tiny blocking HTTP client for tests that talk to the stand-in directly (no browser)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

PUBLIC_KEY = "ABC123"
PRIVATE_KEY = "pk_test0123456789abcdef"
CLIENT_HEADERS = {"Content-Type": "application/json", "revision": "2026-07-15"}
ONSITE_HEADERS = {**CLIENT_HEADERS, "X-Klaviyo-Onsite": "1"}
SERVER_HEADERS = {
    "Content-Type": "application/vnd.api+json",
    "Accept": "application/vnd.api+json",
    "revision": "2026-10-15",
    "Authorization": f"Klaviyo-API-Key {PRIVATE_KEY}",
}


class Reply:
    def __init__(self, status: int, raw: bytes, headers):
        self.status = status
        self.raw = raw
        self.headers = headers

    @property
    def json(self):
        return json.loads(self.raw) if self.raw else None


def send(method: str, url: str, body=None, headers: dict | None = None) -> Reply:
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return Reply(r.status, r.read(), r.headers)
    except urllib.error.HTTPError as e:
        return Reply(e.code, e.read(), e.headers)


def post(url: str, body=None, headers: dict | None = None) -> Reply:
    return send("POST", url, body, headers)


def get(url: str) -> Reply:
    return send("GET", url)


def event_body(metric: str = "Viewed Product", *, profile: dict | None = None, properties: dict | None = None,
               **attributes) -> dict:
    """A JSON:API event body, as Klaviyo's docs write it."""
    return {
        "data": {
            "type": "event",
            "attributes": {
                "properties": properties if properties is not None else {"ProductName": "Mug"},
                "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
                "profile": {"data": {"type": "profile", "attributes": profile or {"email": "sarah.mason@klaviyo-demo.com"}}},
                **attributes,
            },
        }
    }


def profile_body(*, meta: dict | None = None, **attributes) -> dict:
    """A /client/profiles body; its `meta` sits beside `attributes` (OnsiteProfileCreateQuery)."""
    data = {"type": "profile", "attributes": attributes}
    if meta is not None:
        data["meta"] = meta
    return {"data": data}
