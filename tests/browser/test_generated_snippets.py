"""The generated snippets in dist/, on a storefront page, against the stand-in Klaviyo.

For each guide event the guide's own example data goes in (the samples in the default plan) and
the payload Klaviyo records must equal the guide's example payload. The snippets are used as a
theme developer would paste them: `install.html` in the head, the event's snippet in the body.
"""

from __future__ import annotations

import json
import re
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.browser.guide import expected_event_body, identified_profile, pending_profile

pytestmark = pytest.mark.browser


REPO = Path(__file__).resolve().parents[2]
DIST = REPO / "dist"
GUIDE_PAYLOADS = json.loads((REPO / "tests" / "golden" / "guide" / "payloads.json").read_text())
SHOPPER = "thomas.jefferson@example.com"
PUBLIC_KEY = "XXXXXX"  # the default plan's
GUIDE_CHECKOUT_TIME = 1387299423  # the unix time inside the guide's Started Checkout $event_id


def snippet(name: str) -> str:
    return (DIST / "snippets" / f"{name}.html").read_text(encoding="utf-8")


def storefront(*names: str, identify: bool = True) -> str:
    body = "".join(snippet(n) for n in (("identify",) if identify else ()) + names)
    head = (DIST / "install.html").read_text(encoding="utf-8")
    return f"<!doctype html><html><head><meta charset='utf-8'><title>shop</title>{head}</head><body>{body}</body></html>"


def assert_guide_payload(klaviyo_stub, metric: str, profile: dict, **expect) -> dict:
    """The recorded event equals the guide's example, with the profile block `profile` (built
    from the test's own flow: `pending_profile` on load, `identified_profile` after `settle`)."""
    event = klaviyo_stub.expect_event(metric, profile={"email": SHOPPER}, **expect)
    guide = GUIDE_PAYLOADS[metric]
    assert event["body"] == expected_event_body(metric, guide, profile)
    assert list(event["properties"]) == [k for k in guide if k not in ("$value", "$event_id")] + [
        "$use_ip", "$is_session_activity"]  # the guide's key order, then the onsite script's own
    return event


ON_LOAD = pending_profile(email=SHOPPER)  # tracked at load, while the page's identify is debounced


def identified(klaviyo_shop, klaviyo_stub, page=None) -> dict:
    """Let the page's identify be answered, then the profile block its next events carry: the
    exchange id the stand-in gave the shopper for this account."""
    klaviyo_shop.settle(page)
    [profile] = [p for p in klaviyo_stub.profiles() if p["attributes"].get("email") == SHOPPER]
    return identified_profile(profile["exchange_ids"][PUBLIC_KEY])


@pytest.mark.parametrize("metric, name", [
    ("Viewed Product", "viewed-product"),
    ("Viewed Category", "viewed-category"),
    ("Added to Cart", "added-to-cart"),
])
def test_event_fired_on_load_or_by_call_records_the_guides_payload(klaviyo_shop, klaviyo_stub, metric, name):
    klaviyo_shop.open(storefront(name))
    assert_guide_payload(klaviyo_stub, metric, ON_LOAD)


def test_added_to_cart_categories_are_computed_not_copied(klaviyo_shop, klaviyo_stub):
    page = storefront("added-to-cart").replace('"Classics"', '"Poetry"')  # the added item and its cart line
    klaviyo_shop.open(page)
    event = klaviyo_stub.expect_event("Added to Cart", profile={"email": SHOPPER})
    assert event["properties"]["AddedItemCategories"] == ["Fiction", "Poetry", "Children"]
    assert event["value"] == 29.98  # the sum of the line totals, a number


def test_started_checkout_event_id_is_cart_id_and_unix_time(klaviyo_shop, klaviyo_stub):
    before = int(datetime.now(timezone.utc).timestamp())
    klaviyo_shop.open(storefront("started-checkout"))
    event = klaviyo_stub.expect_event("Started Checkout", profile={"email": SHOPPER})
    cart_id, unix = re.fullmatch(r"(\d+)_(\d{10})", event["unique_id"]).groups()
    assert cart_id == "1000123"
    assert before - 1 <= int(unix) <= before + 60


def test_started_checkout_at_the_guides_time_records_the_guides_payload(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.page.clock.set_fixed_time(GUIDE_CHECKOUT_TIME)
    klaviyo_shop.open(storefront("started-checkout"))
    assert_guide_payload(klaviyo_stub, "Started Checkout", ON_LOAD, unique_id="1000123_1387299423", value=29.98)


def test_recently_viewed_item_reaches_storage_and_profile(klaviyo_shop, klaviyo_stub):
    p = klaviyo_shop.open(storefront("viewed-product"))
    klaviyo_stub.expect_event("Viewed Product")
    profile = klaviyo_stub.wait_for(
        lambda: [pr for pr in klaviyo_stub.profiles() if pr["properties"].get("$viewed_items")], 5)
    assert profile, "the profile never received $viewed_items"
    [[item, views]] = json.loads(p.evaluate("() => localStorage.getItem('__kla_viewed')"))
    guide_item = GUIDE_PAYLOADS["trackViewedItem"]
    assert {k: v for k, v in item.items() if k != "LastViewedDate"} == guide_item
    assert views == 1


@pytest.mark.parametrize("metric, name, form", [
    ("Searched Site", "searched-site", "form[data-klaviyo-search]"),
    ("Shared Article", "shared-article", "form[data-klaviyo-share]"),
    ("Referred Friend", "referred-friend", "form[data-klaviyo-referral]"),
])
def test_form_submit_records_the_guides_payload(klaviyo_shop, klaviyo_stub, metric, name, form):
    # The form has no action: submitting it navigates to the same page, as a real one would.
    p = klaviyo_shop.open(storefront(name))
    profile = identified(klaviyo_shop, klaviyo_stub)  # identified before the shopper submits
    p.locator(f"{form} [type=submit]").click()
    assert_guide_payload(klaviyo_stub, metric, profile)


def test_added_like_fires_on_click_with_the_guides_payload(klaviyo_shop, klaviyo_stub):
    p = klaviyo_shop.open(storefront("added-like"))
    profile = identified(klaviyo_shop, klaviyo_stub)
    assert klaviyo_stub.events(metric="Added Like") == []
    p.click("#Like")
    assert_guide_payload(klaviyo_stub, "Added Like", profile)


def test_clicked_banner_on_the_guides_page_records_the_guides_payload(klaviyo_shop, klaviyo_stub, klaviyo_routing):
    # The guide's SourceURL is the page the banner is on, so serve the page there; the link
    # then really navigates to its destination, as a shopper's click does.
    p = klaviyo_shop.page
    html = storefront("clicked-banner")
    p.route("https://www.example.com/home", lambda route: route.fulfill(body=html, content_type="text/html"))
    p.route("https://www.example.com/black-friday-deals",
            lambda route: route.fulfill(body="<p>deals</p>", content_type="text/html"))
    p.goto("https://www.example.com/home")
    profile = identified(klaviyo_shop, klaviyo_stub, p)
    p.click("[data-klaviyo-banner]")
    p.wait_for_url("https://www.example.com/black-friday-deals")
    assert_guide_payload(klaviyo_stub, "Clicked Banner", profile)


def test_identify_from_the_data_island(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open(storefront())
    # Active on Site may create the profile (by email) before the debounced identify lands.
    klaviyo_stub.wait_for(lambda: [r for r in klaviyo_stub.requests()
                                   if r["path"].startswith("/client/profiles") and r["response"]], 5)
    [profile] = klaviyo_stub.profiles()
    assert profile["attributes"] == GUIDE_PAYLOADS["identify"]


def test_without_identify_the_generated_event_is_reported_dropped(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open(storefront("added-to-cart", identify=False))
    event = klaviyo_stub.expect_event("Added to Cart", status="dropped")
    assert event["value"] == 29.98
    assert "never identified" in event["reasons"][0]["detail"]


def test_every_generated_call_validates_and_nothing_leaves_the_machine(klaviyo_shop, klaviyo_stub, klaviyo_routing):
    names = ["viewed-product", "viewed-category", "added-to-cart", "started-checkout"]
    klaviyo_shop.open(storefront(*names))
    for metric in ("Viewed Product", "Viewed Category", "Added to Cart", "Started Checkout"):
        klaviyo_stub.expect_event(metric)
    assert klaviyo_stub.events(status="bad") == []
    assert klaviyo_routing.blocked == []


def test_a_form_the_site_handles_itself_is_not_submitted_by_the_snippets(klaviyo_shop, klaviyo_stub):
    # An AJAX search form: the site's own handler prevents the navigation; the held-navigation
    # logic must leave it alone.
    page = storefront("searched-site").replace(
        "</body>", "<script>document.querySelector('form[data-klaviyo-search]').addEventListener("
                   "'submit', function (e) { e.preventDefault(); window.ajax = true; });</script></body>")
    p = klaviyo_shop.open(page)
    klaviyo_stub.wait_for(lambda: klaviyo_stub.profiles(), 5)
    p.locator("form[data-klaviyo-search] [type=submit]").click()
    klaviyo_stub.expect_event("Searched Site", profile={"email": SHOPPER})
    p.wait_for_timeout(700)  # longer than the 500 ms hold
    assert p.url == klaviyo_shop.origin + "/index.html"
    assert p.evaluate("() => window.ajax") is True


def test_a_held_form_is_submitted_with_its_buttons_name_and_value(klaviyo_shop, klaviyo_stub):
    # form.submit() alone would drop the button's name=value that the site's server reads.
    page = storefront("searched-site").replace(
        '<button type="submit">Send</button>', '<button type="submit" name="scope" value="books">Send</button>')
    p = klaviyo_shop.open(page)
    profile = identified(klaviyo_shop, klaviyo_stub)
    with p.expect_navigation(url="**/index.html?*"):
        p.locator("form[data-klaviyo-search] [type=submit]").click()
    query = p.url.split("?", 1)[1]
    assert query == "term=Fantasty+Boks&corrected=Fantasy+Books&results=54&scope=books"
    assert_guide_payload(klaviyo_stub, "Searched Site", profile)


def test_a_button_with_its_own_formaction_still_submits_where_the_button_says(klaviyo_shop, klaviyo_stub):
    # The hold resubmits with requestSubmit(button), so the browser applies formaction,
    # formmethod... as it would have (tests/browser/test_navigation_hold.py checks the event).
    page = storefront("searched-site").replace(
        '<button type="submit">Send</button>', '<button type="submit" formaction="/results.html">Send</button>')
    p = klaviyo_shop.page
    p.route(klaviyo_shop.origin + "/results.html?*", lambda route: route.fulfill(body="<p>results</p>",
                                                                                  content_type="text/html"))
    klaviyo_shop.open(page)
    klaviyo_stub.wait_for(lambda: klaviyo_stub.profiles(), 5)
    with p.expect_navigation(url="**/results.html?term=*"):
        p.locator("form[data-klaviyo-search] [type=submit]").click()
    assert p.evaluate("() => document.body.textContent") == "results"


def test_an_anonymous_visitors_click_still_navigates(klaviyo_shop, klaviyo_stub):
    # The onsite script never resolves an anonymous track: the hold gives up after 500 ms.
    p = klaviyo_shop.page
    p.route("https://www.example.com/black-friday-deals",
            lambda route: route.fulfill(body="<p>deals</p>", content_type="text/html"))
    klaviyo_shop.open(storefront("clicked-banner", identify=False))
    p.click("[data-klaviyo-banner]")
    p.wait_for_url("https://www.example.com/black-friday-deals", timeout=3000)
    klaviyo_stub.expect_event("Clicked Banner", status="dropped")


def test_a_submitted_form_gives_its_fields_as_the_browser_would_submit_them(klaviyo_shop, klaviyo_stub):
    # Of two fields named email, the one with a value; no unchecked box, no button, no disabled field.
    form = """<form data-klaviyo-identify>
      <input name="email" value=""><input name="email" value="ann@example.com">
      <input type="checkbox" name="first_name" value="Tom">
      <input name="last_name" value="Lee" disabled>
      <button type="button" name="last_name" value="Button">x</button>
      <button type="submit">Sign up</button></form>"""
    head = (DIST / "install.html").read_text(encoding="utf-8")
    p = klaviyo_shop.open(f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>{form}</body></html>")
    p.locator("form [type=submit]").click()
    klaviyo_stub.wait_for(lambda: klaviyo_stub.profiles(), 5)
    [profile] = klaviyo_stub.profiles()
    assert profile["attributes"] == {"email": "ann@example.com"}


def test_a_click_that_leaves_the_page_waits_for_klaviyos_answer(klaviyo_shop, klaviyo_stub):
    # In every engine, not only where the browser would cancel the request: with Klaviyo
    # answering 300 ms late, the link is followed only after the answer (within the 500 ms cap).
    p = klaviyo_shop.page
    arrived: list[float] = []

    def destination(route):
        arrived.append(time.monotonic())
        route.fulfill(body="<p>deals</p>", content_type="text/html")

    p.route("https://www.example.com/black-friday-deals", destination)
    klaviyo_shop.open(storefront("clicked-banner"))
    klaviyo_stub.wait_for(lambda: klaviyo_stub.profiles(), 5)
    klaviyo_stub.inject_fault("slow", path="/client/events", delay=0.3)
    clicked = time.monotonic()
    p.click("[data-klaviyo-banner]")
    p.wait_for_url("https://www.example.com/black-friday-deals")
    assert arrived and 0.28 <= arrived[0] - clicked < 1.5
    [event] = klaviyo_stub.events(metric="Clicked Banner")
    assert event["status"] == "good"
