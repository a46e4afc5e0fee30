"""Real page conditions verify can run each page under (`verify --condition NAME`), and what each
does to the page and requires of it. docs/conditions.md is the user's page for these.

* `email-visit`: the first page is opened with `?_kx=<exchange id>`, as from a Klaviyo email
  (the exchange id minted by the stand-in for the account whose klaviyo.js the page loads),
  instead of `--identify`: the page's events must arrive good, identified.
* `csp-strict`: the storefront's HTML is served with a strict Content-Security-Policy
  (`csp_for`): the page's own nonce, or the hashes of its inline scripts, with 'strict-dynamic',
  and Klaviyo's documented hosts (docs/csp.md); any violation fails, naming what was blocked.
* `spa`: the pages are reached by client-side navigation (`SPA_NAVIGATE_JS`), not loads.
* `delayed-scripts`: the page's scripts are rewritten as WP Rocket's "Delay JavaScript
  execution" does (`delay_scripts`, the model in `_optimizers`, which the tests use too) and run
  on an interaction after load; each event once.
* `consent-denied`, `consent-granted-late`: `klaviyoSnippets.consent({tracking: ...})`.

Everything here is data and text (JS, HTML rewrites, policies): the driver (`_driver`) applies
it to the page and the lane (`_run`) judges the visit with it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from dataclasses import dataclass
from html.parser import HTMLParser

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.verify._optimizers import wp_rocket

@dataclass(frozen=True)
class Condition:
    name: str
    did: str  # what the harness did to the page
    failure: str  # what a failure means
    fix: str  # how to fix one
    doc: str  # the condition's own docs page (docs/...)

    def to_dict(self) -> dict:
        return {"name": self.name, "did": self.did, "failure": self.failure, "fix": self.fix, "docs": self.doc}


CONDITIONS: dict[str, Condition] = {c.name: c for c in (
    Condition(
        "email-visit",
        "opened the first page as a first visit from a Klaviyo email: ?_kx=<exchange id> in its URL (an "
        "exchange id the stand-in made for a profile of the account the page's klaviyo.js names), no "
        "--identify, no cookie",
        "an event was dropped as anonymous or did not arrive: the onsite script did not identify the visitor "
        "from the link before the page's events",
        "load Klaviyo's onsite script with the account's public key on every page and let it run the queued "
        "calls; do not send events before it runs",
        "docs/email-visits.md"),
    Condition(
        "csp-strict",
        "served the page's HTML with a strict Content-Security-Policy: script-src with the page's own nonce "
        "(or, when its scripts carry none, the hashes of its inline scripts) and 'strict-dynamic', and "
        "Klaviyo's hosts in connect-src, style-src, font-src, img-src (docs/csp.md); violations counted from "
        "securitypolicyviolation events and the browser's reports",
        "the browser blocked something the page needs (a script without the response's nonce, an inline "
        "event handler, a host missing from the policy): what it carried is lost",
        "generate with --csp-nonce (or --no-inline --assets-url) and put the response's nonce on every "
        "script tag; add the hosts docs/csp.md lists",
        "docs/csp.md"),
    Condition(
        "spa",
        "loaded the first page, then reached each next page by client-side navigation: fetched its HTML, "
        "history.pushState to its URL, swapped its <body> and its head's data islands in (the new body's "
        "scripts are not run, as a router renders a view), then its clicks",
        "an event the page sends on a full load did not arrive on a client-side navigation: page-load "
        "triggers fire once per document",
        "add a route trigger to the event in the plan (fire: {route: PATTERN})",
        "docs/spa.md"),
    Condition(
        "delayed-scripts",
        "rewrote the page's scripts as WP Rocket 3.17's \"Delay JavaScript execution\" does (type="
        "\"text/rocketlazyloadscript\", src in data-rocket-src; data islands untouched; its loader first "
        "in the head) and moved the mouse after load (WP Rocket ignores the first move), which runs them "
        "in order, async ones too, and replays DOMContentLoaded, load and the held user events",
        "an event was lost or sent twice when the page's scripts ran late, after the page had loaded",
        "keep the generated code's calls behind install.html (the klaviyo queue), or exclude "
        "klaviyo-snippets and klaviyo.js from the optimizer",
        "docs/delayed-scripts.md"),
    Condition(
        "consent-denied",
        "called klaviyoSnippets.consent({tracking: false}) as soon as the bundle defined it (an init "
        "script hooks the assignment of window.klaviyoSnippets); counted every request to Klaviyo's "
        "hosts: klaviyo.js loads and tracking requests",
        "the page sent to Klaviyo (or loaded klaviyo.js when the plan's consent.denied is nothing) "
        "though the visitor refused",
        "set consent: in the plan (signal and denied mode) and let the bundle load klaviyo.js",
        "docs/consent.md"),
    Condition(
        "consent-granted-late",
        "let the page run with no consent decision, checked nothing went to Klaviyo, then called "
        "klaviyoSnippets.consent({tracking: true}) and waited for what the page queued",
        "the page sent before consent, or did not send its events exactly once after the grant",
        "set consent: in the plan; the bundle queues events until the decision",
        "docs/consent.md"),
)}
ALL = "all"
EMAIL = "email.visit@example.com"  # the profile the email went to (made in the stand-in)


def condition_names(names) -> tuple[str, ...]:
    """The conditions asked for, in the order given, each once; `all` for every one. A name that
    is not one is a usage error naming those that are."""
    out: list[str] = []
    for name in names:
        name = str(name).strip()
        wanted = list(CONDITIONS) if name == ALL else [name]
        if name != ALL and name not in CONDITIONS:
            raise UserError(f"no condition {name!r}", hint="conditions: " + ", ".join([*CONDITIONS, ALL]))
        out += [n for n in wanted if n not in out]
    return tuple(out)


def docs_link(condition: str) -> str:
    return CONDITIONS[condition].doc


# -- email-visit -----------------------------------------------------------------------------------

_KEY = re.compile(r"/onsite/js/(\w+)/klaviyo\.js|klaviyo\.js\?(?:[^\"'>]*&)?company_id=(\w+)")


def account_key(html: str) -> str | None:
    """The public key of the klaviyo.js the page's HTML loads (either URL form), or None."""
    found = _KEY.search(html)
    return None if found is None else found.group(1) or found.group(2)


def with_exchange_id(url: str, kx: str) -> str:
    from urllib.parse import quote

    head, _, fragment = url.partition("#")
    head += ("&" if "?" in head else "?") + "_kx=" + quote(kx, safe="")
    return head + (f"#{fragment}" if fragment else "")


# -- csp-strict ------------------------------------------------------------------------------------

#: Klaviyo's documented hosts by directive (docs/csp.md, "Klaviyo's hosts, and why").
KLAVIYO_CSP_HOSTS = {
    "script-src": ("https://static.klaviyo.com", "https://static-tracking.klaviyo.com"),
    "connect-src": ("https://a.klaviyo.com", "https://fast.a.klaviyo.com", "https://static-forms.klaviyo.com"),
    "style-src": ("https://static-tracking.klaviyo.com", "https://fonts.googleapis.com"),
    "font-src": ("https://fonts.gstatic.com",),
    "img-src": ("https://d3k81ch9hvuctc.cloudfront.net",),
}


def csp_policy(script_src, *, connect=(), without: str | None = None) -> str:
    """The policy docs/csp.md gives, with `script_src` (its sources, e.g. ["'nonce-…'",
    "'strict-dynamic'"]); `connect`: origins added to connect-src (the harness's own, on
    loopback); `without`: a source left out."""
    directives = {
        "default-src": ["'self'"],
        "script-src": list(script_src),
        **{name: ["'self'", *hosts] for name, hosts in KLAVIYO_CSP_HOSTS.items() if name != "script-src"},
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
    }
    directives["connect-src"] += list(connect)
    return "; ".join(f"{name} {' '.join(v for v in values if v != without)}" for name, values in directives.items())


class _Scripts(HTMLParser):
    """The page's script tags: the nonces they carry and the text of the inline ones that run."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.nonces: Counter = Counter()
        self.inline: list[str] = []
        self._open: list[str] | None = None

    def handle_starttag(self, tag, attrs) -> None:
        if tag != "script":
            return
        a = {k: (v or "") for k, v in attrs}
        if a.get("nonce"):
            self.nonces[a["nonce"]] += 1
        runs = _is_javascript(a.get("type"))
        self._open = [] if runs and "src" not in a else None

    def handle_data(self, data) -> None:
        if self._open is not None:
            self._open.append(data)

    def handle_endtag(self, tag) -> None:
        if tag == "script" and self._open is not None:
            self.inline.append("".join(self._open))
            self._open = None


def _is_javascript(kind: str | None) -> bool:
    kind = (kind or "").strip().lower()
    return kind in ("", "module", "text/javascript", "application/javascript", "text/ecmascript")


def csp_for(html: bytes, *, connect=()) -> tuple[str, str]:
    """(the strict policy for this page, how its script-src was made). The page's own nonce when
    its script tags carry one (the most common: a server writes one per response, in the tags and
    the header alike; a tag without it, or with another, is then blocked, as in production); else
    the sha256 hashes of its inline scripts as served (what a store with static pages would
    list), under which a parser-inserted external script is blocked, as 'strict-dynamic' does."""
    parser = _Scripts()
    parser.feed(html.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n"))
    if parser.nonces:
        nonce = parser.nonces.most_common(1)[0][0]
        return csp_policy([f"'nonce-{nonce}'", "'strict-dynamic'"], connect=connect), f"the page's nonce {nonce}"
    hashes = sorted({"'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
                     for s in parser.inline})
    return (csp_policy([*hashes, "'strict-dynamic'"], connect=connect),
            f"the hashes of its {len(parser.inline)} inline script(s) (no script tag had a nonce)")


# Added to every document under csp-strict: each violation told to verify by a binding (a
# binding is not subject to the policy; a beacon would be).
CSP_BINDING = "__klaviyoSnippetsCsp"
CSP_WATCH_JS = """(function (tell) {
  if (typeof tell !== 'function') { return; }
  document.addEventListener('securitypolicyviolation', function (e) {
    try {
      tell({directive: e.effectiveDirective || e.violatedDirective, blocked: String(e.blockedURI || ''),
            disposition: e.disposition, page: String(location.href),
            sample: String(e.sample || '').slice(0, 80)}).then(null, function () {});
    } catch (x) { /* the page went meanwhile */ }
  }, true);
})(window.%s);""" % CSP_BINDING
CSP_SENTINEL = "https://csp-sentinel.invalid/probe.png"  # no policy allows it: the deliberate violation
CSP_REPORTS_PATH = "/csp"


# -- spa -------------------------------------------------------------------------------------------

# `url => status`: a client-side navigation to `url`, as a router does it: the URL first
# (pushState), then the view (the new page's body, and the data islands of its head in place of
# the old ones). Scripts of the new body are not run (DOMParser's and imported ones never are).
SPA_NAVIGATE_JS = """async (url) => {
  const response = await fetch(url, {credentials: 'same-origin'});
  const doc = new DOMParser().parseFromString(await response.text(), 'text/html');
  history.pushState({}, '', url);
  for (const old of document.head.querySelectorAll('script[data-klaviyo]')) old.remove();
  for (const island of doc.head.querySelectorAll('script[data-klaviyo]')) document.head.appendChild(document.importNode(island, true));
  document.title = doc.title;
  document.body.replaceWith(document.importNode(doc.body, true));
  return response.status;
}"""


def route_matches(pattern: str, path: str) -> bool:
    """Whether a route trigger's PATTERN matches `path`: `:name` is one path segment, `*` the rest
    (docs/spa.md has the plan's syntax; this is verify's reading of it, for expectations)."""
    want = [p for p in pattern.split("?")[0].strip("/").split("/") if p]
    have = [p for p in path.split("?")[0].strip("/").split("/") if p]
    for i, part in enumerate(want):
        if part == "*":
            return True
        if i >= len(have) or not (part.startswith(":") or part == have[i]):
            return False
    return len(want) == len(have)


# -- delayed-scripts -------------------------------------------------------------------------------

DELAY_TYPE = "text/rocketlazyloadscript"


def delay_scripts(html: bytes) -> bytes:
    """`html` as WP Rocket's "Delay JavaScript execution" serves it (3.17+, `_optimizers`): every
    script that would run gets type="text/rocketlazyloadscript" (its own type kept in
    data-rocket-type), its src moved to data-rocket-src; data blocks (JSON islands) are left as
    they are; WP Rocket's loader goes first in the head."""
    return wp_rocket(html.decode("utf-8", "replace")).encode()


# -- consent ---------------------------------------------------------------------------------------

# Added to every document under consent-denied: the visitor refuses as soon as the bundle defines
# `klaviyoSnippets` (once its script has run: a microtask after the assignment), or at load.
CONSENT_DENY_JS = """(function (w) {
  var value, done = false;
  function deny() {
    if (done || !value || typeof value.consent !== 'function') { return; }
    done = true;
    try { value.consent({tracking: false}); } catch (e) { /* reported by the page's own code */ }
  }
  try {
    Object.defineProperty(w, 'klaviyoSnippets', {configurable: true, enumerable: true,
      get: function () { return value; },
      set: function (v) { value = v; Promise.resolve().then(deny); }});
  } catch (e) { /* already defined */ }
  w.addEventListener('DOMContentLoaded', function () { value = value || w.klaviyoSnippets; deny(); });
})(window);"""

# `tracking => "no api" | "called"`.
CONSENT_CALL_JS = """(tracking) => {
  const s = window.klaviyoSnippets;
  if (!s || typeof s.consent !== 'function') return 'no api';
  s.consent({tracking});
  return 'called';
}"""
HAS_CONSENT_JS = "() => !!(window.klaviyoSnippets && typeof window.klaviyoSnippets.consent === 'function')"
# `() => tracking`: the page's consent state as its own API tells it (false once refused).
CONSENT_STATE_JS = """() => {
  try { return window.klaviyoSnippets.consent().tracking; } catch (e) { return 'an error: ' + e; }
}"""


# -- judging a visit -------------------------------------------------------------------------------

_TRACKING = "/client/"  # the onsite script's requests that track (events, identifies, subscriptions)


def judge(condition: str, *, label: str, state, events: list[dict], requests: list[dict], marks: list[dict],
          expectations: list[dict], consent) -> list[dict]:
    """What `condition` finds wrong with one visit, each {"visit", "page", "reason"}: what the
    driver found (`state.failures`) and what the records show. The visit's ordinary problems
    (events bad or dropped, expected events missing) are the report's own, whatever the condition."""
    out = [{"visit": label, "page": f["page"], "reason": f["reason"]} for f in state.failures]

    def fail(reason: str, page: str | None = None, visit: str = label) -> None:
        out.append({"visit": visit, "page": page or state.url, "reason": reason})

    if condition == "email-visit" and not state.failures:
        if not any(e.get("metric") == "__activity__" and e["status"] == "good" and e.get("visit") == label
                   for e in events):
            fail("no Active on Site arrived: the onsite script did not identify the visitor from the link "
                 "(an identified visitor's page load sends it)")
    elif condition == "csp-strict":
        seen = set()
        for v in state.violations:
            key = (v["directive"], v["blocked"])
            if key in seen:
                continue
            seen.add(key)
            what = v["blocked"] if v["blocked"] not in ("", "inline", "eval") else f"an {v['blocked'] or 'inline'} script"
            sample = f" ({v['sample']!r})" if v.get("sample") else ""
            fail(f"the policy blocked {what}{sample}: {v['directive']}", v.get("page") or None)
    elif condition == "spa":
        for x in expectations:
            if not x["met"] and "reached by pushState" in x["why"] and "route trigger" not in x["why"]:
                fail(f"{x['event']} did not arrive on the client-side navigation: it is expected there "
                     f"({x['why']}) but its trigger fires on a page load only; add fire: {{route: PATTERN}} "
                     "to it in the plan", x["visit"], x["visit"])
    elif condition in ("delayed-scripts", "consent-granted-late"):
        times = Counter((e.get("visit"), e.get("display_name") or e.get("metric")) for e in events
                        if e["status"] in ("good", "duplicate"))
        for (visit, name), n in times.items():
            if n > 1:
                fail(f"{name} arrived {n} times: the page's events must arrive once", None, visit or label)
    if condition in ("consent-denied", "consent-granted-late"):
        grant = next((m for m in marks if m["kind"] == "grant"), None)
        forwarded = state.forwarded() if hasattr(state, "forwarded") else []
        if condition == "consent-granted-late":
            if grant is None:
                return out
            forwarded = forwarded[:grant["forwarded"]]
            requests = [r for r in requests if r["id"] <= grant["requests"]]
        tracking = [r for r in requests if r["path"].startswith(_TRACKING)]
        scripts = [f for f in forwarded if "klaviyo.js" in f.url]
        denied = consent.get("denied") if isinstance(consent, dict) else None
        has_api = not any("klaviyoSnippets.consent()" in f["reason"] for f in state.failures)
        counted = tracking + (scripts if (denied == "nothing" or not has_api) else [])
        if counted:
            kinds = Counter(r["path"] if isinstance(r, dict) else "klaviyo.js" for r in counted)
            listed = ", ".join(f"{n} {what}" for what, n in kinds.items())
            when = "though the visitor refused" if condition == "consent-denied" else "before the visitor decided"
            fail(f"the page sends before consent: {len(counted)} request(s) to Klaviyo {when} ({listed})")
    return out
