"""`klaviyo-snippets preview` driven in real Chromium the way a theme developer uses it.

The preview runs in-process on port 0; the page opens it like a person would (its own origin on
127.0.0.1, no routing): the storefront in its frame, the inspector beside it. Every wait is a
Playwright wait (`expect`), so the browser keeps running while we wait.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from klaviyo_snippets.generator import default_plan_path
from klaviyo_snippets.harness.preview import Preview
from tests.openapi_oracle import validate_request

pytestmark = pytest.mark.browser

WAIT_MS = 8000


@pytest.fixture(scope="module")
def preview():
    with Preview(port=0) as running:
        yield running


@pytest.fixture
def fresh(preview):
    preview.stub.reset()
    return preview


class Screen:
    """The preview as a person sees it: the storefront frame and the inspector."""

    def __init__(self, page, preview: Preview):
        self.page = page
        self.preview = preview
        page.goto(preview.url)
        expect(page.locator("#connection")).to_have_text("live", timeout=WAIT_MS)
        self.shop = page.frame_locator("#shop")

    def go(self, name: str) -> None:
        nav = self.shop.get_by_role("navigation", name="Store pages")
        nav.get_by_role("link", name=name, exact=True).click()
        expect(self.shop.locator("h1")).to_be_visible()

    def sign_in(self, email: str = "thomas.jefferson@example.com") -> None:
        self.go("Sign in")
        self.shop.get_by_label("Email").clear()  # Firefox: fill() on a filled email field appends
        self.shop.get_by_label("Email").fill(email)
        self.shop.get_by_role("button", name="Sign in").click()
        self.expect("Identify", "good")

    def entries(self, metric: str | None = None, status: str | None = None):
        selector = "#entries > li"
        if metric is not None:
            selector += f'[data-metric="{metric}"]'
        if status is not None:
            selector += f'[data-status="{status}"]'
        return self.page.locator(selector)

    def expect(self, metric: str, status: str = "good"):
        entry = self.entries(metric, status).first
        expect(entry).to_be_visible(timeout=WAIT_MS)
        return entry


def test_an_anonymous_add_to_cart_shows_as_dropped_with_the_reason(page, fresh):
    screen = Screen(page, fresh)
    screen.go("Product")
    screen.shop.get_by_role("button", name="Add to cart").click()
    entry = screen.expect("Added to Cart", "dropped")
    expect(entry).to_contain_text("the visitor was never identified")
    expect(entry).to_contain_text("onsite script: nothing sent")
    # Viewed Product (on load) was lost the same way, and nothing reached Klaviyo's endpoints.
    screen.expect("Viewed Product", "dropped")
    assert fresh.stub.requests() == []
    # The entry shows what the page asked for, though nothing was sent.
    entry.locator("summary").first.click()
    expect(entry.locator("pre").first).to_contain_text('"AddedItemSKU": "TALEOFTWO"')


def test_every_event_of_the_plan_fired_from_the_storefront_arrives_good(page, fresh):
    screen = Screen(page, fresh)
    shop = screen.shop
    screen.sign_in()

    screen.go("Product")  # Viewed Product and Recently Viewed Items fire on load
    screen.expect("Viewed Product")
    screen.expect("Recently Viewed Items")
    shop.get_by_role("button", name="Like").click()
    screen.expect("Added Like")
    shop.get_by_role("button", name="Add to cart").click()
    screen.expect("Added to Cart")

    screen.go("Category")
    screen.expect("Viewed Category")

    screen.go("Search")
    shop.get_by_label("Search for").fill("Fantasy Books")
    shop.get_by_role("button", name="Search").click()
    screen.expect("Searched Site")

    screen.go("Home")
    shop.get_by_role("link", name=re.compile("Black Friday")).click()  # leaves for example.com: kept here
    screen.expect("Clicked Banner")
    expect(shop.get_by_role("status")).to_contain_text("the preview stays here")

    screen.go("Cart")
    shop.get_by_role("link", name="Check out").click()
    screen.expect("Started Checkout")

    screen.go("Article")
    shop.get_by_role("button", name="Share").click()
    screen.expect("Shared Article")

    screen.go("Refer a friend")
    shop.get_by_label(re.compile("Friends' emails")).fill("ann@example.com\nbob@example.com")
    shop.get_by_role("button", name="Send invitations").click()
    referred = screen.expect("Referred Friend")

    # Every event of the plan arrived good, and nothing arrived bad.
    plan_metrics = {e.metric for e in fresh.storefront.plan.events if e.method == "track"}
    good = {e["metric"] for e in fresh.stub.events(status="good")}
    assert plan_metrics <= good, plan_metrics - good
    assert fresh.stub.events(status="bad") == []
    expect(screen.entries(status="bad")).to_have_count(0)
    [searched] = fresh.stub.events(metric="Searched Site")
    assert searched["properties"]["SearchTerm"] == "Fantasy Books"
    for event in fresh.stub.events(status="good"):  # also satisfies Klaviyo's OpenAPI schema
        validate_request(event["endpoint"].rstrip("/"), event["body"])  # (skips loudly without the extract)

    # An entry opens on the body as received, the redacted headers, the profile and its snippet.
    referred.locator("summary").first.click()
    expect(referred).to_contain_text('"Recipients": [')
    expect(referred).to_contain_text('"email": "thomas.jefferson@example.com"')
    expect(referred).to_contain_text("Snippet: snippets/referred-friend.html")
    expect(referred).to_contain_text("klaviyoSnippets")

    # Newest first: the last event fired is on top.
    expect(screen.entries().first).to_have_attribute("data-metric", "Referred Friend")

    # Filters: by metric, then by status.
    page.get_by_label("Metric").select_option("Added Like")
    expect(screen.entries().locator("visible=true")).to_have_count(1)
    expect(screen.entries("Added Like")).to_be_visible()
    page.get_by_label("Metric").select_option("")
    page.get_by_label("Status").select_option("bad")
    expect(screen.entries().locator("visible=true")).to_have_count(0)
    expect(page.get_by_text("No entry matches these filters")).to_be_visible()
    page.get_by_label("Status").select_option("good")
    expect(page.get_by_text("No entry matches these filters")).to_be_hidden()
    expect(screen.entries("Viewed Category")).to_be_visible()
    page.get_by_label("Status").select_option("")

    # Export: the session as JSON, with the events as Klaviyo received them.
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Export JSON").click()
    session = json.loads(Path(download_info.value.path()).read_text(encoding="utf-8"))
    exported = {e["metric"] for e in session["entries"] if e["status"] == "good"}
    assert plan_metrics | {"Identify"} <= exported
    assert {e["metric"] for e in session["traffic"]["events"]} >= plan_metrics
    assert session["profiles"][0]["attributes"]["email"] == "thomas.jefferson@example.com"

    # Clear: the stand-in forgets everything and the list empties.
    page.get_by_role("button", name="Clear").click()
    expect(screen.entries()).to_have_count(0)
    expect(page.locator("#summary")).to_contain_text("Cleared, and the shopper is signed out.")
    assert fresh.stub.events() == []
    # ("and sign the shopper out" is ticked by default): the storefront no longer remembers them.
    assert page.evaluate("() => localStorage.getItem('klaviyo-snippets-preview.shopper')") is None


def test_editing_the_plan_regenerates_the_snippets_and_reloads_the_storefront(page, tmp_path):
    plan = tmp_path / "my-plan.yaml"
    shutil.copyfile(default_plan_path(), plan)
    original = plan.read_text(encoding="utf-8")
    with Preview(plan, port=0, poll_interval=0.05) as preview:
        screen = Screen(page, preview)
        screen.sign_in()

        # A broken plan: the inspector says what is wrong, the server keeps serving.
        plan.write_text(original + "\n  broken: {metric: [\n", encoding="utf-8")
        error = page.get_by_role("alert")
        expect(error).to_be_visible(timeout=WAIT_MS)
        expect(error).to_contain_text("my-plan.yaml")
        screen.go("Product")  # the last good storefront still works
        screen.expect("Viewed Product")

        # Fixed, with a custom event: the page reloads and the event can be fired.
        plan.write_text(original + (
            "\n  clicked_gift_card:\n"
            "    metric: Clicked Gift Card\n"
            "    description: A shopper clicks the gift card offer.\n"
            "    inputs: [card]\n"
            "    fire:\n"
            "      click: {selector: \"#GiftCard\", input: card}\n"
            "    properties:\n"
            "      CardID: {type: string, required: true, from: card.id}\n"
        ), encoding="utf-8")
        expect(error).to_be_hidden(timeout=WAIT_MS)
        more = screen.shop.get_by_role("navigation", name="Other events of your plan")
        more.get_by_role("link", name="Clicked Gift Card").click()
        screen.shop.locator("#GiftCard").click()
        entry = screen.expect("Clicked Gift Card")
        [event] = preview.stub.events(metric="Clicked Gift Card")
        assert event["properties"]["CardID"] == "GiftCard"
        entry.locator("summary").first.click()
        expect(entry).to_contain_text("Snippet: snippets/clicked-gift-card.html")
    # The preview has stopped: after a few seconds of retrying, the inspector says what to do.
    expect(page.locator("#connection")).to_have_text("preview stopped? restart it", timeout=15_000)
