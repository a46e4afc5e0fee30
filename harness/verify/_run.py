"""Running verify: visits spread over lanes, each lane a page in the one browser and a stand-in of
its own.

`jobs` lanes run at once (default: by cores). Each visit is a new visitor (no cookies or storage
from the pages before it, `_driver`) against a stand-in reset for it, so what the stand-in holds
afterwards is exactly what that page sent; the lane then hands it to the report, tagged with the
page. A page past its time is reported as timed out; its page is closed, or if the browser does
not answer, the browser is killed and the visits the other lanes had in it are run again.
"""

from __future__ import annotations

import dataclasses
import os
import queue
import threading
import time
from dataclasses import asdict
from pathlib import Path

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.browser import SITE_ORIGIN, allowed_host, choose_browser, served_prefix
from klaviyo_snippets.harness.standin import RateLimits, StubKlaviyo, StubSettings
from klaviyo_snippets.harness.verify._driver import SILENT_SECONDS, Interrupted, LanePage, PageReports, PageSetup
from klaviyo_snippets.harness.verify._engine import Engine
from klaviyo_snippets.harness.verify import conditions
from klaviyo_snippets.harness.verify._report import ConditionsReport, VerifyReport, identify_rows
from klaviyo_snippets.harness.verify._visits import (
    Visit, check_expectations, page_visits, plan_triggers, storefront,
)

MAX_JOBS = 8
RETRIES = 2  # times a visit cut short by another page's killed browser is run again
PAGES_PER_LANE = 3  # opening a lane's page costs about as much as a page; fewer is no gain
_MERGED = ("events", "identifies", "diagnostics", "blocked", "not_found", "page_errors", "timed_out", "expectations",
           "condition_failures", "condition_notes")


def default_jobs() -> int:
    """Lanes when none are asked for: three per core (a page mostly waits: the onsite script's
    300 ms identify debounce, its requests), at most MAX_JOBS; `run_visits` also gives a lane at
    least PAGES_PER_LANE pages."""
    return max(1, min(MAX_JOBS, 3 * (os.cpu_count() or 1)))


def verify(pages: list[str], *, clicks: tuple[str, ...] = (), plan=None, conditions=(),
           **options) -> VerifyReport | ConditionsReport:
    """Load `pages` (files or URLs) in a browser routed to a fresh stand-in; see `run_visits`.
    With `plan` (a path, or a loaded plan), the events its triggers fire on these pages are expected.
    With `conditions` (names, `conditions.CONDITIONS`), the pages run once under each: see
    `run_conditions`."""
    from klaviyo_snippets.generator import load_plan

    names = _conditions_asked(conditions)
    with _engine(options) as engine:  # the driver boots while the pages and the plan are read
        visits, root = page_visits(pages, clicks)
        if plan is not None and not hasattr(plan, "events"):
            plan = load_plan(Path(plan))
        if names:
            return run_conditions(names, visits, engine, site=root, labels=list(pages), plan=plan,
                                  consent=_plan_consent(plan), **options)
        return _run(visits, engine, site=root, labels=list(pages), plan=plan, **options)


def verify_generated(out_dir: Path, plan_path: Path | None = None, *, conditions=(),
                     **options) -> VerifyReport | ConditionsReport:
    """Every event of a generated `out_dir`, each on its own storefront page; see `run_visits`."""
    from klaviyo_snippets.generator.codegen import read_manifest

    names = _conditions_asked(conditions)
    with _engine(options) as engine:
        visits, pages, plan = storefront(Path(out_dir), plan_path)
        labels = [v.url for v in visits]
        if names:
            consent = read_manifest(Path(out_dir)).get("consent", _UNKNOWN)
            return run_conditions(names, visits, engine, site=pages, labels=labels, plan=plan, consent=consent,
                                  **options)
        return _run(visits, engine, site=pages, labels=labels, plan=plan, **options)


_UNKNOWN = "unknown"  # whether the plan asks for consent, when neither a plan nor a manifest says


def _conditions_asked(names) -> tuple[str, ...]:
    if isinstance(names, str):
        names = (names,)
    return conditions.condition_names(names or ())


def _plan_consent(plan):
    """The plan's `consent:` as the manifest records it (None: none), or _UNKNOWN without a plan."""
    if plan is None:
        return _UNKNOWN
    consent = getattr(plan, "consent", None)
    if consent is None or isinstance(consent, dict):
        return consent
    return {"signal": getattr(consent, "signal", None), "denied": getattr(consent, "denied", None)}


def run_conditions(names, visits: list[Visit], engine, *, site, labels: list[str], consent=_UNKNOWN,
                   **options) -> ConditionsReport:
    """The visits once under each condition in `names`, each run reported apart. Under `spa` the
    pages are one visit: the first loaded, each next one reached from it by client-side navigation."""
    reports = []
    for name in names:
        todo = visits
        if name == "spa" and len(visits) > 1:
            todo = [dataclasses.replace(visits[0], then=tuple(visits[1:]))]
        reports.append(_run(todo, engine, site=site, labels=labels, condition=name, consent=consent,
                            step_labels={v.url: label for v, label in zip(visits, labels)}, **options))
    return ConditionsReport(reports)


def run_visits(visits: list[Visit], *, site=None, labels: list[str], identify: str | None = None,
               browser: str = "chromium", headed: bool = False, executable: str | None = None,
               timeout: float = 10.0, settings: StubSettings | None = None, expect=(), plan=None,
               allow_warnings: bool = False, allow_hosts=(), serve: dict | None = None,
               jobs: int | None = None) -> VerifyReport:
    """Load each visit in a routed browser page, each within `timeout` seconds (load, actions
    and the requests they cause), `jobs` at a time, each a new visitor; a page past its time is
    reported as timed out and closed (the browser killed if it no longer answers). `expect`:
    event names every page must send good (besides the plan's, see `_visits`); `allow_warnings`:
    warnings do not fail the run; `allow_hosts`, `serve`: see `route_to_stub`. Safe to call where
    an event loop runs: the browser is driven from a thread of its own."""
    options = dict(identify=identify, browser=browser, headed=headed, executable=executable, timeout=timeout,
                   settings=settings, expect=expect, plan=plan, allow_warnings=allow_warnings,
                   allow_hosts=allow_hosts, serve=serve, jobs=jobs)
    with _engine(options) as engine:
        return _run(visits, engine, site=site, labels=labels, **options)


def _engine(options: dict) -> Engine:
    """The driver for `options`' browser, not started (a context manager starts and stops it)."""
    choice = choose_browser(options.get("browser", "chromium"), headed=options.get("headed", False),
                            explicit=options.get("executable"))
    return Engine(choice, headed=options.get("headed", False))


def _run(visits: list[Visit], engine: Engine, *, site, labels: list[str], identify: str | None = None,
         browser: str = "chromium", headed: bool = False, executable: str | None = None,
         timeout: float = 10.0, settings: StubSettings | None = None, expect=(), plan=None,
         allow_warnings: bool = False, allow_hosts=(), serve: dict | None = None,
         jobs: int | None = None, condition: str | None = None, consent=_UNKNOWN,
         step_labels: dict | None = None) -> VerifyReport:
    hosts = tuple(allowed_host(h) for h in allow_hosts)
    served = tuple((str(p), str(f)) for p, f in (served_prefix(f"{prefix}={folder}")
                                                 for prefix, folder in (serve or {}).items()))
    for name in expect:
        if not isinstance(name, str) or not name.strip():
            raise UserError(f"an expected event needs a name, got {name!r}", hint='e.g. --expect "Viewed Product"')
    lanes = jobs or min(default_jobs(), -(-len(visits) // PAGES_PER_LANE))
    lanes = max(1, min(lanes, len(visits)))
    report = VerifyReport(browser=engine.choice.describe(), pages=labels, allow_warnings=allow_warnings, jobs=lanes,
                          condition=condition)
    setup = dict(site=site, identify=identify, allow_hosts=hosts, serve=served,
                 triggers=tuple(plan_triggers(plan)) if plan is not None else (), condition=condition,
                 page_origins=tuple(sorted({_origin(x.url) for v in visits for x in (v, *v.then)
                                            if not x.url.startswith(SITE_ORIGIN + "/")})))
    todo: queue.Queue = queue.Queue()
    # The visits with clicks and submits first: they take longest (the page they go to is part
    # of them), and a long one last would keep the run waiting on one lane. Reported in order.
    for index in sorted(range(len(visits)), key=lambda i: -len(visits[i].actions)):
        todo.put((index, (labels[index], visits[index])))
    results: dict[int, dict] = {}
    errors: list[BaseException] = []
    stop = threading.Event()
    began = time.monotonic()
    workers = [_Lane(engine, setup, timeout=timeout, settings=settings,
                     expect=tuple((n.strip(), "--expect") for n in expect), consent=consent,
                     step_labels=step_labels or {}) for _ in range(lanes)]
    threads = [threading.Thread(target=w.run, args=(todo, results, errors, stop), name=f"klaviyo-snippets verify lane {i}",
                                daemon=True) for i, w in enumerate(workers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.05)
    finally:
        stop.set()
    if errors:
        raise errors[0]
    for index in sorted(results):
        for key in _MERGED:
            getattr(report, key).extend(results[index][key])
        for kind, n in results[index]["forgotten"].items():
            report.forgotten[kind] = report.forgotten.get(kind, 0) + n
    report.seconds = round(time.monotonic() - began, 2)
    return report


class _Lane:
    """Takes visits until none are left: a stand-in and a page-report endpoint of its own, and a
    page in the shared browser."""

    def __init__(self, engine: Engine, setup: dict, *, timeout: float, settings: StubSettings | None,
                 expect: tuple, consent=_UNKNOWN, step_labels: dict | None = None) -> None:
        self._engine, self._setup, self._timeout = engine, setup, timeout
        self._settings, self._expect = _own_settings(settings), expect
        self._consent, self._step_labels = consent, step_labels or {}

    def run(self, todo: queue.Queue, results: dict, errors: list, stop: threading.Event) -> None:
        try:
            with StubKlaviyo(settings=self._settings) as stub, PageReports() as reports:
                setup = PageSetup(stub_url=stub.url, mint=lambda key: _mint(stub, key), **self._setup)
                page = LanePage(self._engine, reports, setup)
                try:
                    while not stop.is_set():  # the browser is closed with the driver, at the end
                        try:
                            index, (label, visit) = todo.get_nowait()
                        except queue.Empty:
                            break
                        for attempt in range(RETRIES + 1):
                            try:
                                results[index] = self._visit(stub, reports, page, visit, label,
                                                             last=attempt == RETRIES)
                                break
                            except Interrupted:
                                continue
                            finally:
                                stub.reset()
                finally:
                    page.close()
                stub.check()
        except BaseException as exc:  # noqa: BLE001 (raised on the caller's thread)
            errors.append(exc)
            stop.set()

    def _visit(self, stub: StubKlaviyo, reports: PageReports, page: LanePage, visit: Visit, label: str, *,
               last: bool) -> dict:
        reports.new_visit()
        began = time.monotonic()
        marks: list[dict] = []

        def step(kind: str, url: str, expected: int) -> None:  # on the driver's thread: the store locks
            marks.append({"kind": kind, "url": url, "expected": expected, "events": len(stub.events()),
                          "requests": max([r["id"] for r in stub.requests()], default=0),
                          "diagnostics": len(stub.diagnostics()), "forwarded": len(page.state.forwarded())})

        try:
            finished, state, ended = page.visit(visit, self._timeout, step)
        except Interrupted:
            if not last:
                raise
            finished, state, ended = True, page.state, None
            state.page_errors.append(f"{visit.url}: cut short {RETRIES + 1} times by other pages' browser being killed")
        timed_out = []
        if not finished:
            heard = reports.latest()
            timed_out.append({
                "page": visit.url, "seconds": self._timeout, "while": state.stage, "detail": state.detail,
                # when the page last said what it still had to send (seconds into its visit), and
                # what that was: the truth at the end only if it was still answering
                "last_heard": None if heard is None else round(heard[0] - began, 2),
                "answering": heard is not None and began + self._timeout - heard[0] <= SILENT_SECONDS,
                "unsent": None if heard is None else heard[1],
                "arrived": stub.store.counts()["requests"], "ended": ended,
            })
        events, diagnostics, requests = stub.events(), stub.diagnostics(), stub.requests()
        identifies = identify_rows(requests)
        tag = {"visit": label}
        out = {
            "events": [], "identifies": [], "diagnostics": [], "expectations": [],
            "blocked": [{**asdict(b), **tag} for b in state.blocked()],
            "not_found": [{**asdict(b), **tag} for b in state.not_found()],
            "page_errors": list(state.page_errors),
            "timed_out": timed_out,
            "forgotten": stub.store.counts()["forgotten"],
            "condition_failures": [], "condition_notes": list(state.notes),
        }
        # A visit of several pages (spa: each reached by client-side navigation) is reported page
        # by page: what arrived between two navigations is the page's (each waited until idle).
        pages = [m for m in marks if m["kind"] == "page"]
        bounds = [{"events": 0, "requests": 0, "diagnostics": 0, "expected": 0, "url": visit.url}, *pages]
        for i, start in enumerate(bounds):
            end = bounds[i + 1] if i + 1 < len(bounds) else None
            step_label = label if i == 0 else self._step_labels.get(start["url"], start["url"])
            mine_events = events[start["events"]:end and end["events"]]
            mine_ids = [i for i in identifies if i["request_id"] > start["requests"]
                        and (end is None or i["request_id"] <= end["requests"])]
            expected = (list(visit.expect) if i == 0 else []) + list(
                state.expected[start["expected"]:end and end["expected"]]) + list(self._expect)
            if self._setup.get("condition") == "consent-denied":  # the visitor refused: nothing may arrive
                expected = []
            step_tag = {"visit": step_label}
            out["events"] += [{**e, **step_tag} for e in mine_events]
            out["identifies"] += [{**x, **step_tag} for x in mine_ids]
            out["diagnostics"] += [{**d, **step_tag} for d in diagnostics[start["diagnostics"]:end and end["diagnostics"]]]
            out["expectations"] += [{**step_tag, **x} for x in check_expectations(expected, mine_events, mine_ids)]
        condition = self._setup.get("condition")
        if condition:
            out["condition_failures"] = [{"condition": condition, **f} for f in conditions.judge(
                condition, label=label, state=state, events=out["events"], requests=requests, marks=marks,
                expectations=out["expectations"], consent=self._consent)]
        return out


def _mint(stub: StubKlaviyo, key: str) -> str:
    """email-visit: the exchange id, for account `key`, of the profile the email went to, made in
    the stand-in as Klaviyo has it (no request: nothing for the report to count)."""
    profile, _ = stub.store.resolve_profile({"attributes": {"email": conditions.EMAIL}}, company=key)
    return profile["exchange_ids"][key]


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _own_settings(settings: StubSettings | None) -> StubSettings | None:
    """A lane's copy: rate windows are state, and each lane's stand-in keeps its own."""
    if settings is None or settings.rate_limits is None:
        return settings
    return dataclasses.replace(settings, rate_limits=RateLimits(settings.rate_limits.limits))
