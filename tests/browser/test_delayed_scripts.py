"""Behind script optimizers that delay a page's scripts until the first interaction (issue 15,
item 4), in every browser lane, against the stand-in Klaviyo.

The page: a product page with the generated install.html in its head (the klaviyo object
loader and the bundle, inline, then Klaviyo's `<script async>` tag), the customer and product
data islands, and a theme script whose Add to cart button calls `klaviyoSnippets.addedToCart`.
The optimizers (harness/verify/_optimizers/) rewrite that page as the real ones do on the server
and run the page with their real loader's behaviour:

* WP Rocket's "Delay JavaScript execution" (every script delayed, or our bundle excluded so
  only klaviyo.js and the theme wait): before any interaction not one request reaches Klaviyo
  (klaviyo.js is not even fetched); after the first one, identify and Viewed Product arrive,
  exactly, once (Active on Site too when the bundle ran first); an Add to cart clicked as the
  very first interaction (WP Rocket holds that click and clicks again once every script ran) is
  delivered too, after Viewed Product, once.
* Flying Scripts with klaviyo.js in its include list: what the bundle queued before klaviyo.js
  ran arrives once, then the Add to cart; with our scripts in the list, the bundle runs after
  the page has loaded and its load triggers still fire once.
* Our own `onsite_script: {load: interaction}`, alone and behind WP Rocket: nothing before the
  first interaction, then what was queued, in order, once.

Absences are asserted after `klaviyo_shop.settle()` (the onsite script has nothing left to
send), or, before klaviyo.js ran, after the page's load plus a grace period with every request
the page made counted.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate
from klaviyo_snippets.harness.verify._optimizers import flying_scripts, wp_rocket

pytestmark = pytest.mark.browser

KEY = "DlyJS1"
EMAIL = "ann.lee@example.com"
PATH = "/products/winnie-the-pooh"
PLAN = f"""\
version: 1
public_key: {KEY}
events:
  identify:
    method: identify
    inputs: [customer]
    fire: {{load: true}}
    properties:
      email: {{type: string, required: true, from: customer.email}}
  viewed_product:
    metric: Viewed Product
    inputs: [product]
    fire: {{load: true}}
    properties:
      ProductName: {{type: string, required: true, from: product.title}}
      ProductID: {{type: string, required: true, from: product.id}}
      Price: {{type: number, from: product.price}}
  added_to_cart:
    metric: Added to Cart
    inputs: [item]
    properties:
      AddedItemProductID: {{type: string, required: true, from: item.id}}
      AddedItemQuantity: {{type: number, from: item.quantity}}
"""
VIEWED = {"ProductName": "Winnie the Pooh", "ProductID": "1111", "Price": 9.99}
ADDED = {"AddedItemProductID": "1111", "AddedItemQuantity": 1}

# The theme's own cart code: a click listener registered by an ordinary script of the page.
THEME = """<button id="add" type="button" style="width:200px;height:60px">Add to cart</button>
<script>
window.__adds = 0;
document.getElementById('add').addEventListener('click', function () {
  window.__adds++;
  klaviyoSnippets.addedToCart({id: '1111', quantity: 1});
});
</script>"""

ONSITE = f"https://static.klaviyo.com/onsite/js/{KEY}/klaviyo.js"


@pytest.fixture(scope="module")
def page_html(tmp_path_factory) -> str:
    folder: Path = tmp_path_factory.mktemp("delayed")
    (folder / "plan.yaml").write_text(PLAN, encoding="utf-8")
    generate(folder / "plan.yaml", folder / "dist")
    install = (folder / "dist" / "install.html").read_text(encoding="utf-8")
    customer = json.dumps({"email": EMAIL})
    product = json.dumps({"id": "1111", "title": "Winnie the Pooh", "price": 9.99})
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Winnie the Pooh</title>"
            f"{install}</head><body><h1>Winnie the Pooh</h1>"
            f"<script type='application/json' data-klaviyo='customer'>{customer}</script>"
            f"<script type='application/json' data-klaviyo='product'>{product}</script>"
            f"{THEME}</body></html>")


class Visit:
    """The page opened on the storefront with every request to Klaviyo's hosts counted."""

    def __init__(self, klaviyo_shop, klaviyo_stub, html: str):
        self.shop, self.stub = klaviyo_shop, klaviyo_stub
        self.page = klaviyo_shop.page
        self.klaviyo_requests: list[str] = []
        self.errors: list[str] = []
        self.page.on("request", lambda r: "klaviyo.com" in r.url and self.klaviyo_requests.append(r.url))
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(klaviyo_shop.add(PATH, html))

    def assert_nothing_yet(self) -> None:
        """Loaded, settled a while, not interacted with: nothing fetched from or sent to Klaviyo."""
        self.page.wait_for_load_state("load")
        self.page.wait_for_timeout(400)
        assert self.klaviyo_requests == []
        assert self.stub.requests() == []

    def interact(self) -> None:
        """A first interaction that is not a click: a key press (keydown starts every loader)."""
        self.page.keyboard.press("Shift")

    def metrics(self) -> list[str]:
        """Every event recorded, in order, each good (raises if one is not)."""
        events = self.stub.events()
        assert [e for e in events if e["status"] != "good"] == []
        return [e["metric"] for e in events]

    def assert_delivered(self, *, added: bool, activity: bool) -> None:
        """identify's profile, Viewed Product (and Added to Cart) arrived, exactly, once each, the
        events in that order, for the shopper; klaviyo.js was fetched once. Active on Site comes first when
        `activity`: klaviyo.js sends it as it loads only if the identify was queued before it ran
        (when the bundle is delayed too, WP Rocket runs klaviyo.js, an async script, before the
        replayed DOMContentLoaded on which the bundle identifies: no Active on Site on that view,
        as on any page where klaviyo.js runs before the identify; the next page view sends it)."""
        viewed = self.stub.expect_event("Viewed Product", exact=True, properties=VIEWED, profile={"email": EMAIL})
        if added:
            self.stub.expect_event("Added to Cart", exact=True, properties=ADDED, profile={"email": EMAIL})
        self.shop.settle()
        expected = ["__activity__"] * activity + ["Viewed Product"] + ["Added to Cart"] * added
        assert self.metrics() == expected
        # identify: one profile request (klaviyo.js debounces it, so it may come after the events,
        # which carry the email meanwhile), one profile.
        profiles = [r for r in self.stub.requests() if r["path"].rstrip("/") == "/client/profiles"]
        assert [r["body"]["data"]["attributes"]["email"] for r in profiles] == [EMAIL]
        assert [p["attributes"]["email"] for p in self.stub.profiles()] == [EMAIL]
        assert viewed["profile"]["email"] == EMAIL
        assert [u for u in self.klaviyo_requests if u.startswith(ONSITE)] == [ONSITE]
        assert self.stub.diagnostics() == []
        assert self.page.evaluate("() => window.__adds") == (1 if added else 0)
        assert self.errors == []


# -- WP Rocket: Delay JavaScript execution -------------------------------------------------------

EXCLUDE_OURS = ("_klOnsite",)  # the exclusion docs/delayed-scripts.md gives for the inline install


@pytest.mark.parametrize("exclusions", [(), EXCLUDE_OURS], ids=["everything-delayed", "our-bundle-excluded"])
def test_wp_rocket_sends_nothing_before_the_first_interaction_then_everything_once(
        klaviyo_shop, klaviyo_stub, page_html, exclusions):
    html = wp_rocket(page_html, exclusions)
    assert html.count('type="text/rocketlazyloadscript"') == (3 if not exclusions else 2)
    visit = Visit(klaviyo_shop, klaviyo_stub, html)
    visit.assert_nothing_yet()
    # What the page holds meanwhile: with our bundle excluded, its calls are queued for klaviyo.js.
    queued = visit.page.evaluate("() => (window._klOnsite || []).map(c => c[0])")
    assert queued == ([] if not exclusions else ["identify", "track"])
    visit.interact()
    visit.assert_delivered(added=False, activity=bool(exclusions))
    assert visit.page.evaluate("() => document.readyState") == "complete"


@pytest.mark.parametrize("exclusions", [(), EXCLUDE_OURS], ids=["everything-delayed", "our-bundle-excluded"])
def test_wp_rocket_delivers_an_add_to_cart_clicked_as_the_first_interaction(
        klaviyo_shop, klaviyo_stub, page_html, exclusions):
    visit = Visit(klaviyo_shop, klaviyo_stub, wp_rocket(page_html, exclusions))
    visit.assert_nothing_yet()
    visit.page.click("#add")  # mousemove (ignored), mousedown (starts the loading), click (held)
    visit.assert_delivered(added=True, activity=bool(exclusions))


# -- Flying Scripts ------------------------------------------------------------------------------

def test_flying_scripts_delaying_klaviyo_js_delivers_what_was_queued_once(klaviyo_shop, klaviyo_stub, page_html):
    """klaviyo.js in Flying Scripts' include list (its default is an empty list): our bundle runs
    as the page loads and queues identify and Viewed Product; klaviyo.js, given its src on the
    first mouseover, keydown, touchmove or touchstart, sends them, then the Add to cart.

    No "nothing before the first interaction" here: headless Chromium sends the page a trusted
    mouseover at the cursor's place (0, 0) as soon as it is laid out, which wakes Flying Scripts
    at once (WP Rocket's loader ignores exactly that: the first mousemove, and every mouseover)."""
    html = flying_scripts(page_html, ("static.klaviyo.com",), timeout=30)
    assert html.count('data-type="lazy"') == 1
    visit = Visit(klaviyo_shop, klaviyo_stub, html)
    visit.page.wait_for_load_state("load")
    visit.page.hover("#add")  # a mouseover, if the page is not awake yet
    visit.stub.expect_event("Viewed Product", exact=True, properties=VIEWED, profile={"email": EMAIL})
    visit.page.click("#add")
    visit.assert_delivered(added=True, activity=True)



def test_flying_scripts_delaying_our_scripts_runs_the_bundle_after_load_and_sends_once(klaviyo_shop, klaviyo_stub,
                                                                                      page_html):
    """"klaviyo" in the include list delays the install (loader and bundle), klaviyo.js and the
    theme: they run as async scripts once the page has loaded (readyState "complete", no
    DOMContentLoaded to come, none replayed): the bundle's load triggers still fire, once."""
    html = flying_scripts(page_html, ("klaviyo",), timeout=30)
    assert html.count('data-type="lazy"') == 3
    visit = Visit(klaviyo_shop, klaviyo_stub, html)
    visit.page.wait_for_load_state("load")
    visit.page.hover("h1")  # a mouseover, if the page is not awake yet
    visit.stub.expect_event("Viewed Product", exact=True, properties=VIEWED, profile={"email": EMAIL})
    visit.shop.settle()
    assert visit.metrics().count("Viewed Product") == 1
    assert visit.errors == []

# -- our own onsite_script.load: interaction -----------------------------------------------------

@pytest.fixture(scope="module")
def interaction_html(tmp_path_factory, page_html) -> str:
    folder: Path = tmp_path_factory.mktemp("delayed-interaction")
    (folder / "plan.yaml").write_text(PLAN.replace("events:\n", "onsite_script: {load: interaction}\nevents:\n", 1),
                                      encoding="utf-8")
    generate(folder / "plan.yaml", folder / "dist")
    install = (folder / "dist" / "install.html").read_text(encoding="utf-8")
    assert "static.klaviyo.com" not in install.split("</script>", 1)[1]  # no tag: the bundle loads it
    head = page_html.index("<!-- Generated")
    return page_html[:head] + install + page_html[page_html.index("</head>"):]


# A key press first, without an optimizer, is tests/browser/test_onsite_load.py's.
INTERACTION_CASES = [
    ("none", "click"),
    ("wp-rocket-our-bundle-excluded", "click"),
    ("wp-rocket-everything-delayed", "key"),
    # The bundle, delayed by WP Rocket, runs after the pointerdown that woke the page; WP Rocket
    # replays the click, not the pointerdown, so the click must load klaviyo.js too.
    ("wp-rocket-everything-delayed", "click"),
]


@pytest.mark.parametrize("optimizer,first", INTERACTION_CASES)
def test_onsite_load_interaction_delivers_what_was_queued_in_order_once(klaviyo_shop, klaviyo_stub, interaction_html,
                                                                         optimizer, first):
    """`onsite_script: {load: interaction}`: no klaviyo.js and no request until the first
    interaction; then the bundle injects it and everything queued before it ran (identify,
    Viewed Product, and the Add to cart of a first click) arrives in order, once; alone and
    behind WP Rocket."""
    html = {"none": lambda h: h, "wp-rocket-our-bundle-excluded": lambda h: wp_rocket(h, EXCLUDE_OURS),
            "wp-rocket-everything-delayed": wp_rocket}[optimizer](interaction_html)
    visit = Visit(klaviyo_shop, klaviyo_stub, html)
    visit.assert_nothing_yet()
    if first == "key":
        visit.interact()
    else:
        visit.page.click("#add")
    visit.assert_delivered(added=first == "click", activity=True)
