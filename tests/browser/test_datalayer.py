"""The GA4 data layer as a source (issue 14): the `ga4` preset generated as a store would, pages
that push GA4 ecommerce events as Google Tag Manager and gtag.js do (before and after the
generated code loads), in a real browser against the stand-in Klaviyo. The payloads are the
guide's examples, as far as GA4's events carry them (the preset's header lists what they do not:
images, product URLs, SKUs, the whole cart on add_to_cart)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from klaviyo_snippets import verify
from klaviyo_snippets.generator.codegen import generate, preset_path
from klaviyo_snippets.harness.browser import BrowserUnavailable, choose_browser
from tests.platform_pages import properties

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
GUIDE = json.loads((REPO / "tests" / "golden" / "guide" / "payloads.json").read_text())
EMAIL = "thomas.jefferson@example.com"
CUSTOMER = f'<script type="application/json" data-klaviyo="customer">{{"email": "{EMAIL}"}}</script>'

WINNIE = {"item_id": "1111", "item_name": "Winnie the Pooh", "item_brand": "Kids Books", "item_category": "Fiction",
          "item_category2": "Children", "price": 9.99, "quantity": 1}
TALE = {"item_id": "1112", "item_name": "A Tale of Two Cities", "item_category": "Fiction",
        "item_category2": "Classics", "price": 19.99, "quantity": 1}
# Google's shapes: Tag Manager's push (with its clearing push before it) and gtag's parameters.
PARAMS = {
    "view_item": {"currency": "USD", "value": 9.99, "items": [WINNIE]},
    "add_to_cart": {"currency": "USD", "value": 19.99, "items": [TALE]},
    "begin_checkout": {"currency": "USD", "value": 29.98, "items": [WINNIE, TALE]},
    "view_item_list": {"item_list_id": "01", "item_list_name": "Fantasy Books", "items": [WINNIE]},
}
METRICS = {"view_item": "Viewed Product", "add_to_cart": "Added to Cart", "begin_checkout": "Started Checkout",
           "view_item_list": "Viewed Category", "search": "Searched Site"}


def gtm_push(event: str) -> str:
    if event == "search":
        return "dataLayer.push({event: 'search', search_term: 'Fantasty Boks'});"
    return f"dataLayer.push({{ecommerce: null}}); dataLayer.push({{event: '{event}', ecommerce: {json.dumps(PARAMS[event])}}});"


def gtag_call(event: str) -> str:
    params = {"search_term": "Fantasty Boks"} if event == "search" else PARAMS[event]
    return f"gtag('event', '{event}', {json.dumps(params)});"


GTAG = "window.dataLayer = window.dataLayer || []; function gtag() { dataLayer.push(arguments); }"


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> str:
    out: Path = tmp_path_factory.mktemp("ga4") / "dist"
    generate(preset_path("ga4"), out, public_key="Ga4T01")
    return (out / "install.html").read_text(encoding="utf-8")


def shop_page(install: str, before: str = "", after: str = "") -> str:
    """A page whose head runs `before` ahead of the generated code and whose body runs `after`."""
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>shop</title>"
            f"<script>window.dataLayer = window.dataLayer || []; {before}</script>{install}</head>"
            f"<body>{CUSTOMER}<script>{after}</script></body></html>")


def sent(klaviyo_stub, metric: str) -> list[dict]:
    return [e for e in klaviyo_stub.events(metric=metric) if e["status"] != "dropped"]


def expected(metric: str, url: str) -> dict:
    """The guide's example payload of `metric`, as far as GA4's events carry it."""
    guide = GUIDE[metric]
    lines = [{k: line[k] for k in ("ProductID", "ProductName", "Quantity", "ItemPrice", "ProductCategories")}
             for line in GUIDE["Started Checkout"]["Items"]]
    if metric == "Viewed Product":
        return {**{k: guide[k] for k in ("ProductName", "ProductID", "Categories", "Brand", "Price")}, "URL": url}
    if metric == "Added to Cart":  # GA4's add_to_cart: the added item, not the whole cart
        added = {k: guide[k] for k in ("AddedItemProductName", "AddedItemProductID", "AddedItemPrice", "AddedItemQuantity")}
        return {**added, "$value": 19.99, "AddedItemCategories": ["Fiction", "Classics"],
                "ItemNames": ["A Tale of Two Cities"], "Items": lines[1:]}
    if metric == "Started Checkout":
        return {**{k: guide[k] for k in ("$value", "ItemNames", "Categories")}, "CheckoutURL": url, "Items": lines}
    if metric == "Viewed Category":
        return {**{k: guide[k] for k in ("CategoryName", "CategoryID")}, "URL": url}
    return {"SearchTerm": guide["SearchTerm"]}


@pytest.mark.parametrize("style", ["tag manager", "gtag"])
def test_each_ga4_event_arrives_once_with_the_guides_payload(klaviyo_shop, klaviyo_stub, install, style):
    """view_item pushed before the generated code loaded (replayed once), the others after it."""
    make = gtm_push if style == "tag manager" else gtag_call
    setup = "" if style == "tag manager" else GTAG
    later = [e for e in METRICS if e != "view_item"]
    page = klaviyo_shop.open(shop_page(install, before=setup + make("view_item"),
                                       after=setup + "".join(make(e) for e in later)), path="/products/winnie")
    url = page.url
    for event, metric in METRICS.items():
        got = klaviyo_stub.expect_event(metric, profile={"email": EMAIL})
        want = expected(metric, url)
        if metric == "Started Checkout":  # $event_id is the body's unique_id: checkout_ and the unix time
            assert got["unique_id"].startswith("checkout_") and got["unique_id"][9:].isdigit(), got["unique_id"]
        value = want.pop("$value", None)  # Klaviyo's body carries it as the event's value
        assert (properties(got), got["value"]) == (want, value), metric
        assert got["warnings"] == []
    klaviyo_shop.settle()
    assert {m: len(sent(klaviyo_stub, m)) for m in METRICS.values()} == dict.fromkeys(METRICS.values(), 1)
    assert klaviyo_stub.diagnostics() == []
    # identify went first: the onsite script keeps an anonymous visitor's events from Klaviyo
    assert [p["attributes"].get("email") for p in klaviyo_stub.profiles()] == [EMAIL]


def test_a_tag_manager_loaded_later_and_a_replaced_data_layer_lose_nothing(klaviyo_shop, klaviyo_stub, install):
    """Tag Manager, when it loads after us, wraps dataLayer.push and calls ours (as its
    data-layer helper does); a page that assigns a new dataLayer after the page is parsed is
    taken up once it has loaded, its pushes replayed."""
    tag_manager = ("var seen = 0, theirs = dataLayer.push; dataLayer.push = function () {"
                   " var r = theirs.apply(dataLayer, arguments); seen += arguments.length; return r; };"
                   + gtm_push("add_to_cart"))
    replace = ("document.addEventListener('DOMContentLoaded', function () {"
               " window.dataLayer = [{event: 'search', search_term: 'Fantasty Boks'}]; });")
    page = klaviyo_shop.open(shop_page(install, after=tag_manager + replace))
    klaviyo_stub.expect_event("Added to Cart", properties={"AddedItemProductID": "1112"})
    klaviyo_stub.expect_event("Searched Site", properties={"SearchTerm": "Fantasty Boks"})
    klaviyo_shop.settle()
    assert page.evaluate("seen") == 2  # Tag Manager saw both of its pushes (the clearing one too)
    assert (len(sent(klaviyo_stub, "Added to Cart")), len(sent(klaviyo_stub, "Searched Site"))) == (1, 1)


def test_a_push_the_plan_cannot_read_is_reported_and_never_breaks_the_pages_push(klaviyo_shop, klaviyo_stub, install):
    """A view_item with no items misses the required ProductName: not sent, said so. A push whose
    item throws when read fails inside our handler: the page's push still returns, the event is
    reported dropped with the error."""
    p = klaviyo_shop.page
    p.add_init_script("window.__warnings = []; addEventListener('klaviyo-snippets:warning',"
                      " function (e) { window.__warnings.push(e.detail); });")
    hostile = ("var item = {}; Object.defineProperty(item, 'item_name', {enumerable: true,"
               " get: function () { throw new Error('no name'); }});"
               "dataLayer.push({event: 'add_to_cart', ecommerce: {value: 1, items: [item]}}); window.after = true;")
    klaviyo_shop.open(shop_page(install, after="dataLayer.push({event: 'view_item', ecommerce: {items: []}});" + hostile))
    with contextlib.suppress(PlaywrightTimeout):  # a miss is shown by the comparison below
        p.wait_for_function("() => window.__warnings.length >= 3", timeout=5000)
    *missing, failed = p.evaluate("window.__warnings")
    assert missing == [  # Recently Viewed Items fires with Viewed Product (also:)
        {"event": "Viewed Product", "kind": "dropped", "reason": "missing ProductName, ProductID", "property": "ProductName"},
        {"event": "trackViewedItem", "kind": "dropped", "reason": "missing Title, ItemId", "property": "Title"}]
    assert (failed["event"], failed["kind"]) == ("Added to Cart", "dropped")
    # the browser's own text of the error follows (Chromium and Firefox word it alike here)
    assert failed["reason"].startswith("failed on the data layer's add_to_cart push: Error: no name"), failed
    assert p.evaluate("window.after") is True
    klaviyo_shop.settle()
    assert sent(klaviyo_stub, "Viewed Product") == [] and sent(klaviyo_stub, "Added to Cart") == []


def test_verify_expects_the_event_of_each_push_a_page_holds(tmp_path, browser_name, install):
    """`verify --plan` with the ga4 preset: a page whose data layer holds a view_item push must
    send Viewed Product; the same page without the generated code fails, saying why."""
    try:
        choose_browser(browser_name)
    except BrowserUnavailable as error:
        pytest.skip(f"no {browser_name} to run: {error.one_line()}")
    onsite = install[install.index("<script async"):]  # Klaviyo's onsite script alone: no generated code
    (tmp_path / "with.html").write_text(shop_page(install, before=gtm_push("view_item")))
    (tmp_path / "without.html").write_text(shop_page(onsite, before=gtm_push("view_item")))

    report = verify([str(tmp_path / "with.html"), str(tmp_path / "without.html")], plan=preset_path("ga4"),
                    browser=browser_name, jobs=1)

    judged = sorted((Path(x["visit"]).stem, x["event"], x["why"], x["met"]) for x in report.expectations)
    assert judged == [("with", "Identify", "its data island customer on the page", True),
                      ("with", "Viewed Product", "its data layer push view_item on the page", True),
                      ("without", "Identify", "its data island customer on the page", False),
                      ("without", "Viewed Product", "its data layer push view_item on the page", False)]
    assert not report.ok
