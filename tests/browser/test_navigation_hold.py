"""Navigation never loses an event: every trigger whose element leaves the page is held until
Klaviyo has the event (at most 500 ms), then the page goes where the browser would have sent it.

Firefox aborts the onsite script's request when the page navigates (docs/browsers.md); these
tests run in every lane (`--browser chromium --browser firefox`, and WebKit where Playwright has
it) and assert what a shopper and a store rely on: the event arrives good, the page lands where
the link or form says, with what the form would have submitted, exactly once.

The form targets are a real HTTP server on loopback (a Shopify cart posts to /cart): it sees
the method, the body and how many submissions arrived, in every browser (over BiDi a routed
POST has no body).
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

from klaviyo_snippets import generate

pytestmark = pytest.mark.browser

SHOPPER = "ann.lee@example.com"

PLAN = """\
version: 1
public_key: NavT01
events:
  identify:
    method: identify
    inputs: [customer]
    fire: {load: true}
    properties:
      email: {type: string, required: true, from: customer.email}
  started_checkout:
    metric: Started Checkout
    inputs: [cart]
    fire:
      click: {selector: "[name=checkout]"}
    properties:
      $value: {type: number, required: true, from: cart.total_price}
      ItemNames: {type: string_list, from: "cart.items[].title"}
  clicked_banner:
    metric: Clicked Banner
    inputs: [banner]
    fire:
      click: {selector: "[data-klaviyo-banner]", input: banner}
    properties:
      BannerTitle: {type: string, required: true, from: banner.dataset.klaviyoBanner}
  searched_site:
    metric: Searched Site
    inputs: [search]
    fire:
      submit: {selector: "form[data-klaviyo-search]", input: search}
    properties:
      SearchTerm: {type: string, required: true, from: search.term}
  pressed_search:
    metric: Pressed Search
    fire:
      click: {selector: "button[name=scope]"}
    properties:
      Page: {type: string, required: true, from: page.path}
"""

CUSTOMER = f'<script type="application/json" data-klaviyo="customer">{{"email": "{SHOPPER}"}}</script>'
CART = ('<script type="application/json" data-klaviyo="cart">'
        '{"total_price": 29.98, "items": [{"title": "Winnie the Pooh"}, {"title": "A Tale of Two Cities"}]}</script>')


class Landing:
    """A real HTTP server on loopback where forms land: records each request (method, path,
    fields) and answers a small page."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, list[tuple[str, str]]]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                seen.append((self.command, parts.path, parse_qsl(body or parts.query, keep_blank_values=True)))
                page = b"<!doctype html><title>landed</title><p>landed</p>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            do_GET = do_POST = _answer

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, name="landing", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> str:
    folder: Path = tmp_path_factory.mktemp("navigation")
    (folder / "plan.yaml").write_text(PLAN, encoding="utf-8")
    generate(folder / "plan.yaml", folder / "dist")
    return (folder / "dist" / "install.html").read_text(encoding="utf-8")


@pytest.fixture
def landing():
    server = Landing()
    yield server
    server.close()


def shop_page(install: str, body: str) -> str:
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>shop</title>{install}</head>"
            f"<body>{CUSTOMER}{body}</body></html>")


def open_identified(klaviyo_shop, klaviyo_stub, html: str, path: str = "/index.html"):
    """Open the page and let its identify be answered, so its events can be good."""
    p = klaviyo_shop.open(html, path=path)
    klaviyo_shop.settle()
    assert [pr["attributes"].get("email") for pr in klaviyo_stub.profiles()] == [SHOPPER]
    return p


BUTTON = '<button type="submit" name="checkout">Check out</button>'
IMAGE = '<input type="image" name="checkout" alt="Check out" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">'


def cart_form(landing, button: str = BUTTON, script: str = "") -> str:
    """A Shopify theme's cart: a form posting to /cart, the checkout button submitting it."""
    return (f'{CART}<form action="{landing.url}/cart" method="post" id="cart">'
            '<input name="updates[]" value="2"><textarea name="note">gift</textarea>'
            f'<button type="submit" name="update">Update</button>{button}</form>{script}')


@pytest.mark.parametrize("button, clicks", [(BUTTON, 1), (IMAGE, 1), (BUTTON, 2)],
                         ids=["button", "input-image", "button-double-click"])
def test_a_shopify_cart_checkout_button_delivers_started_checkout_and_submits_the_cart(
        klaviyo_shop, klaviyo_stub, landing, install, button, clicks):
    # A click trigger on the checkout button, which submits the form (POST /cart with checkout
    # in it) and leaves the page at once; clicked twice, the cart is still submitted once.
    p = open_identified(klaviyo_shop, klaviyo_stub, shop_page(install, cart_form(landing, button)), "/cart")
    with p.expect_navigation(url=f"{landing.url}/cart"):
        p.click("[name=checkout]", click_count=clicks)
    event = klaviyo_stub.expect_event("Started Checkout", value=29.98, profile={"email": SHOPPER})
    assert event["properties"]["ItemNames"] == ["Winnie the Pooh", "A Tale of Two Cities"]
    [(method, path, fields)] = landing.seen  # one submission, not two
    assert (method, path) == ("POST", "/cart")
    names = [name for name, _ in fields]
    assert names[:2] == ["updates[]", "note"] and "update" not in names  # the other button is not sent
    assert names[2:] == (["checkout"] if button.startswith("<button") else ["checkout.x", "checkout.y"])


def test_without_request_submit_the_held_cart_still_goes_to_checkout(klaviyo_shop, klaviyo_stub, landing, install):
    # Safari before 16 has no requestSubmit: the held form is sent with submit(), which sends no
    # button, so a hidden copy of the button's name=value must carry "checkout" (without it
    # Shopify reads an update of the cart and the shopper lands back on /cart).
    klaviyo_shop.page.add_init_script("delete HTMLFormElement.prototype.requestSubmit;")
    p = open_identified(klaviyo_shop, klaviyo_stub, shop_page(install, cart_form(landing)), "/cart")
    with p.expect_navigation(url=f"{landing.url}/cart"):
        p.click("[name=checkout]")
    klaviyo_stub.expect_event("Started Checkout", value=29.98, profile={"email": SHOPPER})
    assert landing.seen == [("POST", "/cart", [("updates[]", "2"), ("note", "gift"), ("checkout", "")])]


def test_a_click_inside_a_link_delivers_and_follows_the_link(klaviyo_shop, klaviyo_stub, install):
    klaviyo_shop.add("/deals.html", "<!doctype html><title>deals</title><p>deals</p>")
    body = ('<a href="/deals.html?from=home"><span data-klaviyo-banner="Black Friday">'
            '<b>Black Friday sales</b></span></a>')
    p = open_identified(klaviyo_shop, klaviyo_stub, shop_page(install, body))
    with p.expect_navigation(url="**/deals.html?from=home"):
        p.click("b")
    klaviyo_stub.expect_event("Clicked Banner", properties={"BannerTitle": "Black Friday"})
    assert len(klaviyo_stub.events(metric="Clicked Banner")) == 1


SEARCH = ('<form data-klaviyo-search action="{action}" method="{method}"><input name="term" value="fantasy">'
          '{button}</form>')


def test_a_submitted_form_delivers_and_lands_with_its_fields(klaviyo_shop, klaviyo_stub, landing, install):
    body = SEARCH.format(action=landing.url + "/search", method="get", button='<button>Search</button>')
    p = open_identified(klaviyo_shop, klaviyo_stub, shop_page(install, body))
    with p.expect_navigation(url=f"{landing.url}/search?term=fantasy"):
        p.press("[name=term]", "Enter")  # implicit submission: no button click at all
    klaviyo_stub.expect_event("Searched Site", properties={"SearchTerm": "fantasy"})
    assert landing.seen == [("GET", "/search", [("term", "fantasy")])]


def test_a_formaction_button_is_held_and_submitted_as_the_button_says(klaviyo_shop, klaviyo_stub, landing, install):
    # The button overrides the form's action, method and encoding; it also matches a click
    # trigger, so two events ride on one navigation: both arrive, the form goes once.
    button = (f'<button name="scope" value="books" formaction="{landing.url}/results" formmethod="post" '
              'formenctype="application/x-www-form-urlencoded" formnovalidate>Search books</button>')
    body = SEARCH.format(action="/nowhere.html", method="get", button=button)
    p = open_identified(klaviyo_shop, klaviyo_stub, shop_page(install, body))
    with p.expect_navigation(url=f"{landing.url}/results"):
        p.click("button[name=scope]")
    klaviyo_stub.expect_event("Searched Site", properties={"SearchTerm": "fantasy"})
    klaviyo_stub.expect_event("Pressed Search", properties={"Page": "/index.html"})
    assert landing.seen == [("POST", "/results", [("term", "fantasy"), ("scope", "books")])]


def test_a_cart_the_theme_submits_itself_is_left_to_the_theme(klaviyo_shop, klaviyo_stub, landing, install):
    # A theme's own submit handler (an AJAX cart) prevents the navigation: the click's event is
    # sent, and the form is not submitted behind the theme's back.
    script = ("<script>document.getElementById('cart').addEventListener('submit', function (e) {"
              " e.preventDefault(); window.handled = (window.handled || 0) + 1; });</script>")
    p = open_identified(klaviyo_shop, klaviyo_stub, shop_page(install, cart_form(landing, script=script)), "/cart")
    p.click("[name=checkout]")
    klaviyo_stub.expect_event("Started Checkout", value=29.98)
    p.wait_for_timeout(700)  # longer than the 500 ms hold
    assert (p.url, p.evaluate("() => window.handled"), landing.seen) == (klaviyo_shop.origin + "/cart", 1, [])


@pytest.mark.parametrize("other_tab", [
    '<a href="/deals.html" target="_blank"><span data-klaviyo-banner="Deals">Deals</span></a>',
    '<form action="/deals.html"><button type="submit" name="checkout" formtarget="_blank">Check out</button></form>',
], ids=["link", "formtarget"])
def test_what_opens_another_tab_is_left_to_the_browser(klaviyo_shop, klaviyo_stub, install, other_tab):
    # Nothing leaves this page, so nothing is held: the browser opens the other tab itself.
    klaviyo_shop.add("/deals.html", "<!doctype html><title>deals</title><p>deals</p>")
    p = open_identified(klaviyo_shop, klaviyo_stub, shop_page(install, CART + other_tab))
    with p.context.expect_page() as opened:
        p.click("[data-klaviyo-banner], [name=checkout]")
    opened.value.wait_for_url(klaviyo_shop.origin + "/deals.html*")
    assert p.url == klaviyo_shop.origin + "/index.html"
    klaviyo_stub.expect_event("Clicked Banner" if "href" in other_tab else "Started Checkout")
