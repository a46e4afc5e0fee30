"""The pytest plugin's side of issue 13, in each browser lane: the visitor identified before the
page runs (marker and fixture), the generated code's warnings captured on the plugin's pages, and
a theme's CDN answered from a folder (`klaviyo_routing_options`, overridden below as a user would)."""

from __future__ import annotations

import json

import pytest

from tests.browser.guide import page

pytestmark = pytest.mark.browser

TRACK = "klaviyo.track('Viewed Product', {ProductName: 'Mug'});"


@pytest.fixture(scope="session")
def klaviyo_routing_options(tmp_path_factory):
    assets = tmp_path_factory.mktemp("theme-assets")
    (assets / "cart.js").write_text("klaviyo.track('Added to Cart', {$value: 12.5});")
    return {"allow_hosts": [], "serve": {"https://cdn.theme.test/assets/": assets}}


@pytest.mark.klaviyo_identify("ann@example.com")
def test_the_marker_identifies_the_visitor_before_the_page_runs(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open(page(TRACK))
    klaviyo_stub.expect_event("Viewed Product", profile={"email": "ann@example.com"}, status="good")


def test_the_fixture_identifies_the_visitor_on_the_pages_opened_after_it(klaviyo_shop, klaviyo_stub, klaviyo_identify):
    klaviyo_identify("bob@example.com")
    klaviyo_shop.open(page(TRACK))
    klaviyo_stub.expect_event("Viewed Product", profile={"email": "bob@example.com"}, status="good")


def test_without_them_the_same_page_is_dropped(klaviyo_shop, klaviyo_stub):
    """The control: the two tests above pass only because the visitor was identified first."""
    klaviyo_shop.open(page(TRACK))
    klaviyo_shop.settle()
    assert [e["status"] for e in klaviyo_stub.events(metric="Viewed Product")] == ["dropped"]


def test_the_generated_code_warnings_reach_the_stand_in(klaviyo_shop, klaviyo_stub):
    def warn(kind: str, reason: str, prop: str | None) -> str:
        detail = {"event": "Viewed Product", "kind": kind, "reason": reason, "property": prop}
        return f"window.dispatchEvent(new CustomEvent('klaviyo-snippets:warning', {{detail: {json.dumps(detail)}}}));"

    klaviyo_shop.open(page("klaviyo.identify({email: 'ann@example.com'});",
                           warn("dropped", "data island product is not JSON", None),
                           warn("warning", "Price has the wrong type", "Price")))
    klaviyo_shop.settle()  # the harness's own posts included

    [dropped] = klaviyo_stub.events(status="dropped")
    assert (dropped["display_name"], dropped["reasons"][0]["detail"]) == ("Viewed Product", "data island product is not JSON")
    warnings = [(d["metric"], d["reason"], d["property"], d["page"]) for d in klaviyo_stub.diagnostics()
                if d.get("source") == "generated code" and d["type"] == "warning"]
    assert warnings == [("Viewed Product", "Price has the wrong type", "Price", "https://shop.test/index.html")]


def test_a_theme_cdn_is_answered_from_a_folder(klaviyo_shop, klaviyo_stub, klaviyo_routing):
    klaviyo_shop.open(page("klaviyo.identify({email: 'ann@example.com'});")
                      .replace("</body>", "<script src='https://cdn.theme.test/assets/cart.js'></script></body>"))
    klaviyo_stub.expect_event("Added to Cart", value=12.5, status="good")
    assert klaviyo_routing.blocked == []
