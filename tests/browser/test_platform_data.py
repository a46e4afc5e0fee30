"""Platform-shaped data in a real browser: the Shopify example plan (examples/shopify-plan.yaml),
its data island rendered as Liquid's json filter would (cents, relative URLs, variants), on a
product page of the storefront origin. Klaviyo must record major units and absolute URLs, made
absolute against the page's own location (not the sample's page)."""

from __future__ import annotations

from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate

pytestmark = pytest.mark.browser

SHOPIFY_PLAN = Path(__file__).resolve().parents[2] / "examples" / "shopify-plan.yaml"
SHOPPER = "shopper@example.com"


def test_cents_relative_urls_and_variants_arrive_as_klaviyo_needs_them(klaviyo_shop, klaviyo_stub, tmp_path):
    out = tmp_path / "dist"
    generate(SHOPIFY_PLAN, out)
    head = (out / "install.html").read_text(encoding="utf-8")
    product = (out / "snippets" / "viewed-product.html").read_text(encoding="utf-8")
    add = ("<script>fetchCart = {total_price: 1998, currency: 'USD', items: [{product_id: 8012345, product_title: 'Ceramic Mug',"
           " sku: 'MUG-WHITE', quantity: 2, final_price: 999, final_line_price: 1998, url: '/products/ceramic-mug?variant=4410001',"
           " image: '//cdn.shopify.com/s/files/mug.png'}]};"
           " klaviyoSnippets.addedToCart(fetchCart, fetchCart.items[0]);</script>")
    html = (f"<!doctype html><html><head><meta charset='utf-8'><title>Ceramic Mug</title>{head}"
            f"<script>klaviyo.identify({{email: '{SHOPPER}'}});</script></head><body>{product}{add}</body></html>")
    klaviyo_shop.open(html, path="/products/ceramic-mug")

    viewed = klaviyo_stub.expect_event("Viewed Product", profile={"email": SHOPPER}, properties={
        "ProductID": "8012345", "SKU": "MUG-WHITE", "Price": 9.99, "CompareAtPrice": 12.99,
        "URL": "https://shop.test/products/ceramic-mug",
        "ImageURL": "https://cdn.shopify.com/s/files/1/0000/0001/products/mug.png",
    })
    assert viewed["properties"]["Price"] == 9.99  # a number in major units, not 999
    added = klaviyo_stub.expect_event("Added to Cart", value=19.98, profile={"email": SHOPPER})
    [line] = added["properties"]["Items"]
    assert (line["ItemPrice"], line["RowTotal"]) == (9.99, 19.98)
    assert line["ProductURL"] == "https://shop.test/products/ceramic-mug?variant=4410001"
    assert line["ImageURL"] == "https://cdn.shopify.com/s/files/mug.png"
    assert added["properties"]["AddedItemURL"] == "https://shop.test/products/ceramic-mug?variant=4410001"
