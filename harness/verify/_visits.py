"""What verify loads and what it expects there.

A `Visit` is a page to load, what the shopper does there (clicks, submits) and the events it must
send. Visits come from PAGE arguments (local HTML files served on the storefront origin, or
URLs) or from a generated folder (`generated_storefront`: one page per event, as a theme would
paste the snippets). Expectations come from `--expect` and from the tracking plan: an event whose
load trigger's data islands are all on the page, or whose click or submit trigger the visit
used, must arrive good (`plan_triggers` describes the plan's triggers for the page to match,
`ISLANDS_PRESENT_JS` and `EXPECTED_ON_ACTION_JS` match them, `check_expectations` judges).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from klaviyo_snippets.generator.codegen import read_manifest
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.browser import SITE_ORIGIN

IDENTIFY = "Identify"  # the name an expected identify goes by (verify lists identifies apart)
ACTIVITY = ("__activity__", "Active on Site")


@dataclass(frozen=True)
class Visit:
    """A page to load and what the shopper does there: ("click" | "submit", CSS selector); and
    the events it must send: (event name, why it is expected)."""

    url: str
    actions: tuple[tuple[str, str], ...] = ()
    expect: tuple[tuple[str, str], ...] = ()
    then: tuple[Visit, ...] = ()  # spa: pages reached from this one by client-side navigation, in order


def page_visits(pages: list[str], clicks: tuple[str, ...]) -> tuple[list[Visit], Path | None]:
    """The visits for PAGE arguments, and the local folder to serve on the storefront origin."""
    visits, root = [], None
    for page in pages:
        actions = tuple(("click", s) for s in clicks)
        if urlparse(page).scheme in ("http", "https"):
            visits.append(Visit(page, actions))
            continue
        path = Path(page)
        if path.is_dir():
            raise UserError(f"{page} is a folder", hint=f"give the HTML files in it, e.g. verify {page.rstrip('/')}/*.html")
        if not path.is_file():
            raise UserError(f"no such page: {page}", hint="give an HTML file or an http(s):// URL")
        if path.suffix.lower() not in (".html", ".htm"):
            raise UserError(f"{page} is not an .html file: it would be served as a download, not a page",
                            hint="render your template to an .html file, or serve it and give its http(s):// URL")
        root = root or path.resolve().parent
        if path.resolve().parent != root:
            raise UserError(
                f"{page} is in another folder than {pages[0]}",
                hint="local pages are served from one folder; verify each folder separately",
            )
        visits.append(Visit(f"{SITE_ORIGIN}/{path.name}", actions))
    return visits, root


def generated_storefront(out_dir: Path, plan_path: Path | None = None) -> tuple[list[Visit], dict[str, str]]:
    """A storefront made of generated snippets: one page per event, as a theme would paste them.

    Each page has `install.html` in its head and the identify snippet plus the event's snippet
    in its body; the visit fires the event's click and submit triggers as a shopper would, and
    expects the event (when it reaches Klaviyo at all: Recently Viewed Items stays in the browser).
    """
    visits, pages, _ = storefront(out_dir, plan_path)
    return visits, pages


def storefront(out_dir: Path, plan_path: Path | None = None):
    """`generated_storefront`, and the plan it was made from."""
    from klaviyo_snippets.generator import load_plan

    out_dir = Path(out_dir)
    install = out_dir / "install.html"
    if not install.is_file():
        raise UserError(f"{out_dir} has no install.html", hint=f"run: klaviyo-snippets generate --out {out_dir}")
    recorded = read_manifest(out_dir).get("plan")
    recorded = recorded if isinstance(recorded, dict) else {}
    plan = load_plan(plan_path or _recorded_plan(out_dir, recorded.get("path")))
    if recorded.get("sha256") and recorded["sha256"] != plan.sha256:
        raise UserError(
            f"{out_dir} was not generated from {'the built-in plan' if plan.is_default else plan.path} "
            f"as it is now (its manifest names the plan {recorded.get('path')!r}, with other contents)",
            hint=f"regenerate it (klaviyo-snippets generate --out {out_dir}"
                 f"{'' if plan.is_default else f' --plan {plan.path}'}), or pass the plan it came from with --plan")
    head = install.read_text(encoding="utf-8")
    identify = [e for e in plan.events if e.method == "identify"]
    identify_html = "".join(_snippet(out_dir, e) for e in identify)
    pages, visits = {}, []
    for event in plan.events:
        if event in identify:
            continue
        path = f"/{event.slug}.html"
        title = html.escape(event.metric or event.key)
        pages[path] = (f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
                       f"{head}</head><body>{identify_html}{_snippet(out_dir, event)}</body></html>")
        actions = tuple(
            (t.kind, t.selector if t.kind == "click" else f"{t.selector} [type=submit]")
            for t in event.triggers if t.kind in ("click", "submit")
        )
        expect = tuple((name, "the page made for it") for name in _names(plan, event))
        visits.append(Visit(SITE_ORIGIN + path, actions, expect))
    return visits, pages, plan


def _recorded_plan(out_dir: Path, path: object) -> Path | None:
    """The plan `out_dir` was generated from, as its manifest records it (None: the built-in
    plan). Recorded relative to the output folder's parent, as `generate` writes it."""
    if not isinstance(path, str) or path == "default":
        return None
    plan = out_dir.resolve().parent / path
    if not plan.is_file():
        raise UserError(f"{out_dir} was generated from the plan {path}, which is not there now",
                        hint="pass the plan with --plan")
    return plan


def _snippet(out_dir: Path, event) -> str:
    path = out_dir / "snippets" / f"{event.slug}.html"
    if not path.is_file():
        raise UserError(f"{path} is missing", hint=f"regenerate: klaviyo-snippets generate --out {out_dir}")
    return path.read_text(encoding="utf-8")


# -- expectations ---------------------------------------------------------------------------------


def _name(event) -> str | None:
    """What verify calls an event when it expects it: the metric, "Identify" for an identify;
    None for what never reaches Klaviyo (trackViewedItem keeps Recently Viewed Items in the browser)."""
    if event.method == "track":
        return event.metric
    return IDENTIFY if event.method == "identify" else None


def _names(plan, event, seen: frozenset = frozenset()) -> list[str]:
    """The event's name and those of the events fired with it (`also:`), each once."""
    names = [n for n in [_name(event)] if n]
    for key in event.also:
        if key not in seen:
            names += [n for n in _names(plan, plan.event(key), seen | {event.key}) if n not in names]
    return names


def plan_triggers(plan) -> list[dict]:
    """The plan's load, click and submit triggers, JSON for the page to match: the names of the
    events each fires, and its data islands (load) or selector (click, submit)."""
    out = []
    for event in plan.events:
        names = _names(plan, event)
        for trigger in event.triggers:
            if not names:
                continue
            if trigger.kind == "load":
                out.append({"names": names, "kind": "load", "islands": list(event.inputs)})
            elif trigger.kind == "datalayer":
                out.append({"names": names, "kind": "datalayer", "event": trigger.event})
            elif trigger.kind in ("click", "submit"):
                out.append({"names": names, "kind": trigger.kind, "selector": trigger.selector})
            elif trigger.kind == "route":  # fire: {route: PATTERN} (docs/spa.md)
                pattern = getattr(trigger, "path", None) or getattr(trigger, "route", None)
                islands = [i for i in event.inputs if i != getattr(trigger, "input", None)]  # that one is the route's
                out.append({"names": names, "kind": "route", "route": str(pattern), "islands": islands})
    return out


def route_expectations(triggers, found, url: str, where: str) -> list[tuple[str, str]]:
    """After a client-side navigation to `url`: the events of the route triggers whose pattern
    matches its path and whose data islands the page has (`found`, as `ISLANDS_PRESENT_JS`
    reports them: it marks a route trigger's islands like a load trigger's)."""
    from urllib.parse import urlsplit

    from klaviyo_snippets.harness.verify.conditions import route_matches

    out = []
    for index in found if isinstance(found, list) else []:
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(triggers):
            trigger = triggers[index]
            if trigger["kind"] == "route" and route_matches(trigger["route"], urlsplit(url).path):
                out += [(name, f"its route trigger {trigger['route']} on {where}") for name in trigger["names"]]
    return out


# `spec => [index]`: the load triggers of `spec` (indexes) whose data islands are all on the page,
# and the data layer triggers whose event the page's dataLayer holds (Tag Manager's push, or
# gtag's arguments). ES5 and the page's own `document`: it runs in every document, from an init
# script (`_driver`).
ISLANDS_PRESENT_JS = """function (spec) {
  var out = [], layer = Array.isArray(window.dataLayer) ? window.dataLayer : [];
  for (var i = 0; i < spec.length; i++) {
    var s = spec[i], all = s.kind === 'load' || s.kind === 'route';
    for (var j = 0; all && j < s.islands.length; j++) {
      all = !!document.querySelector('script[data-klaviyo="' + CSS.escape(s.islands[j]) + '"]');
    }
    for (j = 0; !all && s.kind === 'datalayer' && j < layer.length; j++) {
      var x = layer[j];
      all = !!x && (x.event === s.event || x[0] === 'event' && x[1] === s.event);
    }
    if (all) { out.push(i); }
  }
  return out;
}"""


def load_expectations(triggers, found, where: str = "the page") -> list[tuple[str, str]]:
    """The events of the load triggers `ISLANDS_PRESENT_JS` found (indexes into `triggers`, as the
    page said them: anything else is ignored), each (name, why); `where` names the page."""
    out = []
    for index in found if isinstance(found, list) else []:
        if isinstance(index, int) and not isinstance(index, bool) and 0 <= index < len(triggers) \
                and triggers[index]["kind"] in ("load", "datalayer"):
            islands = triggers[index].get("islands")
            why = (f"its data island{'s' if len(islands) > 1 else ''} {', '.join(islands)} on {where}" if islands
                   else f"its data layer push {triggers[index]['event']} on {where}")
            out += [(name, why) for name in triggers[index]["names"]]
    return out


# `[spec, selector, kind] => [[name, why]]`: the events whose click trigger matches the element
# about to be clicked, or whose submit trigger matches the form that clicking it submits.
EXPECTED_ON_ACTION_JS = """([spec, selector, kind]) => {
  const out = [], el = document.querySelector(selector);
  if (!el) return out;
  const submits = el.tagName === 'BUTTON' ? (el.getAttribute('type') || 'submit').toLowerCase() === 'submit'
    : el.tagName === 'INPUT' && /^(submit|image)$/i.test(el.type);
  const form = submits ? el.form : null;
  for (const s of spec) {
    let why = null;
    if (s.kind === 'click' && el.closest(s.selector)) why = kind + ' ' + selector + ' (its click trigger ' + s.selector + ')';
    if (s.kind === 'submit' && form && form.closest(s.selector)) why = kind + ' ' + selector + ' submits ' + s.selector;
    if (why) for (const name of s.names) out.push([name, why]);
  }
  return out;
}"""


def check_expectations(wanted, events: list[dict], identifies: list[dict]) -> list[dict]:
    """Each expected event (name, why), once, judged against what the visit sent: met when one
    arrived good; otherwise the reason, saying what did arrive."""
    judged, seen = [], set()
    for name, why in wanted:
        if name in seen:
            continue
        seen.add(name)
        if name == IDENTIFY:
            mine = [{"status": i["status"], "reasons": [{"detail": i["detail"]}]} for i in identifies]
        else:
            mine = [e for e in events if name in (e.get("display_name"), e.get("metric"))]
        met = any(e["status"] == "good" for e in mine)
        judged.append({"event": name, "why": why, "met": met,
                       "detail": "arrived good" if met else _missing(name, mine, events, identifies)})
    return judged


def _missing(name: str, mine: list[dict], events: list[dict], identifies: list[dict]) -> str:
    if mine:
        e = mine[0]
        reasons = "; ".join(r.get("detail") or "" for r in e.get("reasons") or [] if r.get("detail"))
        return f"it arrived {e['status']}" + (f": {reasons}" if reasons else "")
    got, lost = [], []
    for e in events:
        name_of = e.get("display_name") or e.get("metric") or "?"
        (got if e["status"] in ("good", "duplicate") else lost).append(name_of)
    got = sorted(set(got)) + (["an identify"] if identifies else [])
    lost = sorted(set(lost))
    if not got and not lost:
        return "it never arrived; the page sent nothing to Klaviyo at all"
    if got and set(got) <= {*ACTIVITY, "an identify"} and not lost:
        return "it never arrived; the page sent nothing but " + " and ".join(
            n for n in ("Active on Site", "an identify") if n in got or (n == "Active on Site" and "__activity__" in got))
    text = "it never arrived; Klaviyo got " + (", ".join(got) if got else "nothing")
    return text + (f"; dropped or bad: {', '.join(lost)}" if lost else "")
