"""The WooCommerce target in a real browser: the preset generated into a plugin folder, its PHP run
by PHP with the shim of the WordPress functions it calls (tests/woocommerce_theme.py) on
WooCommerce-shaped objects, the page served on the storefront origin with the plugin's assets and
WordPress's jQuery, against the stand-in Klaviyo. WooCommerce's AJAX add and its Store API cart
are a fake WooCommerce answering as WooCommerce documents them (routed in the test); the add
button's script does what WooCommerce's add-to-cart.js does on success: trigger added_to_cart
with jQuery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from klaviyo_snippets.generator.codegen import generate, preset_path
from tests.platform_pages import properties
from tests.woocommerce_theme import (
    CATEGORY, PRODUCT, TALE_ITEM, USER, WINNIE_ITEM, asset_pages, cart, item, run_php, store,
)

pytestmark = pytest.mark.browser

KEY = "WooT01"
EMAIL = USER["user_email"]


@pytest.fixture(scope="module")
def plugin(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("plugins") / "klaviyo-snippets"
    generate(preset_path("woocommerce"), folder, target="woocommerce", public_key=KEY)
    return folder


def open_page(shop, plugin: Path, path: str, page: list[str] | None = None, **state):
    for asset, text in asset_pages(plugin).items():
        shop.add(asset, text)
    browser_page = shop.open(run_php(plugin, page, **state), path=path)
    errors: list[str] = []
    browser_page.on("pageerror", lambda error: errors.append(str(error)))
    return browser_page, errors


def test_a_logged_in_customer_viewing_a_product_a_category_and_a_search(klaviyo_shop, klaviyo_stub, plugin):
    page, errors = open_page(klaviyo_shop, plugin, "/product/winnie-the-pooh/", ["product"], queried_id=1111,
                             user=USER, store=store(PRODUCT))
    viewed = klaviyo_stub.expect_event("Viewed Product", profile={"email": EMAIL})
    assert properties(viewed) == {  # "999" to 9.99 (USD: 2 digits)
        "ProductName": "Winnie the Pooh", "ProductID": "1111", "SKU": "WINNIEPOOH", "Categories": ["Fiction", "Children"],
        "ImageURL": "https://shop.test/wp-content/uploads/2026/11/winnie.png",
        "URL": "https://shop.test/product/winnie-the-pooh/", "Brand": "Kids Books", "Price": 9.99, "CompareAtPrice": 14.99,
    }
    assert (viewed["status"], viewed["warnings"]) == ("good", [])
    klaviyo_shop.settle()
    [profile] = klaviyo_stub.profiles()
    assert {k: profile["attributes"].get(k) for k in ("email", "first_name", "last_name")} == {
        "email": EMAIL, "first_name": "Thomas", "last_name": "Jefferson"}

    open_page(klaviyo_shop, plugin, "/product-category/fantasy-books/", ["product_category"], queried_id=401,
              user=USER, store=store(category=CATEGORY))
    category = klaviyo_stub.expect_event("Viewed Category")
    assert properties(category) == {"CategoryName": "Fantasy Books", "CategoryID": "401",
                                    "ImageURL": "https://shop.test/wp-content/uploads/2026/11/fantasy.png",
                                    "URL": "https://shop.test/product-category/fantasy-books/"}
    open_page(klaviyo_shop, plugin, "/search/Fantasty+Boks/", ["search"], user=USER, search=["Fantasty Boks", 54])
    searched = klaviyo_stub.expect_event("Searched Site")
    assert properties(searched) == {"SearchTerm": "Fantasty Boks", "ReturnedResults": 54}
    assert errors == [] and [e["status"] for e in (category, searched)] == ["good", "good"]
    klaviyo_shop.settle()
    assert klaviyo_stub.diagnostics() == []  # no island broken, read or not


HOSTILE = "</script><script>window.pwned=1</script><!-- <?php echo 'PWNED'; ?> {{ x }} \"quoted\" 'single' &amp;"


@pytest.mark.klaviyo_identify(EMAIL)
def test_hostile_names_stay_data(klaviyo_shop, klaviyo_stub, plugin):
    product = {**PRODUCT, "name": HOSTILE, "categories": [{"id": 1, "name": HOSTILE, "slug": "x", "link": "x"}]}
    page, errors = open_page(klaviyo_shop, plugin, "/product/hostile/", ["product"], queried_id=1111, store=store(product))
    viewed = klaviyo_stub.expect_event("Viewed Product")
    assert (viewed["properties"]["ProductName"], viewed["properties"]["Categories"]) == (HOSTILE, [HOSTILE])
    assert page.evaluate("() => window.pwned") is None and errors == []
    klaviyo_shop.settle()
    assert klaviyo_stub.diagnostics() == []  # every island still JSON
    assert "PWNED" not in page.content().replace("echo 'PWNED'", "")


# A shop page's AJAX add-to-cart button, as WooCommerce prints it, and what WooCommerce's
# add-to-cart.js does with it: POST ?wc-ajax=add_to_cart with the button's data, then, on success,
# trigger added_to_cart on document.body with (fragments, cart_hash, $button).
SHOP = """
<a href="?add-to-cart=1112" data-quantity="1" class="button product_type_simple add_to_cart_button ajax_add_to_cart"
   data-product_id="1112" data-product_sku="TALEOFTWO" rel="nofollow">Add to cart</a>
<script>
  jQuery(function ($) {
    $(document.body).on('click', '.ajax_add_to_cart', function (e) {
      e.preventDefault();
      var $button = $(this), data = {};
      $.each($button[0].dataset, function (key, value) { data[key] = value; });
      $.post('/?wc-ajax=add_to_cart', data, function (response) {
        $(document.body).trigger('added_to_cart', [response.fragments, response.cart_hash, $button]);
        document.body.setAttribute('data-added', response.cart_hash);
      }, 'json');
    });
  });
</script>
"""

LINES = [
    {"ProductID": "1111", "SKU": "WINNIEPOOH", "ProductName": "Winnie the Pooh", "Quantity": 1, "ItemPrice": 9.99,
     "RowTotal": 9.99, "ProductURL": "https://shop.test/product/winniepooh/",
     "ImageURL": "https://shop.test/wp-content/uploads/2026/11/winniepooh.png"},
    {"ProductID": "1112", "SKU": "TALEOFTWO", "ProductName": "A Tale of Two Cities", "Quantity": 1, "ItemPrice": 19.99,
     "RowTotal": 19.99, "ProductURL": "https://shop.test/product/taleoftwo/",
     "ImageURL": "https://shop.test/wp-content/uploads/2026/11/taleoftwo.png"},
]
ADDED_TALE = {"AddedItemProductName": "A Tale of Two Cities", "AddedItemProductID": "1112", "AddedItemSKU": "TALEOFTWO",
              "AddedItemImageURL": "https://shop.test/wp-content/uploads/2026/11/taleoftwo.png",
              "AddedItemURL": "https://shop.test/product/taleoftwo/", "AddedItemPrice": 19.99}


def test_added_to_cart_from_the_ajax_button_and_a_form_post_then_started_checkout(klaviyo_shop, klaviyo_stub, plugin):
    now = {"cart": cart(WINNIE_ITEM, TALE_ITEM)}
    posted = []

    def woo(route) -> None:
        request = route.request
        if "wc-ajax=add_to_cart" in request.url and request.method == "POST":
            posted.append(request.headers.get("x-requested-with"))
            route.fulfill(status=200, content_type="application/json",
                          body=json.dumps({"fragments": {"div.widget_shopping_cart_content": "<div></div>"},
                                           "cart_hash": "5c1a0e"}))
        elif request.url.endswith("/wp-json/wc/store/v1/cart") and request.method == "GET":
            route.fulfill(status=200, content_type="application/json", body=json.dumps(now["cart"]))
        else:
            route.fulfill(status=404, body="not a WooCommerce call")

    klaviyo_shop.page.route("https://shop.test/?wc-ajax=add_to_cart", woo)
    klaviyo_shop.page.route("https://shop.test/wp-json/wc/store/v1/cart", woo)
    page, errors = open_page(klaviyo_shop, plugin, "/shop/", user=USER, content=SHOP)
    klaviyo_shop.settle()
    page.click(".ajax_add_to_cart")
    page.wait_for_selector("body[data-added]")
    added = klaviyo_stub.expect_event("Added to Cart", value=29.98, profile={"email": EMAIL})
    assert properties(added) == {**ADDED_TALE, "AddedItemQuantity": 1,
                                 "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"], "Items": LINES}
    assert (added["status"], posted) == ("good", ["XMLHttpRequest"])
    assert added["unique_id"].startswith(f"{TALE_ITEM['key']}_2998_")

    # The product page's form posted 2 more and the page reloaded: the plugin noted the item's key.
    now["cart"] = cart(WINNIE_ITEM, item(TALE_ITEM["key"], 1112, "A Tale of Two Cities", "TALEOFTWO", "1999", 3))
    page, more = open_page(klaviyo_shop, plugin, "/product/taleoftwo/", user=USER,
                           session={"klaviyo_snippets_added": [{"key": TALE_ITEM["key"], "quantity": 2}]})
    again = klaviyo_stub.expect_event("Added to Cart", value=69.96, profile={"email": EMAIL})
    assert properties(again) == {**ADDED_TALE, "AddedItemQuantity": 2,  # asked for, not the item's 3
                                 "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"],
                                 "Items": [LINES[0], {**LINES[1], "Quantity": 3, "RowTotal": 59.97}]}
    assert again["unique_id"].startswith(f"{TALE_ITEM['key']}_6996_")  # within the same second, not a duplicate

    open_page(klaviyo_shop, plugin, "/checkout/", ["checkout"], user=USER, store=store(the_cart=now["cart"]))
    started = klaviyo_stub.expect_event("Started Checkout", value=69.96, profile={"email": EMAIL})
    assert started["unique_id"].startswith("checkout_") and started["unique_id"][9:].isdigit()
    assert properties(started) == {"ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"],
                                   "CheckoutURL": "https://shop.test/checkout/",
                                   "Items": [LINES[0], {**LINES[1], "Quantity": 3, "RowTotal": 59.97}]}
    assert started["status"] == "good" and errors == more == []
    assert len(klaviyo_stub.events(metric="Added to Cart")) == 2
