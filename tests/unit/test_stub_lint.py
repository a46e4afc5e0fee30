"""The stand-in's lint over real HTTP on loopback: events Klaviyo accepts but that will not work as
meant stay good and carry `warnings` (pointer, code, detail, fix); the guide's own examples carry none."""

from __future__ import annotations

import ast
import copy
import json
import re
from pathlib import Path

import pytest

from klaviyo_snippets.generator.plan import evaluate, load_plan
from klaviyo_snippets.harness.standin import _lint
from tests.browser.guide import expected_event_body, pending_profile
from tests.http_client import CLIENT_HEADERS, PUBLIC_KEY, SERVER_HEADERS, event_body, post
from tests.reference import guide_text

ROOT = Path(__file__).resolve().parents[2]
GUIDE_PAYLOADS = json.loads((ROOT / "tests/golden/guide/payloads.json").read_text())
CLIENT_EVENTS = f"/client/events/?company_id={PUBLIC_KEY}"
BULK = f"/client/event-bulk-create/?company_id={PUBLIC_KEY}"
EMAIL = "sarah.mason@klaviyo-demo.com"
# The guide's Started Checkout lines (9.99 + 19.99).
LINES = copy.deepcopy(GUIDE_PAYLOADS["Started Checkout"]["Items"])


def _only_event(stub, body) -> dict:
    reply = post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS)
    assert reply.status == 202, reply.raw
    [event] = stub.events()
    assert event["status"] == "good", event["reasons"]
    return event


def _lint_of(stub, metric="Viewed Product", properties=None, **attributes) -> list[dict]:
    body = event_body(metric, properties=properties or {"ProductName": "Mug"}, **attributes)
    return _only_event(stub, body)["warnings"]


# -- the guide's own examples: no warning ---------------------------------------------------------

def _onsite_examples() -> list[tuple[str, dict]]:
    """Each `klaviyo.track` example of the guide (tests/golden/guide, checked against the guide by
    test_generator), as the onsite script posts it."""
    examples = []
    for metric, props in GUIDE_PAYLOADS.items():
        if metric.startswith("_") or metric in ("trackViewedItem", "identify"):  # not events
            continue
        examples.append((metric, expected_event_body(metric, props, pending_profile(email=EMAIL))))
    return examples


def _server_examples() -> list[tuple[str, dict]]:
    """Every server-side event body the guide writes: the order examples as they are; the share and
    referral requests (Python dicts with a flattened profile and metric) in JSON:API form."""
    text = guide_text()
    found = []
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S) + re.findall(r"--data '\n(.*?)\n'", text, flags=re.S)
    for block in blocks:
        body = json.loads(block)
        found.append((body["data"]["attributes"]["metric"]["data"]["attributes"]["name"], body))
    for block in re.findall(r"payload = (\{.*?\}\})\n", text, flags=re.S):
        attrs = ast.literal_eval(block)["data"]["attributes"]
        attrs["profile"] = {"data": {"type": "profile", "attributes": attrs["profile"]}}
        attrs["metric"] = {"data": {"type": "metric", "attributes": attrs["metric"]}}
        found.append((attrs["metric"]["data"]["attributes"]["name"], {"data": {"type": "event", "attributes": attrs}}))
    return found


def _all_good_without_warnings(stub, examples: list[tuple[str, dict]]) -> None:
    events = stub.events()
    assert sorted(e["metric"] for e in events) == sorted(m for m, _ in examples)
    assert [(e["metric"], e["status"], e["warnings"]) for e in events] == [
        (e["metric"], "good", []) for e in events]


def test_every_onsite_example_of_the_guide_is_good_without_a_warning(stub):
    examples = _onsite_examples()
    assert len(examples) == 9  # 8 track examples and Added Like
    for metric, body in examples:
        assert post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS).status == 202, metric
    _all_good_without_warnings(stub, examples)


def test_every_server_side_example_of_the_guide_is_good_without_a_warning(stub):
    examples = _server_examples()
    assert len(examples) == 7  # Placed Order, Ordered Product, 3 order updates, 2 share and referral events
    for metric, body in examples:
        assert post(stub.url + "/api/events/", body, SERVER_HEADERS).status == 202, metric
    _all_good_without_warnings(stub, examples)


def _preset_events() -> list[tuple[str, str, dict]]:
    """(platform, metric, properties as `klaviyo.track` gets them) for each track event of the
    platform presets, from its sample in the platform's own shapes (the plan's evaluator)."""
    found = []
    for platform in ("shopify", "bigcommerce", "woocommerce"):
        plan = load_plan(ROOT / "snippets" / "presets" / f"{platform}.yaml")
        for event in plan.events:
            roots = plan.sample_roots(event)
            if event.method == "track" and roots is not None:
                found.append((platform, event.metric, evaluate(event, roots, now=1700000000).payload))
    return found


def _in_cents(lines: list[dict], write) -> list[dict]:
    """The lines with their prices left in the platform's minor units, each written by `write`."""
    return [{**line, **{k: write(round(line[k] * 100)) for k in ("ItemPrice", "RowTotal") if k in line}}
            for line in lines]


def test_the_platform_presets_samples_are_good_without_a_warning_and_their_cents_are_caught(stub):
    """The presets' payloads as the generated code sends them give no warning; the same payloads
    with the money left in minor units, as the platforms give it (Shopify's numbers, WooCommerce's
    Store API strings such as "999"), do."""
    events = _preset_events()
    carts = [(p, m, props) for p, m, props in events if props.get("Items") and "$value" in props]
    assert [(p, m) for p, m, _ in carts] == [
        ("shopify", "Added to Cart"), ("shopify", "Started Checkout"), ("bigcommerce", "Added to Cart"),
        ("bigcommerce", "Started Checkout"), ("woocommerce", "Added to Cart"), ("woocommerce", "Started Checkout")]
    mistakes = []
    for platform, metric, props in carts:
        mistakes += [(platform, metric, {**props, "$value": round(props["$value"] * 100)}, "/value"),
                     (platform, metric, {**props, "Items": _in_cents(props["Items"], int)}, "/properties"),
                     (platform, metric, {**props, "Items": _in_cents(props["Items"], str)}, "/properties")]
    for i, (platform, metric, props, _) in enumerate([(p, m, props, None) for p, m, props in events] + mistakes):
        body = expected_event_body(metric, props, pending_profile(email=f"shopper{i}@example.com"))
        assert post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS).status == 202, (platform, metric)
    recorded = stub.events()
    assert [e["status"] for e in recorded] == ["good"] * len(recorded)
    assert [(e["metric"], e["warnings"]) for e in recorded[:len(events)]] == [(m, []) for _, m, _ in events]
    assert [[(w["code"], w["pointer"]) for w in e["warnings"]] for e in recorded[len(events):]] == [
        [("implausible_value", "/data/attributes" + where)] for *_, where in mistakes]


def test_the_standard_names_are_the_guides():
    text = guide_text()
    for metric in _lint.STANDARD_METRICS:
        assert f"**{metric}**" in text or f'"{metric}"' in text, metric
    for key in _lint.STANDARD_KEYS:
        assert f'"{key}":' in text, key


def test_the_fixes_name_derivations_a_plan_has():
    schema = json.loads((ROOT / "snippets/plan.schema.json").read_text())
    derivations = json.dumps(schema)
    for fix, op in ((_lint.PLAN_URL, "absolute_url"), (_lint.PLAN_MONEY, "minor_units")):
        assert f"derive: {{{op}: <path>}}" in fix
        assert f'"{op}": {{' in derivations, f"the plan schema has no derive {op!r}: the fix names it"


# -- each rule: the warning, where, why and the fix -----------------------------------------------

@pytest.mark.parametrize("key, url, fixed", [
    ("URL", "/products/mug", "https://shop.example/products/mug"),
    ("ImageURL", "//cdn.example.com/mug.png", "https://cdn.example.com/mug.png"),
    ("CheckoutURL", "checkout", "https://shop.example/checkout"),
    ("BannerLink", "/sale", "https://shop.example/sale"),
    ("hero_image_url", " /img/hero.png", "https://shop.example/img/hero.png"),
    ("ImageUrl", "www.example.com/mug.png", "https://www.example.com/mug.png"),
    ("ProductURL", "products/mug.html", "https://shop.example/products/mug.html"),
])
def test_a_relative_url_is_good_with_a_warning_and_the_absolute_form(stub, key, url, fixed):
    warnings = _lint_of(stub, properties={"ProductName": "Mug", key: url})
    [warning] = [w for w in warnings if w["code"] == "relative_url"]
    assert warning["pointer"] == f"/data/attributes/properties/{key}"
    assert repr(url) in warning["detail"]
    assert ("protocol-relative" if url.startswith("//") else "not an absolute URL") in warning["detail"]
    assert warning["fix"].startswith(f"make it absolute, e.g. {fixed!r}")
    assert warning["fix"].endswith(_lint.PLAN_URL)


def test_relative_urls_in_lines_and_lists_are_found_by_pointer(stub):
    lines = copy.deepcopy(LINES)
    lines[1]["ProductURL"] = "/products/tale"
    props = {"Items": lines, "ImageURLs": ["https://cdn.example.com/a.png", "//cdn.example.com/b.png"],
             "Nested": {"Deep": [{"SourceUrl": "/home"}]}}
    warnings = _lint_of(stub, "Started Checkout", properties=props)
    assert [(w["code"], w["pointer"]) for w in warnings] == [
        ("relative_url", "/data/attributes/properties/ImageURLs/1"),
        ("relative_url", "/data/attributes/properties/Items/1/ProductURL"),
        ("relative_url", "/data/attributes/properties/Nested/Deep/0/SourceUrl"),
    ]


@pytest.mark.parametrize("value", [
    2998,  # the guide's lines: 9.99 + 19.99
    3498,  # with 5.00 shipping, in cents
])
def test_a_value_in_cents_is_good_with_a_warning_saying_so(stub, value):
    warnings = _lint_of(stub, "Started Checkout", properties={"Items": LINES}, value=value)
    [warning] = warnings
    assert (warning["code"], warning["pointer"]) == ("implausible_value", "/data/attributes/value")
    assert f"the value {value} is" in warning["detail"] and "sum of the line prices (29.98)" in warning["detail"]
    assert "minor units (cents)" in warning["detail"]
    assert warning["fix"].startswith(f"send major units ({value / 100:g}, not {value})")
    assert warning["fix"].endswith(_lint.PLAN_MONEY)


def test_a_dollar_value_in_cents_as_the_onsite_script_sends_it_with_quantities(stub):
    # $value as the onsite script maps it; quantities multiply ItemPrice when there is no RowTotal.
    lines = [{"ProductID": "1", "ItemPrice": 5, "Quantity": 3}]
    body = expected_event_body("Added to Cart", {"$value": 1500, "Items": lines}, pending_profile(email=EMAIL))
    [warning] = _only_event(stub, body)["warnings"]
    assert (warning["code"], warning["pointer"]) == ("implausible_value", "/data/attributes/value")
    assert "sum of the line prices (15)" in warning["detail"]


@pytest.mark.parametrize("price, total, value, where", [
    ("999", "1998", 19.98, "/data/attributes/properties"),  # WooCommerce's Store API: minor units as text
    ("9.99", "19.98", 1998, "/data/attributes/value"),  # a theme's money filter, and a value in cents
])
def test_prices_written_as_numbers_in_text_are_compared_too(stub, price, total, value, where):
    lines = [{"ProductID": "1", "ItemPrice": price, "Quantity": "2", "RowTotal": total}]
    [warning] = _lint_of(stub, "Placed Order", properties={"Items": lines}, value=value)
    assert (warning["code"], warning["pointer"]) == ("implausible_value", where)
    assert "minor units (cents)" in warning["detail"]


def test_line_prices_in_cents_with_a_value_in_major_units(stub):
    lines = [{"ProductID": "1", "ItemPrice": 999, "Quantity": 2, "RowTotal": 1998}]
    [warning] = _lint_of(stub, "Placed Order", properties={"Items": lines}, value=19.98)
    assert (warning["code"], warning["pointer"]) == ("implausible_value", "/data/attributes/properties")
    assert "prices look like amounts in minor units" in warning["detail"]
    assert "1998 in minor units is 19.98" in warning["fix"]


@pytest.mark.parametrize("sent, meant", [
    ("Viewed product", "Viewed Product"),
    ("viewed_product", "Viewed Product"),
    ("Order Placed", "Placed Order"),
    ("Added To Cart", "Added to Cart"),
    ("add_to_cart", "Added to Cart"),
    ("Checkout Started", "Started Checkout"),
    ("  Placed  Order ", "Placed Order"),
    ("referred-by-friend", "Referred by Friend"),
])
def test_a_standard_metric_name_spelt_another_way_names_the_standard_one(stub, sent, meant):
    [warning] = _lint_of(stub, sent)
    assert (warning["code"], warning["pointer"]) == ("metric_name", "/data/attributes/metric/data/attributes/name")
    assert f"{sent!r} is not Klaviyo's standard name {meant!r}" in warning["detail"]
    assert warning["fix"] == f"send the metric name exactly {meant!r}"


@pytest.mark.parametrize("key, standard", [
    ("ProductId", "ProductID"), ("product_id", "ProductID"), ("productID", "ProductID"),
    ("Product ID", "ProductID"), ("sku", "SKU"), ("image_url", "ImageURL"), ("productName", "ProductName"),
    ("AddedItemProductId", "AddedItemProductID"), ("items", "Items"),
])
def test_a_standard_property_key_spelt_another_way_names_the_standard_one(stub, key, standard):
    warnings = _lint_of(stub, properties={key: "1111"})
    [warning] = [w for w in warnings if w["code"] == "property_name"]
    assert warning["pointer"] == "/data/attributes/properties/" + key
    assert f"{key!r} is Klaviyo's standard {standard!r} spelt another way" in warning["detail"]
    assert warning["fix"] == f"rename it {standard!r}"


def test_keys_are_checked_in_lines_too(stub):
    lines = copy.deepcopy(LINES)
    lines[0]["product_id"] = lines[0].pop("ProductID")
    [warning] = _lint_of(stub, "Started Checkout", properties={"Items": lines})
    assert (warning["code"], warning["pointer"]) == ("property_name", "/data/attributes/properties/Items/0/product_id")


@pytest.mark.parametrize("key, text, placeholder", [
    ("ProductName", "{{ product.title | escape }}", "{{ product.title | escape }}"),  # Liquid in a .js asset
    ("Brand", "{{product.brand.name}}", "{{product.brand.name}}"),  # BigCommerce's Stencil (Handlebars)
    ("Categories", "{% for c in product.collections %}{{ c.title }}{% endfor %}",
     "{% for c in product.collections %}"),
    ("ProductName", "<?php echo $product->get_name(); ?>", "<?php echo $product->get_name(); ?>"),  # WordPress
    ("URL", "{{ shop.url }}{{ product.url }}", "{{ shop.url }}"),  # said once, not also as a relative URL
])
def test_template_text_the_page_never_rendered_is_good_with_a_warning(stub, key, text, placeholder):
    [warning] = _lint_of(stub, properties={"ProductID": "1111", key: text})
    assert (warning["code"], warning["pointer"]) == ("template_text", f"/data/attributes/properties/{key}")
    assert warning["detail"].startswith(f"{text!r} holds template text the page never rendered ({placeholder!r})")
    assert warning["fix"].startswith("render the value where the template engine runs")


def test_template_text_is_found_in_lines_and_lists(stub):
    lines = copy.deepcopy(LINES)
    lines[1]["ProductName"] = "{{ item.product_title }}"
    warnings = _lint_of(stub, "Started Checkout", properties={"Items": lines, "ItemNames": ["A", "{{ item.title }}"]})
    assert [(w["code"], w["pointer"]) for w in warnings] == [
        ("template_text", "/data/attributes/properties/ItemNames/1"),
        ("template_text", "/data/attributes/properties/Items/1/ProductName"),
    ]


def test_a_bulk_events_warning_points_into_its_own_entry(stub):
    metric = {"data": {"type": "metric", "attributes": {"name": "Viewed Product"}}}
    entry = {"type": "event", "attributes": {"properties": {"URL": "/products/mug"}, "metric": metric}}
    clean = copy.deepcopy(entry)
    clean["attributes"]["properties"]["URL"] = "https://shop.example/products/mug"
    clean["attributes"]["unique_id"] = "second"
    body = {"data": {"type": "event-bulk-create", "attributes": {
        "profile": {"data": {"type": "profile", "attributes": {"email": EMAIL}}},
        "events": {"data": [clean, entry]}}}}
    assert post(stub.url + BULK, body, CLIENT_HEADERS).status == 202
    first, second = stub.events()
    assert (first["status"], first["warnings"]) == ("good", [])
    assert second["status"] == "good"
    assert [w["pointer"] for w in second["warnings"]] == ["/data/attributes/events/data/1/attributes/properties/URL"]


# -- near misses: no warning ----------------------------------------------------------------------

@pytest.mark.parametrize("metric, properties, attributes", [
    ("Viewed Product", {"URL": "https://shop.example/p", "ImageURL": "http://cdn.example/i.png",
                        "SupportLink": "mailto:help@shop.example", "ThumbUrl": "data:image/png;base64,AAAA",
                        "BannerLink": ""}, {}),
    ("Viewed Products Page", {"product": "Mug", "ProductIDs": ["1", "2"], "Title": "/not/a/url"}, {}),
    ("Cancelled Order", {"OrderId": "1", "Discount Code": "X", "Discount Value": 5}, {}),  # a spelling, not a variant
    ("Placed Order", {"Items": LINES}, {"value": 34.98}),  # shipping on top
    ("Placed Order", {"Items": LINES}, {"value": 30}),  # a whole value in major units
    ("Placed Order", {"Items": [{"ItemPrice": 0.3, "Quantity": 1}]}, {"value": 29.99}),  # shipping dominates
    ("Placed Order", {"Items": [{"ItemPrice": 2998, "Quantity": 1}]}, {"value": 2998, "value_currency": "JPY"}),
    ("Placed Order", {"Items": [{"ProductID": "1"}]}, {"value": 2998}),  # no line price to compare with
    ("Placed Order", {"Items": [{"ItemPrice": "9.99", "RowTotal": "9.99"}]}, {"value": 9.99}),  # text, major units
    ("Placed Order", {"Items": [{"ItemPrice": "$9.99", "RowTotal": "9,99 €"}]}, {"value": 999}),  # not plain numbers
    ("Placed Order", {"Shipping": {"price": 5, "sku": "ship"}}, {}),  # keys outside the lines are not checked
    ("Viewed Product", {"ProductName": "Mug {size}", "Notes": "a < b ? c : d", "Pattern": "{{"}, {}),  # not templates
    ("__activity__", {"page": "https://shop.example/", "referrer": "", "os": "Linux"}, {}),
])
def test_near_misses_get_no_warning(stub, metric, properties, attributes):
    assert _lint_of(stub, metric, properties=properties, **attributes) == []


def test_only_good_events_are_linted(stub):
    body = event_body("viewed_product", properties={"URL": "/p"}, value="29.98")  # a string value: bad
    assert post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS).status == 202
    [event] = stub.events()
    assert event["status"] == "bad" and "warnings" not in event
