"""verify's report: what Klaviyo received from each page, what was lost or left out and why, and
whether that is OK.

Every record carries `visit`, the page it came from (as given). Problems (a run exits 1 on any):
an event or identify that is bad or dropped (by the onsite script, or by the generated code,
which reports why), an expected event that did not arrive good, a warning (the generated code
left a property out or a trigger cannot work; the stand-in's lint flagged an accepted event)
unless warnings are allowed, a page error, a page that timed out, and records the stand-in forgot
(its log is bounded), about which nothing can be claimed. Reasons are never cut short: a long
one wraps.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field

from klaviyo_snippets.generator.errors import printable

WIDTH = 100  # the text report wraps long reasons at this width
_GOOD = ("good", "duplicate")


def findings(events: list[dict], diagnostics: list[dict]) -> list[dict]:
    """What went wrong or was left out, one entry each, with the event's name and the full reason:
    events bad or dropped (`kind` their status), `"warning"` diagnostics (the generated code sent
    the event but left something out, or a trigger cannot work) and event records' lint
    `warnings` (Klaviyo accepts the event, but something in it will not work as meant)."""
    out = []
    for e in events:
        name = _event_name(e)
        if e.get("status") not in _GOOD:
            out.append(_with_visit(e, {"kind": e.get("status"), "id": e.get("id"), "event": name,
                                       "reason": _reasons(e), "source": e.get("endpoint")}))
        for w in e.get("warnings") or []:
            out.append(_with_visit(e, {"kind": "warning", "id": e.get("id"), "event": name,
                                       "reason": w.get("detail"), "fix": w.get("fix"), "pointer": w.get("pointer"),
                                       "code": w.get("code"), "source": "stand-in lint"}))
    for d in diagnostics:
        if d.get("type") == "warning":
            out.append(_with_visit(d, {"kind": "warning", "id": d.get("id"), "event": d.get("metric"),
                                       "reason": d.get("reason"), "property": d.get("property"),
                                       "source": d.get("source") or "onsite script", "page": d.get("page")}))
    return out


def _with_visit(record: dict, entry: dict) -> dict:
    return {"visit": record["visit"], **entry} if "visit" in record else entry


def _event_name(event: dict) -> str | None:
    return event.get("display_name") or event.get("metric")


def _reasons(event: dict) -> str:
    return "; ".join(r.get("detail") or "" for r in event.get("reasons") or [] if r.get("detail"))


@dataclass
class VerifyReport:
    browser: str
    pages: list[str]
    events: list[dict] = field(default_factory=list)
    identifies: list[dict] = field(default_factory=list)
    diagnostics: list[dict] = field(default_factory=list)
    blocked: list[dict] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    timed_out: list[dict] = field(default_factory=list)
    expectations: list[dict] = field(default_factory=list)  # {"visit", "event", "why", "met", "detail"}
    not_found: list[dict] = field(default_factory=list)  # requests under a --serve prefix with no file
    forgotten: dict[str, int] = field(default_factory=dict)  # records the stand-in's bounded log dropped
    allow_warnings: bool = False
    jobs: int = 1
    seconds: float | None = None
    condition: str | None = None  # the condition the pages ran under (`conditions`), if any
    condition_failures: list[dict] = field(default_factory=list)  # {"visit", "condition", "page", "reason"}
    condition_notes: list[str] = field(default_factory=list)  # what the condition did, page by page

    @property
    def problems(self) -> list[dict]:
        return [e for e in self.events if e["status"] in ("bad", "dropped")] + [
            i for i in self.identifies if i["status"] != "good"
        ]

    @property
    def warnings(self) -> list[dict]:
        return [f for f in findings(self.events, self.diagnostics) if f["kind"] == "warning"]

    @property
    def unmet(self) -> list[dict]:
        return [x for x in self.expectations if not x["met"]]

    @property
    def forgotten_total(self) -> int:
        return sum(self.forgotten.values())

    @property
    def unsent(self) -> int:
        """Requests and calls the timed-out pages still had queued or in flight when time ran out
        (of the pages still answering then; what a silent page had is not known)."""
        return sum(sum(t["unsent"].values()) for t in self.timed_out if t["answering"])

    @property
    def ok(self) -> bool:
        return not (self.problems or self.page_errors or self.timed_out or self.unmet or self.forgotten_total
                    or self.condition_failures or (self.warnings and not self.allow_warnings))

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "browser": self.browser,
            "pages": self.pages,
            "events": self.events,
            "identifies": self.identifies,
            "diagnostics": self.diagnostics,
            "warnings": self.warnings,
            "allow_warnings": self.allow_warnings,
            "expectations": self.expectations,
            "blocked": self.blocked,
            "not_found": self.not_found,
            "page_errors": self.page_errors,
            "timed_out": self.timed_out,
            "forgotten": self.forgotten,
            "jobs": self.jobs,
            "seconds": self.seconds,
            **({"condition": _condition_dict(self.condition), "condition_failures": self.condition_failures,
                "condition_notes": self.condition_notes} if self.condition else {}),
        }

    def format(self) -> str:
        pace = f" ({self.jobs} at a time, {self.seconds:.1f} s)" if self.seconds is not None else ""
        under = f" under the condition {self.condition}" if self.condition else ""
        lines = [f"Klaviyo received, from {len(self.pages)} page(s) in {self.browser}{under}{pace}:"]
        warnings = self.warnings
        for label in self.pages:
            lines.extend(self._page_lines(label, warnings))
        other = [d for d in self.diagnostics if d.get("type") not in ("dropped", "warning")]
        if other:
            lines.append("The onsite script reported:")
            lines.extend(_wrapped(f"  {d.get('type')}: {d.get('reason')}", 4) for d in other)
        if self.blocked:
            lines.append(f"Blocked {len(self.blocked)} request(s) to other hosts (not Klaviyo, not local; "
                         "--allow-host HOST lets a theme's own through, --serve URL_PREFIX=DIR answers them from a folder):")
            lines.extend(f"  {b['method']} {_clip(b['url'], WIDTH)}" for b in self.blocked[:10])
            if len(self.blocked) > 10:
                lines.append(f"  … and {len(self.blocked) - 10} more")
        if self.not_found:
            lines.append(f"No file for {len(self.not_found)} request(s) under a --serve prefix (answered 404):")
            lines.extend(f"  {b['method']} {_clip(b['url'], WIDTH)}" for b in self.not_found[:10])
        for err in self.page_errors:
            lines.append(_wrapped(f"Page error: {err}", 2))
        for t in self.timed_out:
            lines.extend(_timed_out_lines(t))
        lines.extend(self._per_event_lines())
        if self.condition:
            lines.extend(self._condition_lines())
        if self.forgotten_total:
            kinds = ", ".join(f"{n:,} {kind}" for kind, n in self.forgotten.items() if n)
            lines.append(_wrapped(f"The stand-in forgot {self.forgotten_total:,} record(s) of this run ({kinds}): its log "
                                  "is bounded (StubSettings max_records, max_record_bytes), so what it forgot was not "
                                  "checked and cannot be called good", 2))
        lines.append(self._verdict(warnings))
        # Metric names, URLs and page errors come from the page: a terminal must not act on them.
        return printable("\n".join(lines))

    def _page_lines(self, label: str, warnings: list[dict]) -> list[str]:
        mine = [e for e in self.events if e.get("visit", label) == label]
        rows: list[tuple] = [("#", "metric", "status", "detail")]
        for i in self.identifies:
            if i.get("visit", label) == label:
                rows.append((str(i["request_id"]), "(identify)", i["status"], i["detail"]))
        for e in mine:
            # A reason is shown whole; a good event's properties are a summary, cut to the line.
            rows.append((str(e["id"]), _event_name(e) or "?", e["status"], _reasons(e) or None, _summary(e)))
        rows[1:] = sorted(rows[1:], key=lambda r: int(r[0]) if r[0].isdigit() else -1)
        widths = [min(max(len(r[c]) for r in rows), 40) for c in range(3)]
        indent = 2 + sum(w + 2 for w in widths)
        lines = [label]
        for r in rows:
            head = "  " + "  ".join(r[c].ljust(widths[c]) for c in range(3)) + "  "
            detail = r[3] if r[3] is not None else _clip(r[4], max(WIDTH - len(head), 20))
            lines.append(_wrapped(head + detail, indent))
        if len(rows) == 1:
            lines.append("  (nothing)")
        for w in (w for w in warnings if w.get("visit", label) == label):
            where = w.get("property") or (w.get("pointer") or "").rsplit("/", 1)[-1] or None
            reason = str(w["reason"])
            named = w["event"] and reason.startswith(f"{w['event']}:")
            text = f"  WARNING  #{w['id']} " + (reason if named else f"{w['event'] or '(no event)'}: {reason}")
            text += f" (fix: {w['fix']})" if w.get("fix") else ""
            text += f" [{w['source']}" + (f", property {where}" if where else "") + "]"
            lines.append(_wrapped(text, 11))
        expected = [x for x in self.expectations if x.get("visit", label) == label]
        met = [x["event"] for x in expected if x["met"]]
        if met:
            lines.append(_wrapped("  expected and arrived good: " + ", ".join(met), 4))
        for x in expected:
            if not x["met"]:
                lines.append(_wrapped(f"  MISSING  {x['event']} (expected: {x['why']}): {x['detail']}", 11))
        return lines

    def _condition_lines(self) -> list[str]:
        from klaviyo_snippets.harness.verify.conditions import CONDITIONS

        c = CONDITIONS[self.condition]
        lines = [_wrapped(f"Condition {c.name}: {c.did}.", 2)]
        lines.extend(_wrapped(f"  {note}", 4) for note in self.condition_notes)
        for f in self.condition_failures:
            lines.append(_wrapped(f"  CONDITION FAILED  {f['page']}: {f['reason']}", 4))
        if self.condition_failures:
            lines.append(_wrapped(f"  What it means: {c.failure}. Fix: {c.fix} ({c.doc}).", 4))
        return lines

    def _per_event_lines(self) -> list[str]:
        per_metric: dict[str, dict[str, int]] = {}
        for e in self.events:
            name = _event_name(e) or "?"
            per_metric.setdefault(name, {}).setdefault(e["status"], 0)
            per_metric[name][e["status"]] += 1
        if not per_metric:
            return []
        width = min(max(len(n) for n in per_metric), 40)
        return ["Per event:"] + [f"  {name:<{width}}  " + ", ".join(f"{n} {s}" for s, n in statuses.items())
                                 for name, statuses in per_metric.items()]

    def _verdict(self, warnings: list[dict]) -> str:
        if self.ok:
            text = "OK: every event arrived good."
            if warnings:
                text += f" ({len(warnings)} warning(s) allowed by --allow-warnings)"
            quiet = [p for p in self.pages if not any(_event_name(e) not in ("Active on Site", "__activity__", None)
                                                      for e in self.events if e.get("visit") == p)]
            if quiet and not self.expectations:
                text += (f" Note: {len(quiet)} page(s) sent nothing but Active on Site; give --expect EVENT or "
                         "--plan FILE to require events.")
            return text
        failed = [f"{len(self.problems)} event(s) bad or dropped"] if self.problems else []
        if self.unmet:
            failed.append(f"{len(self.unmet)} expected event(s) missing")
        if warnings and not self.allow_warnings:
            failed.append(f"{len(warnings)} warning(s) (--allow-warnings to accept them)")
        if self.forgotten_total:
            failed.append(f"{self.forgotten_total:,} record(s) forgotten by the stand-in")
        if self.page_errors:
            failed.append(f"{len(self.page_errors)} page error(s)")
        if self.condition_failures:
            failed.append(f"{len(self.condition_failures)} failure(s) under the condition {self.condition}")
        if self.timed_out:
            failed.append(f"{len(self.timed_out)} page(s) timed out"
                          + (f" with {self.unsent:,} request(s) or call(s) unsent" if self.unsent else ""))
        return f"FAILED: {', '.join(failed)}."


def _timed_out_lines(t: dict) -> list[str]:
    lines = [f"Timed out: {t['page']} after {t['seconds']:g} s, while {t['while']}"
             + (f" ({t['detail']})" if t.get("detail") else "") + ":"]
    heard, unsent = t["last_heard"], t["unsent"] or {}
    total = sum(unsent.values())
    kinds = ", ".join(f"{n:,} {what}" for what, n in sorted(unsent.items(), key=lambda kv: -kv[1]))
    if heard is None:
        lines.append("  the page never reported (it did not load, or none of its scripts ran): "
                     "what it still had to send is unknown")
    elif not t["answering"]:
        lines.append(f"  its scripts stopped answering {heard:.1f} s into the visit (busy, or stuck in a loop): "
                     "what it still had to send is unknown"
                     + (f"; then it had {total:,} request(s) or call(s) queued or in flight ({kinds})" if total else ""))
    elif total:
        lines.append(f"  it still had {total:,} request(s) or call(s) queued or in flight ({kinds}): "
                     "those not listed above as received never reached Klaviyo")
    elif t["while"].startswith("waiting"):
        lines.append("  it had nothing queued, but requests kept reaching the stand-in until the end")
    lines.append(f"  {t['arrived']:,} request(s) from it reached the stand-in; {t.get('ended') or 'its browser was killed'}")
    return lines


def _wrapped(text: str, indent: int) -> str:
    """`text` wrapped at WIDTH, lines after the first indented by `indent`; nothing is cut."""
    if len(text) <= WIDTH:
        return text
    head = len(text) - len(text.lstrip(" "))
    return "\n".join(textwrap.wrap(text, WIDTH, initial_indent="", subsequent_indent=" " * max(indent, head),
                                   break_long_words=True, break_on_hyphens=False, drop_whitespace=True))


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _summary(event: dict) -> str:
    props = {k: v for k, v in (event.get("properties") or {}).items() if not k.startswith("$")}
    text = json.dumps(props, ensure_ascii=False)
    if event.get("value") is not None:
        text = f"value={event['value']} " + text
    return text


def identify_rows(requests: list[dict]) -> list[dict]:
    """One row per identify (`/client/profiles`) request: good, or bad with why."""
    rows = []
    for r in requests:
        if r["path"].rstrip("/") != "/client/profiles":
            continue
        status = (r.get("response") or {}).get("status")
        attrs = ((r.get("body") or {}).get("data") or {}).get("attributes") if isinstance(r.get("body"), dict) else {}
        who = ", ".join(f"{k}={v}" for k, v in (attrs or {}).items() if k in ("email", "phone_number", "external_id"))
        judgement = r.get("judgement") or {}
        good = status is not None and 200 <= status < 300 and judgement.get("status") != "bad"
        detail = who or "profile update"
        if judgement.get("status") == "bad":
            detail = judgement["detail"]
        elif not good:
            errors = (r.get("response") or {}).get("body") or {}
            detail = "; ".join(e.get("detail", "") for e in errors.get("errors", [])) if isinstance(errors, dict) else str(errors)
        rows.append({"request_id": r["id"], "status": "good" if good else "bad", "http_status": status, "detail": detail})
    return rows


def _condition_dict(name: str) -> dict:
    from klaviyo_snippets.harness.verify.conditions import CONDITIONS

    return CONDITIONS[name].to_dict()


@dataclass
class ConditionsReport:
    """verify under conditions: one `VerifyReport` per condition, in the order asked; OK when every
    one is."""

    reports: list[VerifyReport]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.reports)

    def to_dict(self) -> dict:
        return {"ok": self.ok,
                "conditions": [{**_condition_dict(r.condition), "ok": r.ok, "report": r.to_dict()} for r in self.reports]}

    def format(self) -> str:
        parts = [f"== condition {r.condition} ==\n{r.format()}" for r in self.reports]
        verdicts = ", ".join(f"{r.condition} {'OK' if r.ok else 'FAILED'}" for r in self.reports)
        return "\n\n".join(parts) + f"\n\nConditions: {verdicts}."
