"""Waiting for an event at the stand-in, and saying clearly why it never came.

`expect_event` waits (events arrive asynchronously from the browser), then either returns the
matching event or raises AssertionError with: the expectation; the closest events received with
their differences, and for events of the expected metric the properties that did arrive (the
onsite script's Active on Site events left out); every event of that metric the page dropped
(the onsite script's drops and the generated code's, via the harness) and every one carrying
lint `warnings`, with their reasons in full; the generated code's warnings about that metric;
the requests the stand-in refused or never answered; and what else the page reported.

It waits the whole timeout unless the stand-in's own records say nothing more is coming: events
of the metric are in, none matches, nothing new was recorded for IDLE_SECONDS (or the onsite
script's identify debounce and a request's way, when longer), no request is still being answered
and none was answered in a way its sender retries. Then it fails early and says so. What the page
has not sent yet (a theme that loads klaviyo.js late, its own timers) the stand-in cannot see.
`keywords_checked` gives `StubKlaviyo.expect_event` a clear TypeError for a keyword it does not take.
"""

from __future__ import annotations

import difflib
import functools
import inspect
import json
import os
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass


class _Missing:
    """An expectation not given (None is a value an event can have)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING = _Missing()
STATUSES = ("good", "bad", "duplicate", "dropped")
# The `$`-keys Klaviyo's onsite script adds to every tracked event's properties (wire facts, "Event
# mapping"; onsite/klaviyo.js `eventAttributes`): exact=True ignores them unless they are listed.
ONSITE_KEYS = ("$use_ip", "$is_session_activity")
IDLE_SECONDS = 1.5  # nothing new at the stand-in for this long: a page navigation takes well under 0.5 s
SEND_SECONDS = 0.5  # a request's way to the stand-in and its answer's back, on this machine
POLL_SECONDS = 0.1  # how often the stand-in's idleness is looked at while waiting
SIMILAR_SHOWN = 5
ALWAYS_SHOWN = 20  # events of the metric dropped or with warnings, listed beyond SIMILAR_SHOWN
PROPERTIES_SHOWN = 40  # property names listed per event
SHOW_CHARS = 120  # a value shown in a message; reasons and warnings are never cut
REQUESTS_SHOWN = 3  # kinds of refused requests listed; the rest are counted
ACTIVITY = "__activity__"  # the onsite script's internal metric, shown as "Active on Site"
ACTIVITY_NAMES = (ACTIVITY, "Active on Site")
# Keywords people reach for, and the one they mean.
ALIASES = {"name": "metric", "event": "metric", "prop": "properties", "$value": "value",
           "event_id": "unique_id", "$event_id": "unique_id", "uid": "unique_id", "wait": "timeout"}


# -- the expectation -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Expectation:
    """What `expect_event` was asked for; `differences` says what keeps an event from it."""

    metric: str
    status: str | None = "good"
    properties: Mapping | None = None
    exact: bool = False
    value: object = MISSING
    unique_id: object = MISSING
    profile: Mapping | None = None

    def differences(self, event: dict) -> list[str]:
        """What keeps `event` from matching; empty when it matches."""
        diffs = []
        if event.get("metric") != self.metric:
            diffs.append(f"metric: expected {_show(self.metric)}, got {_show(event.get('metric'))}")
        if self.status is not None and event.get("status") != self.status:
            diffs.append(f"status: expected {self.status}, got {event.get('status')}")
        diffs += self._property_differences(event.get("properties"))
        for name in ("value", "unique_id"):
            want = getattr(self, name)
            if want is not MISSING and not _same(event.get(name), want):
                diffs.append(f"{name}: {_pair(want, event.get(name))}")
        actual_profile = event.get("profile") or {}
        for key, want in (self.profile or {}).items():
            if not _same(actual_profile.get(key), want):
                diffs.append(f"profile.{key}: {_pair(want, actual_profile.get(key))}")
        return diffs

    def _property_differences(self, actual: object) -> list[str]:
        actual = actual if isinstance(actual, dict) else {}
        wanted = self.properties or {}
        diffs = []
        for key, want in wanted.items():
            if key not in actual:
                diffs.append(f"properties.{key}: expected {_show(want)}, missing{_hint(key, actual)}")
            elif not _same(actual[key], want):
                diffs.append(f"properties.{key}: {_pair(want, actual[key])}")
        if self.exact:
            for key, got in actual.items():
                if key not in wanted and key not in ONSITE_KEYS:
                    diffs.append(f"properties.{key}: not expected (exact=True), got {_show(got)}")
        return diffs

    def lines(self) -> list[str]:
        """The "expected:" block of a failure message."""
        lines = ["expected:", f"  metric      {self.metric}"]
        if self.status:
            lines.append(f"  status      {self.status}")
        if self.exact:
            aside = ", ".join(k for k in ONSITE_KEYS if k not in (self.properties or {}))
            lines.append(f"  properties  exactly {_show(dict(self.properties or {}))}"
                         + (f" (besides the onsite script's {aside})" if aside else ""))
        elif self.properties:
            lines.append(f"  properties  include {_show(dict(self.properties))}")
        if self.value is not MISSING:
            lines.append(f"  value       {_show(self.value)}")
        if self.unique_id is not MISSING:
            lines.append(f"  unique_id   {_show(self.unique_id)}")
        if self.profile:
            lines.append(f"  profile     include {_show(dict(self.profile))}")
        return lines


def expectation(metric: object, *, properties: object = None, exact: object = False, value: object = MISSING,
                unique_id: object = MISSING, profile: object = None, status: object = "good",
                timeout: object = 5.0) -> Expectation:
    """The arguments of `expect_event` checked: a clear TypeError or ValueError for a wrong one."""
    if not isinstance(metric, str) or not metric:
        raise TypeError(f"expect_event(): metric must be the event's metric name, e.g. \"Viewed Product\"; "
                        f"got {metric!r}")
    for name, given in (("properties", properties), ("profile", profile)):
        if given is not None and not isinstance(given, Mapping):
            raise TypeError(f"expect_event(): {name}= must be a dict, e.g. {name}={{\"ProductID\": \"1111\"}}; "
                            f"got {type(given).__name__} {given!r}")
    if not isinstance(exact, bool):
        raise TypeError(f"expect_event(): exact= must be True or False; got {exact!r}")
    if exact and properties is None:
        raise TypeError("expect_event(): exact=True compares the event's properties with properties=; "
                        "give them (properties={} for an event with none of its own)")
    if status is not None and status not in STATUSES:
        close = difflib.get_close_matches(str(status).lower(), STATUSES, n=1)
        hint = f"did you mean {close[0]!r}? It" if close else "it"
        raise ValueError(f"expect_event(): status={status!r} is not a status the stand-in gives; {hint} "
                         f"is one of {', '.join(map(repr, STATUSES))}, or None for any")
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout >= 0:
        raise TypeError(f"expect_event(): timeout= must be a number of seconds, 0 or more; got {timeout!r}")
    return Expectation(metric, status, properties, exact, value, unique_id, profile)


# -- waiting -------------------------------------------------------------------------------------

def expect_event(stub, metric: str, *, properties: Mapping | None = None, exact: bool = False,
                 value: object = MISSING, unique_id: object = MISSING, profile: Mapping | None = None,
                 status: str | None = "good", timeout: float = 5.0) -> dict:
    """The first recorded event matching every expectation (see `StubKlaviyo.expect_event`)."""
    expected = expectation(metric, properties=properties, exact=exact, value=value, unique_id=unique_id,
                           profile=profile, status=status, timeout=timeout)

    def find():
        for event in stub.events(metric=metric):
            if not expected.differences(event):
                return event
        return None

    start = time.monotonic()
    deadline = start + timeout
    quiet = _Quiet(stub, start)
    stopped = None
    while True:
        event = stub.wait_for(find, max(0.0, min(POLL_SECONDS, deadline - time.monotonic())))
        if event:
            return event
        now = time.monotonic()
        if now >= deadline:
            break
        if quiet.seconds(now) >= idle_seconds(stub) and stub.events(metric=metric) and not more_may_come(stub):
            stopped = now - start
            break
    raise AssertionError(describe_miss(stub, expected, timeout, stopped))


def idle_seconds(stub) -> float:
    """How long the stand-in must have heard nothing before `expect_event` stops early: IDLE_SECONDS,
    or longer when its onsite script's identify debounce is (a page that tracks once its identify
    is answered sends nothing while the debounce runs)."""
    return max(IDLE_SECONDS, (stub.settings.identify_debounce_ms or 0) / 1000 + SEND_SECONDS)


class _Quiet:
    """How long the stand-in has recorded nothing new (requests, events, diagnostics, a reset)."""

    def __init__(self, stub, now: float):
        self.stub = stub
        self.seen = self._seen()
        self.since = now

    def _seen(self) -> tuple:
        counts = self.stub.store.counts()
        return self.stub.store.generation, counts["total"], counts["requests"], counts["diagnostics"]

    def seconds(self, now: float) -> float:
        seen = self._seen()
        if seen != self.seen:
            self.seen, self.since = seen, now
        return now - self.since


def more_may_come(stub) -> bool:
    """Whether the stand-in's records leave room for more traffic: a request still being answered,
    or one answered in a way its sender retries (429 by the onsite script; a 5xx or no answer by a
    server-side sender)."""
    for request in stub.requests():
        response = request.get("response")
        if not response:
            return True
        code = response.get("status")
        if code in (0, 429) or (isinstance(code, int) and code >= 500):
            return True
    return False


# -- the failure message -------------------------------------------------------------------------

def describe_miss(stub, expected: Expectation, timeout: float, stopped: float | None = None) -> str:
    """The failure message: see the module docstring. `stopped`: seconds waited when the stand-in
    was idle before the timeout."""
    metric = expected.metric
    all_events = stub.events()
    diagnostics = stub.diagnostics()
    wanted = f"{'a ' + expected.status if expected.status else 'an'} {_show(metric)} event at the stand-in Klaviyo"
    if stopped is None:
        lines = [f"expected {wanted}; none arrived within {timeout:g} s"]
    else:
        statuses: dict[str, int] = {}
        for e in all_events:
            if e.get("metric") == metric:
                statuses[e.get("status")] = statuses.get(e.get("status"), 0) + 1
        by_status = ", ".join(f"{n} {status}" for status, n in statuses.items())
        lines = [f"expected {wanted}; {_count(sum(statuses.values()), _show(metric) + ' event')} recorded "
                 f"({by_status}), none matches",
                 f"(stopped after {stopped:.1f} s of the {timeout:g} s timeout: nothing new reached the stand-in "
                 f"for {idle_seconds(stub):g} s, and no request was being answered or may be retried)"]
    lines += [""] + expected.lines()
    if metric == "Active on Site":
        lines.append(f'  (the onsite script names this metric "{ACTIVITY}": expect_event("{ACTIVITY}"))')
    lines.append("")
    # Active on Site is sent on every page view of an identified visitor: noise, unless asked for.
    wants_activity = metric in ACTIVITY_NAMES
    events = [e for e in all_events if wants_activity or e.get("metric") != ACTIVITY]
    left_out = len(all_events) - len(events)
    if not all_events:
        lines.append("no events were received at all.")
    elif not events:
        lines.append(f"no events were received apart from {_count(left_out, 'Active on Site event')} "
                     f"(the onsite script's {ACTIVITY}).")
    else:
        lines += _similar_events(events, expected)
        if left_out:
            lines.append(f"  ({_count(left_out, 'Active on Site event')} left out)")
    forgotten = ", ".join(_count(n, kind.removesuffix("s"))
                          for kind, n in stub.store.counts()["forgotten"].items() if n)
    if forgotten:  # the event expected may be among them
        lines.append(f"  (the stand-in forgot its oldest records, {forgotten}: its log keeps the newest "
                     "(StubSettings.max_records, max_record_bytes))")
    lines += _page_reports(diagnostics, metric)
    # A refusal recorded as a (bad) event is explained above; list the others.
    as_events = {e.get("request_id") for e in all_events if e.get("request_id") is not None}
    lines += describe_failed_requests([r for r in stub.requests() if r.get("id") not in as_events])
    return "\n".join(lines)


def _similar_events(events: list[dict], expected: Expectation) -> list[str]:
    """The closest events, then those of the metric dropped or carrying warnings, each with its
    differences, reasons and warnings; for the metric's own events, the properties that arrived."""

    def rank(e: dict) -> tuple:
        return _metric_rank(e.get("metric"), expected.metric), len(expected.differences(e))

    ranked = sorted(events, key=rank)  # stable: oldest first among equals
    shown = ranked[:SIMILAR_SHOWN]
    always = [e for e in ranked[SIMILAR_SHOWN:]
              if e.get("metric") in (expected.metric, None) and (e.get("status") == "dropped" or e.get("warnings"))]
    shown += always[:ALWAYS_SHOWN]
    lines = [f"similar events received ({len(shown)} of {len(events)}):"]
    for e in shown:
        head = f"  #{e['id']} {_show(_display_name(e))} {e['status']}"
        if e.get("http_status"):
            head += f" (HTTP {e['http_status']})"
        if e.get("status") == "dropped" and e.get("endpoint"):
            head += f" by the {e['endpoint']}"  # the onsite script or the generated code
        lines.append(head)
        props = e.get("properties")
        if _metric_rank(e.get("metric"), expected.metric) < 2 and (props or e.get("status") != "dropped"):
            lines.append(f"     properties: {_listing(props)}")
        lines += [f"     - {d}" for d in expected.differences(e)]
        for r in e.get("reasons") or []:
            where = f" at {r['pointer']}" if r.get("pointer") else ""
            lines.append(f"     ! {r.get('detail')}{where}")
        for w in e.get("warnings") or []:
            fix = f" Fix: {w['fix']}" if w.get("fix") else ""
            lines.append(f"     ~ warning{_where(w)}: {_sentence(w.get('detail'))}{fix}")
    if len(always) > ALWAYS_SHOWN:
        lines.append(f"  ... and {_count(len(always) - ALWAYS_SHOWN, 'more dropped or warned event')} "
                     f"(klaviyo_stub.events(metric={expected.metric!r}) has them all)")
    return lines


def _page_reports(diagnostics: list[dict], metric: str) -> list[str]:
    """The page's warnings about the metric (or about no event), then what else it reported.
    Drops are listed as events above."""
    about = [d for d in diagnostics if d.get("type") == "warning" and d.get("metric") in (metric, None)]
    shown = {id(d) for d in about}
    others = [d for d in diagnostics if d.get("type") != "dropped" and id(d) not in shown]
    lines = []
    if about:
        lines += ["", f"warnings about {_show(metric)} (it was sent without something, or a trigger cannot work):"]
        for d in about:
            lines.append(f"  {_diagnostic(d, name_metric=d.get('metric') is None)}")
    if others:
        lines += ["", "the page reported:"]
        if len(others) > SIMILAR_SHOWN:
            lines.append(f"  ({len(others) - SIMILAR_SHOWN} earlier ones: klaviyo_stub.diagnostics())")
        lines += [f"  {_diagnostic(d, name_metric=True)}" for d in others[-SIMILAR_SHOWN:]]
    return lines


def _diagnostic(report: dict, *, name_metric: bool) -> str:
    """`type (source, "metric"): reason [property P]`, the reason whole."""
    who = [report.get("source") or "onsite script"]
    if name_metric:
        who.append(_show(report["metric"]) if report.get("metric") else "no event")
    text = f"{report.get('type')} ({', '.join(who)}): {report.get('reason')}"
    prop = report.get("property")
    if prop and str(prop) not in str(report.get("reason")):
        text += f" [property {prop}]"
    return text


# -- requests ------------------------------------------------------------------------------------

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


# -- the unknown keyword -------------------------------------------------------------------------

def keywords_checked(method):
    """`method` (of an object) with a clear TypeError for a keyword it does not take, naming the
    closest one it does and all of them, and for a positional argument too many. Its signature
    and docstring stay as written (`inspect.signature`, `help`)."""
    params = [p for p in inspect.signature(method).parameters.values() if p.name != "self"]
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    keywords = [p.name for p in params if p.kind is p.KEYWORD_ONLY]
    takes = ", ".join(positional + [k + "=" for k in keywords])
    name = method.__name__

    @functools.wraps(method)
    def checked(self, *args, **kwargs):
        for key in kwargs:
            if key not in positional and key not in keywords:
                raise TypeError(f"{name}() got an unexpected keyword argument {key!r}; "
                                f"{_meant(key, positional + keywords)} It takes: {takes}")
        if len(args) > len(positional):
            raise TypeError(f"{name}() takes {len(positional)} positional argument{'s' * (len(positional) != 1)} "
                            f"({', '.join(positional)}) but {len(args)} were given; give the others by keyword: "
                            + ", ".join(k + "=" for k in keywords))
        return method(self, *args, **kwargs)

    return checked


def _meant(key: str, names: list[str]) -> str:
    close = [ALIASES[key]] if ALIASES.get(key) in names else (
        [n for n in names if _norm(n) == _norm(key)] or difflib.get_close_matches(key, names, n=1, cutoff=0.6))
    if close:
        return f"did you mean {close[0]}=?"
    return f"an event property goes in properties=, e.g. properties={{{key!r}: ...}}."


# -- showing values ------------------------------------------------------------------------------

def _same(actual: object, want: object) -> bool:
    """Equal as JSON values: true is not 1, 1 is 1.0."""
    if isinstance(actual, bool) or isinstance(want, bool):
        return isinstance(actual, bool) and isinstance(want, bool) and actual == want
    if isinstance(actual, dict) and isinstance(want, Mapping):
        return actual.keys() == want.keys() and all(_same(actual[k], want[k]) for k in actual)
    if isinstance(actual, list) and isinstance(want, (list, tuple)):
        return len(actual) == len(want) and all(_same(a, w) for a, w in zip(actual, want))
    return actual == want


def _json(value: object) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, sort_keys=False, default=repr)
    except (TypeError, ValueError):  # circular
        return repr(value)


def _show(value: object, limit: int = SHOW_CHARS) -> str:
    text = _json(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _pair(want: object, got: object) -> str:
    """`expected W, got G`, both shown; long ones around where they first differ."""
    a, b = _json(want), _json(got)
    if len(a) <= SHOW_CHARS and len(b) <= SHOW_CHARS:
        text = f"expected {a}, got {b}"
    else:
        start = max(0, len(os.path.commonprefix([a, b])) - 20)
        text = (f"expected {_window(a, start)}, got {_window(b, start)} "
                f"(they differ after character {start + 20})")
    kinds = _kind(want), _kind(got)
    return text + (f" ({kinds[1]}, not {kinds[0]})" if kinds[0] != kinds[1] else "")


def _window(text: str, start: int) -> str:
    piece = text[start:start + SHOW_CHARS - 6]
    return ("..." if start else "") + piece + ("..." if start + len(piece) < len(text) else "")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, (list, tuple)):
        return "a list"
    return "an object" if isinstance(value, Mapping) else type(value).__name__


def _listing(props: object) -> str:
    """`Key value, Key value, ...`: every property that arrived (values shortened, at most
    PROPERTIES_SHOWN names)."""
    if not isinstance(props, dict) or not props:
        return "(none)" if not props else _show(props)
    items = [f"{key} {_show(value, 40)}" for key, value in list(props.items())[:PROPERTIES_SHOWN]]
    if len(props) > PROPERTIES_SHOWN:
        items.append(f"... and {len(props) - PROPERTIES_SHOWN} more")
    return ", ".join(items)


def _hint(key: str, actual: dict) -> str:
    """` (the event has ProductName)`: the arrived key the expected one probably meant."""
    if not isinstance(key, str):
        return ""
    names = [k for k in actual if isinstance(k, str)]
    close = [k for k in names if _norm(k) == _norm(key)] or difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    return f" (the event has {close[0]})" if close else ""


def _norm(name: str) -> str:
    return re.sub(r"[\W_]+", "", str(name)).lower()


def _metric_rank(got: object, metric: str) -> int:
    """0: the metric; 1: the same name but for case, spaces or underscores; 2: another."""
    if got == metric:
        return 0
    return 1 if isinstance(got, str) and _norm(got) == _norm(metric) else 2


def _where(warning: dict) -> str:
    parts = [f" at {warning['pointer']}"] if warning.get("pointer") else []
    if warning.get("code"):
        parts.append(f" ({warning['code']})")
    return "".join(parts)


def _sentence(text: object) -> str:
    text = str(text).rstrip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _display_name(event: dict) -> str:
    name = event.get("display_name") or event.get("metric")
    return name if name is not None else "(no metric)"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _clip(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."
