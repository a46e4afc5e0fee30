"""Order events: the guide's order in, the guide's payloads out; bad orders refused by field."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
from decimal import Decimal
from pathlib import Path

import pytest

from klaviyo_snippets.generator.server import orders
from klaviyo_snippets.generator.errors import UserError
from tests.reference import guide_text

from tests.openapi_oracle import validate_request

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ORDERS = ROOT / "examples/orders.jsonl"

# -- the guide's example order, in our canonical shape -----------------------------------------

GUIDE_ORDER = {
    "OrderId": "1234",
    "time": "2022-11-08T00:00:00",
    "value": 29.98,
    "currency": "USD",
    "customer": {"email": "sarah.mason@klaviyo-demo.com", "phone_number": "+15005550006"},
    # The guide's order of categories (no rule derives it from the lines; see docs).
    "Categories": ["Fiction", "Classics", "Children"],
    "DiscountCode": "Free Shipping",
    "DiscountValue": 5,
    "Items": [
        {"ProductID": "1111", "SKU": "WINNIEPOOH", "ProductName": "Winnie the Pooh",
         "Quantity": 1, "ItemPrice": 9.99, "RowTotal": 9.99,
         "ProductURL": "http://www.example.com/path/to/product",
         "ImageURL": "http://www.example.com/path/to/product/image.png",
         "Categories": ["Fiction", "Children"], "Brand": "Kids Books"},
        {"ProductID": "1112", "SKU": "TALEOFTWO", "ProductName": "A Tale of Two Cities",
         "Quantity": 1, "ItemPrice": 19.99, "RowTotal": 19.99,
         "ProductURL": "http://www.example.com/path/to/product2",
         "ImageURL": "http://www.example.com/path/to/product/image2.png",
         "Categories": ["Fiction", "Classics"], "Brand": "Harcourt Classics"},
    ],
    "BillingAddress": {"FirstName": "John", "LastName": "Smith", "Address1": "123 Abc St",
                       "City": "Boston", "RegionCode": "MA", "CountryCode": "US", "Zip": "02110",
                       "Phone": "+15551234567"},
    "ShippingAddress": {"Address1": "123 Abc St"},
}

# -- the guide's payloads, copied verbatim (test_guide_copies_are_verbatim checks the copy) -----

_GUIDE_ID = "d47aeda5-1751-4483-a81e-6fcc8ad48711"
_PROFILE = {"data": {"type": "profile", "attributes": {
    "email": "sarah.mason@klaviyo-demo.com", "phone_number": "+15005550006"}}}
_ITEMS = copy.deepcopy(GUIDE_ORDER["Items"])
_ADDRESSES = {"BillingAddress": GUIDE_ORDER["BillingAddress"],
              "ShippingAddress": GUIDE_ORDER["ShippingAddress"]}


def _metric(name: str) -> dict:
    return {"data": {"type": "metric", "attributes": {"name": name}}}


GUIDE_PLACED_ORDER = {"data": {"type": "event", "attributes": {
    "properties": {"OrderId": "1234", "Categories": ["Fiction", "Classics", "Children"],
                   "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"],
                   "DiscountCode": "Free Shipping", "DiscountValue": 5,
                   "Brands": ["Kids Books", "Harcourt Classics"], "Items": _ITEMS, **_ADDRESSES},
    "time": "2022-11-08T00:00:00", "value": 29.98, "value_currency": "USD", "unique_id": _GUIDE_ID,
    "metric": _metric("Placed Order"), "profile": _PROFILE}}}

GUIDE_ORDERED_PRODUCT = {"data": {"type": "event", "attributes": {
    "properties": {"OrderId": "1234", "ProductID": "1111", "SKU": "WINNIEPOOH",
                   "ProductName": "Winnie the Pooh", "Quantity": 1,
                   "ProductURL": "http://www.example.com/path/to/product",
                   "ImageURL": "http://www.example.com/path/to/product/image.png",
                   "Categories": ["Fiction", "Children"], "ProductBrand": "Kids Books"},
    "time": "2022-11-08T00:00:00", "value": 9.99, "value_currency": "USD", "unique_id": _GUIDE_ID,
    "metric": _metric("Ordered Product"), "profile": _PROFILE}}}


def _lifecycle(name: str, time: str, *, reason: bool, spaced_discount: bool) -> dict:
    properties = {"OrderId": "1234"}
    if reason:
        properties["Reason"] = "No longer needed"
    properties |= {"Categories": ["Fiction", "Classics", "Children"],
                   "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"],
                   "Brands": ["Kids Books", "Harcourt Classics"]}
    if spaced_discount:  # the guide's Canceled and Refunded examples spell them with a space
        properties |= {"Discount Code": "Free Shipping", "Discount Value": 5}
    else:
        properties |= {"DiscountCode": "Free Shipping", "DiscountValue": 5}
    properties |= {"Items": _ITEMS, **_ADDRESSES}
    return {"data": {"type": "event", "attributes": {
        "properties": properties, "time": time, "value": 29.98, "value_currency": "USD",
        "unique_id": _GUIDE_ID, "metric": _metric(name), "profile": _PROFILE}}}


GUIDE_FULFILLED = _lifecycle("Fulfilled Order", "2022-11-10T00:00:00", reason=False, spaced_discount=False)
GUIDE_CANCELED = _lifecycle("Canceled Order", "2022-11-09T00:00:00", reason=True, spaced_discount=True)
GUIDE_REFUNDED = _lifecycle("Refunded Order", "2022-11-10T00:00:00", reason=True, spaced_discount=True)


def _guide_payloads() -> dict[str, dict]:
    """Every event body in the guide's order sections, by metric name."""
    text = guide_text()
    blocks = re.findall(r"```json\n(.*?)```", text, flags=re.S)
    blocks += re.findall(r"--data '\n(.*?)\n'", text, flags=re.S)
    found = {}
    for block in blocks:
        body = json.loads(block)
        name = body["data"]["attributes"]["metric"]["data"]["attributes"]["name"]
        found[name] = body
    return found


def _with_id(body: dict, unique_id: str) -> dict:
    body = copy.deepcopy(body)
    body["data"]["attributes"]["unique_id"] = unique_id
    return body


def _attrs(body: dict) -> dict:
    return body["data"]["attributes"]


@pytest.mark.parametrize("name, copied", [
    ("Placed Order", GUIDE_PLACED_ORDER), ("Ordered Product", GUIDE_ORDERED_PRODUCT),
    ("Fulfilled Order", GUIDE_FULFILLED), ("Canceled Order", GUIDE_CANCELED),
    ("Refunded Order", GUIDE_REFUNDED),
])
def test_guide_copies_are_verbatim(name, copied):
    assert _guide_payloads()[name] == copied


# -- the guide in, the guide out ---------------------------------------------------------------

def test_placed_order_is_the_guides_payload_with_our_unique_id():
    body = orders.placed_order_body(GUIDE_ORDER)
    assert body == _with_id(GUIDE_PLACED_ORDER, "1234")
    # key order follows the guide too, so a printed body reads like the guide
    assert list(_attrs(body)["properties"]) == list(_attrs(GUIDE_PLACED_ORDER)["properties"])
    validate_request("/api/events", body)


def test_ordered_product_per_line_each_with_its_own_unique_id():
    bodies = orders.ordered_product_bodies(GUIDE_ORDER)
    assert len(bodies) == 2
    assert bodies[0] == _with_id(GUIDE_ORDERED_PRODUCT, "1234-1")
    second = _attrs(bodies[1])
    assert second["unique_id"] == "1234-2"
    assert second["value"] == 19.99
    assert second["properties"]["ProductID"] == "1112"
    assert second["properties"]["ProductBrand"] == "Harcourt Classics"
    ids = [_attrs(b)["unique_id"] for b in bodies]
    assert len(set(ids)) == len(ids) and _attrs(orders.placed_order_body(GUIDE_ORDER))["unique_id"] not in ids
    for body in bodies:
        validate_request("/api/events", body)


def test_fulfilled_order_is_the_guides_payload():
    order = GUIDE_ORDER | {"fulfilled": {"time": "2022-11-10T00:00:00"}}
    body = orders.fulfilled_order_body(order)
    assert body == _with_id(GUIDE_FULFILLED, "1234")
    validate_request("/api/events", body)


@pytest.mark.parametrize("fact, build, guide, time", [
    ("canceled", orders.canceled_order_body, GUIDE_CANCELED, "2022-11-09T00:00:00"),
    ("refunded", orders.refunded_order_body, GUIDE_REFUNDED, "2022-11-10T00:00:00"),
])
def test_canceled_and_refunded_are_the_guides_payloads_with_one_discount_spelling(fact, build, guide, time):
    order = GUIDE_ORDER | {fact: {"time": time, "Reason": "No longer needed"}}
    body = build(order)
    expected = _with_id(guide, "1234")
    properties = _attrs(expected)["properties"]
    # The one deliberate difference: Placed Order's DiscountCode/DiscountValue everywhere.
    properties["DiscountCode"] = properties.pop("Discount Code")
    properties["DiscountValue"] = properties.pop("Discount Value")
    assert body == expected
    assert "Discount Code" not in _attrs(body)["properties"]
    validate_request("/api/events", body)


def test_lifecycle_events_reuse_the_placed_order_unique_id():
    order = GUIDE_ORDER | {"unique_id": "order-1234",
                           "fulfilled": {"time": "2022-11-10T00:00:00"},
                           "canceled": {"time": "2022-11-09T00:00:00"},
                           "refunded": {"time": "2022-11-11T00:00:00"}}
    events = orders.order_events(order)
    names = [_attrs(b)["metric"]["data"]["attributes"]["name"] for b in events]
    assert names == ["Placed Order", "Ordered Product", "Ordered Product",
                     "Canceled Order", "Fulfilled Order", "Refunded Order"]  # lifecycle in time order
    ids = {name: _attrs(b)["unique_id"] for name, b in zip(names, events)}
    assert ids["Placed Order"] == ids["Canceled Order"] == ids["Fulfilled Order"] \
        == ids["Refunded Order"] == "order-1234"
    assert [_attrs(b)["unique_id"] for b in events[1:3]] == ["order-1234-1", "order-1234-2"]
    for body in events:
        validate_request("/api/events", body)


def test_the_first_line_of_the_example_file_is_the_guides_order():
    first = next(orders.read_orders(EXAMPLE_ORDERS))
    assert orders.placed_order_body(first) == _with_id(GUIDE_PLACED_ORDER, "1234")
    assert first.line == 1 and first.source == str(EXAMPLE_ORDERS)


def _example_bodies():
    return [(f"{order.order_id}:{i}", body)
            for order in orders.read_orders(EXAMPLE_ORDERS)
            for i, body in enumerate(orders.order_events(order))]


@pytest.mark.parametrize("label, body", _example_bodies(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_example_body_validates_against_the_openapi_extract(label, body):
    validate_request("/api/events", body)
    assert isinstance(_attrs(body)["value"], (int, float)) and not isinstance(_attrs(body)["value"], bool)


# -- derived properties ------------------------------------------------------------------------

def test_categories_are_derived_in_first_appearance_order_without_an_override():
    order = {k: v for k, v in GUIDE_ORDER.items() if k != "Categories"}
    properties = _attrs(orders.placed_order_body(order))["properties"]
    # the order the guide's own Started Checkout example uses for the same two lines
    assert properties["Categories"] == ["Fiction", "Children", "Classics"]
    assert properties["ItemNames"] == ["Winnie the Pooh", "A Tale of Two Cities"]
    assert properties["Brands"] == ["Kids Books", "Harcourt Classics"]


def test_a_categories_override_must_name_exactly_the_lines_categories():
    with pytest.raises(orders.InvalidOrder) as caught:
        orders.parse_order(GUIDE_ORDER | {"Categories": ["Fiction", "Classics", "Poetry"]})
    assert caught.value.pointer == "/Categories"
    assert "'Children'" in caught.value.reason and "'Poetry' on no line" in caught.value.reason


def test_brands_are_unique_in_line_order():
    items = copy.deepcopy(GUIDE_ORDER["Items"]) + [
        GUIDE_ORDER["Items"][0] | {"ProductID": "1114", "SKU": "ALICE", "ProductName": "Alice"}]
    properties = _attrs(orders.placed_order_body(GUIDE_ORDER | {"Items": items}))["properties"]
    assert properties["Brands"] == ["Kids Books", "Harcourt Classics"]
    assert properties["ItemNames"] == ["Winnie the Pooh", "A Tale of Two Cities", "Alice"]


# -- partial cancels and refunds ---------------------------------------------------------------

def test_a_partial_cancel_carries_only_its_lines_and_their_value():
    order = GUIDE_ORDER | {"canceled": {"time": "2022-11-09T00:00:00", "Reason": "Out of stock",
                                        "Items": [{"ProductID": "1112"}]}}
    body = orders.canceled_order_body(order)
    attributes = _attrs(body)
    assert attributes["value"] == 19.99
    assert attributes["unique_id"] == "1234"
    assert [i["ProductID"] for i in attributes["properties"]["Items"]] == ["1112"]
    assert attributes["properties"]["ItemNames"] == ["A Tale of Two Cities"]
    assert attributes["properties"]["Categories"] == ["Fiction", "Classics"]
    assert attributes["properties"]["Brands"] == ["Harcourt Classics"]
    assert attributes["properties"]["Reason"] == "Out of stock"
    validate_request("/api/events", body)


def test_a_partial_refund_of_part_of_a_line_needs_its_row_total_and_keeps_its_amount():
    order = GUIDE_ORDER | {"Items": [GUIDE_ORDER["Items"][0] | {"Quantity": 3, "RowTotal": 29.97}],
                           "Categories": ["Fiction", "Children"], "value": 29.97}
    part = {"time": "2022-11-12T00:00:00", "Items": [{"ProductID": "1111", "Quantity": 1}]}
    with pytest.raises(orders.InvalidOrder) as caught:
        orders.parse_order(order | {"refunded": part})
    assert caught.value.pointer == "/refunded/Items/0/RowTotal"
    part["Items"][0]["RowTotal"] = 9.99
    body = orders.refunded_order_body(order | {"refunded": part | {"value": 8.5}})
    attributes = _attrs(body)
    assert attributes["value"] == 8.5
    assert attributes["properties"]["Items"][0]["Quantity"] == 1
    assert attributes["properties"]["Items"][0]["RowTotal"] == 9.99
    validate_request("/api/events", body)


def test_a_partial_value_is_summed_like_money():
    items = [GUIDE_ORDER["Items"][0], GUIDE_ORDER["Items"][1],
             GUIDE_ORDER["Items"][0] | {"ProductID": "2001", "SKU": "BOOKMARK5", "ProductName": "Bookmarks",
                                        "ItemPrice": 6.0, "RowTotal": 6.0}]
    order = GUIDE_ORDER | {"Items": items, "value": 35.98, "canceled": {
        "time": "2022-11-09T00:00:00", "Items": [{"ProductID": "1111"}, {"ProductID": "1112"}]}}
    assert _attrs(orders.canceled_order_body(order))["value"] == 29.98  # not 29.979999999999997


def test_a_reversal_covering_every_line_is_the_whole_order():
    order = GUIDE_ORDER | {"value": 34.98, "refunded": {
        "time": "2022-11-12T00:00:00", "Items": [{"ProductID": "1112"}, {"ProductID": "1111"}]}}
    attributes = _attrs(orders.refunded_order_body(order))
    assert attributes["value"] == 34.98  # the order's value (shipping and tax included), not 29.98
    assert [i["ProductID"] for i in attributes["properties"]["Items"]] == ["1111", "1112"]


@pytest.mark.parametrize("reversal, pointer, words", [
    ({"time": "2022-11-09T00:00:00", "Items": [{"ProductID": "9999"}]},
     "/canceled/Items/0/ProductID", "not a line of this order"),
    ({"time": "2022-11-09T00:00:00", "Items": [{"ProductID": "1111"}, {"ProductID": "1111"}]},
     "/canceled/Items/1", "listed twice"),
    ({"time": "2022-11-09T00:00:00", "Items": [{"ProductID": "1111", "ProductName": "x"}]},
     "/canceled/Items/0/ProductName", "unknown field"),
    ({"time": "2022-11-09T00:00:00", "Items": [{"ProductID": "1111", "Quantity": 2}]},
     "/canceled/Items/0/Quantity", "from 1 to the line's Quantity 1"),
    ({"time": "2022-11-09T00:00:00", "value": 40}, "/canceled/value", "more than the order's value"),
    ({"time": "2022-11-07T00:00:00"}, "/canceled/time", "before the order's time"),
    ({"Reason": "x"}, "/canceled/time", "is required"),
    ([{"time": "2022-11-09T00:00:00"}], "/canceled", "one per order"),
])
def test_bad_reversals_are_refused_by_field(reversal, pointer, words):
    with pytest.raises(orders.InvalidOrder) as caught:
        orders.parse_order(GUIDE_ORDER | {"canceled": reversal})
    assert caught.value.pointer == pointer
    assert words in caught.value.reason


def test_fulfillment_details_are_properties():
    order = GUIDE_ORDER | {"fulfilled": {"time": "2022-11-10T08:00:00Z", "TrackingNumber": "1Z999",
                                         "Carrier": "UPS",
                                         "TrackingURL": "https://www.ups.com/track?tracknum=1Z999",
                                         "extra": {"Warehouse": "BOS-1"}}}
    attributes = _attrs(orders.fulfilled_order_body(order))
    assert attributes["time"] == "2022-11-10T08:00:00+00:00"
    assert {k: attributes["properties"][k] for k in ("TrackingNumber", "Carrier", "Warehouse")} == \
        {"TrackingNumber": "1Z999", "Carrier": "UPS", "Warehouse": "BOS-1"}
    assert attributes["value"] == 29.98 and attributes["unique_id"] == "1234"


# -- values ------------------------------------------------------------------------------------

def test_time_accepts_datetimes_and_iso_strings_and_keeps_their_form():
    def time_of(value):
        return _attrs(orders.placed_order_body(GUIDE_ORDER | {"time": value}))["time"]

    assert time_of("2022-11-08T00:00:00") == "2022-11-08T00:00:00"            # naive stays naive
    assert time_of("2022-11-08T00:00:00Z") == "2022-11-08T00:00:00+00:00"
    assert time_of("2022-11-08T09:30:00-05:00") == "2022-11-08T09:30:00-05:00"
    assert time_of(dt.datetime(2022, 11, 8, 9, 30, tzinfo=dt.timezone.utc)) == "2022-11-08T09:30:00+00:00"
    assert time_of(dt.datetime(2022, 11, 8)) == "2022-11-08T00:00:00"


def test_decimal_amounts_are_numbers_on_the_wire():
    attributes = _attrs(orders.placed_order_body(GUIDE_ORDER | {"value": Decimal("29.98")}))
    assert attributes["value"] == 29.98 and isinstance(attributes["value"], float)
    assert json.loads(json.dumps(attributes))["value"] == 29.98


def test_backfill_is_sent_only_when_asked():
    assert "backfill" not in _attrs(orders.placed_order_body(GUIDE_ORDER))
    for body in orders.order_events(GUIDE_ORDER, backfill=True):
        assert _attrs(body)["backfill"] is True
        validate_request("/api/events", body)


def _without(key: str) -> dict:
    return {k: v for k, v in GUIDE_ORDER.items() if k != key}


BAD_ORDERS = [
    # (label, order, pointer, words in the reason)
    ("string value", GUIDE_ORDER | {"value": "29.98"}, "/value", "must be a number, not a string ('29.98')"),
    ("bad phone", GUIDE_ORDER | {"customer": {"phone_number": "(500) 555-0006"}},
     "/customer/phone_number", "not an E.164 phone number"),
    ("missing OrderId", _without("OrderId"), "/OrderId", "is required"),
    ("numeric OrderId", GUIDE_ORDER | {"OrderId": 1234}, "/OrderId", "must be a string"),
    ("bad time", GUIDE_ORDER | {"time": "08/11/2022"}, "/time", "not an ISO 8601 date-time"),
    ("unix time", GUIDE_ORDER | {"time": 1667865600}, "/time", "ISO 8601 date-time string or a datetime"),
    ("date only", GUIDE_ORDER | {"time": "2022-11-08"}, "/time", "not an ISO 8601 date-time"),
    ("before 1990", GUIDE_ORDER | {"time": "1989-12-31T23:59:59Z"}, "/time", "before 1990"),
    ("no identifier", GUIDE_ORDER | {"customer": {"first_name": "Sarah"}}, "/customer", "at least one identifier"),
    ("bad email", GUIDE_ORDER | {"customer": {"email": "sarah.mason"}}, "/customer/email", "not an email"),
    ("bad currency", GUIDE_ORDER | {"currency": "usd"}, "/currency", "ISO 4217"),
    ("bool value", GUIDE_ORDER | {"value": True}, "/value", "must be a number, not a boolean"),
    ("negative value", GUIDE_ORDER | {"value": -1}, "/value", "≥ 0"),
    ("nan value", GUIDE_ORDER | {"value": float("nan")}, "/value", "finite"),
    ("no items", GUIDE_ORDER | {"Items": []}, "/Items", "non-empty list"),
    ("string row total", GUIDE_ORDER | {"Items": [GUIDE_ORDER["Items"][0] | {"RowTotal": "9.99"}],
                                        "Categories": None},
     "/Items/0/RowTotal", "must be a number"),
    ("zero quantity", GUIDE_ORDER | {"Items": [GUIDE_ORDER["Items"][0], GUIDE_ORDER["Items"][1] | {"Quantity": 0}]},
     "/Items/1/Quantity", "whole number ≥ 1"),
    ("relative url", GUIDE_ORDER | {"Items": [GUIDE_ORDER["Items"][0] | {"ProductURL": "/path/to/product"}],
                                    "Categories": None},
     "/Items/0/ProductURL", "absolute http(s) URL"),
    ("typo", _without("OrderId") | {"OrderID": "1234"}, "/OrderID", "did you mean 'OrderId'"),
    ("extra clash", GUIDE_ORDER | {"extra": {"ItemNames": []}}, "/extra/ItemNames", "set by the builder"),
    ("nested address", GUIDE_ORDER | {"ShippingAddress": {"Lines": ["a"]}}, "/ShippingAddress/Lines", "string"),
]


@pytest.mark.parametrize("label, order, pointer, words", BAD_ORDERS, ids=[b[0] for b in BAD_ORDERS])
def test_bad_orders_are_refused_naming_the_field_and_reason(label, order, pointer, words):
    with pytest.raises(UserError) as caught:
        orders.placed_order_body(order)
    error = caught.value
    assert isinstance(error, orders.InvalidOrder)
    assert error.pointer == pointer
    assert words in error.reason
    assert f"at {pointer}" in str(error)


@pytest.mark.parametrize("label, order, pointer, words",
                         [b for b in BAD_ORDERS if b[0] in ("string value", "bad phone", "missing OrderId",
                                                            "bad time", "no identifier")],
                         ids=lambda v: v if isinstance(v, str) and " " in v else "")
def test_bad_orders_in_a_jsonl_file_name_the_line(tmp_path, label, order, pointer, words):
    path = tmp_path / "orders.jsonl"
    good = GUIDE_ORDER | {"OrderId": "1000"}
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(order) + "\n", encoding="utf-8")
    read = orders.read_orders(path)
    assert next(read).order_id == "1000"
    with pytest.raises(orders.InvalidOrder) as caught:
        next(read)
    error = caught.value
    assert (error.line, error.pointer) == (3, pointer)
    assert str(error).startswith(f"{path}:3")
    assert f"at {pointer}: " in str(error) and words in str(error)


def test_a_repeated_order_id_in_a_file_is_refused(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(GUIDE_ORDER) + "\n" + json.dumps(GUIDE_ORDER) + "\n", encoding="utf-8")
    with pytest.raises(orders.InvalidOrder) as caught:
        list(orders.read_orders(path))
    assert caught.value.line == 2 and "already appears on line 1" in caught.value.reason


def test_a_line_that_is_not_json_names_the_line(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_text(json.dumps(GUIDE_ORDER) + "\n{\"OrderId\": \n", encoding="utf-8")
    with pytest.raises(UserError) as caught:
        list(orders.read_orders(path))
    assert caught.value.where == f"{path}:2" and "not valid JSON" in caught.value.message


def test_a_missing_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="cannot read the orders file"):
        list(orders.read_orders(tmp_path / "nope.jsonl"))


def test_asking_for_a_lifecycle_event_an_order_lacks_is_a_programming_error():
    with pytest.raises(ValueError, match="no 'canceled' facts"):
        orders.canceled_order_body(GUIDE_ORDER)
