"""The pytest plugin's `@pytest.mark.klaviyo_conditions(...)`: a user's browser test run once per
real page condition, applied and judged as `verify --condition` does (docs/conditions.md).

Everything a condition is (its page rewrite, init script, navigation, what breaks it and the fix)
lives in `harness.verify`'s conditions; this module only applies it to a test's routed context and
its `klaviyo_shop`, and judges the test's traffic with verify's own `judge_condition`.

* `email-visit`: the first page `klaviyo_shop.open`s gets `?_kx=` for a profile the stand-in makes
  in the account whose klaviyo.js the page's HTML names.
* `csp-strict`: the storefront's HTML gets the policy `csp_for` writes; violations are told by the
  watcher's binding.
* `spa`: the first page is loaded; each next `klaviyo_shop.open` on it is a client-side
  navigation (`SPA_NAVIGATE_JS`).
* `delayed-scripts`: the storefront's HTML as `delay_scripts` rewrites it; `open` makes the one
  interaction after load.
* `consent-denied`: the init script refuses as soon as the bundle defines its API.
* `consent-granted-late`: the first `klaviyo_shop.settle()` lets the page run undecided, marks
  what was sent so far, then grants and waits.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness import verify
from klaviyo_snippets.harness.verify import conditions
from klaviyo_snippets.harness.browser import IDLE_JS, SITE_ORIGIN

MARKER = "klaviyo_conditions"
FIXTURE = "klaviyo_condition"
SENTINEL_SECONDS = 3.0  # for the deliberate violation to be told (csp-strict)


def parametrize(metafunc: pytest.Metafunc, marker) -> None:
    """Run the test once per condition the marker names; a mistake is the test's collection error."""
    where = f"{metafunc.definition.nodeid}: @pytest.mark.{MARKER}"
    names = [*marker.args, *(marker.kwargs.get("names") or ())]
    if not names:
        pytest.fail(f'{where} names no condition; e.g. @pytest.mark.{MARKER}("csp-strict", "email-visit"), '
                    f'or ("all"); conditions: {", ".join([*verify.CONDITIONS, verify.ALL_CONDITIONS])}', pytrace=False)
    try:
        names = verify.condition_names(names)
    except UserError as error:
        pytest.fail(f"{where}: {error.message} ({error.hint})", pytrace=False)
    if FIXTURE not in metafunc.fixturenames:
        pytest.fail(f"{where} runs the test once per condition, and `{FIXTURE}.assert_honoured()` is what checks "
                    f"the page honoured it: take the {FIXTURE} fixture, e.g. "
                    f"def {metafunc.function.__name__}(klaviyo_shop, klaviyo_stub, {FIXTURE})", pytrace=False)
    metafunc.parametrize(FIXTURE, names, indirect=True, ids=names)


def condition_of(request: pytest.FixtureRequest) -> str | None:
    """The condition this test runs under (its `klaviyo_condition` parameter), or None."""
    callspec = getattr(request.node, "callspec", None)
    return None if callspec is None else callspec.params.get(FIXTURE)


@dataclass
class _Visit:
    """What `judge_condition` reads of a visit (verify's driver keeps the same)."""

    routing: object
    url: str | None = None
    failures: list[dict] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)

    def forwarded(self) -> list:
        return list(self.routing.forwarded)


class ConditionRun:
    """`klaviyo_condition`: the condition a test runs under. `name`; `condition` (what the harness
    does, what a failure means, the fix, the docs page); `assert_honoured()`."""

    def __init__(self, name: str, context, routing, stub, browser_name: str) -> None:
        self.name = name
        self.condition = verify.CONDITIONS[name]
        self._stub, self._routing, self._page = stub, routing, None
        self._visit = _Visit(routing)
        self._pages: list[dict] = []  # one per `open`: url, events so far, reached by pushState
        self._marks: list[dict] = []  # consent-granted-late: the grant, as verify marks it
        self._granted = False
        if name == "csp-strict":
            context.expose_binding(conditions.CSP_BINDING, self._violation)
            context.add_init_script(conditions.CSP_WATCH_JS)
            # Firefox's onsite script posts straight to the stand-in (docs/design.md, "Browsers").
            connect = [_origin(stub.url)] if browser_name == "firefox" else []
            routing.page_filter = lambda url, body: (body, {"Content-Security-Policy": conditions.csp_for(
                body, connect=connect)[0]})
        elif name == "delayed-scripts":
            routing.page_filter = lambda url, body: (conditions.delay_scripts(body), {})
        elif name == "consent-denied":
            context.add_init_script(conditions.CONSENT_DENY_JS)

    def __repr__(self) -> str:
        return f"<klaviyo_condition {self.name}>"

    @property
    def violations(self) -> list[dict]:
        """csp-strict: the violations the pages told so far (`directive`, `blocked`, `page`, `sample`)."""
        return list(self._visit.violations)

    # -- what klaviyo_shop does under the condition ----------------------------------------------

    def open(self, page, url: str, html: str, goto: dict):
        """`klaviyo_shop.open`: `url` (serving `html`) opened as the condition opens a page."""
        if self._pages and not page.is_closed():
            _idle(page, 10)  # the page before has sent what it sends: what arrives next is this one's
        soft = self.name == "spa" and bool(self._pages) and _origin(page.url) == _origin(url)
        self._pages.append({"url": url, "events": len(self._stub.events()), "soft": soft})
        self._page = page
        self._visit.url = self._visit.url or url
        if soft:
            status = page.evaluate(conditions.SPA_NAVIGATE_JS, url)
            if status != 200:
                raise AssertionError(f"{url} answered {status} when fetched for a client-side navigation")
            return page
        if self.name == "email-visit" and len(self._pages) == 1:
            url = self._email_link(url, html)
        page.goto(url, **goto)
        if self.name == "delayed-scripts":  # the one interaction that runs the delayed scripts
            page.mouse.move(3, 3)
            page.mouse.move(40, 40)
        return page

    def settle(self, page, timeout: float) -> bool:
        """Before `klaviyo_shop.settle` waits: under consent-granted-late, the first time, the page
        runs undecided until idle, then the visitor grants. False: the onsite script may never
        load (consent-denied), so the caller waits for the page only, not for it."""
        if self.name == "consent-granted-late" and not self._granted:
            self._granted = True
            _idle(page, timeout)
            self._marks.append({"kind": "grant", "url": page.url,
                                "requests": max([r["id"] for r in self._stub.requests()], default=0),
                                "forwarded": len(self._routing.forwarded)})
            if page.evaluate(conditions.CONSENT_CALL_JS, True) != "called":
                self._fail(page.url, "the page has no klaviyoSnippets.consent() (the plan sets no consent:), so "
                                     "there was no consent to grant")
        if self.name == "consent-denied":
            _idle(page, timeout)
            return False
        return True

    # -- judging -----------------------------------------------------------------------------------

    def assert_honoured(self, timeout: float = 10) -> None:
        """Wait until the page has nothing left to send, then raise AssertionError if the test's
        pages did not honour the condition (as `verify --condition` judges a visit: a CSP violation,
        an event twice, a request to Klaviyo before consent, a page reached by client-side
        navigation that sent nothing, an email visit's event dropped as anonymous), naming each
        problem, what it means, the fix and the docs page."""
        page = self._page
        if page is None:
            raise AssertionError(f"klaviyo condition {self.name}: the test opened no page with klaviyo_shop.open(), "
                                 "so the condition was never applied")
        if not page.is_closed():
            _idle(page, timeout)
            if self.name == "csp-strict":
                self._count_violations(page)
            if self.name == "consent-denied" and not page.evaluate(conditions.HAS_CONSENT_JS):
                self._fail(self._visit.url, "the page has no klaviyoSnippets.consent() (the plan sets no consent:), "
                                            "so nothing waits for the visitor's decision")
        if self.name == "consent-granted-late" and not self._granted:
            self._fail(self._visit.url, "the visitor never granted: call klaviyo_shop.settle() once the page has "
                                        "run (it checks nothing was sent, then grants and waits)")
        events = self._events()
        found = conditions.judge(self.name, label=self._pages[0]["url"], state=self._visit, events=events,
                                       requests=self._stub.requests(), marks=self._marks, expectations=[],
                                       consent="unknown")
        found += self._own_checks(events)
        if found:
            c = self.condition
            lines = [f"the page did not honour the condition {self.name}:",
                     *(f"  {f['page']}: {f['reason']}" for f in found),
                     f"What it means: {c.failure}. Fix: {c.fix} ({c.doc}).",
                     f"What the harness did: {c.did}."]
            raise AssertionError("\n".join(lines))

    def _events(self) -> list[dict]:
        """The stand-in's events, each tagged with the page (`open`) it arrived during."""
        events = self._stub.events()
        out = []
        for i, mark in enumerate(self._pages):
            end = self._pages[i + 1]["events"] if i + 1 < len(self._pages) else len(events)
            out += [{**e, "visit": mark["url"]} for e in events[mark["events"]:end]]
        return out

    def _own_checks(self, events: list[dict]) -> list[dict]:
        """What verify judges from its plan's expectations or its report, judged from the records."""
        out = []
        if self.name == "email-visit":
            for e in events:
                if e["status"] == "dropped" and e.get("endpoint") == "onsite script":
                    reason = (e.get("reasons") or [{}])[0].get("detail") or "no reason given"
                    out.append({"visit": e["visit"], "page": e["visit"],
                                "reason": f"{e.get('display_name') or e.get('metric')} was dropped: {reason}"})
        elif self.name == "spa":
            sent = Counter(e["visit"] for e in events if e.get("metric") != "__activity__")
            for mark in self._pages:
                if mark["soft"] and not sent[mark["url"]]:
                    out.append({"visit": mark["url"], "page": mark["url"], "reason": (
                        "nothing arrived on the client-side navigation to it: the page's events fire on a page "
                        "load only; add fire: {route: PATTERN} to them in the plan")})
        return out

    def _fail(self, page: str | None, reason: str) -> None:
        self._visit.failures.append({"page": page, "reason": reason})

    def _violation(self, source: dict, violation) -> None:
        """The binding `CSP_WATCH_JS` calls."""
        if isinstance(violation, dict):
            self._visit.violations.append({k: str(violation.get(k) or "") for k in
                                           ("directive", "blocked", "disposition", "page", "sample")})

    def _count_violations(self, page) -> None:
        """One deliberate violation, waited for, so that none told means none happened."""
        if _origin(page.url) != SITE_ORIGIN:  # not a page the policy was served with
            return
        mine = lambda v: "csp-sentinel.invalid" in v["blocked"]  # noqa: E731
        page.evaluate("(u) => { new Image().src = u; }", conditions.CSP_SENTINEL)
        waited = 0.0
        while not any(mine(v) for v in self._visit.violations):
            if waited >= SENTINEL_SECONDS:
                self._fail(page.url, f"violations could not be counted: a deliberate violation was not told "
                                     f"within {SENTINEL_SECONDS:g} s")
                break
            page.wait_for_timeout(25)  # a Playwright call: the binding's calls are handled meanwhile
            waited += 0.025
        self._visit.violations = [v for v in self._visit.violations if not mine(v)]

    def _email_link(self, url: str, html: str) -> str:
        """`url` with the `_kx` of a profile of the account the page's klaviyo.js names, made in
        the stand-in as Klaviyo has it (verify's `_mint`)."""
        key = conditions.account_key(html)
        if key is None:
            self._fail(url, "its HTML loads no Klaviyo onsite script (…/onsite/js/<KEY>/klaviyo.js): there is no "
                            "account to make the link's exchange id for, so the page was opened without one")
            return url
        profile, _ = self._stub.store.resolve_profile({"attributes": {"email": conditions.EMAIL}},
                                                      company=key)
        return conditions.with_exchange_id(url, profile["exchange_ids"][key])


def _idle(page, timeout: float) -> None:
    """Wait until `page` has loaded and has nothing left to send (`IDLE_JS`); a page with no onsite
    script waits for its load only. What is still open after `timeout` is an AssertionError."""
    pending = page.evaluate(f"({IDLE_JS})", timeout * 1000)["pending"]
    still = {k: n for k, n in pending.items() if not k.startswith("call(s) queued")}
    if still:
        raise AssertionError(f"{page.url} still had work after {timeout:g} s: "
                             + ", ".join(f"{n} × {what}" if n > 1 else what for what, n in still.items()))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"
