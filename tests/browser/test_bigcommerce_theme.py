"""The BigCommerce target in a real browser: the preset generated into a Cornerstone-like
theme, its templates rendered by Stencil's own engine (@bigcommerce/stencil-paper-handlebars,
tests/bigcommerce_theme.py) from Stencil-shaped context objects, the page served on the
storefront origin with the theme's assets, against the stand-in Klaviyo."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from klaviyo_snippets.generator.codegen import generate, preset_path
from tests.bigcommerce_theme import (
    CART, CATEGORY, CUSTOMER, PRODUCT, TALE_SF, URLS, WINNIE_SF, asset_pages, guide_added_to_cart, make_theme,
    render_page, storefront_cart,
)
from tests.platform_pages import properties

pytestmark = pytest.mark.browser

KEY = "BigC01"
EMAIL = CUSTOMER["email"]
WINNIE_IMG = "https://cdn11.bigcommerce.com/s-abc123/images/stencil/1280x1280/products/1111/1/winnie.png?c=2"


@pytest.fixture(scope="module")
def theme(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cornerstone")
    make_theme(folder)
    generate(preset_path("bigcommerce"), folder, target="bigcommerce", public_key=KEY)
    return folder


def open_page(shop, theme: Path, path: str, page: str, context: dict, content: str = ""):
    for asset, text in asset_pages(theme).items():
        shop.add(asset, text)
    tab = shop.open(render_page(theme, page, context, content), path=path)
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    return tab, errors


def test_product_with_a_logged_in_customer_then_a_category(klaviyo_shop, klaviyo_stub, theme):
    page, errors = open_page(klaviyo_shop, theme, "/winnie-the-pooh/", "pages/product",
                             {"product": PRODUCT, "customer": CUSTOMER, "urls": URLS})
    viewed = klaviyo_stub.expect_event("Viewed Product", profile={"email": EMAIL})
    assert properties(viewed) == {  # major units as they are; getImage at zoom_size; absolute URLs
        "ProductName": "Winnie the Pooh", "ProductID": "1111", "SKU": "WINNIEPOOH", "Categories": ["Fiction", "Children"],
        "ImageURL": WINNIE_IMG, "URL": "https://store.test/winnie-the-pooh/", "Brand": "Kids Books",
        "Price": 9.99, "CompareAtPrice": 14.99,
    }
    assert viewed["status"] == "good" and viewed["warnings"] == []

    open_page(klaviyo_shop, theme, "/fantasy-books/", "pages/category", {"category": CATEGORY, "customer": CUSTOMER})
    category = klaviyo_stub.expect_event("Viewed Category")
    assert properties(category) == {"CategoryName": "Fantasy Books", "CategoryID": "401",
                                    "URL": "https://store.test/fantasy-books/"}  # image: null, left out
    assert category["status"] == "good" and errors == []
    klaviyo_shop.settle()
    assert klaviyo_stub.diagnostics() == []  # no island broken or unrendered, read or not


# Cornerstone's product form (components/products/product-view.html) and its add to cart
# (assets/js/theme/common/product-details.js: utils.api.cart.itemAdd(FormData)), with what
# stencil-utils sends: lib/request.js posts the FormData with fetch to /remote/v1/cart/add (older
# stencil-utils: jQuery's XMLHttpRequest, window.oldStencilUtils here); the answer's data has the
# cart_item added, or an error, which the theme shows.
FORM = """<form class="form" method="post" action="/cart.php" enctype="multipart/form-data" data-cart-item-add>
  <input type="hidden" name="action" value="add"><input type="hidden" name="product_id" value="1112">
  <input name="qty[]" value="1"><input id="form-action-addToCart" type="submit" value="Add to Cart">
</form>
<script>
  function done(j) { document.body.setAttribute('data-added', j.data.error ? 'error' : j.data.cart_item.id); }
  document.querySelector('form[data-cart-item-add]').addEventListener('submit', function (e) {
    e.preventDefault();
    var body = new FormData(e.target), x;
    if (window.oldStencilUtils) {
      x = new XMLHttpRequest();
      x.open('POST', '/remote/v1/cart/add');
      x.withCredentials = true;
      x.onload = function () { done(JSON.parse(x.responseText)); };
      return x.send(body);
    }
    fetch('/remote/v1/cart/add', {method: 'POST', credentials: 'include', body: body,
      headers: {'stencil-config': '{}', 'stencil-options': '{}', 'x-xsrf-token': '', 'x-requested-with': 'stencil-utils'}})
      .then(function (r) { return r.json(); }).then(done);
  });
</script>"""
TALE = {**PRODUCT, "id": 1112, "title": "A Tale of Two Cities", "sku": "TALEOFTWO", "category": ["Fiction", "Classics"]}


class FakeBigCommerce:
    """BigCommerce's cart endpoints, routed on the page: stencil-utils' POST /remote/v1/cart/add
    (its remote answer, {data: {cart_id, cart_item: {id}}} or {data: {error}}) and the REST
    Storefront API's GET /api/storefront/carts (an array of one cart, as documented)."""

    def __init__(self, page) -> None:
        self.add: dict = {}
        self.carts: tuple[int, object] = (200, [])
        self.asked: list[str] = []
        page.route("**/remote/v1/cart/add", self._answer)
        page.route("**/api/storefront/carts*", self._answer)

    def _answer(self, route) -> None:
        request = route.request
        self.asked.append(f"{request.method} {request.url.split('shop.test', 1)[1]}")
        status, body = (200, self.add) if "/remote/v1/cart/add" in request.url else self.carts
        route.fulfill(status=status, content_type="application/json", body=json.dumps(body))


def added(line: dict) -> dict:
    return {"data": {"cart_id": "d4e978c2-bdcf-41b0-a49b-fecf4f5223c1", "cart_item": {"id": line["id"]}}}


CARTS = "GET /api/storefront/carts?include=lineItems.physicalItems.options,lineItems.digitalItems.options"


def test_added_to_cart_after_stencil_utils_add_carries_the_whole_cart(klaviyo_shop, klaviyo_stub, theme):
    bigcommerce = FakeBigCommerce(klaviyo_shop.page)
    page, errors = open_page(klaviyo_shop, theme, "/a-tale-of-two-cities/", "pages/product",
                             {"product": TALE, "customer": CUSTOMER, "urls": URLS}, content=FORM)
    klaviyo_shop.settle()
    bigcommerce.add, bigcommerce.carts = added(TALE_SF), (200, [storefront_cart(WINNIE_SF, TALE_SF)])
    page.click("#form-action-addToCart")
    page.wait_for_selector(f"body[data-added='{TALE_SF['id']}']")  # the theme got BigCommerce's answer, untouched
    first = klaviyo_stub.expect_event("Added to Cart", value=29.98, profile={"email": EMAIL})
    guide = guide_added_to_cart("https://shop.test/checkout")  # the guide's, less categories; $value is value
    assert (first["value"], properties(first)) == (guide.pop("$value"), guide)
    assert first["status"] == "good"
    assert bigcommerce.asked == ["POST /remote/v1/cart/add", CARTS] and errors == []
    klaviyo_shop.settle()
    assert klaviyo_stub.diagnostics() == []


@pytest.mark.klaviyo_identify(EMAIL)
def test_a_failed_add_sends_nothing_an_unreadable_cart_is_a_warning_and_older_stencil_utils_adds_too(
        klaviyo_shop, klaviyo_stub, theme):
    bigcommerce = FakeBigCommerce(klaviyo_shop.page)
    page, errors = open_page(klaviyo_shop, theme, "/a-tale-of-two-cities/", "pages/product",
                             {"product": TALE, "urls": URLS}, content=FORM)
    klaviyo_shop.settle()
    bigcommerce.add = {"data": {"error": "Sorry, A Tale of Two Cities is out of stock."}}
    page.click("#form-action-addToCart")
    page.wait_for_selector("body[data-added='error']")
    klaviyo_shop.settle()
    assert bigcommerce.asked == ["POST /remote/v1/cart/add"]  # nothing added: the cart is not read
    assert klaviyo_stub.events(metric="Added to Cart") == []

    page.evaluate("() => document.body.removeAttribute('data-added')")
    bigcommerce.add, bigcommerce.carts = added(TALE_SF), (500, {"status": 500, "title": "Internal Server Error"})
    page.click("#form-action-addToCart")
    page.wait_for_selector("body[data-added]")
    [dropped] = klaviyo_stub.wait_for(lambda: klaviyo_stub.events(status="dropped"), 10)
    assert (dropped["display_name"], dropped["reasons"][0]["detail"]) == (
        "Added to Cart", "the cart (GET /api/storefront/carts) answered HTTP 500")
    assert klaviyo_stub.events(status="good", metric="Added to Cart") == []

    # Older stencil-utils (jQuery's XMLHttpRequest); the line now holds 2, the shopper asked for 1.
    page.evaluate("() => { window.oldStencilUtils = true; document.body.removeAttribute('data-added'); }")
    two = {**TALE_SF, "quantity": 2, "extendedListPrice": 39.98, "extendedSalePrice": 39.98}
    bigcommerce.carts = (200, [storefront_cart(WINNIE_SF, two)])
    page.click("#form-action-addToCart")
    page.wait_for_selector(f"body[data-added='{TALE_SF['id']}']")
    sent = properties(klaviyo_stub.expect_event("Added to Cart", value=49.97))
    assert (sent["AddedItemQuantity"], sent["Items"][1]["Quantity"], sent["Items"][1]["RowTotal"]) == (1, 2, 39.98)
    assert bigcommerce.asked == ["POST /remote/v1/cart/add"] * 2 + [CARTS, "POST /remote/v1/cart/add", CARTS]
    assert errors == []


CHECKOUT = ('<a class="button button--primary" href="{landing}" data-primary-checkout-now-action>'
            "Check out</a>")


@pytest.mark.klaviyo_identify(EMAIL)
def test_started_checkout_from_the_cart_pages_checkout_link(klaviyo_shop, klaviyo_stub, theme):
    landing = klaviyo_shop.add("/checkout", "<!doctype html><title>checkout</title>")
    page, errors = open_page(klaviyo_shop, theme, "/cart.php", "pages/cart", {"cart": CART},
                             content=CHECKOUT.format(landing=landing))
    klaviyo_shop.settle()
    with page.expect_navigation(url=landing):
        page.click("[data-primary-checkout-now-action]")
    started = klaviyo_stub.expect_event("Started Checkout", value=49.97)
    assert started["unique_id"].startswith("checkout_")
    assert properties(started) == {
        "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"], "Categories": ["Fiction", "Children", "Classics"],
        "Items": [
            {"ProductID": "1111", "SKU": "WINNIEPOOH", "ProductName": "Winnie the Pooh", "Quantity": 1, "ItemPrice": 9.99,
             "RowTotal": 9.99, "ProductURL": "https://store.test/winniepooh/", "ImageURL": WINNIE_IMG,
             "ProductCategories": ["Fiction", "Children"]},
            {"ProductID": "1112", "SKU": "TALEOFTWO", "ProductName": "A Tale of Two Cities", "Quantity": 2,
             "ItemPrice": 19.99, "RowTotal": 39.98, "ProductURL": "https://store.test/taleoftwo/",
             "ProductCategories": ["Classics"]},  # no image: null, left out
        ]}
    assert started["status"] == "good" and errors == []


HOSTILE = "</script><script>window.pwned=1</script><!-- {{x}} {{{x}}} \"quoted\" 'single' <?php echo 1; ?> &amp;"


@pytest.mark.klaviyo_identify(EMAIL)
def test_hostile_product_names_stay_data(klaviyo_shop, klaviyo_stub, theme):
    product = {**PRODUCT, "title": HOSTILE, "category": [HOSTILE], "x": "EXPANDED"}
    page, errors = open_page(klaviyo_shop, theme, "/hostile/", "pages/product", {"product": product, "x": "EXPANDED"})
    viewed = klaviyo_stub.expect_event("Viewed Product")
    assert (viewed["properties"]["ProductName"], viewed["properties"]["Categories"]) == (HOSTILE, [HOSTILE])
    assert page.evaluate("() => window.pwned") is None and errors == []
    klaviyo_shop.settle()
    assert klaviyo_stub.diagnostics() == []  # every island still JSON
