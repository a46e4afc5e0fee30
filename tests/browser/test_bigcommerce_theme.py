"""The BigCommerce target in a real browser: the preset generated into a Cornerstone-like
theme, its templates rendered by Stencil's own engine (@bigcommerce/stencil-paper-handlebars,
tests/bigcommerce_theme.py) from Stencil-shaped context objects, the page served on the
storefront origin with the theme's assets, against the stand-in Klaviyo."""

from __future__ import annotations

from pathlib import Path

import pytest

from klaviyo_snippets.generator.codegen import generate, preset_path
from tests.bigcommerce_theme import CART, CATEGORY, CUSTOMER, PRODUCT, asset_pages, make_theme, render_page
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


# Cornerstone's product form (components/products/product-view.html): stencil-utils posts it
# with fetch and the page stays (preventDefault).
FORM = """<form class="form" method="post" action="/cart.php" enctype="multipart/form-data" data-cart-item-add>
  <input type="hidden" name="action" value="add"><input type="hidden" name="product_id" value="1111">
  <input name="qty[]" value="1"><input id="form-action-addToCart" type="submit" value="Add to Cart">
</form>
<script>document.querySelector('form[data-cart-item-add]').addEventListener('submit', function (e) {
  e.preventDefault(); document.body.setAttribute('data-added', '1'); });</script>"""


def test_product_with_a_logged_in_customer_then_add_to_cart_and_a_category(klaviyo_shop, klaviyo_stub, theme):
    page, errors = open_page(klaviyo_shop, theme, "/winnie-the-pooh/", "pages/product",
                             {"product": PRODUCT, "customer": CUSTOMER}, content=FORM)
    viewed = klaviyo_stub.expect_event("Viewed Product", profile={"email": EMAIL})
    assert properties(viewed) == {  # major units as they are; getImage at zoom_size; absolute URLs
        "ProductName": "Winnie the Pooh", "ProductID": "1111", "SKU": "WINNIEPOOH", "Categories": ["Fiction", "Children"],
        "ImageURL": WINNIE_IMG, "URL": "https://store.test/winnie-the-pooh/", "Brand": "Kids Books",
        "Price": 9.99, "CompareAtPrice": 14.99,
    }
    assert viewed["status"] == "good" and viewed["warnings"] == []
    page.click("#form-action-addToCart")
    page.wait_for_selector("body[data-added]")
    added = klaviyo_stub.expect_event("Added to Cart", value=9.99, profile={"email": EMAIL})
    assert properties(added) == {
        "AddedItemProductName": "Winnie the Pooh", "AddedItemProductID": "1111", "AddedItemSKU": "WINNIEPOOH",
        "AddedItemCategories": ["Fiction", "Children"], "AddedItemImageURL": WINNIE_IMG,
        "AddedItemURL": "https://store.test/winnie-the-pooh/", "AddedItemPrice": 9.99}
    assert added["status"] == "good"

    open_page(klaviyo_shop, theme, "/fantasy-books/", "pages/category", {"category": CATEGORY, "customer": CUSTOMER})
    category = klaviyo_stub.expect_event("Viewed Category")
    assert properties(category) == {"CategoryName": "Fantasy Books", "CategoryID": "401",
                                    "URL": "https://store.test/fantasy-books/"}  # image: null, left out
    assert category["status"] == "good" and errors == []
    klaviyo_shop.settle()
    assert klaviyo_stub.diagnostics() == []  # no island broken or unrendered, read or not


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
