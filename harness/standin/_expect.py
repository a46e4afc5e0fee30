"""Waiting for an event at the stand-in, and saying clearly why it never came.

`expect_event` waits (events arrive asynchronously from the browser), then either returns the
matching event or raises AssertionError with the expectation, the closest events received with
their differences (the onsite script's Active on Site events left out), the requests the stand-in
refused or never answered, and what the onsite script reported (drops, unknown methods).
"""

from __future__ import annotations

import json

MISSING = object()
SIMILAR_SHOWN = 5
REQUESTS_SHOWN = 3  # kinds of refused requests listed; the rest are counted
ACTIVITY = "__activity__"  # the onsite script's internal metric, shown as "Active on Site"
ACTIVITY_NAMES = (ACTIVITY, "Active on Site")


def _show(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=False)
    return text if len(text) <= 120 else text[:117] + "..."


def differences(event: dict, metric: str, status: str | None, properties: dict | None, value: object,
                unique_id: object, profile: dict | None) -> list[str]:
    """What keeps `event` from matching; empty when it matches."""
    diffs = []
    if event.get("metric") != metric:
        diffs.append(f"metric: expected {_show(metric)}, got {_show(event.get('metric'))}")
    if status is not None and event.get("status") != status:
        diffs.append(f"status: expected {status}, got {event.get('status')}")
    actual_props = event.get("properties") or {}
    for key, want in (properties or {}).items():
        if key not in actual_props:
            diffs.append(f"properties.{key}: expected {_show(want)}, missing")
        elif actual_props[key] != want:
            diffs.append(f"properties.{key}: expected {_show(want)}, got {_show(actual_props[key])}")
    if value is not MISSING and event.get("value") != value:
        diffs.append(f"value: expected {_show(value)}, got {_show(event.get('value'))}")
    if unique_id is not MISSING and event.get("unique_id") != unique_id:
        diffs.append(f"unique_id: expected {_show(unique_id)}, got {_show(event.get('unique_id'))}")
    actual_profile = event.get("profile") or {}
    for key, want in (profile or {}).items():
        if actual_profile.get(key) != want:
            diffs.append(f"profile.{key}: expected {_show(want)}, got {_show(actual_profile.get(key))}")
    return diffs


def expect_event(stub, metric: str, *, properties: dict | None = None, value: object = MISSING,
                 unique_id: object = MISSING, profile: dict | None = None, status: str | None = "good",
                 timeout: float = 5.0) -> dict:
    """The first recorded event matching every given expectation, waiting up to `timeout` seconds.

    `properties` and `profile` match as subsets (the onsite script adds `$use_ip` and
    `$is_session_activity`; the profile is the one the stand-in resolved). `status=None` accepts
    any status.
    """

    def find():
        for event in stub.events():
            if not differences(event, metric, status, properties, value, unique_id, profile):
                return event
        return None

    event = stub.wait_for(find, timeout)
    if event:
        return event
    raise AssertionError(
        describe_miss(stub, metric, status, properties, value, unique_id, profile, timeout)
    )


def describe_miss(stub, metric, status, properties, value, unique_id, profile, timeout) -> str:
    lines = [f"expected {'a ' + status if status else 'an'} {_show(metric)} event at the stand-in Klaviyo; "
             f"none arrived within {timeout:g} s", "", "expected:"]
    lines.append(f"  metric      {metric}")
    if status:
        lines.append(f"  status      {status}")
    if properties:
        lines.append(f"  properties  include {_show(properties)}")
    if value is not MISSING:
        lines.append(f"  value       {_show(value)}")
    if unique_id is not MISSING:
        lines.append(f"  unique_id   {_show(unique_id)}")
    if profile:
        lines.append(f"  profile     include {_show(profile)}")
    if metric == "Active on Site":
        lines.append(f'  (the onsite script names this metric "{ACTIVITY}": expect_event("{ACTIVITY}"))')
    all_events = stub.events()
    # Active on Site is sent on every page view of an identified visitor: noise, unless asked for.
    wants_activity = metric in ACTIVITY_NAMES
    events = [e for e in all_events if wants_activity or e.get("metric") != ACTIVITY]
    left_out = len(all_events) - len(events)
    scored = sorted(
        events,
        key=lambda e: (e.get("metric") != metric,
                       len(differences(e, metric, status, properties, value, unique_id, profile))),
    )
    lines.append("")
    if not all_events:
        lines.append("no events were received at all.")
    elif not events:
        lines.append(f"no events were received apart from {_count(left_out, 'Active on Site event')} "
                     f"(the onsite script's {ACTIVITY}).")
    else:
        shown = scored[:SIMILAR_SHOWN]
        lines.append(f"similar events received ({len(shown)} of {len(events)}):")
        for e in shown:
            lines.append(f"  #{e['id']} {_show(_display_name(e))} {e['status']}"
                         + (f" (HTTP {e['http_status']})" if e.get("http_status") else ""))
            for d in differences(e, metric, status, properties, value, unique_id, profile):
                lines.append(f"     - {d}")
            for r in e.get("reasons") or []:
                where = f" at {r['pointer']}" if r.get("pointer") else ""
                lines.append(f"     ! {r['detail']}{where}")
        if left_out:
            lines.append(f"  ({_count(left_out, 'Active on Site event')} left out)")
    # A refusal recorded as a (bad) event is explained above; list the others.
    as_events = {e.get("request_id") for e in all_events if e.get("request_id") is not None}
    lines.extend(describe_failed_requests([r for r in stub.requests() if r.get("id") not in as_events]))
    # Drops are listed above as events; the rest (tracking off, unknown methods) only here.
    diags = [d for d in stub.diagnostics() if d.get("type") != "dropped"]
    if diags:
        lines.append("")
        lines.append("the onsite script reported:")
        for d in diags[-SIMILAR_SHOWN:]:
            lines.append(f"  {d.get('type')}: {d.get('reason')}")
    return "\n".join(lines)


def describe_failed_requests(requests: list[dict]) -> list[str]:
    """Lines naming the requests the stand-in refused (4xx, 5xx), never answered (status 0), or
    answered 202 but judged lost (an identify naming an unknown exchange id), identical ones
    grouped; empty when every request was accepted. Starts with a blank line."""
    refused: dict[tuple, int] = {}
    unanswered: dict[tuple, int] = {}
    lost: dict[str, int] = {}
    for req in requests:
        response = req.get("response")
        if not response:
            continue  # still being answered
        code = response.get("status")
        where = (req.get("method") or "?", req.get("path") or "?")
        if code == 0:
            key = where + (_no_answer_cause(response.get("body")),)
            unanswered[key] = unanswered.get(key, 0) + 1
        elif isinstance(code, int) and code >= 400:
            key = where + (code, _error_detail(response.get("body")))
            refused[key] = refused.get(key, 0) + 1
        elif (req.get("judgement") or {}).get("status") == "bad":
            item = f"{where[0]} {where[1]} {code} {_clip(str(req['judgement'].get('detail') or ''))}"
            lost[item] = lost.get(item, 0) + 1
    lines: list[str] = []
    if lost:
        total = sum(lost.values())
        lines.append("")
        lines += _grouped(f"{_count(total, 'request')} {'was' if total == 1 else 'were'} answered but will be lost",
                          list(lost), list(lost.values()))
    if refused:
        total = sum(refused.values())
        lines.append("")
        items = [" ".join(str(part) for part in key if part != "") for key in refused]
        lines += _grouped(f"{_count(total, 'request')} {'was' if total == 1 else 'were'} refused", items,
                          list(refused.values()))
    if unanswered:
        by_cause: dict[str, dict[str, int]] = {}
        for (method, path, cause), n in unanswered.items():
            by_cause.setdefault(cause, {})[f"{method} {path}"] = n
        for cause, where in by_cause.items():
            total = sum(where.values())
            lines.append("")
            lines += _grouped(f"{_count(total, 'request')} got no answer ({cause})", list(where),
                              list(where.values()))
    return lines


def _grouped(head: str, items: list[str], counts: list[int]) -> list[str]:
    """`head: item` for one kind of request, else `head:` and one indented line per kind."""
    if len(items) == 1:
        return [f"{head}: {items[0]}"]
    lines = [f"{head}:"]
    for item, n in list(zip(items, counts))[:REQUESTS_SHOWN]:
        lines.append(f"  {item}" + (f" ({n} times)" if n > 1 else ""))
    if len(items) > REQUESTS_SHOWN:
        rest = sum(counts[REQUESTS_SHOWN:])
        lines.append(f"  ... and {_count(rest, 'more request')} ({_count(len(items) - REQUESTS_SHOWN, 'other answer')}; "
                     "klaviyo_stub.requests() has them all)")
    return lines


def _error_detail(body: object) -> str:
    """The first error's detail (and where it points) from a JSON:API error document."""
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list) and errors and isinstance(errors[0], dict):
            first = errors[0]
            text = str(first.get("detail") or first.get("title") or first.get("code") or "")
            pointer = (first.get("source") or {}).get("pointer") if isinstance(first.get("source"), dict) else None
            if pointer and pointer != "/data":
                text += f" at {pointer}"
            if len(errors) > 1:
                text += f" (and {_count(len(errors) - 1, 'more error')})"
            return _clip(text)
        if "error" in body:
            return _clip(str(body["error"]))
        return _clip(json.dumps(body, ensure_ascii=False))
    return _clip(str(body)) if body else ""


def _no_answer_cause(body: object) -> str:
    text = str(body or "")
    if "scripted" in text:
        return "scripted drop fault"
    return text or "connection closed"


def _display_name(event: dict) -> str:
    name = event.get("display_name") or event.get("metric")
    return name if name is not None else "(no metric)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
