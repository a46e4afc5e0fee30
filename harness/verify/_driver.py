"""The pages verify drives: in the engine's browser (`_engine`: one Playwright driver on a thread of
its own, one browser), a routed page per lane, the same for the lane's visits. Lanes share the
driver and the browser: a lane costs a page, not a driver start (0.6 s of a core) and a browser.

`timeout` is a hard bound per page, whatever the page does: the caller only waits (with a limit)
for the visit, and when a page's time is up it reads what the page last said it still had to send
(each page reports that over loopback every REPORT_EVERY_MS, so no question to the browser is
needed). If the browser still answers, that page is closed; if not (or it will not close), the
browser's processes are killed, never asked, and the visits other lanes had in it are run again in
the next browser.

Each visit is a new visitor: cookies are cleared, and so is the storage of every origin a visit
used (cheaper than a new context and page: in Firefox by a second a visit). The last page of a
visit clears its own; an origin still holding some (a page navigated through it) is cleared by
a blank page of that origin before the next visit there.

A visit is over when it is, not after a quiet window: the page has loaded, the stand-in onsite
script has nothing left to send (`window.__klaviyoStub.idle()`), every warning of the generated
code has been posted (`IDLE_JS`), and a navigation the page started (a click on a link, the
generated code's navigation hold ending) has ended, on the next page loaded or aborted; then the
same again on that next page.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.browser import (
    HARNESS_GLOBAL, IDLE_JS, PENDING_JS, context_options, identify_script, route_to_stub_async,
)
from klaviyo_snippets.harness.verify import conditions
from klaviyo_snippets.harness.verify._engine import (
    GRACE_SECONDS, LAUNCH_SECONDS, NOTHING, Engine,
)
from klaviyo_snippets.harness.verify._visits import (
    EXPECTED_ON_ACTION_JS, ISLANDS_PRESENT_JS, Visit, load_expectations, route_expectations,
)

REPORT_EVERY_MS = 250  # how often each page tells verify what it still has to send
SILENT_SECONDS = 1.0  # a page not heard from for longer than this has stopped answering
POLL_SECONDS = 0.02  # between looks at what only time can change (a navigation's outcome)
LEAVE_MS = 1000  # for the blank page a visit ends on (a page may refuse to unload)

# A page on the visit's origin that forgets what earlier visits stored there, and the same on the
# page a visit ends on (returning its origin).
FRESH_PATH = "/__klaviyo-snippets-fresh-visitor__"
_FORGET_JS = "try { localStorage.clear(); sessionStorage.clear(); } catch (e) {}"
_FRESH_HTML = f"<!doctype html><script>{_FORGET_JS}</script>"
# There, the visit being over, the page also stops posting warnings, once those it posted are
# answered (`ms` at most): what it warns later (as it is left) is no visit's.
_FORGET_HERE_JS = f"""async ms => {{
  {_FORGET_JS}
  const h = window.{HARNESS_GLOBAL};
  if (h && typeof h.close === 'function') {{ await Promise.race([h.close(), new Promise(r => setTimeout(r, ms))]); }}
  return location.origin;
}}"""

# Added to every document: the top frame reports `PENDING_JS` to verify every REPORT_EVERY_MS.
_REPORTER_JS = """(function (url, pending, every) {
  if (window.top !== window || !navigator.sendBeacon || location.pathname === FRESH_PATH) { return; }
  var send = navigator.sendBeacon.bind(navigator), stringify = JSON.stringify;
  var doc = String(Math.random()).slice(2) + '.' + Date.now();
  function report() {
    try { send(url, stringify({doc: doc, page: String(location.href), pending: pending()})); } catch (e) { /* next time */ }
  }
  report();
  window.setInterval(report, every);
})(%s, %s, %d);""".replace("FRESH_PATH", json.dumps(FRESH_PATH))

# Added to every document when there is a plan: the top frame tells verify, when it is parsed and
# when it has loaded, which of the plan's load triggers have all their data islands on it
# (`ISLANDS_PRESENT_JS`). Told by a binding, as it happens: a page that navigates at once (on
# load, or on DOMContentLoaded after the generated code's trigger) still has its expectations.
ISLANDS_BINDING = "__klaviyoSnippetsIslands"
_ISLANDS_JS = """(function (spec, present, tell) {
  if (window.top !== window || typeof tell !== 'function' || location.pathname === FRESH_PATH) { return; }
  function check() {
    try {
      var found = present(spec);
      if (found.length) { tell(found, String(location.href)).then(null, function () {}); }
    } catch (e) { /* the page went meanwhile */ }
  }
  document.addEventListener('DOMContentLoaded', check);
  window.addEventListener('load', check);
})(%s, %s, window.%s);""".replace("FRESH_PATH", json.dumps(FRESH_PATH))


class PageReports:
    """A loopback endpoint where each page reports what it still has to send (`_REPORTER_JS`).

    This is how verify learns it when a page's time is up, without asking the browser: by then
    the browser may not answer Playwright at all (a script that never yields; thousands of routed
    requests queued ahead of the question). The latest report of the current visit counts;
    documents from earlier visits are ignored.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: set[str] = set()
        self._old: set[str] = set()
        self._latest: tuple[float, dict[str, int]] | None = None
        self._origins: set[str] = set()  # of the current visit's pages
        self._csp: list[dict] = []  # the current visit's CSP reports (report-uri)
        reports = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    if not 0 < length <= 65536:
                        raise ValueError(length)
                    body = json.loads(self.rfile.read(length))
                    if self.path.startswith(conditions.CSP_REPORTS_PATH):
                        reports._add_csp(body.get("csp-report") or body)
                    elif not str(body["page"]).startswith("about:"):  # a new tab's blank page, not the visit's
                        reports._add(str(body["doc"]), {str(k): int(v) for k, v in (body["pending"] or {}).items()},
                                     origin(str(body["page"])))
                    self.send_response(204)
                    self.send_header("Access-Control-Allow-Origin", "*")
                except (ValueError, KeyError, TypeError, AttributeError):
                    self.send_response(400)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/"
        threading.Thread(target=self._server.serve_forever, name="klaviyo-snippets verify reports", daemon=True).start()

    def _add(self, doc: str, pending: dict[str, int], page_origin: str) -> None:
        with self._lock:
            self._seen.add(doc)
            if doc not in self._old:
                self._latest = (time.monotonic(), pending)
                self._origins.add(page_origin)

    def _add_csp(self, report: dict) -> None:
        with self._lock:
            self._csp.append(report if isinstance(report, dict) else {"report": report})

    def csp_reports(self) -> list[dict]:
        with self._lock:
            return list(self._csp)

    def new_visit(self) -> None:
        with self._lock:
            self._old |= self._seen
            self._latest = None
            self._origins = set()
            self._csp = []

    def origins(self) -> set[str]:
        """The origins of the current visit's pages (each reports once as it starts)."""
        with self._lock:
            return set(self._origins)

    def latest(self) -> tuple[float, dict[str, int]] | None:
        """(when the current visit's page last reported, on the monotonic clock; what it still had to send)."""
        with self._lock:
            return None if self._latest is None else (self._latest[0], dict(self._latest[1]))

    def __enter__(self) -> PageReports:
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class VisitState:
    """What the driver learns during one visit; the caller reads it, finished or not."""

    stage: str = "starting"
    url: str | None = None  # the page loaded (the page a click goes to is another)
    detail: str | None = None
    page_errors: list[str] = field(default_factory=list)
    expected: list[tuple[str, str]] = field(default_factory=list)  # (event, why), from the plan
    routing: object = None  # the lane page's RoutingLog; this visit's entries start at:
    blocked_from: int = 0
    not_found_from: int = 0
    forwarded_from: int = 0
    # Under a condition (`conditions`): what it found wrong ({"page", "reason"}), the CSP
    # violations the pages told, notes on what was done, and `step(url)`, called as a
    # client-side navigation (spa) begins, to split the visit's records by page.
    failures: list[dict] = field(default_factory=list)
    violations: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    step: object = None
    before_grant: int | None = None  # consent-granted-late: Klaviyo requests before the grant

    def blocked(self) -> list:
        return [] if self.routing is None else self.routing.blocked[self.blocked_from:]

    def not_found(self) -> list:
        return [] if self.routing is None else self.routing.not_found[self.not_found_from:]

    def forwarded(self) -> list:
        return [] if self.routing is None else self.routing.forwarded[self.forwarded_from:]


@dataclass(frozen=True)
class PageSetup:
    """How every visit's page is set up."""

    stub_url: str
    site: object = None  # a folder, or {"/path": html}, served on the storefront origin
    identify: str | None = None
    allow_hosts: tuple[str, ...] = ()
    serve: tuple[tuple[str, str], ...] = ()
    triggers: tuple = ()  # the plan's, as `plan_triggers` gives them: for expectations
    condition: str | None = None  # one of `conditions.CONDITIONS`
    mint: object = None  # email-visit: account key -> an exchange id of the visitor for it
    page_origins: tuple[str, ...] = ()  # of URL pages (not the storefront's): csp-strict, delayed-scripts


class Interrupted(Exception):
    """A visit cut short by another page's killing the browser: run it again."""


class LanePage:
    """A lane's routed page in the engine's browser, the same for each of its visits (a new
    one after the browser was replaced or the page closed)."""

    def __init__(self, engine: Engine, reports: PageReports, setup: PageSetup) -> None:
        self._engine, self._reports, self._setup = engine, reports, setup
        self._generation: int | None = None  # of the browser the page is in; None: no page
        self._context = self._page = self._routing = self._navigations = None
        self._dirty: set[str] = set()  # origins whose storage an earlier visit may have left
        self.state = VisitState(stage="opening the page")

    # -- the caller's side: every wait has a limit --------------------------------------------

    def visit(self, visit: Visit, timeout: float, step=None) -> tuple[bool, VisitState, str | None]:
        """Run one visit: (finished, what it got to, how it ended when it did not finish:
        "its page was closed" or "its browser was killed"). `Interrupted` when another page
        killed the browser under it."""
        engine = self._engine
        engine.ready()
        if self._generation != engine.generation:
            current = engine.generation
            try:
                opened = engine.call(self._open(), LAUNCH_SECONDS)
            except Exception:
                if engine.generation != current:  # another page killed the browser meanwhile
                    self._generation = None
                    raise Interrupted from None
                raise
            if opened is NOTHING:
                engine.kill_browser(current)
                raise UserError(f"{engine.choice.describe()} did not start within {LAUNCH_SECONDS:g} s")
        generation = self._generation
        state = self.state = VisitState(step=step)
        future = engine.submit(self._visit(visit, state, time.monotonic() + timeout))
        try:
            finished = future.result(timeout + GRACE_SECONDS) is True
        except concurrent.futures.TimeoutError:  # the browser does not answer: it goes
            future.cancel()
            engine.kill_browser(generation)
            self._generation = None
            return False, state, "its browser was killed"
        if engine.generation != generation:
            self._generation = None
            raise Interrupted
        if finished:
            return True, state, None
        # Time is up, but the browser answers: only this page goes (and the browser, if it will not).
        self._generation = None
        try:
            closed = engine.call(self._context.close(), GRACE_SECONDS)
        except Exception:  # noqa: BLE001 - it would not close: the browser goes
            closed = NOTHING
        if closed is NOTHING:
            engine.kill_browser(generation)
            return False, state, "its browser was killed"
        return False, state, "its page was closed"

    def close(self) -> None:
        """Close the lane's context, if its browser is still the current one (a run of several
        conditions keeps the browser: contexts left open slow each next run down)."""
        if self._generation is not None and self._generation == self._engine.generation:
            self._generation = None
            with contextlib.suppress(Exception):
                self._engine.call(self._context.close(), GRACE_SECONDS)

    # -- on the driver's loop -------------------------------------------------------------------

    async def _open(self) -> None:
        setup = self._setup
        self._generation = None
        browser, generation = await self._engine.browser()
        context = self._context = await browser.new_context(**context_options())
        self._routing = await route_to_stub_async(
            context, setup.stub_url, direct=self._engine.choice.name == "firefox", site=setup.site,
            allow_hosts=setup.allow_hosts, serve=dict(setup.serve))
        await context.route(re.compile(r"^https?://[^/?#]+" + re.escape(FRESH_PATH) + "$"), _fresh)
        await context.add_init_script(_REPORTER_JS % (json.dumps(self._reports.url), PENDING_JS, REPORT_EVERY_MS))
        if setup.triggers:
            await context.expose_binding(ISLANDS_BINDING, self._islands)
            await context.add_init_script(_ISLANDS_JS % (json.dumps(list(setup.triggers)), ISLANDS_PRESENT_JS,
                                                         ISLANDS_BINDING))
        if setup.identify and setup.condition != "email-visit":  # that condition's link identifies instead
            await context.add_init_script(identify_script(setup.identify))
        if setup.condition == "csp-strict":
            await context.expose_binding(conditions.CSP_BINDING, self._violation)
            await context.add_init_script(conditions.CSP_WATCH_JS)
        if setup.condition in ("csp-strict", "delayed-scripts"):
            self._routing.page_filter = self._page_filter
            for page_origin in setup.page_origins:
                await context.route(re.compile("^" + re.escape(page_origin) + r"(?:[/?#]|$)"), self._filtered_page)
        if setup.condition == "consent-denied":
            await context.add_init_script(conditions.CONSENT_DENY_JS)
        page = self._page = await _new_page(context)
        page.on("pageerror", lambda err: self._page_error(str(err)))
        self._navigations = _Navigations(page)
        self._dirty = set()
        self._generation = generation

    def _current(self, page=None) -> bool:
        """Whether the lane's page (and `page`, if given, is it) is in the current browser."""
        return self._generation is not None and self._engine.generation == self._generation \
            and (page is None or page is self._page)

    def _page_error(self, text: str) -> None:
        if self._current():
            self.state.page_errors.append(text)

    def _violation(self, source: dict, violation) -> None:
        """The binding `CSP_WATCH_JS` calls: a securitypolicyviolation on a page of the visit."""
        if self._current(source.get("page")) and isinstance(violation, dict):
            self.state.violations.append({k: str(violation.get(k) or "") for k in
                                          ("directive", "blocked", "disposition", "page", "sample")})

    def _page_filter(self, url: str, body: bytes) -> tuple[bytes, dict]:
        """The storefront's HTML as the condition serves it (`RoutingLog.page_filter`)."""
        if self._setup.condition == "delayed-scripts":
            return conditions.delay_scripts(body), {}
        # The harness's own posts (a page's report to verify; the Firefox lane's onsite script
        # and warnings, straight to the stand-in) must pass: their origins join connect-src.
        connect = [origin(self._reports.url)]
        if self._engine.choice.name == "firefox":
            connect.append(origin(self._setup.stub_url))
        policy, how = conditions.csp_for(body, connect=connect)
        note = f"{url}: script-src from {how}"
        if note not in self.state.notes:
            self.state.notes.append(note)
        reported = f"{policy}; report-uri {self._reports.url.rstrip('/')}{conditions.CSP_REPORTS_PATH}"
        return body, {"Content-Security-Policy": reported, "Content-Security-Policy-Report-Only": reported}

    async def _filtered_page(self, route) -> None:
        """A URL page (a theme's dev server) under csp-strict or delayed-scripts: its HTML
        fetched as it is and answered as the condition serves it."""
        from playwright.async_api import Error as PlaywrightError

        if route.request.resource_type != "document":
            await route.fallback()
            return
        try:
            response = await route.fetch()
            body, headers = await response.body(), dict(response.headers)
            if "text/html" in headers.get("content-type", ""):
                body, extra = self._page_filter(route.request.url, body)
                headers = {k: v for k, v in headers.items() if k.lower() != "content-length"} | extra
            await route.fulfill(status=response.status, headers=headers, body=body)
        except PlaywrightError:
            with contextlib.suppress(PlaywrightError):
                await route.abort()

    def _islands(self, source: dict, found, url) -> None:
        """The binding `_ISLANDS_JS` calls: the plan's load triggers a page of the visit matches."""
        if self._current(source.get("page")):
            state = self.state
            state.expected += load_expectations(self._setup.triggers, found,
                                                "the page" if _same_page(url, state.url) else str(url))

    async def _visit(self, visit: Visit, state: VisitState, deadline: float) -> bool:
        from playwright.async_api import Error as PlaywrightError
        from playwright.async_api import TimeoutError as PlaywrightTimeout

        def left() -> float:
            return max(round((deadline - time.monotonic()) * 1000), 1)

        page, setup, navigations = self._page, self._setup, self._navigations
        state.routing = self._routing
        state.blocked_from, state.not_found_from = len(self._routing.blocked), len(self._routing.not_found)
        state.forwarded_from = len(self._routing.forwarded)
        condition = setup.condition
        state.stage = "loading"
        try:
            await self._context.clear_cookies()
            here = origin(visit.url)
            if here in self._dirty or condition == "email-visit":
                await page.goto(here + FRESH_PATH, wait_until="load", timeout=left())
            self._dirty.add(here)
            state.url = url = visit.url
            if condition == "email-visit":
                url = await self._email_link(page, visit.url, state)
            await page.goto(url, wait_until="load", timeout=left())
            navigations.mark()
            state.stage = "waiting for its requests"
            if condition == "delayed-scripts":  # the one interaction that runs the delayed scripts
                state.stage = "interacting (a mouse move) to run the delayed scripts"
                await page.mouse.move(3, 3)
                await page.mouse.move(40, 40)
                state.stage = "waiting for its requests"
            if not await _settle(page, navigations, deadline):
                return False
            if condition == "consent-granted-late":
                if not await self._grant(page, state, navigations, deadline):
                    return False
            if condition == "consent-denied":
                if not await page.evaluate(conditions.HAS_CONSENT_JS):
                    state.failures.append({"page": visit.url, "reason": "the page has no klaviyoSnippets.consent() "
                                           "(the plan sets no consent:), so nothing waits for the visitor's decision"})
                elif (said := await page.evaluate(conditions.CONSENT_STATE_JS)) is not False:
                    # An undecided page sends nothing either: without the refusal, nothing was shown.
                    state.failures.append({"page": visit.url, "reason": "the refusal did not take: "
                                           f"klaviyoSnippets.consent() says tracking is {json.dumps(said)}"})
            if not await self._act(page, visit, state, navigations, deadline):
                return False
            for step in visit.then:  # spa: each next page by a client-side navigation
                if not await self._soft_navigation(page, step, state, navigations, deadline):
                    return False
            if condition == "csp-strict":
                await self._count_violations(page, state, deadline)
            await self._forget(page, left())
            return True
        except PlaywrightTimeout as exc:  # every Playwright wait here ends at the deadline
            if state.stage.startswith(("clicking", "submitting")):  # what the click waited for
                steps = [line.strip(" -") for line in exc.message.splitlines() if line.startswith("  - ")]
                state.detail = steps[-1] if steps else None
            return False
        except PlaywrightError as exc:
            self._page_error(f"{visit.url}: {exc.message.splitlines()[0]}")
            return True

    async def _act(self, page, visit: Visit, state: VisitState, navigations, deadline: float) -> bool:
        """The visit's clicks and submits on the page; False when the deadline comes first."""
        left = lambda: max(round((deadline - time.monotonic()) * 1000), 1)  # noqa: E731
        for kind, selector in visit.actions:
            state.stage = f"{'clicking' if kind == 'click' else 'submitting'} {selector!r}"
            if await page.locator(selector).count() == 0:
                self._page_error(f"{kind} {selector!r}: no such element on {visit.url}")
                continue
            state.expected += await _expected_on_action(page, self._setup.triggers, selector, kind)
            navigations.mark()
            # Our own wait follows (`_settle`): Playwright's would wait for a navigation that
            # a 204 or a download never completes.
            await page.locator(selector).first.click(timeout=left(), no_wait_after=True)
            state.stage = f"waiting for the requests of the {kind} on {selector!r}"
            if not await _settle(page, navigations, deadline):
                return False
        return True

    async def _soft_navigation(self, page, step: Visit, state: VisitState, navigations, deadline: float) -> bool:
        """spa: reach `step` by a client-side navigation (`SPA_NAVIGATE_JS`), then what it expects
        (its data islands, its route triggers) and its clicks."""
        if state.step is not None:
            state.step("page", step.url, len(state.expected))
        state.stage = f"navigating to {step.url} on the client (pushState)"
        if origin(page.url) != origin(step.url):  # a click of the page before left the app
            state.notes.append(f"{step.url}: loaded, not reached by client-side navigation: the visit had left "
                               f"the app for {page.url}")
            await page.goto(step.url, wait_until="load", timeout=max(round((deadline - time.monotonic()) * 1000), 1))
            status = 200
        else:
            status = await page.evaluate(conditions.SPA_NAVIGATE_JS, step.url)
        if status != 200:
            self._page_error(f"{step.url}: answered {status} when fetched for a client-side navigation")
        where = f"{step.url} (reached by pushState)"
        state.expected += [(name, why) for name, why in step.expect]
        if self._setup.triggers:
            found = await page.evaluate(f"({ISLANDS_PRESENT_JS})", list(self._setup.triggers))
            state.expected += load_expectations(self._setup.triggers, found, where)
            state.expected += route_expectations(self._setup.triggers, found, step.url, where)
        state.stage = "waiting for its requests"
        if not await _settle(page, navigations, deadline):
            return False
        return await self._act(page, step, state, navigations, deadline)

    async def _email_link(self, page, url: str, state: VisitState) -> str:
        """email-visit: `url` with the `_kx` of a profile of the account the page's klaviyo.js
        names (read from its HTML, fetched from a blank page of its origin, which runs nothing)."""
        html = await page.evaluate("async (u) => (await fetch(u, {credentials: 'omit'})).text()", url)
        key = conditions.account_key(html)
        if key is None:
            state.failures.append({"page": url, "reason": "its HTML loads no Klaviyo onsite script "
                                   "(…/onsite/js/<KEY>/klaviyo.js): there is no account to make the link's exchange id "
                                   "for, so the visit was opened without one"})
            return url
        kx = self._setup.mint(key)
        state.notes.append(f"{url}: opened with ?_kx={kx} (account {key}, profile {conditions.EMAIL})")
        return conditions.with_exchange_id(url, kx)

    async def _grant(self, page, state: VisitState, navigations, deadline: float) -> bool:
        """consent-granted-late: the page has run undecided; now the visitor grants."""
        if state.step is not None:
            state.step("grant", state.url, len(state.expected))
        called = await page.evaluate(conditions.CONSENT_CALL_JS, True)
        if called != "called":
            state.failures.append({"page": state.url, "reason": "the page has no klaviyoSnippets.consent() "
                                   "(the plan sets no consent:), so there was no consent to grant"})
        state.stage = "waiting for its requests after the grant"
        return await _settle(page, navigations, deadline)

    async def _count_violations(self, page, state: VisitState, deadline: float) -> None:
        """csp-strict: one deliberate violation (an image no policy allows), waited for on both
        channels (the page's event, the browser's report), so a count of zero means zero; then
        the visit's violations without it."""
        from playwright.async_api import Error as PlaywrightError

        state.stage = "counting CSP violations"
        if origin(page.url) != origin(state.url or ""):  # the visit left the pages the policy was served with
            state.notes.append(f"{state.url}: the visit ended on {page.url}, under no policy of ours: violations "
                               "counted as they were told, without the deliberate one")
            return
        sentinel = conditions.CSP_SENTINEL
        mine = lambda url: "csp-sentinel.invalid" in (url or "")  # noqa: E731
        try:
            await page.evaluate("(u) => { new Image().src = u; }", sentinel)
        except PlaywrightError:
            return  # the page went: its violations so far still count
        until = min(deadline, time.monotonic() + 3.0)
        while True:
            told = any(mine(v["blocked"]) for v in state.violations)
            reported = any(mine(str(r.get("blocked-uri"))) for r in self._reports.csp_reports())
            if told and reported:
                break
            if time.monotonic() >= until:
                missing = " and ".join(x for x, seen in (("the page's securitypolicyviolation event", told),
                                                         ("the browser's report", reported)) if not seen)
                state.failures.append({"page": state.url, "reason": f"violations could not be counted: a deliberate "
                                       f"violation was not seen by {missing} within 3 s"})
                break
            await asyncio.sleep(POLL_SECONDS * 2)
        state.violations = [v for v in state.violations if not mine(v["blocked"])]
        for report in self._reports.csp_reports():
            if not mine(str(report.get("blocked-uri"))):
                state.violations.append({"directive": str(report.get("effective-directive") or report.get(
                    "violated-directive") or ""), "blocked": str(report.get("blocked-uri") or ""),
                    "disposition": "report", "page": str(report.get("document-uri") or ""), "sample": ""})

    async def _forget(self, page, left: int) -> None:
        """Clear the storage of the page the visit ended on (what other origins its pages used
        stays to be cleared before a visit there), stop it posting warnings, and leave it for a
        blank page before the stand-in is read: its own timers end there, so what it would send
        later (not waited for) does not reach the stand-in during the lane's next visit, to be
        counted as that page's."""
        from playwright.async_api import Error as PlaywrightError

        self._dirty |= self._reports.origins()
        try:
            self._dirty.discard(await page.evaluate(_FORGET_HERE_JS, min(left, LEAVE_MS)))
        except PlaywrightError:
            pass
        try:
            await page.goto("about:blank", wait_until="commit", timeout=min(left, LEAVE_MS))
        except PlaywrightError:  # a timeout too: the visit itself is over, but a navigation still
            # under way would cut the next visit's short, so the next visit opens a new page
            self._generation = None
            with contextlib.suppress(PlaywrightError, asyncio.TimeoutError):
                await asyncio.wait_for(self._context.close(), LEAVE_MS / 1000)


async def _new_page(context):
    """`context.new_page()`, tried once more after a moment: Firefox over BiDi sometimes refuses
    a tab in a browser that has just started while another context opens one ("can't access
    property selectedTab"), and the next try works."""
    from playwright.async_api import Error as PlaywrightError

    try:
        return await context.new_page()
    except PlaywrightError as exc:
        if "selectedTab" not in str(exc):
            raise
    await asyncio.sleep(0.25)
    return await context.new_page()


async def _fresh(route) -> None:
    from playwright.async_api import Error as PlaywrightError

    with contextlib.suppress(PlaywrightError):  # the page went meanwhile
        await route.fulfill(status=200, content_type="text/html; charset=utf-8", body=_FRESH_HTML)


def _same_page(url, visited: str | None) -> bool:
    return isinstance(url, str) and visited is not None and url.rstrip("/") == visited.rstrip("/")


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def _expected_on_action(page, triggers: tuple, selector: str, kind: str) -> list[tuple[str, str]]:
    """The plan's events a click or submit on `selector` must send; none without a plan."""
    from playwright.async_api import Error as PlaywrightError

    if not triggers:
        return []
    try:
        found = await page.evaluate(EXPECTED_ON_ACTION_JS, [list(triggers), selector, kind])
    except PlaywrightError:  # the page navigated meanwhile: its next page is judged on what it sends
        return []
    return [tuple(pair) for pair in found]


class _Navigations:
    """How the page's navigations ended, counted as Playwright reports them: a page loaded, or a
    navigation that replaced nothing (failed or blocked, a 204 or 205, a download)."""

    def __init__(self, page) -> None:
        self.ended = 0
        self._seen = 0
        page.on("load", lambda _: self._count())
        page.on("download", lambda _: self._count())

        def main(request) -> bool:
            try:
                return request.is_navigation_request() and request.frame == page.main_frame
            except Exception:  # noqa: BLE001 - a service worker's request has no frame
                return False

        page.on("requestfailed", lambda request: main(request) and self._count())
        page.on("response", lambda response: response.status in (204, 205) and main(response.request)
                and self._count())

    def _count(self) -> None:
        self.ended += 1

    def mark(self) -> None:
        """What ended so far is not news."""
        self._seen = self.ended

    def news(self) -> bool:
        if self.ended > self._seen:
            self._seen = self.ended
            return True
        return False


async def _settle(page, navigations: _Navigations, deadline: float) -> bool:
    """Wait until the page has loaded and has nothing left to send, and any navigation it started
    has ended (then the same on the next page); False when the deadline comes first."""
    from playwright.async_api import Error as PlaywrightError

    while time.monotonic() < deadline:
        left = max(round((deadline - time.monotonic()) * 1000), 1)
        try:
            state = await page.evaluate(f"({IDLE_JS})", left)
        except PlaywrightError:
            if page.is_closed():
                raise
            await page.wait_for_load_state("load", timeout=left)  # replaced by the next page: settle that one
            navigations.mark()
            continue
        if not state["loaded"]:
            await page.wait_for_load_state("load", timeout=left)
        elif state["pending"]:  # only calls queued for an onsite script that never ran: time may still
            await asyncio.sleep(POLL_SECONDS * 5)  # bring it; else the deadline reports them
        elif not state["leaving"]:
            return True
        else:
            while not navigations.news():
                if time.monotonic() >= deadline:
                    return False
                await asyncio.sleep(POLL_SECONDS)
            with contextlib.suppress(PlaywrightError):  # the same page still: that navigation went nowhere
                await page.evaluate(f"() => {{ const h = window.{HARNESS_GLOBAL}; if (h) h.leaving = false; }}")
    return False
