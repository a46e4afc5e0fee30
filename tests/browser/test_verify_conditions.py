"""`verify --condition` (issue 15, item 7) in every browser lane: each condition fails a page that
breaks it, naming why, and passes one that honours it.

Pages are small: install.html of the default plan's output (or a variant's), the identify
snippet with its customer island, a product or category island. A condition's passing and
failing pages run side by side in one verify call, so a condition that failed everything or
nothing would be caught. The failing pages queue nothing for a klaviyo.js that never runs, so no
visit here waits out its time. Every call is verify's own, but the module's calls share one
browser (`lane`): a launch costs more than the visits (in Firefox ~15 s, on a busy machine).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from klaviyo_snippets import generate
from klaviyo_snippets.harness.browser import BrowserUnavailable, choose_browser
from klaviyo_snippets.harness.verify import CLOSE_SECONDS, verify
from klaviyo_snippets.harness.verify import _run

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

REPO = Path(__file__).resolve().parents[2]
NONCE = "q3Zx7LmT0bW9vR2k"
CATEGORY = '{"id": "42", "title": "Fiction", "url": "https://shop.test/collections/fiction"}'
CONSENT = ["consent-denied", "consent-granted-late"]
KLAVIYO_JS = "static.klaviyo.com/onsite/js/XXXXXX/klaviyo.js"
# Probes of what a condition did, as page errors (which fail the report): a script that ran before
# the page had loaded was not delayed; a visitor undecided at load was never asked to refuse.
RAN_LATE = ("<script>if (!(performance.getEntriesByType('navigation')[0].loadEventEnd > 0)) {"
            " throw new Error('this script ran before the page loaded: it was not delayed'); }</script>")
REFUSED = ("<script>addEventListener('load', function () { if (klaviyoSnippets.consent().tracking !== false) {"
           " throw new Error('the visitor had not refused by load'); } });</script>")


@pytest.fixture(scope="module")
def lane(browser_name: str):
    """The lane's browser, launched once for the module. Each verify call here borrows it (verify's
    own engine, which its `with` leaves running) instead of launching its own, and its browser
    contexts are closed after it, as they would be with its own browser."""
    try:
        choose_browser(browser_name)
    except BrowserUnavailable as error:
        pytest.skip(f"no {browser_name} to run: {error.one_line()}")
    engine = _run._engine({"browser": browser_name})

    async def close_contexts() -> None:
        browser, _ = await engine.browser()
        for context in browser.contexts:
            await context.close()

    @contextlib.contextmanager
    def borrowed(options: dict):
        assert options.get("browser") == browser_name, "each verify call here runs in the lane's browser"
        try:
            yield engine
        finally:
            engine.call(close_contexts(), CLOSE_SECONDS)

    with engine, pytest.MonkeyPatch.context() as patch:
        patch.setattr(_run, "_engine", borrowed)
        yield browser_name


@pytest.fixture(scope="module")
def outputs(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """(plan, generated output) by name, each generated once: the default plan's; the same with
    --csp-nonce; Viewed Product fired on `route: /winnie.html` (local pages are served at the
    root) instead of on load; with `consent:` (and klaviyo.js loaded at once)."""
    folder = tmp_path_factory.mktemp("outputs")
    default = REPO / "snippets" / "plan.yaml"
    text = default.read_text(encoding="utf-8")
    variants = {
        "routed": text.replace("    inputs: [product]\n    fire: {load: true}",
                               "    inputs: [product]\n    fire: {route: /winnie.html}", 1),
        "consent": text.replace("version: 1\n", "version: 1\nconsent: {signal: api, denied: nothing}\n"
                                "onsite_script: {load: now}\n", 1),
    }
    out = {}
    for name in ("default", "nonce", *variants):
        plan = default
        if name in variants:
            assert variants[name] != text, f"the {name} variant no longer changes the default plan"
            plan = folder / f"{name}.yaml"
            plan.write_text(variants[name], encoding="utf-8")
        generate(None if plan == default else plan, folder / name, **({"csp_nonce": NONCE} if name == "nonce" else {}))
        out[name] = (plan, folder / name)
    return out


def page(dist: Path, *snippets: str, extra: str = "") -> str:
    body = "".join((dist / "snippets" / f"{name}.html").read_text(encoding="utf-8") for name in snippets)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>shop</title>"
            f"{(dist / 'install.html').read_text(encoding='utf-8')}</head><body>{body}{extra}</body></html>")


def write(folder: Path, pages: dict[str, str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, html in pages.items():
        (folder / name).write_text(html, encoding="utf-8")
    return [str(folder / name) for name in pages]


def failures(report, page: str) -> list[str]:
    return [f["reason"] for f in report.condition_failures if f["visit"].endswith("/" + page)]


@pytest.fixture(scope="module")
def csp_report(lane, outputs, tmp_path_factory):
    """One csp-strict run of three pages: the --csp-nonce output's (good), the same with one
    inline script that lacks the nonce (bad), and the default output's install.html alone (bare:
    no nonce on any tag, so the policy lists the hashes of its inline scripts)."""
    plan, nonced = outputs["nonce"]
    pages = write(tmp_path_factory.mktemp("csp"), {
        "good.html": page(nonced, "identify", "viewed-product"),
        "bad.html": page(nonced, "identify", "viewed-product", extra="<script>window.theme = 1;</script>"),
        "bare.html": page(outputs["default"][1]),
    })
    [report] = verify(pages, plan=plan, browser=lane, conditions=["csp-strict"]).reports
    return report


def test_csp_strict_fails_an_inline_script_without_the_nonce(csp_report):
    """Served with the page's own nonce and 'strict-dynamic': the --csp-nonce output passes, Viewed
    Product and the identify arrive good; the same page with one inline script that lacks the nonce
    fails, naming the directive and the inline script, and nothing else is wrong with it."""
    report = csp_report
    assert failures(report, "good.html") == []
    [reason] = failures(report, "bad.html")
    assert "script-src" in reason and "inline" in reason
    met = {(x["visit"].rsplit("/", 1)[-1], x["event"]) for x in report.expectations if x["met"]}
    assert {("good.html", "Viewed Product"), ("good.html", "Identify")} <= met
    assert any(f"the page's nonce {NONCE}" in note for note in report.condition_notes)
    assert not report.ok


def test_csp_strict_names_a_blocked_klaviyo_js(csp_report):
    """The default output (no nonce) gets the hashes of its inline scripts: they run, but the
    parser-inserted klaviyo.js tag is blocked, as 'strict-dynamic' blocks it; named by URL, and
    nothing else is."""
    [reason] = failures(csp_report, "bare.html")
    assert f"https://{KLAVIYO_JS}" in reason and "script-src" in reason
    assert any(note.startswith("https://shop.test/bare.html: script-src from the hashes of its ")
               for note in csp_report.condition_notes), csp_report.condition_notes


def test_email_visit_identifies_from_the_link(lane, outputs, tmp_path):
    """No --identify, no customer island: opened with ?_kx= the product page's Viewed Product
    arrives good for the email's profile; a page without a klaviyo.js tag fails, saying there is no
    account to make the link for."""
    dist = outputs["default"][1]
    pages = write(tmp_path / "site", {"product.html": page(dist, "viewed-product"),
                                      "untagged.html": page(dist).replace(KLAVIYO_JS, "")})
    [report] = verify(pages, browser=lane, conditions=["email-visit"], expect=["Viewed Product"]).reports
    good = [e for e in report.events if e["visit"].endswith("/product.html") and e["metric"] == "Viewed Product"]
    assert [e["status"] for e in good] == ["good"]
    assert failures(report, "product.html") == []
    assert any("no Klaviyo onsite script" in r for r in failures(report, "untagged.html"))


def test_spa_reports_a_page_load_only_event_missing_and_a_route_event_arriving(lane, outputs, tmp_path):
    """Category first (loaded), then a product page reached by pushState: with the default plan
    (Viewed Product fires on load only) it is missing there, with the fix; with a plan that fires
    it on `route: /winnie.html` it arrives good on the client-side navigation."""
    category = "<script type='application/json' data-klaviyo='category'>" + CATEGORY + "</script>"
    for name in ("default", "routed"):
        plan, dist = outputs[name]
        pages = write(tmp_path / name, {"fiction.html": page(dist, "identify", extra=category),
                                        "winnie.html": page(dist, "identify", "viewed-product")})
        [report] = verify(pages, plan=plan, browser=lane, conditions=["spa"]).reports
        on_product = [e for e in report.events
                      if e["visit"].endswith("/winnie.html") and e["metric"] == "Viewed Product"]
        if name == "default":
            assert on_product == []
            assert any("Viewed Product" in r and "fire: {route: PATTERN}" in r for r in failures(report, "winnie.html"))
        else:
            assert [e["status"] for e in on_product] == ["good"]
            assert not any("Viewed Product" in r for r in failures(report, "winnie.html"))


def test_delayed_scripts_deliver_once_after_the_interaction(lane, outputs, tmp_path):
    """Scripts delayed as WP Rocket delays them, run on one mouse move after load (`RAN_LATE`
    says so): Viewed Product and the identify arrive good, once; a theme script that calls
    viewedProduct again on the replayed DOMContentLoaded is caught sending it twice."""
    plan, dist = outputs["default"]
    twice = ("<script>document.addEventListener('DOMContentLoaded', function () {"
             " klaviyoSnippets.viewedProduct(JSON.parse(document.querySelector('[data-klaviyo=product]').textContent));"
             " });</script>")
    pages = write(tmp_path / "site", {"once.html": page(dist, "identify", "viewed-product", extra=RAN_LATE),
                                      "twice.html": page(dist, "identify", "viewed-product", extra=twice)})
    [report] = verify(pages, plan=plan, browser=lane, conditions=["delayed-scripts"]).reports
    once = [e for e in report.events if e["visit"].endswith("/once.html") and e["metric"] == "Viewed Product"]
    assert [e["status"] for e in once] == ["good"]
    assert failures(report, "once.html") == []
    assert report.page_errors == []
    assert any("Viewed Product arrived 2 times" in r for r in failures(report, "twice.html"))


@pytest.fixture(scope="module")
def consent_reports(lane, outputs, tmp_path_factory) -> dict[str, list]:
    """Each consent condition on the page of the plan with `consent:` ("with"; under denied it
    also checks it was refused by load: `REFUSED`), and both in one verify call on the default
    output's page with no plan ("without")."""
    plan, dist = outputs["consent"]
    with_consent = [verify(write(tmp_path_factory.mktemp("with"), {"consent.html": page(
        dist, "identify", "viewed-product", extra=REFUSED if name == "consent-denied" else "")}),
        plan=plan, browser=lane, conditions=[name]).reports[0] for name in CONSENT]
    without = write(tmp_path_factory.mktemp("without"),
                    {"plain.html": page(outputs["default"][1], "identify", "viewed-product")})
    return {"with": with_consent, "without": verify(without, browser=lane, conditions=CONSENT).reports}


@pytest.mark.parametrize("condition", CONSENT)
def test_consent_conditions(consent_reports, condition):
    """With `consent:` in the plan: denied (refused by load) sends nothing and loads no klaviyo.js;
    granted late sends the page's events good, once. Without it, both fail: the page sends before
    consent."""
    report = consent_reports["with"][CONSENT.index(condition)]
    assert report.condition == condition
    assert report.condition_failures == []
    metrics = [e["metric"] for e in report.events if e["metric"] != "__activity__"]
    assert metrics == ([] if condition == "consent-denied" else ["Viewed Product"])
    assert report.page_errors == []
    assert report.ok
    report = consent_reports["without"][CONSENT.index(condition)]
    assert report.condition == condition
    assert any(r.startswith("the page sends before consent:") for r in failures(report, "plain.html"))
    assert not report.ok
