"""The Shopify target in a real browser: the preset generated into a Dawn-like theme, its Liquid
rendered by a Liquid engine (python-liquid with Shopify's filters, tests/shopify_theme.py) from
Shopify-shaped objects, the page served on the storefront origin with the theme's assets, against
the stand-in Klaviyo. The cart API is a fake Shopify answering as Shopify documents it (routed in
the test); the cart form posts to a real HTTP server on loopback, which sees what was submitted
in every browser (over BiDi a routed POST has no body). The checkout pixel runs in a Web Worker,
as Shopify's strict sandbox runs pixels: no DOM, no window."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from klaviyo_snippets.generator.codegen import generate, preset_path
from tests.platform_pages import properties
from tests.shopify_theme import (
    COLLECTION, CUSTOMER, PRODUCT, SEARCH, TALE_LINE, WINNIE_LINE, asset_pages, cart, make_theme, render_page,
)

pytestmark = pytest.mark.browser

KEY = "ShpT01"
EMAIL = CUSTOMER["email"]


@pytest.fixture(scope="module")
def theme(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("dawn")
    make_theme(folder)
    generate(preset_path("shopify"), folder, target="shopify", public_key=KEY)
    return folder


def open_page(shop, theme: Path, path: str, **render):
    for asset, text in asset_pages(theme).items():
        shop.add(asset, text)
    page = shop.open(render_page(theme, **render), path=path)
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return page, errors


def test_a_logged_in_customer_viewing_a_product_collection_and_search(klaviyo_shop, klaviyo_stub, theme):
    page, errors = open_page(klaviyo_shop, theme, path="/products/winnie-the-pooh",
                             page_type="product", product=PRODUCT, customer=CUSTOMER, cart=cart(WINNIE_LINE))
    viewed = klaviyo_stub.expect_event("Viewed Product", profile={"email": EMAIL})
    assert properties(viewed) == {  # cents to 9.99, relative and protocol-relative URLs made absolute
        "ProductName": "Winnie the Pooh", "ProductID": "1111", "SKU": "WINNIEPOOH", "Categories": ["Fiction", "Children"],
        "ImageURL": "https://shop.test/cdn/shop/files/winnie.png?v=1700000001&width=1024",
        "URL": "https://shop.test/products/winnie-the-pooh", "Brand": "Kids Books", "Price": 9.99, "CompareAtPrice": 14.99,
    }
    assert viewed["status"] == "good" and viewed["warnings"] == []
    klaviyo_shop.settle()  # identify is debounced
    [profile] = klaviyo_stub.profiles()
    assert {k: profile["attributes"].get(k) for k in ("email", "first_name", "last_name")} == {
        "email": EMAIL, "first_name": "Thomas", "last_name": "Jefferson"}
    [recent] = page.evaluate("() => JSON.parse(localStorage.getItem('__kla_viewed'))")
    assert {k: recent[0][k] for k in ("Title", "ItemId", "Url", "Metadata")} == {
        "Title": "Winnie the Pooh", "ItemId": "1111", "Url": "https://shop.test/products/winnie-the-pooh",
        "Metadata": {"Brand": "Kids Books", "Price": 9.99, "CompareAtPrice": 14.99}}

    open_page(klaviyo_shop, theme, "/collections/fantasy", page_type="collection", collection=COLLECTION,
              customer=CUSTOMER)
    category = klaviyo_stub.expect_event("Viewed Category")
    assert properties(category) == {"CategoryName": "Fantasy Books", "CategoryID": "401",
                                    "ImageURL": "https://shop.test/cdn/shop/collections/fantasy.png?v=1700000002&width=1024",
                                    "URL": "https://shop.test/collections/fantasy"}
    open_page(klaviyo_shop, theme, "/search", page_type="search", search=SEARCH, customer=CUSTOMER)
    searched = klaviyo_stub.expect_event("Searched Site")
    assert properties(searched) == {"SearchTerm": "Fantasty Boks", "ReturnedResults": 54}
    assert errors == [] and [e["status"] for e in (category, searched)] == ["good", "good"]
    klaviyo_shop.settle()
    assert klaviyo_stub.diagnostics() == []  # no island broken or unrendered, read or not


HOSTILE = "</script><script>window.pwned=1</script><!-- {{ x }} {% raw %} \"quoted\" 'single' &amp;"


@pytest.mark.klaviyo_identify(EMAIL)
def test_hostile_titles_stay_data_even_with_a_json_filter_that_escapes_nothing(klaviyo_shop, klaviyo_stub, theme):
    product = {**PRODUCT, "title": HOSTILE, "collections": [{"title": HOSTILE}]}
    page, errors = open_page(klaviyo_shop, theme, "/products/hostile", page_type="product", escaping=False,
                             product=product, cart={**cart(WINNIE_LINE), "note": HOSTILE})
    viewed = klaviyo_stub.expect_event("Viewed Product")
    assert (viewed["properties"]["ProductName"], viewed["properties"]["Categories"]) == (HOSTILE, [HOSTILE])
    assert page.evaluate("() => window.pwned") is None and errors == []
    klaviyo_shop.settle()
    assert klaviyo_stub.diagnostics() == []  # every island still JSON, the cart one too
    assert json.loads(page.locator('script[data-klaviyo="cart"]').text_content())["note"] == HOSTILE


class Landing:
    """A real HTTP server on loopback where the cart form lands: each request's method, path, fields."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, list[tuple[str, str]]]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
                seen.append((self.command, self.path, parse_qsl(body, keep_blank_values=True)))
                page = b"<!doctype html><title>checkout</title>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="landing", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def landing():
    server = Landing()
    yield server
    server.close()


# Dawn's product form (assets/product-form.js): fetch(routes.cart_add_url) with the form's FormData,
# Accept: application/javascript; its cart footer: the checkout button outside the cart form,
# tied to it with form="cart".
DAWN = """
<product-form>
  <form method="post" action="/cart/add" id="product-form" data-type="add-to-cart-form">
    <input type="hidden" name="id" value="39001112"><input name="quantity" value="2">
    <button type="submit" name="add">Add to cart</button>
  </form>
</product-form>
<form action="{landing}/cart" method="post" id="cart"><input name="updates[]" value="1"></form>
<button type="submit" id="checkout" class="cart__checkout-button button" name="checkout" form="cart">Check out</button>
<script>
  window.routes = {{cart_add_url: '/cart/add', cart_url: '/cart'}};
  document.getElementById('product-form').addEventListener('submit', function (evt) {{
    evt.preventDefault();
    var config = {{method: 'POST', headers: {{Accept: 'application/javascript', 'X-Requested-With': 'XMLHttpRequest'}},
                  body: new FormData(evt.target)}};
    fetch(routes.cart_add_url, config).then(function (r) {{ return r.json(); }}).then(function (line) {{
      document.body.setAttribute('data-added', line.key);
    }});
  }});
</script>
"""


def test_added_to_cart_after_the_themes_fetch_then_started_checkout_from_the_form_cart_button(
        klaviyo_shop, klaviyo_stub, landing, theme):
    before = cart(WINNIE_LINE, TALE_LINE)
    # Shopify answers an add with the line, its quantity the line's new total (1 + the 2 asked for).
    added_line = {**TALE_LINE, "quantity": 3, "line_price": 5997, "final_line_price": 5997}
    after = cart(WINNIE_LINE, added_line)
    asked = []

    def cart_api(route) -> None:
        request = route.request
        if request.url.endswith("/cart/add") and request.method == "POST":
            asked.append(request.headers.get("accept"))
            route.fulfill(status=200, content_type="application/javascript", body=json.dumps(added_line))
        elif request.url.endswith("/cart.js") and request.method == "GET":
            route.fulfill(status=200, content_type="application/json", body=json.dumps(after))
        else:
            route.fulfill(status=404, body="not a cart API call")

    klaviyo_shop.page.route("https://shop.test/cart/add", cart_api)
    klaviyo_shop.page.route("https://shop.test/cart.js", cart_api)
    page, errors = open_page(klaviyo_shop, theme, "/products/a-tale-of-two-cities", page_type="product",
                             product=PRODUCT, customer=CUSTOMER, cart=before, content=DAWN.format(landing=landing.url))
    klaviyo_shop.settle()
    page.click("button[name=add]")
    page.wait_for_selector("body[data-added]")  # the theme got Shopify's answer, untouched
    added = klaviyo_stub.expect_event("Added to Cart", value=69.96, profile={"email": EMAIL})
    lines = [
        {"ProductID": "1111", "SKU": "WINNIEPOOH", "ProductName": "Winnie the Pooh", "Quantity": 1, "ItemPrice": 9.99,
         "RowTotal": 9.99, "ProductURL": "https://shop.test/products/winnie-the-pooh?variant=39001111",
         "ImageURL": "https://cdn.shopify.com/s/files/1/0001/winnie.png?v=1700000001", "ProductCategories": ["Fiction"]},
        {"ProductID": "1112", "SKU": "TALEOFTWO", "ProductName": "A Tale of Two Cities", "Quantity": 3, "ItemPrice": 19.99,
         "RowTotal": 59.97, "ProductURL": "https://shop.test/products/a-tale-of-two-cities?variant=39001112",
         "ImageURL": "https://cdn.shopify.com/s/files/1/0001/tale.png?v=1700000003", "ProductCategories": ["Classics"]},
    ]
    assert properties(added) == {
        "AddedItemProductName": "A Tale of Two Cities", "AddedItemProductID": "1112", "AddedItemSKU": "TALEOFTWO",
        "AddedItemCategories": ["Classics", "Fiction"],
        "AddedItemImageURL": "https://cdn.shopify.com/s/files/1/0001/tale.png?v=1700000003",
        "AddedItemURL": "https://shop.test/products/a-tale-of-two-cities?variant=39001112",
        "AddedItemPrice": 19.99, "AddedItemQuantity": 2,  # what the shopper asked for, not the line's 3
        "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"], "Items": lines,
    }
    assert added["status"] == "good" and asked == ["application/javascript"]

    # The cart drawer's button: outside the form (form="cart"); the cart as it is after the add.
    with page.expect_navigation(url=f"{landing.url}/cart"):
        page.click("#checkout")
    started = klaviyo_stub.expect_event("Started Checkout", value=69.96, profile={"email": EMAIL})
    event_id = started["unique_id"]
    assert event_id.startswith("c1-7a2f9e_") and event_id.split("_")[1].isdigit()
    assert properties(started) == {"ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"],
                                   "Categories": ["Fiction", "Classics"], "Items": lines}
    assert landing.seen == [("POST", "/cart", [("updates[]", "1"), ("checkout", "")])]  # once, with checkout
    assert errors == []


# Shopify's checkout_started, as @shopify/web-pixels-extension 2.18.0 types it (PixelEventsCheckoutStarted):
# MoneyV2 amounts in major units, string ids, relative product URLs.
def checkout_event(name: str, email: str | None) -> dict:
    def money(amount: float) -> dict:
        return {"amount": amount, "currencyCode": "USD"}

    def line(pid, vid, title, sku, price, kind, url, image):
        return {"id": f"gid://shopify/CheckoutLineItem/{vid}", "quantity": 1, "title": title,
                "finalLinePrice": money(price), "discountAllocations": [], "properties": [], "sellingPlanAllocation": None,
                "variant": {"id": str(vid), "sku": sku, "title": "Default Title", "untranslatedTitle": "Default Title",
                            "price": money(price), "image": {"src": image},
                            "product": {"id": str(pid), "title": title, "untranslatedTitle": title, "type": kind,
                                        "url": url, "vendor": "Books"}}}

    return {
        "id": "sh-88f2a1", "name": name, "type": "standard", "seq": 3, "clientId": "c0ffee-01",
        "timestamp": "2026-12-03T10:00:00.000Z",
        "context": {"document": {"location": {"href": "https://shop.test/checkouts/cn/Z2NwLXVz", "origin": "https://shop.test",
                                              "host": "shop.test", "hostname": "shop.test", "pathname": "/checkouts/cn/Z2NwLXVz",
                                              "protocol": "https:", "search": "", "hash": "", "port": ""},
                                 "referrer": "https://shop.test/cart", "title": "Checkout", "characterSet": "UTF-8"},
                    "navigator": {"language": "en-US", "cookieEnabled": True}, "window": {"innerWidth": 1280}},
        "data": {"checkout": {
            "token": "Z2NwLXVz", "currencyCode": "USD", "email": email, "phone": None,
            "subtotalPrice": money(29.98), "totalPrice": money(32.38), "totalTax": money(2.40),
            "discountsAmount": money(0), "discountApplications": [], "attributes": [], "order": None,
            "shippingAddress": None, "billingAddress": None, "shippingLine": None, "transactions": [],
            "lineItems": [
                line(1111, 39001111, "Winnie the Pooh", "WINNIEPOOH", 9.99, "Fiction", "/products/winnie-the-pooh",
                     "//cdn.shopify.com/s/files/1/0001/winnie.png"),
                line(1112, 39001112, "A Tale of Two Cities", "TALEOFTWO", 19.99, "Classics", "/products/a-tale-of-two-cities",
                     "https://cdn.shopify.com/s/files/1/0001/tale.png"),
            ]}},
    }


# The worker: Shopify's `analytics` (subscribe; the test publishes), the pixel's code, then the
# events in order; once every fetch the pixel made is answered, their answers are reported.
WORKER = """
var handlers = {}, calls = [];
var analytics = {subscribe: function (name, f) { (handlers[name] = handlers[name] || []).push(f); }};
var realFetch = self.fetch;
self.fetch = function (url, options) {
  var p = realFetch.apply(self, arguments);
  calls.push(p.then(function (r) { return [options.keepalive, r.status]; }, function () { return [options.keepalive, "refused"]; }));
  return p;
};
PIXEL
EVENTS.forEach(function (e) { (handlers[e.name] || []).forEach(function (f) { f(e); }); });
(function settle(n) {  // until no fetch is pending, a retry made after a refusal included
  Promise.all(calls).then(function (done) { calls.length > n ? settle(calls.length) : postMessage(done); });
})(calls.length);
"""


def large_event_bytes(stub) -> int:
    return max(r["bytes"] for r in stub.requests() if r["path"].startswith("/client/events"))


def test_the_checkout_pixel_in_a_web_worker_sends_started_checkout_once(klaviyo_shop, klaviyo_stub, browser_name, theme):
    pixel = (theme / "klaviyo-snippets" / "klaviyo-checkout-pixel.js").read_text(encoding="utf-8")
    if browser_name == "firefox":  # the direct lane: a routed POST loses its body over BiDi (docs/design.md)
        pixel = pixel.replace('"https://a.klaviyo.com"', json.dumps(klaviyo_stub.url))
    # No email yet: nothing is sent until the shopper gives one; entering the checkout again is not counted twice.
    events = [checkout_event("checkout_started", None), checkout_event("checkout_contact_info_submitted", EMAIL),
              checkout_event("checkout_started", EMAIL)]
    # A very large checkout: a body over the 64 KB browsers allow a keepalive request.
    large = checkout_event("checkout_started", EMAIL)
    large["data"]["checkout"]["token"] = "Z2NwLXVz-large"
    large["data"]["checkout"]["lineItems"] *= 120  # 240 lines: about 71 KB, each property under 100 KB
    events.append(large)
    source = WORKER.replace("PIXEL", pixel).replace("EVENTS", json.dumps(events))
    html = ("<!doctype html><title>checkout</title><script>var w = new Worker(URL.createObjectURL(new Blob("
            f"[{json.dumps(source)}], {{type: 'text/javascript'}})));"
            "w.onmessage = function (e) { window.calls = e.data; }; w.onerror = function (e) { window.failed = e.message; };"
            "</script>")
    page = klaviyo_shop.open(html, path="/checkouts/cn/Z2NwLXVz")
    event = klaviyo_stub.expect_event("Started Checkout", value=29.98, profile={"email": EMAIL}, unique_id="Z2NwLXVz")
    page.wait_for_function("() => window.calls || window.failed")  # every fetch the pixel made, answered
    # One request for the checkout entered twice; the large one refused with keepalive, sent without.
    assert page.evaluate("() => [window.failed, window.calls]") == [None, [[True, 202], [True, "refused"], [False, 202]]]
    large_event = klaviyo_stub.expect_event("Started Checkout", unique_id="Z2NwLXVz-large", value=29.98)
    assert len(large_event["properties"]["Items"]) == 240 and len(klaviyo_stub.events(metric="Started Checkout")) == 2
    attributes = event["body"]["data"]["attributes"]
    assert attributes == {
        "metric": {"data": {"type": "metric", "attributes": {"name": "Started Checkout"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": EMAIL}}},
        "properties": {
            "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"], "Categories": ["Fiction", "Classics"],
            "Items": [
                {"ProductID": "1111", "SKU": "WINNIEPOOH", "ProductName": "Winnie the Pooh", "Quantity": 1, "ItemPrice": 9.99,
                 "RowTotal": 9.99, "ProductURL": "https://shop.test/products/winnie-the-pooh",
                 "ImageURL": "https://cdn.shopify.com/s/files/1/0001/winnie.png", "ProductCategories": ["Fiction"]},
                {"ProductID": "1112", "SKU": "TALEOFTWO", "ProductName": "A Tale of Two Cities", "Quantity": 1,
                 "ItemPrice": 19.99, "RowTotal": 19.99, "ProductURL": "https://shop.test/products/a-tale-of-two-cities",
                 "ImageURL": "https://cdn.shopify.com/s/files/1/0001/tale.png", "ProductCategories": ["Classics"]},
            ],
            "CheckoutURL": "https://shop.test/checkouts/cn/Z2NwLXVz",
        },
        "value": 29.98, "value_currency": "USD", "unique_id": "Z2NwLXVz", "time": "2026-12-03T10:00:00.000Z",
    }
    assert (event["status"], event["warnings"]) == ("good", [])
    request = next(r for r in klaviyo_stub.requests() if r["path"].startswith("/client/events"))
    assert request["query"] == {"company_id": KEY} and request["headers"]["revision"] == "2026-07-15"
    assert request["bytes"] < 64 * 1024 < large_event_bytes(klaviyo_stub)
