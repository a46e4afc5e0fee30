"""`klaviyo-snippets verify`: load pages in a headless browser routed to the stand-in, and report.

Pages are local HTML files (served on https://shop.test from their folder, so cookies and
storage behave as in production), URLs (a theme's dev server), or, with `--generated DIR`, a
storefront made of the generated snippets with every trigger fired. The report lists every event
Klaviyo received with its status and reasons, the identify calls, what the onsite script said it
dropped, the requests that were blocked, and the pages that ran out of time with what they still
had to send.

`timeout` is a hard bound per page, whatever the page does: the browser is driven from a thread
of its own, and when a page's time is up the caller stops waiting, reads what the page last said
it still had to send (it reports that over loopback, so no question to the browser is needed),
and kills the browser's processes; later pages get a new browser.
"""

from __future__ import annotations

import contextlib
import gc
import html
import json
import logging
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlparse

from klaviyo_snippets.generator.codegen import read_manifest
from klaviyo_snippets.generator.errors import UserError, printable
from klaviyo_snippets.harness.browser import choose_browser, context_options
from klaviyo_snippets.harness.browser import SITE_ORIGIN, pumping_sleep, route_to_stub
from klaviyo_snippets.harness.standin import StubKlaviyo, StubSettings

QUIET_SECONDS = 0.8  # the onsite script debounces identify by 300 ms; leave room for it
GRACE_SECONDS = 1.0  # past a page's time: for the browser thread to hand back before the kill
CLOSE_SECONDS = 5.0  # closing the browser after the last page; killed past this
LAUNCH_SECONDS = 60.0  # starting it (Playwright's own launch timeout is 30 s)
REPORT_EVERY_MS = 250  # how often each page tells verify what it still has to send
SILENT_SECONDS = 1.0  # a page not heard from for longer than this has stopped answering


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

    @property
    def problems(self) -> list[dict]:
        return [e for e in self.events if e["status"] in ("bad", "dropped")] + [
            i for i in self.identifies if i["status"] != "good"
        ]

    @property
    def unsent(self) -> int:
        """Requests and calls the timed-out pages still had queued or in flight when time ran out
        (of the pages still answering then; what a silent page had is not known)."""
        return sum(sum(t["unsent"].values()) for t in self.timed_out if t["answering"])

    @property
    def ok(self) -> bool:
        return not self.problems and not self.page_errors and not self.timed_out

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "browser": self.browser,
            "pages": self.pages,
            "events": self.events,
            "identifies": self.identifies,
            "diagnostics": self.diagnostics,
            "blocked": self.blocked,
            "page_errors": self.page_errors,
            "timed_out": self.timed_out,
        }

    def format(self) -> str:
        rows = [("#", "metric", "status", "detail")]
        for i in self.identifies:
            rows.append((str(i["request_id"]), "(identify)", i["status"], i["detail"]))
        for e in self.events:
            detail = "; ".join(r["detail"] for r in e.get("reasons") or []) or _summary(e)
            rows.append((str(e["id"]), e.get("display_name") or e.get("metric") or "?", e["status"], detail))
        rows.sort(key=lambda r: int(r[0]) if r[0].isdigit() else -1)
        widths = [min(max(len(r[c]) for r in rows), 40) for c in range(3)]
        lines = [f"Klaviyo received, from {len(self.pages)} page(s) in {self.browser}:"]
        for r in rows:
            lines.append("  " + "  ".join(r[c].ljust(widths[c]) for c in range(3)) + "  " + _clip(r[3], 100))
        if len(rows) == 1:
            lines.append("  (nothing)")
        other = [d for d in self.diagnostics if d.get("type") != "dropped"]
        if other:
            lines.append("The onsite script reported:")
            lines.extend(f"  {d.get('type')}: {d.get('reason')}" for d in other)
        if self.blocked:
            lines.append(f"Blocked {len(self.blocked)} request(s) to other hosts (not Klaviyo, not local):")
            lines.extend(f"  {b['method']} {_clip(b['url'], 100)}" for b in self.blocked[:10])
        for err in self.page_errors:
            lines.append(f"Page error: {err}")
        for t in self.timed_out:
            lines.extend(_timed_out_lines(t))
        per_metric: dict[str, dict[str, int]] = {}
        for e in self.events:
            name = e.get("display_name") or e.get("metric") or "?"
            per_metric.setdefault(name, {}).setdefault(e["status"], 0)
            per_metric[name][e["status"]] += 1
        if per_metric:
            lines.append("Per event:")
            for name, statuses in per_metric.items():
                lines.append(f"  {name:<{widths[1]}}  " + ", ".join(f"{n} {s}" for s, n in statuses.items()))
        failed = [f"{len(self.problems)} event(s) bad or dropped"]
        if self.page_errors:
            failed.append(f"{len(self.page_errors)} page error(s)")
        if self.timed_out:
            failed.append(f"{len(self.timed_out)} page(s) timed out"
                          + (f" with {self.unsent:,} request(s) or call(s) unsent" if self.unsent else ""))
        lines.append("OK: every event arrived good." if self.ok else f"FAILED: {', '.join(failed)}.")
        # Metric names, URLs and page errors come from the page: a terminal must not act on them.
        return printable("\n".join(lines))


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
    lines.append(f"  {t['arrived']:,} request(s) from it reached the stand-in; its browser was killed")
    return lines


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _summary(event: dict) -> str:
    props = {k: v for k, v in (event.get("properties") or {}).items() if not k.startswith("$")}
    text = json.dumps(props, ensure_ascii=False)
    if event.get("value") is not None:
        text = f"value={event['value']} " + text
    return text


def _identify_rows(stub: StubKlaviyo) -> list[dict]:
    rows = []
    for r in stub.requests():
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


@dataclass(frozen=True)
class Visit:
    """A page to load and what the shopper does there: ("click" | "submit", CSS selector)."""

    url: str
    actions: tuple[tuple[str, str], ...] = ()


def _visits(pages: list[str], clicks: tuple[str, ...]) -> tuple[list[Visit], Path | None]:
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
    in its body; the visit fires the event's click and submit triggers as a shopper would.
    """
    from klaviyo_snippets.generator import load_plan

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
        visits.append(Visit(SITE_ORIGIN + path, actions))
    return visits, pages


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


def verify(pages: list[str], *, clicks: tuple[str, ...] = (), **options) -> VerifyReport:
    """Load `pages` (files or URLs) in a browser routed to a fresh stand-in; see `run_visits`."""
    visits, root = _visits(pages, clicks)
    return run_visits(visits, site=root, labels=list(pages), **options)


def verify_generated(out_dir: Path, plan_path: Path | None = None, **options) -> VerifyReport:
    """Every event of a generated `out_dir`, each on its own storefront page; see `run_visits`."""
    visits, pages = generated_storefront(Path(out_dir), plan_path)
    return run_visits(visits, site=pages, labels=[v.url for v in visits], **options)


def run_visits(visits: list[Visit], *, site=None, labels: list[str], identify: str | None = None,
               browser: str = "chromium", headed: bool = False, executable: str | None = None,
               timeout: float = 10.0, settings: StubSettings | None = None) -> VerifyReport:
    """Load each visit in a browser routed to a fresh stand-in, each within `timeout` seconds
    (load, actions and the requests they cause); a page past its time is reported as timed out
    and its browser killed. Safe to call where an event loop runs: the browser has its own thread."""
    choice = choose_browser(browser, headed=headed, explicit=executable)
    report = VerifyReport(browser=choice.describe(), pages=labels)
    with StubKlaviyo(settings=settings) as stub, _PageReports() as reports:
        todo = list(visits)
        while todo:
            session = _Browser(choice, stub, reports, site=site, identify=identify, headed=headed)
            try:
                session.start()
                while todo:
                    visit = todo.pop(0)
                    reports.new_visit()
                    before, began = stub.store.counts()["requests"], time.monotonic()
                    if not session.visit(visit, timeout):
                        heard = reports.latest()
                        session.kill()
                        report.timed_out.append({
                            "page": visit.url, "seconds": timeout, "while": session.stage, "detail": session.detail,
                            # when the page last said what it still had to send (seconds into its visit),
                            # and what that was: the truth at the end only if it was still answering
                            "last_heard": None if heard is None else round(heard[0] - began, 2),
                            "answering": heard is not None and began + timeout - heard[0] <= SILENT_SECONDS,
                            "unsent": None if heard is None else heard[1],
                            "arrived": stub.store.counts()["requests"] - before,
                        })
                        break
                else:
                    session.close()
            finally:
                session.kill()  # a no-op after a clean close; Ctrl-C and errors land here too
                report.page_errors.extend(session.page_errors)
                report.blocked.extend(session.blocked())
        report.events = stub.events()
        report.identifies = _identify_rows(stub)
        report.diagnostics = stub.diagnostics()
        stub.check()
    return report


# What a page still has to send to Klaviyo, counted by kind: the stand-in onsite script's open
# work (`window.__klaviyoStub.pending()`: requests not yet answered, 429 retries, an identify
# debounce) and calls still queued for an onsite script that has not run (`_klOnsite`, `_learnq`).
_PENDING_JS = """function () {
  var out = {}, stub = window.__klaviyoStub, open = stub && typeof stub.pending === 'function' ? stub.pending() : [];
  function add(what, n) { if (n > 0) { out[what] = (out[what] || 0) + n; } }
  for (var i = 0; i < open.length; i++) { add(String(open[i]), 1); }
  add('call(s) queued for an onsite script that never ran', (Array.isArray(window._klOnsite) ? window._klOnsite.length : 0)
      + (Array.isArray(window._learnq) ? window._learnq.length : 0));
  return out;
}"""

# Added to every document: the top frame reports `_PENDING_JS` to verify every REPORT_EVERY_MS.
_REPORTER_JS = """(function (url, pending, every) {
  if (window.top !== window || !navigator.sendBeacon) { return; }
  var send = navigator.sendBeacon.bind(navigator), stringify = JSON.stringify;
  var doc = String(Math.random()).slice(2) + '.' + Date.now();
  function report() {
    try { send(url, stringify({doc: doc, page: String(location.href), pending: pending()})); } catch (e) { /* next time */ }
  }
  report();
  window.setInterval(report, every);
})(%s, %s, %d);"""


class _PageReports:
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
        reports = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 (http.server's name)
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                    if not 0 < length <= 65536:
                        raise ValueError(length)
                    body = json.loads(self.rfile.read(length))
                    if not str(body["page"]).startswith("about:"):  # a new tab's blank page, not the visit's
                        reports._add(str(body["doc"]), {str(k): int(v) for k, v in (body["pending"] or {}).items()})
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

    def _add(self, doc: str, pending: dict[str, int]) -> None:
        with self._lock:
            self._seen.add(doc)
            if doc not in self._old:
                self._latest = (time.monotonic(), pending)

    def new_visit(self) -> None:
        with self._lock:
            self._old |= self._seen
            self._latest = None

    def latest(self) -> tuple[float, dict[str, int]] | None:
        """(when the current visit's page last reported, on the monotonic clock; what it still had to send)."""
        with self._lock:
            return None if self._latest is None else (self._latest[0], dict(self._latest[1]))

    def __enter__(self) -> _PageReports:
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


_THREAD = "klaviyo-snippets verify browser"
_NOTHING = object()


class _Browser:
    """One browser with one page, driven from a thread of its own so the caller can give up on it.

    Sync Playwright blocks in every call until the browser answers, and a page can stop it from
    ever answering. So the caller only waits (with a limit) for this thread, and past the limit
    kills the browser's processes: the thread's call then fails and it winds down on its own.
    """

    def __init__(self, choice, stub: StubKlaviyo, reports: _PageReports, *, site, identify: str | None,
                 headed: bool) -> None:
        self._choice, self._stub, self._reports = choice, stub, reports
        self._site, self._identify, self._headed = site, identify, headed
        self._inbox: queue.Queue = queue.Queue()
        self._outbox: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._run, name=_THREAD, daemon=True)
        self._driver: int | None = None  # the Playwright driver's pid; the browser runs below it
        self._given_up = False
        self.stage = "starting the browser"
        self.detail: str | None = None
        self.page_errors: list[str] = []
        self._routing = None  # its log lists the requests it blocked

    # -- the caller's side: every wait has a limit --------------------------------------------

    def start(self) -> None:
        _quiet_playwright_shutdown()
        self._thread.start()
        answer = self._answer(LAUNCH_SECONDS)
        if answer is _NOTHING:
            self.kill()
            raise UserError(f"{self._choice.describe()} did not start within {LAUNCH_SECONDS:g} s")
        if isinstance(answer, BaseException):
            raise answer

    def visit(self, visit: Visit, timeout: float) -> bool:
        """Run one visit; False when it did not finish within `timeout` (then call kill)."""
        self._inbox.put((visit, time.monotonic() + timeout))
        answer = self._answer(timeout + GRACE_SECONDS)
        if isinstance(answer, BaseException):
            raise answer
        return answer is True

    def close(self) -> None:
        self._inbox.put(None)
        self._thread.join(CLOSE_SECONDS)

    def kill(self) -> None:
        """Kill the browser's processes, never asking the browser; the thread is not waited for
        past a grace period (it ends once the driver, killed last, is gone)."""
        if self._given_up or not self._thread.is_alive():
            return
        self._given_up = True
        self._inbox.put(None)
        if self._driver is not None:
            _kill_below(self._driver)
        self._thread.join(GRACE_SECONDS * 2)
        if self._thread.is_alive() and self._driver is not None:
            with contextlib.suppress(OSError):
                os.kill(self._driver, signal.SIGKILL)
            self._thread.join(GRACE_SECONDS)

    def blocked(self) -> list[dict]:
        return [] if self._routing is None else self._routing.to_dict()["blocked"]

    def _answer(self, seconds: float):
        try:
            return self._outbox.get(timeout=seconds)
        except queue.Empty:
            return _NOTHING

    # -- the browser thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            self._drive()
        finally:
            # What Playwright leaves behind when its browser was killed (tasks still pending, an
            # error nobody read) is collected here, while asyncio's complaints are muted.
            _QUIET.active = True
            gc.collect()

    def _drive(self) -> None:
        from playwright.sync_api import sync_playwright

        try:
            manager = sync_playwright()
            playwright = manager.start()
        except BaseException as exc:  # noqa: BLE001 (handed to the caller, which raises it)
            self._outbox.put(exc)
            return
        try:
            self._driver = _driver_pid(manager)
            browser = getattr(playwright, self._choice.name).launch(
                **self._choice.launch_options(headless=not self._headed))
            context = browser.new_context(**context_options())
            self._routing = route_to_stub(context, self._stub.url, direct=self._choice.name == "firefox",
                                          site=self._site)
            context.add_init_script(_REPORTER_JS % (json.dumps(self._reports.url), _PENDING_JS, REPORT_EVERY_MS))
            if self._identify:
                # Queued before the page's own code: the onsite script handles identify first.
                context.add_init_script(
                    "window._learnq = window._learnq || [];"
                    f"window._learnq.push(['identify', {{'$email': {json.dumps(self._identify)}}}]);"
                )
            page = context.new_page()
            page.on("pageerror", lambda err: self._page_error(str(err)))
            sleep = pumping_sleep(context)
            self._outbox.put(True)
            while (job := self._inbox.get()) is not None:
                self._outbox.put(self._visit(page, sleep, *job))
            context.unroute_all(behavior="ignoreErrors")
            browser.close()
        except BaseException as exc:  # noqa: BLE001 (handed to the caller, unless it gave up on us)
            if not self._given_up:
                self._outbox.put(exc)
        finally:
            _QUIET.active = True
            with contextlib.suppress(Exception):
                manager.__exit__(None, None, None)

    def _page_error(self, text: str) -> None:
        if not self._given_up:
            self.page_errors.append(text)

    def _visit(self, page, sleep, visit: Visit, deadline: float) -> bool:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        def left() -> float:
            return max(round((deadline - time.monotonic()) * 1000), 1)

        self.detail = None
        try:
            self.stage = "loading"
            page.goto(visit.url, wait_until="load", timeout=left())
            self.stage = "waiting for its requests"
            if not self._settle(page, sleep, deadline):
                return False
            for kind, selector in visit.actions:
                self.stage = f"{'clicking' if kind == 'click' else 'submitting'} {selector!r}"
                if page.locator(selector).count() == 0:
                    self._page_error(f"{kind} {selector!r}: no such element on {visit.url}")
                    continue
                page.locator(selector).first.click(timeout=left())
                self.stage = f"waiting for the requests of the {kind} on {selector!r}"
                if not self._settle(page, sleep, deadline):
                    return False
            return True
        except PlaywrightTimeout as exc:  # every Playwright wait here ends at the deadline
            if self.stage.startswith(("clicking", "submitting")):  # what the click waited for
                steps = [line.strip(" -") for line in exc.message.splitlines() if line.startswith("  - ")]
                self.detail = steps[-1] if steps else None
            return False
        except PlaywrightError as exc:
            self._page_error(f"{visit.url}: {exc.message.splitlines()[0]}")
            return True

    def _settle(self, page, sleep, deadline: float) -> bool:
        """Wait until nothing new has reached the stand-in for QUIET_SECONDS and the page has
        nothing left to send; False when the deadline comes first."""
        from playwright.sync_api import Error as PlaywrightError

        last, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            counts = self._stub.store.counts()
            seen = counts["requests"] + counts["diagnostics"]
            if seen != last:
                last, quiet_since = seen, time.monotonic()
            elif time.monotonic() - quiet_since >= QUIET_SECONDS:
                try:
                    if not page.evaluate(f"({_PENDING_JS})()"):
                        return True
                except PlaywrightError:
                    pass  # navigating: ask the next page
            sleep(0.05)
        return False


def _driver_pid(manager) -> int | None:
    """The Playwright driver process of a started `sync_playwright()`: the browser runs below it.
    (Playwright has no public way to say; None if a release moves it, and then a timed-out
    browser is left to the driver, which closes it when this process exits.)"""
    try:
        return manager._connection._transport._proc.pid
    except AttributeError:
        return None


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


_QUIET = threading.local()  # .active: this browser thread is shutting Playwright down


class _PlaywrightShutdownNoise(logging.Filter):
    """Mutes asyncio's log in a verify browser thread while it shuts Playwright down: route
    handlers cancelled mid-way (a page navigating as its browser closed), tasks left pending and
    errors left unread by a killed browser. Tracebacks on the terminal that say nothing about
    the page."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(_QUIET, "active", False)


_SHUTDOWN_NOISE = _PlaywrightShutdownNoise()


def _quiet_playwright_shutdown() -> None:
    logger = logging.getLogger("asyncio")
    if _SHUTDOWN_NOISE not in logger.filters:
        logger.addFilter(_SHUTDOWN_NOISE)
