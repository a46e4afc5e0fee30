"""The generated HTML snippets, pasted into a page after install.html, in a real Chromium: each
guide event fires the way the plan says (page load from data islands, clicks, form submits,
inline calls) and queues on window._klOnsite exactly the guide's example payload.

No Klaviyo is involved: klaviyo.js is not loaded (its request is answered empty), so every call
stays in the loader's queue, which is what klaviyo.js would find."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIST = ROOT / "dist"
GUIDE = json.loads((ROOT / "tests" / "golden" / "guide" / "payloads.json").read_text())
SAMPLES = json.loads((DIST / "samples.json").read_text())["events"]
PAGE_URL = "https://www.example.com/home"  # the Clicked Banner example's SourceURL
CLOCK = 1387299423  # the Started Checkout example's time

pytestmark = pytest.mark.browser

# Keeps the page in place when a snippet's link is clicked or its form submitted (registered
# after the bundle's own listeners, which see the event first).
STAY = """<script>
document.addEventListener("click", function (e) { if (e.target.closest("a")) e.preventDefault(); }, true);
document.addEventListener("submit", function (e) { e.preventDefault(); }, true);
</script>"""
QUEUE = """() => window._klOnsite.map(function (item) {
  return Array.isArray(item) ? item.filter(function (x) { return typeof x !== "function"; }) : "function";
})"""


def open_snippet(page, slug: str) -> None:
    html = (
        "<!doctype html><html><head><title>Home</title>"
        + (DIST / "install.html").read_text()
        + "</head><body>" + STAY + (DIST / "snippets" / f"{slug}.html").read_text() + "</body></html>"
    )
    page.route("https://static.klaviyo.com/**", lambda route: route.fulfill(status=200, content_type="text/javascript", body=""))
    page.route(PAGE_URL, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.clock.set_fixed_time(dt.datetime.fromtimestamp(CLOCK, dt.timezone.utc))
    page.goto(PAGE_URL)


def queued(page) -> list:
    return page.evaluate(QUEUE)


def guide_call(label: str, method: str) -> list:
    return [method, label, GUIDE[label]] if method == "track" else [method, GUIDE[label]]


@pytest.mark.parametrize("slug, label", [
    ("viewed-product", "Viewed Product"),
    ("started-checkout", "Started Checkout"),
    ("viewed-category", "Viewed Category"),
    ("identify", "identify"),
])
def test_page_load_events_fire_from_their_data_islands(page, slug, label):
    open_snippet(page, slug)
    calls = queued(page)
    method = "identify" if label == "identify" else "track"
    assert calls[0] == guide_call(label, method)
    if slug == "viewed-product":  # Recently Viewed Items, from the same product object
        assert calls[1:] == [guide_call("trackViewedItem", "trackViewedItem")]
    else:
        assert len(calls) == 1


@pytest.mark.parametrize("slug, label, method", [
    ("added-to-cart", "Added to Cart", "track"),
    ("recently-viewed", "trackViewedItem", "trackViewedItem"),
])
def test_inline_calls_queue_the_guides_payload(page, slug, label, method):
    open_snippet(page, slug)
    assert queued(page) == [guide_call(label, method)]


@pytest.mark.parametrize("slug, selector, label", [
    ("added-like", "#Like", "Added Like"),
    ("clicked-banner", "[data-klaviyo-banner]", "Clicked Banner"),
])
def test_click_events(page, slug, selector, label):
    open_snippet(page, slug)
    before = queued(page)
    if slug == "added-like":  # on a product page: the product island also fired Viewed Product
        assert [c[:2] for c in before] == [["track", "Viewed Product"], ["trackViewedItem", GUIDE["trackViewedItem"]]]
    else:
        assert before == []
    page.click(selector)
    assert queued(page)[len(before):] == [guide_call(label, "track")]


@pytest.mark.parametrize("slug, form, label", [
    ("shared-article", "form[data-klaviyo-share]", "Shared Article"),
    ("referred-friend", "form[data-klaviyo-referral]", "Referred Friend"),
])
def test_form_submit_events(page, slug, form, label):
    open_snippet(page, slug)
    assert queued(page) == []
    page.click(f"{form} button[type=submit]")
    assert queued(page) == [guide_call(label, "track")]


def test_searched_site_on_submit_and_from_a_results_page(page):
    open_snippet(page, "searched-site")
    page.click("form[data-klaviyo-search] button[type=submit]")
    assert queued(page) == [guide_call("Searched Site", "track")]  # the snippet's form holds the sample
    # A search box with only the term: the optional properties are left out.
    page.fill("form[data-klaviyo-search] input[name=corrected]", "")
    page.fill("form[data-klaviyo-search] input[name=results]", "")
    page.click("form[data-klaviyo-search] button[type=submit]")
    assert queued(page)[1] == ["track", "Searched Site", {"SearchTerm": "Fantasty Boks"}]
    # A results page calls it with everything: the guide's payload.
    page.evaluate("(args) => { klaviyoSnippets.searchedSite.apply(null, args); }", SAMPLES["searched_site"]["args"])
    assert queued(page)[2] == guide_call("Searched Site", "track")


def test_identify_form(page):
    open_snippet(page, "identify")
    email = page.locator("form[data-klaviyo-identify] input[name=email]")
    # Firefox over WebDriver BiDi: fill() cannot select the text of an <input type=email> (or
    # number) and appends to its value; clear() first empties it in every browser.
    email.clear()
    email.fill("new.shopper@example.com")
    page.click("form[data-klaviyo-identify] button[type=submit]")
    assert queued(page)[-1] == ["identify", {"email": "new.shopper@example.com", "first_name": "Thomas", "last_name": "Jefferson"}]


def test_a_missing_required_value_sends_nothing_and_says_why(page):
    open_snippet(page, "referred-friend")
    warnings = []
    page.on("console", lambda message: warnings.append(message.text) if message.type == "warning" else None)
    page.fill("form[data-klaviyo-referral] textarea[name=recipients]", " , ")
    page.click("form[data-klaviyo-referral] button[type=submit]")
    assert queued(page) == []
    assert warnings == ["klaviyo-snippets: Referred Friend: not sent, missing Recipients"]


def test_second_include_of_the_bundle_changes_nothing(page):
    open_snippet(page, "viewed-category")
    before = queued(page)
    page.evaluate("() => { window.first = window.klaviyoSnippets; }")
    page.add_script_tag(content=(DIST / "klaviyo-snippets.min.js").read_text())
    page.add_script_tag(content=(DIST / "loader.min.js").read_text())
    assert queued(page) == before
    assert page.evaluate("() => window.klaviyoSnippets === window.first")


@pytest.mark.parametrize("mode", ["nonce", "no-inline"])
def test_strict_csp_sees_no_violation(page, tmp_path, mode):
    """Served with a Content-Security-Policy without 'unsafe-inline' or 'unsafe-eval': the nonce
    mode and the no-inline mode (external bundle pinned with SRI) both run, with no violation."""
    from klaviyo_snippets.generator import generate

    out = tmp_path / "dist"
    if mode == "nonce":
        generate(out_dir=out, csp_nonce="r4nd0m")
        policy = "script-src 'nonce-r4nd0m'; object-src 'none'; base-uri 'none'"
    else:
        generate(out_dir=out, inline=False, assets_url="/assets")
        policy = "script-src 'self' https://static.klaviyo.com; object-src 'none'; base-uri 'none'"
    watch = "<script nonce=\"r4nd0m\">window.violations = [];" \
        "document.addEventListener('securitypolicyviolation', function (e) { violations.push(e.violatedDirective + ' ' + e.blockedURI); });</script>"
    body = (out / "snippets" / "viewed-category.html").read_text()
    html = f"<!doctype html><html><head>{watch if mode == 'nonce' else ''}{(out / 'install.html').read_text()}</head><body>{body}</body></html>"
    page.route("https://static.klaviyo.com/**", lambda route: route.fulfill(status=200, content_type="text/javascript", body=""))
    page.route(PAGE_URL, lambda route: route.fulfill(status=200, content_type="text/html", headers={"Content-Security-Policy": policy}, body=html))
    page.route("https://www.example.com/assets/klaviyo-snippets.min.js", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=(out / "klaviyo-snippets.min.js").read_text()))
    messages = []
    page.on("console", lambda message: messages.append(message.text))
    page.goto(PAGE_URL)
    assert queued(page) == [guide_call("Viewed Category", "track")]
    assert not [m for m in messages if "Content Security Policy" in m or "integrity" in m], messages
    if mode == "nonce":
        assert page.evaluate("window.violations") == []


def test_a_tampered_bundle_is_refused_by_sri(page, tmp_path):
    from klaviyo_snippets.generator import generate

    out = tmp_path / "dist"
    generate(out_dir=out, inline=False, assets_url="/assets")
    html = f"<!doctype html><html><head>{(out / 'install.html').read_text()}</head><body></body></html>"
    page.route("https://static.klaviyo.com/**", lambda route: route.fulfill(status=200, content_type="text/javascript", body=""))
    page.route(PAGE_URL, lambda route: route.fulfill(status=200, content_type="text/html", body=html))
    page.route("https://www.example.com/assets/klaviyo-snippets.min.js", lambda route: route.fulfill(
        status=200, content_type="text/javascript", body=(out / "klaviyo-snippets.min.js").read_text() + "window.evil=1;"))
    page.goto(PAGE_URL)
    assert page.evaluate("() => typeof window.klaviyoSnippets") == "undefined"
    assert page.evaluate("() => window.evil") is None
