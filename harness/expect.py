"""Waiting for an event at the stand-in, and saying clearly why it never came.

`expect_event` waits (events arrive asynchronously from the browser), then either returns the
matching event or raises AssertionError with the expectation, the closest events received with
their differences, and what the onsite script reported (drops, unknown methods).
"""

from __future__ import annotations

import json

MISSING = object()
SIMILAR_SHOWN = 5


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
    events = stub.events()
    scored = sorted(
        events,
        key=lambda e: (e.get("metric") != metric,
                       len(differences(e, metric, status, properties, value, unique_id, profile))),
    )
    lines.append("")
    if not events:
        lines.append("no events were received at all.")
    else:
        shown = scored[:SIMILAR_SHOWN]
        lines.append(f"similar events received ({len(shown)} of {len(events)}):")
        for e in shown:
            lines.append(f"  #{e['id']} {_show(e.get('metric'))} {e['status']}"
                         + (f" (HTTP {e['http_status']})" if e.get("http_status") else ""))
            for d in differences(e, metric, status, properties, value, unique_id, profile):
                lines.append(f"     - {d}")
            for r in e.get("reasons") or []:
                where = f" at {r['pointer']}" if r.get("pointer") else ""
                lines.append(f"     ! {r['detail']}{where}")
    # Drops are listed above as events; the rest (tracking off, unknown methods) only here.
    diags = [d for d in stub.diagnostics() if d.get("type") != "dropped"]
    if diags:
        lines.append("")
        lines.append("the onsite script reported:")
        for d in diags[-SIMILAR_SHOWN:]:
            lines.append(f"  {d.get('type')}: {d.get('reason')}")
    return "\n".join(lines)
