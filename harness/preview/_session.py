"""What the inspector lists: the stand-in's records joined into one entry per thing that happened.

The stand-in keeps requests, events (each with its judgement), diagnostics from its onsite script
and profiles apart (docs/stub.md). The inspector wants one line per event or request, newest
first, each with its metric, status and reasons (and a good event's lint `warnings`: accepted,
but not as meant), the request as Klaviyo received it, the profile
it belongs to and the generated snippet that produced it. `build_entries` does that join; it is
pure (plain data in, plain data out) so it is tested without a server.

Entry statuses: the stand-in's `good`, `bad`, `duplicate` and `dropped` (by the onsite script),
plus `pending` (a request still waiting for its answer) and `warning` (something reported that
did not stop the event, e.g. a property the snippet left out because of its type).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from klaviyo_snippets.generator.keys import redact_headers
from klaviyo_snippets.harness.standin import wire

STATUSES = ("good", "bad", "duplicate", "dropped", "warning", "pending")

# Header names whose values are secrets wherever they appear (the store already redacts
# authorization and cookie; this also catches custom key headers).

ACTIVITY_METRIC = "__activity__"

#: (kind, metric or method) -> snippet reference {"event", "file", "text"}; see Storefront.snippet_for
SnippetLookup = Callable[[str, "str | None"], "dict | None"]


def _errors(response: dict | None) -> list[dict]:
    """The JSON:API errors of an answer, as reasons."""
    body = (response or {}).get("body")
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        return [
            {
                "detail": str(e.get("detail") or e.get("title") or e.get("code") or "error"),
                "pointer": (e.get("source") or {}).get("pointer") or (e.get("source") or {}).get("parameter"),
                "code": e.get("code"),
            }
            for e in body["errors"]
            if isinstance(e, dict)
        ]
    if isinstance(body, str) and body:
        return [{"detail": body, "pointer": None, "code": None}]
    return []


def _attributes(body: Any) -> dict:
    try:
        attrs = body["data"]["attributes"]
    except (KeyError, TypeError):
        return {}
    return attrs if isinstance(attrs, dict) else {}


def _request_view(req: dict | None) -> dict | None:
    if req is None:
        return None
    return {
        "id": req["id"],
        "received_at": req.get("received_at"),
        "method": req.get("method"),
        "path": req.get("path"),
        "query": req.get("query") or {},
        "headers": redact_headers(req.get("headers")),
        "bytes": req.get("bytes"),
        "response": req.get("response"),
    }


def profile_for_request(req: dict, profiles: list[dict]) -> str | None:
    """The profile a /client/profiles or subscriptions request was about, as the stand-in resolved it."""
    response = req.get("response") or {}
    body = response.get("body")
    exchange = None
    if isinstance(body, dict):
        exchange = (body.get("meta") or {}).get("exchange_id")
    attrs = _attributes(req.get("body"))
    if not attrs.get("email") and isinstance(attrs.get("profile"), dict):  # subscriptions
        attrs = _attributes(attrs["profile"])
    for kx in (exchange, attrs.get("_kx")):
        if kx:
            for p in profiles:
                if kx in (p.get("exchange_ids") or {}).values():
                    return p["id"]
    for kind in ("email", "phone_number", "external_id"):
        value = attrs.get(kind)
        if value:
            for p in profiles:
                if (p.get("attributes") or {}).get(kind) == value:
                    return p["id"]
    return None


def _profile_request_kind(body: Any) -> str:
    """`trackViewedItem` when a profile update only carries Recently Viewed Items, else `identify`."""
    attrs = _attributes(body)
    props = attrs.get("properties") if isinstance(attrs.get("properties"), dict) else {}
    identifiers = [k for k in attrs if k not in ("properties", "meta", "_kx")]
    if "$viewed_items" in props and not identifiers and set(props) <= {"$viewed_items"}:
        return "trackViewedItem"
    return "identify"


METHOD_LABELS = wire.METHOD_DISPLAY_NAMES


def _value_subject(value: Any) -> str:
    return "" if value is None else f"value {json.dumps(value, ensure_ascii=False)}"


def _profile_subject(body: Any) -> str:
    """Who a profile request is about, or what it carries: `thomas@example.com`, `3 viewed items`."""
    attrs = _attributes(body)
    if isinstance(attrs.get("profile"), dict):  # subscriptions
        attrs = _attributes(attrs["profile"]) or attrs
    who = [str(attrs[k]) for k in ("email", "phone_number", "external_id") if attrs.get(k)]
    if who:
        return ", ".join(who)
    props = attrs.get("properties") if isinstance(attrs.get("properties"), dict) else {}
    items = props.get("$viewed_items")
    if isinstance(items, list):
        return f"{len(items)} viewed item{'' if len(items) == 1 else 's'}"
    return ""


def build_entries(
    *,
    requests: list[dict],
    events: list[dict],
    diagnostics: list[dict],
    profiles: list[dict],
    warnings: list[dict] = (),
    snippet_for: SnippetLookup | None = None,
) -> list[dict]:
    """One entry per event (sent or dropped), per request that carried no event (identify,
    subscriptions, refused requests), per onsite-script report that is not a drop, and per
    snippet warning; newest first."""
    lookup = snippet_for or (lambda kind, name: None)
    reqs = {r["id"]: r for r in requests}
    with_events: dict[int, list[dict]] = defaultdict(list)
    for e in events:
        if e.get("request_id") is not None:
            with_events[e["request_id"]].append(e)
    diags = {d.get("id"): d for d in diagnostics}
    out: list[dict] = []

    for e in events:
        metric = e.get("metric")
        if e.get("request_id") is None:  # dropped by the onsite script: nothing was sent
            diag = diags.get(e["id"] - 1) if isinstance(e.get("id"), int) else None
            diag = diag if diag and diag.get("type") == "dropped" else None
            method = (diag or {}).get("method") or "track"
            label = e.get("display_name") or metric or METHOD_LABELS.get(method, method)
            out.append({
                "key": f"e{e['id']}",
                "seq": e["id"],
                "time": e.get("received_at"),
                "source": "onsite script",
                "metric": label,
                "subject": _value_subject(e.get("value")),
                "status": e.get("status") or "dropped",
                "reasons": e.get("reasons") or [],
                "request": None,
                "body": None,
                "call": {"method": method, "args": (diag or {}).get("args"), "page": (diag or {}).get("page")},
                "properties": e.get("properties"),
                "value": e.get("value"),
                "profile_id": None,
                "snippet": lookup("track", metric) if metric else lookup(method, None),
            })
            continue
        req = reqs.get(e["request_id"])
        response = (req or {}).get("response") or {}
        out.append({
            "key": f"e{e['id']}",
            "seq": e["id"],
            "time": e.get("received_at"),
            "source": "stand-in",
            "metric": e.get("display_name") or metric or "(no metric)",
            "subject": _value_subject(e.get("value")),
            "status": e.get("status"),
            "reasons": e.get("reasons") or [],
            "warnings": e.get("warnings") or [],  # the stand-in's lint: accepted, but not as meant
            "request": _request_view(req),
            "http_status": response.get("status", e.get("http_status")),
            "body": req.get("body") if req else e.get("body"),
            # A bulk request carries many events: this one's own entry.
            "event_body": e.get("body") if req and e.get("body") != req.get("body") else None,
            "properties": e.get("properties"),
            "value": e.get("value"),
            "unique_id": e.get("unique_id"),
            "profile_id": e.get("profile_id"),
            "snippet": lookup("activity", None) if metric == ACTIVITY_METRIC else lookup("track", metric),
        })

    for r in requests:
        if r["id"] in with_events:
            continue
        response = r.get("response")
        path = (r.get("path") or "").rstrip("/")
        body = r.get("body")
        kind = None
        if path == "/client/profiles":
            kind = _profile_request_kind(body)
            label = METHOD_LABELS[kind]
        elif path == "/client/subscriptions":
            label = "Subscribe"
        elif path in ("/client/events", "/api/events", "/client/event-bulk-create"):
            name = None
            try:
                name = body["data"]["attributes"]["metric"]["data"]["attributes"]["name"]
            except (KeyError, TypeError):
                pass
            label = name if isinstance(name, str) else "(event)"
            kind = "track" if isinstance(name, str) else None
        else:
            label = f"{r.get('method')} {r.get('path')}"
        judgement = r.get("judgement") or {}
        if response is None:
            status, reasons = "pending", []
        elif judgement.get("status") == "bad":  # answered 202, lost at Klaviyo (an unknown exchange id)
            status, reasons = "bad", [{"detail": judgement.get("detail"), "pointer": None, "code": "judged_bad"}]
        elif 200 <= int(response.get("status") or 0) < 300:
            status, reasons = "good", []
        else:
            status = "bad"
            reasons = _errors(response) or [{
                "detail": f"answered {response.get('status')}" if response.get("status") else
                          "the connection was dropped before an answer",
                "pointer": None, "code": None}]
        snippet = None
        if kind in ("identify", "trackViewedItem"):
            snippet = lookup(kind, None)
        elif kind == "track":
            snippet = lookup("track", label)
        out.append({
            "key": f"r{r['id']}",
            "seq": r["id"],
            "time": r.get("received_at"),
            "source": "stand-in",
            "metric": label,
            "subject": _profile_subject(body) if path in ("/client/profiles", "/client/subscriptions") else "",
            "status": status,
            "reasons": reasons,
            "request": _request_view(r),
            "http_status": (response or {}).get("status"),
            "body": body,
            "profile_id": profile_for_request(r, profiles) if status != "bad" else None,
            "snippet": snippet,
        })

    for d in diagnostics:
        kind = d.get("type")
        if kind == "dropped":
            continue  # listed as its event above
        method = d.get("method")
        label = d.get("metric") or (METHOD_LABELS.get(method, method) if method else None) or "Onsite script"
        out.append({
            "key": f"d{d.get('id')}",
            "seq": d.get("id") or 0,
            "time": d.get("received_at") or d.get("time"),
            "source": "onsite script",
            "metric": label,
            "status": "dropped" if kind in ("tracking_off", "second_account") else "warning",
            "reasons": [{"detail": d.get("reason") or kind, "pointer": None, "code": kind}],
            "request": None,
            "body": None,
            "call": {"method": method, "args": d.get("args"), "page": d.get("page")},
            "profile_id": None,
            "snippet": lookup("track", d.get("metric")) if d.get("metric") else (lookup(method, None) if method else None),
        })

    for w in warnings:
        method = next((m for m in METHOD_LABELS if m.lower() == (w.get("metric") or "").lower()), None)
        out.append({
            "key": f"w{w['id']}",
            "seq": w.get("seq", 0),
            "time": w.get("time"),
            "source": "snippet",
            "metric": METHOD_LABELS[method] if method else (w.get("metric") or "klaviyo-snippets"),
            "status": w.get("status", "warning"),
            "reasons": [{"detail": w.get("message"), "pointer": None, "code": "snippet_warning"}],
            "request": None,
            "body": None,
            "call": {"page": w.get("page")},
            "profile_id": None,
            "snippet": lookup(method, None) if method else (lookup("track", w["metric"]) if w.get("metric") else None),
        })

    out.sort(key=lambda entry: (entry.get("time") or "", entry.get("seq") or 0), reverse=True)
    return out


def parse_snippet_warning(message: str) -> tuple[str | None, str]:
    """`klaviyo-snippets: Added to Cart: not sent, missing Items` -> ("Added to Cart", "dropped")."""
    text = message.removeprefix("klaviyo-snippets:").strip()
    label, sep, rest = text.partition(": ")
    metric = label if sep and rest else None
    status = "dropped" if "not sent" in text else "warning"
    return metric, status
