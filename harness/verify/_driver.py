"""The browser verify drives: one Playwright driver on a thread of its own (an asyncio loop), one
browser on it, and in that a routed page per lane, the same for the lane's visits. Lanes share the
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
import gc
import json
import logging
import os
import re
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.browser import (
    HARNESS_GLOBAL, IDLE_JS, PENDING_JS, context_options, identify_script, route_to_stub_async,
)
from klaviyo_snippets.harness.verify._visits import (
    EXPECTED_ON_ACTION_JS, ISLANDS_PRESENT_JS, Visit, load_expectations,
)

GRACE_SECONDS = 1.0  # past a page's time: for its visit to hand back before the kill
CLOSE_SECONDS = 5.0  # closing a browser, or the driver, after the last page; killed past this
LAUNCH_SECONDS = 60.0  # starting the driver, or a browser (Playwright's own launch timeout is 30 s)
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
        reports = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    if not 0 < length <= 65536:
                        raise ValueError(length)
                    body = json.loads(self.rfile.read(length))
                    if not str(body["page"]).startswith("about:"):  # a new tab's blank page, not the visit's
                        reports._add(str(body["doc"]), {str(k): int(v) for k, v in (body["pending"] or {}).items()},
                                     origin(str(body["page"])))
                    self.send_response(204)
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

    def new_visit(self) -> None:
        with self._lock:
            self._old |= self._seen
            self._latest = None
            self._origins = set()

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

    def blocked(self) -> list:
        return [] if self.routing is None else self.routing.blocked[self.blocked_from:]

    def not_found(self) -> list:
        return [] if self.routing is None else self.routing.not_found[self.not_found_from:]


@dataclass(frozen=True)
class PageSetup:
    """How every visit's page is set up."""

    stub_url: str
    site: object = None  # a folder, or {"/path": html}, served on the storefront origin
    identify: str | None = None
    allow_hosts: tuple[str, ...] = ()
    serve: tuple[tuple[str, str], ...] = ()
    triggers: tuple = ()  # the plan's, as `plan_triggers` gives them: for expectations


_THREAD = "klaviyo-snippets verify driver"
_NOTHING = object()


class Engine:
    """The Playwright driver, on a thread of its own running an asyncio loop, and the one browser
    every lane opens its page in. The caller hands it coroutines and waits for them with a limit
    (`call`), or not at all (`submit`). A browser that must go is killed (`kill_browser`), never
    asked; the next page to open launches the next one (`generation` counts them)."""

    def __init__(self, choice, *, headed: bool) -> None:
        self.choice, self.headed = choice, headed
        self.playwright = None
        self.driver: int | None = None  # the driver's pid; every browser runs below it
        self.dead = False
        self.generation = 0  # of the browser: a kill makes way for the next one
        self._browser = None
        self._browser_generation = -1
        self._mark: str | None = None  # in the environment of each of the browser's processes
        self._kill_lock = threading.Lock()
        self._launching: asyncio.Lock | None = None
        self._manager = None
        self._booted: concurrent.futures.Future | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=_THREAD, daemon=True)

    def start(self) -> Engine:
        """Start the driver; it boots while the caller goes on (`ready` waits for it)."""
        _quiet_playwright_shutdown()
        self._thread.start()
        self._booted = self.submit(self._boot())
        return self

    def ready(self) -> None:
        """Wait for the driver to have started (raising why it did not)."""
        try:
            self._booted.result(LAUNCH_SECONDS)
        except concurrent.futures.TimeoutError:
            self.kill()
            raise UserError(f"Playwright's driver did not start within {LAUNCH_SECONDS:g} s") from None
        if self.dead:
            raise UserError("the browser driver was killed: nothing left to run the pages in")

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro, seconds: float):
        """Run `coro` on the driver's loop; its result, its exception raised, or _NOTHING when it
        took longer than `seconds` (then it is cancelled)."""
        future = self.submit(coro)
        try:
            return future.result(seconds)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return _NOTHING

    def kill_browser(self, generation: int) -> None:
        """Kill the browser of `generation` (if it is still the current one), never asking it:
        every page open in it fails at its next call, and the next page opened gets a new one."""
        with self._kill_lock:
            if generation != self.generation:
                return
            self.generation += 1
            mark = self._mark if self._browser_generation == generation else None
        if mark is not None and not _kill_marked(mark):  # no /proc to find its processes in
            self.kill()

    def close(self) -> None:
        """Stop the driver, which closes the browser it launched (its profile removed)."""
        if self.dead:
            return
        if self._booted is not None:  # an error may come while it boots: let it finish first
            with contextlib.suppress(Exception):
                self._booted.result(LAUNCH_SECONDS)
        if self._manager is not None:
            self.call(self._manager.__aexit__(), CLOSE_SECONDS)
        self._stop()
        self.kill()  # whatever did not go

    def kill(self) -> None:
        """Kill the browser and the driver, never asking them."""
        if self.dead:
            return
        self.dead = True
        if self.driver is not None:
            _kill_below(self.driver)
            with contextlib.suppress(OSError):
                os.kill(self.driver, signal.SIGKILL)
        self._stop()

    def _stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(GRACE_SECONDS * 2)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            # What Playwright leaves behind when a browser or the driver was killed (tasks still
            # pending, an error nobody read) is collected here, while asyncio's complaints are muted.
            _QUIET.active = True
            left = asyncio.all_tasks(self._loop)
            for task in left:
                task.cancel()
            if left:
                with contextlib.suppress(BaseException):
                    self._loop.run_until_complete(asyncio.wait(left, timeout=GRACE_SECONDS))
            gc.collect()

    async def _boot(self) -> None:
        from playwright.async_api import async_playwright

        self._launching = asyncio.Lock()
        self._manager = async_playwright()
        self.playwright = await self._manager.start()
        self.driver = _driver_pid(self._manager)
        # Launched now, while the caller reads its pages and the plan; the lanes take it from here.
        asyncio.ensure_future(self._prelaunch())

    async def _prelaunch(self) -> None:
        with contextlib.suppress(Exception):  # a lane launching it again says what is wrong
            await self.browser()

    async def browser(self):
        """(the current browser, its generation), launched if there is none."""
        async with self._launching:
            generation = self.generation
            if self._browser_generation != generation:
                self._browser, self._browser_generation = None, -1
                # A mark in its environment, which every process of it inherits, to find them by.
                mark = f"{os.getpid()}.{id(self)}.{generation}"
                options = self.choice.launch_options(headless=not self.headed)
                options["env"] = {**os.environ, **(options.get("env") or {}), _LANE_MARK: mark}
                with self._kill_lock:
                    self._mark = mark
                browser = await getattr(self.playwright, self.choice.name).launch(**options)
                with self._kill_lock:
                    self._browser, self._browser_generation = browser, generation
            return self._browser, generation


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

    def visit(self, visit: Visit, timeout: float) -> tuple[bool, VisitState, str | None]:
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
            if opened is _NOTHING:
                engine.kill_browser(current)
                raise UserError(f"{engine.choice.describe()} did not start within {LAUNCH_SECONDS:g} s")
        generation = self._generation
        state = self.state = VisitState()
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
            closed = _NOTHING
        if closed is _NOTHING:
            engine.kill_browser(generation)
            return False, state, "its browser was killed"
        return False, state, "its page was closed"

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
        if setup.identify:
            await context.add_init_script(identify_script(setup.identify))
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
        state.stage = "loading"
        try:
            await self._context.clear_cookies()
            here = origin(visit.url)
            if here in self._dirty:
                await page.goto(here + FRESH_PATH, wait_until="load", timeout=left())
            self._dirty.add(here)
            state.url = visit.url
            await page.goto(visit.url, wait_until="load", timeout=left())
            navigations.mark()
            state.stage = "waiting for its requests"
            if not await _settle(page, navigations, deadline):
                return False
            for kind, selector in visit.actions:
                state.stage = f"{'clicking' if kind == 'click' else 'submitting'} {selector!r}"
                if await page.locator(selector).count() == 0:
                    self._page_error(f"{kind} {selector!r}: no such element on {visit.url}")
                    continue
                state.expected += await _expected_on_action(page, setup.triggers, selector, kind)
                navigations.mark()
                # Our own wait follows (`_settle`): Playwright's would wait for a navigation that
                # a 204 or a download never completes.
                await page.locator(selector).first.click(timeout=left(), no_wait_after=True)
                state.stage = f"waiting for the requests of the {kind} on {selector!r}"
                if not await _settle(page, navigations, deadline):
                    return False
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


def _driver_pid(manager) -> int | None:
    """The Playwright driver process of a started `sync_playwright()`: the browser runs below it.
    (Playwright has no public way to say; None if a release moves it, and then a timed-out
    browser is left to the driver, which closes it when this process exits.)"""
    try:
        return manager._connection._transport._proc.pid
    except AttributeError:
        return None


_LANE_MARK = "KLAVIYO_SNIPPETS_VERIFY_BROWSER"


def _kill_marked(mark: str) -> bool:
    """SIGKILL every process whose environment has `mark` (a browser and its helpers),
    twice over, for what forked in between; False where there is no /proc to look in."""
    if not os.path.isdir("/proc/self"):
        return False
    needle = f"\0{_LANE_MARK}={mark}\0".encode()
    for _ in range(2):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as environ:
                    found = needle in b"\0" + environ.read() + b"\0"
            except OSError:
                continue
            if found:
                with contextlib.suppress(OSError):
                    os.kill(int(name), signal.SIGKILL)
    return True


def _kill_below(root: int) -> None:
    """SIGKILL every process below `root` (the browser and its helpers), leaving `root` itself.
    Twice over, for what forked in between."""
    for _ in range(2):
        for pid in _descendants(root):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _parents() -> dict[int, int]:
    """{pid: parent pid} for every process: Linux's /proc, else `ps`."""
    if not os.path.isdir("/proc/self"):
        try:
            out = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True, text=True,
                                 timeout=5, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return {}
        return {int(a): int(b) for a, b in (line.split() for line in out.splitlines() if line.strip())}
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as stat:
                    table[int(name)] = int(stat.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return table


_QUIET = threading.local()  # .active: the driver's thread is shutting Playwright down


class _PlaywrightShutdownNoise(logging.Filter):
    """Mutes asyncio's log about browsers verify closed or killed on purpose: Playwright's own
    tasks for route calls that failed as the page or browser went (a page navigating as it was
    killed), whose error Playwright never reads; and, while verify's driver thread shuts
    Playwright down, tasks left pending and errors left unread. Tracebacks on the terminal that
    say nothing about the page."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_QUIET, "active", False):
            return False
        error = record.exc_info[1] if record.exc_info else None
        return not (type(error).__name__ == "TargetClosedError" and record.getMessage().startswith(
            "Task exception was never retrieved"))


_SHUTDOWN_NOISE = _PlaywrightShutdownNoise()


def _quiet_playwright_shutdown() -> None:
    logger = logging.getLogger("asyncio")
    if _SHUTDOWN_NOISE not in logger.filters:
        logger.addFilter(_SHUTDOWN_NOISE)
