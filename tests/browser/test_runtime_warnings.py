"""The generated code's warnings are data: each is console.warn'd as before and dispatched on
window as a `klaviyo-snippets:warning` CustomEvent, {event, kind, reason, property}, which the
harness collects (issue 13, contract A). One page holds every case, in every browser lane.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from klaviyo_snippets import generate

pytestmark = pytest.mark.browser

PLAN = """\
version: 1
public_key: Warn01
events:
  viewed_product:
    metric: Viewed Product
    inputs: [product]
    fire: {load: true}
    properties:
      ProductName: {type: string, required: true, from: product.title}
  viewed_category:
    metric: Viewed Category
    inputs: [category]
    fire: {load: true}
    properties:
      CategoryName: {type: string, required: true, from: category.title}
      ItemCount: {type: number, from: category.count}
  started_checkout:
    metric: Started Checkout
    inputs: [cart]
    fire: {load: true}
    properties:
      $value: {type: number, required: true, from: cart.total}
  identify:
    method: identify
    inputs: [customer]
    fire: {load: true}
    properties:
      email: {type: string, required: true, from: customer.email}
  viewed_collection:
    metric: Viewed Collection
    inputs: [collection]
    fire: {load: true}
    properties:
      Title: {type: string, required: true, from: collection.title}
  added_like:
    metric: Added Like
    fire:
      click: {selector: "button:contains(Like)"}
    properties:
      Page: {type: string, required: true, from: page.path}
"""


def island(name: str, text: str) -> str:
    return f'<script type="application/json" data-klaviyo="{name}">{text}</script>'


LONG_TAG = "{% render 'product-json', product: product, variants: product.variants %}"
BODY = "".join([
    island("product", "{{ product | json }}"),                      # a theme that never rendered it
    island("customer", '{"email": "ann.lee@example.com"}'),
    island("collection", '{"title": "{{ collection.title }}"}'),    # JSON, but a value is template text
    island("category", '{"title": "Books", "count": "1,299"}'),     # sent, without ItemCount
    island("cart", '{"total": "abc"}'),                             # $value wrong, so missing: dropped
    island("wishlist", '{"items": [1, 2}'),                         # no event reads it
    island("gift", LONG_TAG),
    "<button>Like</button>",
])

CAPTURE = """window.__warnings = [];
addEventListener("klaviyo-snippets:warning", function (e) { window.__warnings.push(e.detail); });"""


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> str:
    folder: Path = tmp_path_factory.mktemp("warnings")
    (folder / "plan.yaml").write_text(PLAN, encoding="utf-8")
    generate(folder / "plan.yaml", folder / "dist")
    return (folder / "dist" / "install.html").read_text(encoding="utf-8")


def test_every_warning_is_console_warned_and_dispatched_as_an_event(klaviyo_shop, klaviyo_stub, install):
    p = klaviyo_shop.page
    p.add_init_script(CAPTURE)
    console: list[str] = []
    errors: list[str] = []
    p.on("console", lambda m: console.append(m.text) if m.type == "warning" else None)
    p.on("pageerror", lambda e: errors.append(str(e)))
    klaviyo_shop.open(f"<!doctype html><html><head><meta charset='utf-8'>{install}</head><body>{BODY}</body></html>")

    def warning(event, kind, reason, prop=None):
        return {"event": event, "kind": kind, "reason": reason, "property": prop}

    expected = [
        warning("Viewed Product", "dropped", "data island product holds unrendered template text: {{ product | json }}"),
        warning("Viewed Category", "warning", "ItemCount has the wrong type", "ItemCount"),
        warning("Started Checkout", "warning", "$value has the wrong type", "$value"),
        warning("Started Checkout", "dropped", "missing $value", "$value"),
        warning("Viewed Collection", "dropped",
                "data island collection holds unrendered template text: {{ collection.title }}\"}"),
        warning("Added Like", "warning", "click selector button:contains(Like) is not valid in this browser"),
        warning(None, "dropped", "data island wishlist is not JSON"),
        warning(None, "dropped", "data island gift holds unrendered template text: "
                + LONG_TAG[:40] + "..."),
    ]
    with contextlib.suppress(PlaywrightTimeout):  # a miss is shown by the comparison below
        p.wait_for_function("n => window.__warnings.length >= n", arg=len(expected), timeout=5000)
    got = p.evaluate("() => window.__warnings")
    assert sorted(got, key=repr) == sorted(expected, key=repr)
    assert sorted(console) == sorted("klaviyo-snippets: " + (
        (w["event"] + (": not sent, " if w["kind"] == "dropped" else ": ")) if w["event"] else "") + w["reason"]
        for w in expected)
    assert "klaviyo-snippets: Started Checkout: not sent, missing $value" in console  # the text users know

    # The refused selector warned once, when the page loaded; clicks raise nothing and add nothing.
    p.click("button")
    p.click("button")
    klaviyo_stub.expect_event("Viewed Category", properties={"CategoryName": "Books"})
    assert "ItemCount" not in klaviyo_stub.events(metric="Viewed Category")[0]["properties"]
    assert p.evaluate("() => window.__warnings.length") == len(expected)
    assert errors == []
    klaviyo_shop.settle()
    sent = [e["metric"] for e in klaviyo_stub.events() if e["status"] != "dropped" and e["metric"] != "__activity__"]
    assert sent == ["Viewed Category"]  # all that reached Klaviyo
