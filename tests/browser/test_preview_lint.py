"""The preview's inspector shows the stand-in's lint: a shopper's event that Klaviyo accepts but that
will not work as meant is listed good, with each warning's reason, fix and pointer."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from klaviyo_snippets.generator import default_plan_path
from klaviyo_snippets.harness.preview import Preview

pytestmark = pytest.mark.browser

WAIT_MS = 8000
WINNIE_LINKS = ("    image: http://www.example.com/path/to/product/image.png\n"
                "    url: http://www.example.com/path/to/product\n    vendor:")


def test_a_relative_product_url_is_shown_good_with_the_warning_and_the_fix(page, tmp_path):
    # The default plan, its product sample as a theme might render it: links relative to the shop.
    text = default_plan_path().read_text(encoding="utf-8")
    assert text.count(WINNIE_LINKS) == 1
    plan = tmp_path / "relative-links.yaml"
    plan.write_text(text.replace(WINNIE_LINKS, "    image: //cdn.example.com/winnie.png\n"
                                               "    url: /products/winnie\n    vendor:"), encoding="utf-8")
    with Preview(plan, port=0) as preview:
        page.goto(preview.url)
        expect(page.locator("#connection")).to_have_text("live", timeout=WAIT_MS)
        shop = page.frame_locator("#shop")
        nav = shop.get_by_role("navigation", name="Store pages")
        nav.get_by_role("link", name="Sign in", exact=True).click()
        shop.get_by_label("Email").clear()
        shop.get_by_label("Email").fill("thomas.jefferson@example.com")
        shop.get_by_role("button", name="Sign in").click()
        nav.get_by_role("link", name="Product", exact=True).click()

        entry = page.locator('#entries > li[data-metric="Viewed Product"][data-status="good"]')
        expect(entry).to_have_count(1, timeout=WAIT_MS)
        expect(entry).to_have_attribute("data-warnings", "2")
        expect(entry.locator(".badge.lint")).to_have_text("2 warnings")
        lines = entry.locator(".lint-warning")
        expect(lines.nth(0)).to_contain_text("'//cdn.example.com/winnie.png' is protocol-relative")
        expect(lines.nth(0)).to_contain_text("Fix: make it absolute, e.g. 'https://cdn.example.com/winnie.png'")
        expect(lines.nth(0).locator(".pointer")).to_have_text("/data/attributes/properties/ImageURL")
        expect(lines.nth(1)).to_contain_text("'/products/winnie' is not an absolute URL")
        expect(lines.nth(1)).to_contain_text("Fix: make it absolute, e.g. 'https://shop.example/products/winnie'")
        expect(page.locator("#summary")).to_contain_text("1 with lint warnings")
        # The identify before it has nothing to say.
        expect(page.locator('#entries > li[data-metric="Identify"] .badge.lint')).to_have_count(0)
        [event] = preview.stub.events(metric="Viewed Product")
        assert event["status"] == "good" and [w["code"] for w in event["warnings"]] == ["relative_url"] * 2
