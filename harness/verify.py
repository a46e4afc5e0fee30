"""`klaviyo-snippets verify`: load pages in a headless browser routed to the stand-in, and report.

Pages are local HTML files (served on https://shop.test from their folder, so cookies and
storage behave as in production), URLs (a theme's dev server), or, with `--generated DIR`, a
storefront made of the generated snippets with every trigger fired. The report lists every event
Klaviyo received with its status and reasons, the identify calls, what the onsite script said it
dropped, and the requests that were blocked.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import html
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from klaviyo_snippets.generator.codegen import read_manifest
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.browser import choose_browser, context_options
from klaviyo_snippets.harness.browser import SITE_ORIGIN, pumping_sleep, route_to_stub
from klaviyo_snippets.harness.standin import StubKlaviyo, StubSettings

QUIET_SECONDS = 0.8  # the onsite script debounces identify by 300 ms; leave room for it


@dataclass
class VerifyReport:
    browser: str
    pages: list[str]
    events: list[dict] = field(default_factory=list)
    identifies: list[dict] = field(default_factory=list)
    diagnostics: list[dict] = field(default_factory=list)
    blocked: list[dict] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[dict]:
        return [e for e in self.events if e["status"] in ("bad", "dropped")] + [
            i for i in self.identifies if i["status"] != "good"
        ]

    @property
    def ok(self) -> bool:
        return not self.problems and not self.page_errors

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
        per_metric: dict[str, dict[str, int]] = {}
        for e in self.events:
            name = e.get("display_name") or e.get("metric") or "?"
            per_metric.setdefault(name, {}).setdefault(e["status"], 0)
            per_metric[name][e["status"]] += 1
        if per_metric:
            lines.append("Per event:")
            for name, statuses in per_metric.items():
                lines.append(f"  {name:<{widths[1]}}  " + ", ".join(f"{n} {s}" for s, n in statuses.items()))
        bad = len(self.problems)
        lines.append("OK: every event arrived good." if self.ok else f"FAILED: {bad} event(s) bad or dropped"
                     + (f", {len(self.page_errors)} page error(s)" if self.page_errors else "") + ".")
        return "\n".join(lines)


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


def run_visits(visits: list[Visit], **options) -> VerifyReport:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return _run_visits(visits, **options)
    # An event loop already runs in this thread (a pytest-playwright session, a notebook), and
    # sync Playwright refuses to start there: run in a thread of our own.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(_run_visits, visits, **options).result()


def _run_visits(visits: list[Visit], *, site=None, labels: list[str], identify: str | None = None,
                browser: str = "chromium", headed: bool = False, executable: str | None = None,
                timeout: float = 10.0, settings: StubSettings | None = None) -> VerifyReport:
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    choice = choose_browser(browser, headed=headed, explicit=executable)
    report = VerifyReport(browser=choice.describe(), pages=labels)
    with StubKlaviyo(settings=settings) as stub, sync_playwright() as p:
        browser_obj = getattr(p, choice.name).launch(**choice.launch_options(headless=not headed))
        try:
            context = browser_obj.new_context(**context_options())
            routing = route_to_stub(context, stub.url, direct=choice.name == "firefox", site=site)
            stub.sleep = pumping_sleep(context)
            if identify:
                # Queued before the page's own code: the onsite script handles identify first.
                context.add_init_script(
                    "window._learnq = window._learnq || [];"
                    f"window._learnq.push(['identify', {{'$email': {json.dumps(identify)}}}]);"
                )
            page = context.new_page()
            page.on("pageerror", lambda err: report.page_errors.append(str(err)))
            for visit in visits:
                try:
                    page.goto(visit.url, wait_until="load", timeout=timeout * 1000)
                    _wait_quiet(stub, timeout, stub.sleep)
                    for kind, selector in visit.actions:
                        if page.locator(selector).count() == 0:
                            report.page_errors.append(f"{kind} {selector!r}: no such element on {visit.url}")
                            continue
                        page.locator(selector).first.click(timeout=timeout * 1000)
                        _wait_quiet(stub, timeout, stub.sleep)
                except PlaywrightError as exc:
                    report.page_errors.append(f"{visit.url}: {exc.message.splitlines()[0]}")
            report.blocked = routing.to_dict()["blocked"]
            context.unroute_all(behavior="ignoreErrors")
        finally:
            browser_obj.close()
        report.events = stub.events()
        report.identifies = _identify_rows(stub)
        report.diagnostics = stub.diagnostics()
        stub.check()
    return report


def _wait_quiet(stub: StubKlaviyo, timeout: float, sleep) -> None:
    """Wait until nothing new has reached the stand-in for QUIET_SECONDS (or timeout)."""
    deadline = time.monotonic() + timeout
    last = -1
    quiet_since = time.monotonic()
    while time.monotonic() < deadline:
        counts = stub.store.counts()
        seen = counts["requests"] + counts["diagnostics"]
        if seen != last:
            last, quiet_since = seen, time.monotonic()
        elif time.monotonic() - quiet_since >= QUIET_SECONDS:
            return
        sleep(0.05)
