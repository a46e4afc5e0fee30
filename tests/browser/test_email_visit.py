"""Visits that arrive from Klaviyo's emails (issue 15, item 5), in every browser lane.

A shopper clicks a link in a Klaviyo email and lands, for the first time in this browser (no
`__kla_id` cookie, empty storage), on a product page that carries the default plan's
install.html and the product data island, and no customer island. Klaviyo's onsite script
identifies the visitor from the link (wire facts §2, "URL identification on load": `?_kx=`,
`?_ke=`, `?utm_email=`) before it runs the page's queued calls, so Viewed Product is sent, good,
once, for that shopper, and is not dropped as anonymous. The order in which the requests reach
the stand-in Klaviyo is asserted exactly, and so is the order in which the page sent them.

Negative: the same first visit without an identifying parameter, or with another company's
exchange id (`?_kx=<token>.OTHER1`), sends nothing at all, and the stand-in says why.
Absences are asserted after `klaviyo_shop.settle()` (the onsite script has nothing left to send).
"""

from __future__ import annotations

import base64
import json
from urllib.parse import quote, unquote

import pytest

from klaviyo_snippets import generate
from tests.browser.guide import identified_profile, pending_profile
from tests.http_client import post

pytestmark = pytest.mark.browser

KEY = "EmlT01"
OTHER = "OTHER1"
EMAIL = "ann.lee@example.com"
PATH = "/products/winnie-the-pooh.html"

PRODUCT = {  # the default plan's sample product, as the theme's data island holds it
    "id": "1111", "title": "Winnie the Pooh", "sku": "WINNIEPOOH", "categories": ["Fiction", "Children"],
    "image": "https://shop.test/images/pooh.png", "url": "https://shop.test" + PATH,
    "vendor": "Kids Books", "price": 9.99, "compare_at_price": 14.99,
}
VIEWED_PRODUCT = {
    "ProductName": "Winnie the Pooh", "ProductID": "1111", "SKU": "WINNIEPOOH", "Categories": ["Fiction", "Children"],
    "ImageURL": PRODUCT["image"], "URL": PRODUCT["url"], "Brand": "Kids Books", "Price": 9.99, "CompareAtPrice": 14.99,
}
VIEWED_ITEM = {  # trackViewedItem's item; the onsite script adds LastViewedDate
    "Title": "Winnie the Pooh", "ItemId": "1111", "Categories": ["Fiction", "Children"],
    "ImageUrl": PRODUCT["image"], "Url": PRODUCT["url"],
    "Metadata": {"Brand": "Kids Books", "Price": 9.99, "CompareAtPrice": 14.99},
}

# What the onsite script sends, in the order the page sends it (its XMLHttpRequest posts).
XHR_SPY = """(() => {
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  window.__sends = [];
  XMLHttpRequest.prototype.open = function (method, url) { this.__url = url; return open.apply(this, arguments); };
  XMLHttpRequest.prototype.send = function (body) {
    window.__sends.push({url: this.__url, body: String(body)});
    return send.apply(this, arguments);
  };
})();"""


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> str:
    """The default plan's install.html (loader, bundle, script tag) for the account KEY."""
    out = tmp_path_factory.mktemp("email-visit")
    generate(None, out, public_key=KEY)
    return (out / "install.html").read_text(encoding="utf-8")


@pytest.fixture
def shopper(klaviyo_stub) -> dict:
    """The shopper the email went to: already a profile of the account (here made by a
    /client/profiles request straight to the stand-in, before any browser is involved).
    Returns {"id", "kx": their exchange id for KEY, "after": the id of that request}."""
    reply = post(f"{klaviyo_stub.url}/client/profiles/?company_id={KEY}",
                 {"data": {"type": "profile", "attributes": {"email": EMAIL}}},
                 {"Content-Type": "application/json", "revision": "2024-10-15"})
    assert reply.status == 202
    [profile] = klaviyo_stub.profiles()
    [made] = klaviyo_stub.requests()
    return {"id": profile["id"], "kx": profile["exchange_ids"][KEY], "after": made["id"]}


def product_page(install: str) -> str:
    island = json.dumps(PRODUCT).replace("</", "<\\/")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>Winnie the Pooh</title>"
            f"{install}</head><body><h1>Winnie the Pooh</h1>"
            f"<script type='application/json' data-klaviyo='product'>{island}</script></body></html>")


def first_visit(klaviyo_shop, install: str, query: str):
    """Open the product page at PATH + query in a browser that has never been here; settle."""
    p = klaviyo_shop.page
    assert p.context.cookies() == []  # a fresh browser: no __kla_id
    p.add_init_script(XHR_SPY)
    p.goto(klaviyo_shop.add(PATH, product_page(install)) + query)
    klaviyo_shop.settle()
    return p


def ke(email: str, company: str) -> str:
    """A `_ke` value: base64 of JSON naming the email and the account (wire facts §2; the keys
    kl_email and kl_company_id are the stand-in's [inferred] reading)."""
    return quote(base64.b64encode(json.dumps({"kl_email": email, "kl_company_id": company}).encode()).decode(), safe="")


def what(path: str, body: dict) -> tuple:
    """(kind, metric or None, profile sent) of one post of the onsite script."""
    if path.rstrip("/").endswith("/client/events"):
        attributes = body["data"]["attributes"]
        return "event", attributes["metric"]["data"]["attributes"]["name"], attributes["profile"]
    if path.rstrip("/").endswith("/client/profiles"):
        return "profile", None, body
    return path, None, body


def kla_id(p) -> dict:
    [cookie] = [c for c in p.context.cookies() if c["name"] == "__kla_id"]
    raw = unquote(cookie["value"])
    return json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))


# -- a first visit from an email link -----------------------------------------------------------

LINKS = {
    "_kx": lambda s: "?_kx=" + quote(s["kx"], safe=""),
    "_ke": lambda s: "?_ke=" + ke(EMAIL, KEY),
    "utm_email": lambda s: "?utm_source=klaviyo&utm_email=" + quote(EMAIL, safe=""),
}


@pytest.mark.parametrize("link", list(LINKS))
def test_a_first_visit_from_an_email_link_keeps_viewed_product(klaviyo_shop, klaviyo_stub, install, shopper, link):
    p = first_visit(klaviyo_shop, install, LINKS[link](shopper))

    kx = shopper["kx"]
    if link == "_kx":  # identified by the link's exchange id itself: no identify request
        profile = identified_profile(kx)
        update = {"_kx": kx}
    else:  # identified by email: the identify is debounced, the events carry the email meanwhile
        profile = pending_profile(email=EMAIL)
        update = {"email": EMAIL}
    expected = [
        ("event", "__activity__", profile),
        ("event", "Viewed Product", profile),
        # trackViewedItem's $viewed_items, merged into the (debounced) identify of the email
        ("profile", None, {"data": {"type": "profile", "attributes": {**update, "properties": {
            "$viewed_items": [{**VIEWED_ITEM, "LastViewedDate": "<unix seconds>"}]}}}}),
    ]

    def shown(kind, metric, body):
        if kind == "profile":
            body = json.loads(json.dumps(body))
            for item in body["data"]["attributes"].get("properties", {}).get("$viewed_items", []):
                assert isinstance(item.pop("LastViewedDate"), int)
                item["LastViewedDate"] = "<unix seconds>"
        return kind, metric, body

    # The order the page sent them in, and the order they reached the stand-in: the same, exactly.
    sent = [shown(*what(s["url"].split("?")[0], json.loads(s["body"]))) for s in p.evaluate("() => window.__sends")]
    assert sent == expected
    received = [r for r in klaviyo_stub.requests() if r["id"] > shopper["after"]]
    assert [shown(*what(r["path"], r["body"])) for r in received] == expected
    assert [r["response"]["status"] for r in received] == [202, 202, 202]

    # Viewed Product: good, exactly the plan's properties, for the shopper of the email, once.
    event = klaviyo_stub.expect_event("Viewed Product", exact=True, properties=VIEWED_PRODUCT, timeout=0)
    assert event["profile"] == {"id": shopper["id"], "email": EMAIL}
    assert [e["status"] for e in klaviyo_stub.events(metric="Viewed Product")] == ["good"]
    activity = klaviyo_stub.expect_event("__activity__", profile={"id": shopper["id"]}, timeout=0)
    assert activity["properties"]["page"] == klaviyo_shop.origin + PATH + LINKS[link](shopper)
    if link == "utm_email":  # Active on Site carries the link's utm_* parameters
        assert (activity["properties"]["utm_source"], activity["properties"]["utm_email"]) == ("klaviyo", EMAIL)
    assert [e["metric"] for e in klaviyo_stub.events()] == ["__activity__", "Viewed Product"]
    assert klaviyo_stub.diagnostics() == []  # nothing dropped, no warning from the page
    assert [p["id"] for p in klaviyo_stub.profiles()] == [shopper["id"]]  # no second profile

    # The browser now knows the shopper: the next page needs no link.
    assert kla_id(p)["$exchange_id"] == kx
    assert p.evaluate("() => sessionStorage.getItem('_kx')") == kx


# -- not identified: anonymous, or another company's exchange id -------------------------------

NOT_IDENTIFYING = {
    "no link": lambda s: "",
    "another company's _kx": lambda s: "?_kx=" + quote(s["kx"].split(".")[0] + "." + OTHER, safe=""),
}


@pytest.mark.parametrize("link", list(NOT_IDENTIFYING))
def test_a_first_visit_without_a_link_of_this_account_sends_nothing_and_says_why(klaviyo_shop, klaviyo_stub,
                                                                                  install, shopper, link):
    p = first_visit(klaviyo_shop, install, NOT_IDENTIFYING[link](shopper))

    assert p.evaluate("() => window.__sends") == []  # not even Active on Site
    assert [r["id"] for r in klaviyo_stub.requests()] == [shopper["after"]]
    assert p.evaluate("() => klaviyo.isIdentified()") is False
    assert "$exchange_id" not in kla_id(p)
    assert p.evaluate("() => sessionStorage.getItem('_kx')") is None

    # The generated code sent a complete Viewed Product; Klaviyo's onsite script dropped it.
    [dropped] = klaviyo_stub.events(metric="Viewed Product")
    assert dropped["status"] == "dropped"
    [reason] = dropped["reasons"]
    assert reason["detail"].startswith('"Viewed Product" was dropped: the visitor was never identified')
    assert "?_kx=" in reason["detail"]
    reports = [(d["type"], d["method"], d.get("source")) for d in klaviyo_stub.diagnostics()]
    assert sorted(reports, key=str) == sorted([("dropped", "track", None), ("dropped", "trackViewedItem", None)],
                                              key=str)  # and no warning from the generated code
    [track] = [d for d in klaviyo_stub.diagnostics() if d["method"] == "track"]
    assert track["args"] == ["Viewed Product", VIEWED_PRODUCT]

    # What a test author reads when expecting it anyway.
    with pytest.raises(AssertionError) as miss:
        klaviyo_stub.expect_event("Viewed Product", timeout=0)
    message = " ".join(str(miss.value).split())
    assert "Viewed Product\" dropped by the onsite script" in message, message
    assert "the visitor was never identified" in message, message
