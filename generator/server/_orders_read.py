"""Reading orders: the canonical order model (frozen dataclasses) and its parsing from a mapping
or a JSON Lines file, each problem a `UserError` naming the field (a JSON pointer inside the
order) and, for a file, the file and line. `orders` turns an order into event bodies.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from os import PathLike
from typing import Any

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.net import is_absolute_http_url
from klaviyo_snippets.generator.server._bodies import (
    FieldError,
    _type_name,
    check_currency,
    check_number,
    check_string,
    check_time,
    is_finite_number,
    parse_json,
    pointer_join,
    profile_attributes,
    to_unix_seconds,
)
from klaviyo_snippets.generator.server._stream import KeyIndex, Problems, ReadProgressSink, read_lines

__all__ = ["Order", "Item", "Fulfillment", "Reversal", "InvalidOrder", "Number", "parse_order", "read_orders"]

Number = int | float


_HINT = "`klaviyo-snippets docs server-side` describes the order shape field by field"


class InvalidOrder(UserError):
    """An order that cannot become events: `pointer` is the field inside the order, `line` the
    JSONL line it came from (or None), `reason` why it was refused."""

    def __init__(self, reason: str, *, pointer: str, source: str | None = None,
                 line: int | None = None, order_id: str | None = None):
        place = f"{source}:{line}" if source is not None and line is not None else (source or "order")
        if order_id:
            place += f" (OrderId {order_id!r})"
        super().__init__(reason, where=f"{place} at {pointer or '/'}", hint=_HINT)
        self.reason = reason
        self.pointer = pointer
        self.source = source
        self.line = line
        self.order_id = order_id


# -- the canonical shape, validated ------------------------------------------------------------

@dataclass(frozen=True)
class Item:
    """One order line. `line` is its 1-based position in the order's `Items`."""

    line: int
    product_id: str
    product_name: str
    quantity: int
    item_price: Number
    row_total: Number
    sku: str | None = None
    product_url: str | None = None
    image_url: str | None = None
    categories: tuple[str, ...] | None = None
    brand: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def properties(self) -> dict[str, Any]:
        """The line as an entry of the events' `Items` array, in the guide's key order."""
        out: dict[str, Any] = {"ProductID": self.product_id}
        if self.sku is not None:
            out["SKU"] = self.sku
        out["ProductName"] = self.product_name
        out["Quantity"] = self.quantity
        out["ItemPrice"] = self.item_price
        out["RowTotal"] = self.row_total
        if self.product_url is not None:
            out["ProductURL"] = self.product_url
        if self.image_url is not None:
            out["ImageURL"] = self.image_url
        if self.categories is not None:
            out["Categories"] = list(self.categories)
        if self.brand is not None:
            out["Brand"] = self.brand
        out.update(self.extra)
        return out


@dataclass(frozen=True)
class Fulfillment:
    time: str
    details: Mapping[str, Any]  # TrackingNumber, TrackingURL, Carrier, ShippingMethod, extra


@dataclass(frozen=True)
class Reversal:
    """A cancellation or a refund: the lines it covers (all of them unless `partial`) and its value."""

    time: str
    value: Number
    items: tuple[Item, ...]
    partial: bool
    reason: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Order:
    order_id: str
    unique_id: str
    time: str
    value: Number
    profile: Mapping[str, Any]
    items: tuple[Item, ...]
    categories: tuple[str, ...]
    currency: str | None = None
    discount_code: str | None = None
    discount_value: Number | None = None
    billing_address: Mapping[str, Any] | None = None
    shipping_address: Mapping[str, Any] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    fulfilled: Fulfillment | None = None
    canceled: Reversal | None = None
    refunded: Reversal | None = None
    source: str | None = None
    line: int | None = None


_ORDER_KEYS = {
    # guide-named: copied into the events' properties
    "OrderId", "Items", "Categories", "DiscountCode", "DiscountValue",
    "BillingAddress", "ShippingAddress",
    # ours: the envelope
    "time", "value", "currency", "customer", "unique_id", "extra",
    "fulfilled", "canceled", "refunded",
}
_ITEM_KEYS = {
    "ProductID", "SKU", "ProductName", "Quantity", "ItemPrice", "RowTotal",
    "ProductURL", "ImageURL", "Categories", "Brand", "extra",
}
_FULFILLED_KEYS = {"time", "TrackingNumber", "TrackingURL", "Carrier", "ShippingMethod", "extra"}
_REVERSAL_KEYS = {"time", "Reason", "Items", "value", "extra"}
_LINE_REF_KEYS = {"ProductID", "SKU", "Quantity", "RowTotal"}


def parse_order(data: Mapping[str, Any] | Order, *, source: str | None = None,
                line: int | None = None) -> Order:
    """Validate one order in the canonical shape; raise `InvalidOrder` naming the bad field."""
    if isinstance(data, Order):
        return data
    order_id = data.get("OrderId") if isinstance(data, Mapping) else None
    try:
        return _parse(data, source=source, line=line)
    except FieldError as error:
        raise InvalidOrder(error.reason, pointer=error.pointer, source=source, line=line,
                           order_id=order_id if isinstance(order_id, str) else None) from None


def read_orders(path: str | PathLike[str], *, problems: list[UserError] | Problems | None = None,
                progress: ReadProgressSink | None = None, unique: bool = True,
                limit: int | None = None) -> Iterator[Order]:
    """Orders from a JSONL file, one per line (blank lines skipped), in file order, read a line
    at a time (memory does not grow with the file; `progress.update(bytes, lines)` is told as it
    goes).

    Errors name the file and line: bad JSON or UTF-8, a line that is not an object, a bad field,
    or an `OrderId` seen before (a second copy would be dropped by Klaviyo's dedup, silently;
    `unique=False` skips that check, for a file checked already). The first bad line raises;
    given `problems` (a list or a `Problems`), every bad line is appended there and skipped.
    `limit`: read only that many bytes (what a first pass checked, if lines were appended since).
    """
    source = str(path)
    seen = KeyIndex() if unique else None
    for number, text in read_lines(path, "orders file", problems=problems, progress=progress, limit=limit):
        if not text.strip():
            continue
        try:
            order = _read_line(text, source, number, seen)
        except UserError as error:
            if problems is None:
                raise
            problems.append(error)
            continue
        yield order


def _read_line(text: str, source: str, number: int, seen: KeyIndex | None) -> Order:
    data = parse_json(text, source, line=number, hint="each line of an orders file is one JSON object")
    if not isinstance(data, dict):
        raise InvalidOrder("each line must be a JSON object (one order)", pointer="",
                           source=source, line=number)
    order = parse_order(data, source=source, line=number)
    if seen is None:
        return order
    first = seen.get(order.order_id)
    if first is not None:
        raise InvalidOrder(f"OrderId {order.order_id!r} already appears on line "
                           f"{first}; put an order's lifecycle facts "
                           "(fulfilled, canceled, refunded) on its one line",
                           pointer="/OrderId", source=source, line=number,
                           order_id=order.order_id)
    seen.set(order.order_id, number)
    return order


def _parse(data: Any, *, source: str | None, line: int | None) -> Order:
    if not isinstance(data, Mapping):
        raise FieldError("", "an order must be a JSON object")
    _no_unknown(data, _ORDER_KEYS, "",
                "put further Placed Order properties under \"extra\"")
    for required in ("OrderId", "Items", "time", "value", "customer"):
        if data.get(required) is None:
            raise FieldError(f"/{required}", "is required")
    order_id = _id_string(data["OrderId"], "/OrderId")
    unique_id = order_id if data.get("unique_id") is None \
        else check_string(data["unique_id"], "/unique_id")
    time = check_time(data["time"], "/time")
    value = check_number(data["value"], "/value")
    currency = None if data.get("currency") is None else check_currency(data["currency"], "/currency")
    profile = profile_attributes(data["customer"], "/customer")

    raw_items = data["Items"]
    if not isinstance(raw_items, list) or not raw_items:
        raise FieldError("/Items", "must be a non-empty list of order lines")
    items = tuple(_parse_item(raw, index) for index, raw in enumerate(raw_items))
    categories = _order_categories(data.get("Categories"), items)

    discount_code = None if data.get("DiscountCode") is None \
        else check_string(data["DiscountCode"], "/DiscountCode")
    discount_value = None if data.get("DiscountValue") is None \
        else check_number(data["DiscountValue"], "/DiscountValue")
    billing = _address(data.get("BillingAddress"), "/BillingAddress")
    shipping = _address(data.get("ShippingAddress"), "/ShippingAddress")
    # A fulfillment's own details (TrackingNumber...) may restate an order-level extra; Reason may not.
    extra = _extra(data.get("extra"), "/extra", reserved=_PLACED_PROPERTY_NAMES | {"Reason"})

    order = Order(
        order_id=order_id, unique_id=unique_id, time=time, value=value, profile=profile,
        items=items, categories=categories, currency=currency, discount_code=discount_code,
        discount_value=discount_value, billing_address=billing, shipping_address=shipping,
        extra=extra, source=source, line=line,
    )
    fulfilled = None if data.get("fulfilled") is None \
        else _parse_fulfillment(data["fulfilled"], "/fulfilled", order)
    canceled = None if data.get("canceled") is None \
        else _parse_reversal(data["canceled"], "/canceled", order)
    refunded = None if data.get("refunded") is None \
        else _parse_reversal(data["refunded"], "/refunded", order)
    return replace(order, fulfilled=fulfilled, canceled=canceled, refunded=refunded)


def _parse_item(raw: Any, index: int) -> Item:
    where = f"/Items/{index}"
    if not isinstance(raw, Mapping):
        raise FieldError(where, "an order line must be an object")
    _no_unknown(raw, _ITEM_KEYS, where, "put further line properties under \"extra\"")
    for required in ("ProductID", "ProductName", "Quantity", "ItemPrice", "RowTotal"):
        if raw.get(required) is None:
            raise FieldError(f"{where}/{required}", "is required")
    quantity = raw["Quantity"]
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1 \
            or not is_finite_number(quantity):
        raise FieldError(f"{where}/Quantity", f"must be a whole number ≥ 1, not {_type_name(quantity)}")
    categories = None
    if raw.get("Categories") is not None:
        categories = _string_list(raw["Categories"], f"{where}/Categories")
    return Item(
        line=index + 1,
        product_id=_id_string(raw["ProductID"], f"{where}/ProductID"),
        product_name=check_string(raw["ProductName"], f"{where}/ProductName"),
        quantity=quantity,
        item_price=check_number(raw["ItemPrice"], f"{where}/ItemPrice"),
        row_total=check_number(raw["RowTotal"], f"{where}/RowTotal"),
        sku=None if raw.get("SKU") is None else check_string(raw["SKU"], f"{where}/SKU"),
        product_url=None if raw.get("ProductURL") is None
        else _url(raw["ProductURL"], f"{where}/ProductURL"),
        image_url=None if raw.get("ImageURL") is None
        else _url(raw["ImageURL"], f"{where}/ImageURL"),
        categories=categories,
        brand=None if raw.get("Brand") is None else check_string(raw["Brand"], f"{where}/Brand"),
        extra=_extra(raw.get("extra"), f"{where}/extra", reserved=_ITEM_KEYS | {"ProductBrand", "OrderId"}),
    )


def _order_categories(given: Any, items: tuple[Item, ...]) -> tuple[str, ...]:
    """The order's `Categories`: the union of the lines' categories.

    Derived in first-appearance order unless the order lists them itself, in which case its
    order is kept but it must name exactly the lines' categories (the guide's example lists
    Fiction, Classics, Children for lines [Fiction, Children], [Fiction, Classics]: no rule
    derives that order, so an order that wants it says so).
    """
    union: list[str] = []
    for item in items:
        for category in item.categories or ():
            if category not in union:
                union.append(category)
    if given is None:
        return tuple(union)
    listed = _string_list(given, "/Categories")
    missing = [c for c in union if c not in listed]
    stray = [c for c in listed if c not in union]
    if missing or stray:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(map(repr, missing))}")
        if stray:
            parts.append(f"{', '.join(map(repr, stray))} on no line")
        raise FieldError("/Categories", "must list exactly the union of the lines' Categories "
                                        f"({'; '.join(parts)}); leave it out to derive it")
    return tuple(listed)


def _parse_fulfillment(raw: Any, where: str, order: Order) -> Fulfillment:
    if not isinstance(raw, Mapping):
        raise FieldError(where, "must be an object (a single fulfillment: Klaviyo keeps one "
                                "Fulfilled Order per order, because it shares the order's unique_id)")
    _no_unknown(raw, _FULFILLED_KEYS, where, "put further properties under \"extra\"")
    if raw.get("time") is None:
        raise FieldError(f"{where}/time", "is required")
    details: dict[str, Any] = {}
    for key in ("TrackingNumber", "Carrier", "ShippingMethod"):
        if raw.get(key) is not None:
            details[key] = check_string(raw[key], f"{where}/{key}")
    if raw.get("TrackingURL") is not None:
        details["TrackingURL"] = _url(raw["TrackingURL"], f"{where}/TrackingURL")
    details.update(_extra(raw.get("extra"), f"{where}/extra",
                          reserved=_PLACED_PROPERTY_NAMES | set(details)))
    return Fulfillment(time=_after(raw["time"], f"{where}/time", order), details=details)


def _parse_reversal(raw: Any, where: str, order: Order) -> Reversal:
    if not isinstance(raw, Mapping):
        raise FieldError(where, "must be an object (one per order: Klaviyo keeps the first event "
                                "per unique_id, so a second partial reversal would be dropped; "
                                "send the combined lines and value)")
    _no_unknown(raw, _REVERSAL_KEYS, where, "put further properties under \"extra\"")
    if raw.get("time") is None:
        raise FieldError(f"{where}/time", "is required")
    time = _after(raw["time"], f"{where}/time", order)
    reason = None if raw.get("Reason") is None else check_string(raw["Reason"], f"{where}/Reason")
    extra = _extra(raw.get("extra"), f"{where}/extra", reserved=_PLACED_PROPERTY_NAMES | {"Reason"})

    if raw.get("Items") is None:
        items, partial = order.items, False
        default_value: Number = order.value
    else:
        items = _line_refs(raw["Items"], f"{where}/Items", order)
        partial = len(items) < len(order.items) or any(
            ref.quantity < line.quantity for ref, line in zip(items, _lines_of(items, order)))
        default_value = order.value if not partial else _money_sum(i.row_total for i in items)
    value = default_value if raw.get("value") is None else check_number(raw["value"], f"{where}/value")
    if value > order.value:
        raise FieldError(f"{where}/value", f"{value} is more than the order's value {order.value}")
    return Reversal(time=time, value=value, items=items, partial=partial, reason=reason, extra=extra)


def _line_refs(raw: Any, where: str, order: Order) -> tuple[Item, ...]:
    """Resolve a reversal's `Items` (references to order lines) to the lines they cover."""
    if not isinstance(raw, list) or not raw:
        raise FieldError(where, "must be a non-empty list of order lines (leave it out when the "
                                "whole order is covered)")
    chosen: list[Item] = []
    used: set[int] = set()
    for index, ref in enumerate(raw):
        at = f"{where}/{index}"
        if not isinstance(ref, Mapping):
            raise FieldError(at, "must be an object naming an order line by ProductID (and SKU)")
        _no_unknown(ref, _LINE_REF_KEYS, at,
                    "a line reference has ProductID, optional SKU, Quantity and RowTotal; "
                    "the rest is copied from the order's line")
        if ref.get("ProductID") is None:
            raise FieldError(f"{at}/ProductID", "is required")
        matches = [item for item in order.items if item.product_id == ref["ProductID"]
                   and (ref.get("SKU") is None or item.sku == ref["SKU"])]
        if not matches:
            raise FieldError(f"{at}/ProductID", f"{ref['ProductID']!r}"
                             + (f" with SKU {ref['SKU']!r}" if ref.get("SKU") is not None else "")
                             + " is not a line of this order")
        if len(matches) > 1:
            raise FieldError(at, f"ProductID {ref['ProductID']!r} is on lines "
                                 f"{', '.join(str(m.line) for m in matches)}; add SKU to say which")
        line = matches[0]
        if line.line in used:
            raise FieldError(at, f"order line {line.line} is listed twice")
        used.add(line.line)
        quantity = line.quantity
        if ref.get("Quantity") is not None:
            quantity = ref["Quantity"]
            if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= line.quantity:
                raise FieldError(f"{at}/Quantity", f"must be a whole number from 1 to the line's "
                                                   f"Quantity {line.quantity}, not {quantity!r}")
        if ref.get("RowTotal") is not None:
            row_total = check_number(ref["RowTotal"], f"{at}/RowTotal")
            if row_total > line.row_total:
                raise FieldError(f"{at}/RowTotal", f"{row_total} is more than the line's "
                                                   f"RowTotal {line.row_total}")
        elif quantity != line.quantity:
            raise FieldError(f"{at}/RowTotal", "is required when only part of a line's Quantity "
                                               "is covered")
        else:
            row_total = line.row_total
        chosen.append(replace(line, quantity=quantity, row_total=row_total))
    chosen.sort(key=lambda item: item.line)
    return tuple(chosen)


def _lines_of(items: tuple[Item, ...], order: Order) -> list[Item]:
    by_line = {item.line: item for item in order.items}
    return [by_line[item.line] for item in items]


_PLACED_PROPERTY_NAMES = {
    "OrderId", "Categories", "ItemNames", "DiscountCode", "DiscountValue", "Brands", "Items",
    "BillingAddress", "ShippingAddress",
}


# -- small checks ------------------------------------------------------------------------------

def _after(value: Any, where: str, order: Order) -> str:
    """A lifecycle time: valid, and not before the order was placed."""
    time = check_time(value, where)
    if to_unix_seconds(time) < to_unix_seconds(order.time):
        raise FieldError(where, f"{time} is before the order's time {order.time}")
    return time


def _no_unknown(data: Mapping[str, Any], known: set[str], where: str, hint: str) -> None:
    for key in data:
        if key not in known:
            close = [k for k in known if k.lower() == str(key).lower().replace(" ", "")]
            suggestion = f" (did you mean {close[0]!r}?)" if close else ""
            raise FieldError(pointer_join(where, key), f"unknown field{suggestion}; {hint}")


def _id_string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise FieldError(where, f"must be a string (quote numeric ids, e.g. \"1234\", so every "
                                f"event carries the same form), not {value!r}")
    return check_string(value, where)


def _string_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise FieldError(where, "must be a list of strings")
    out: list[str] = []
    for index, entry in enumerate(value):
        text = check_string(entry, f"{where}/{index}")
        if text in out:
            raise FieldError(f"{where}/{index}", f"{text!r} is listed twice")
        out.append(text)
    return tuple(out)


def _url(value: Any, where: str) -> str:
    text = check_string(value, where)
    if not is_absolute_http_url(text):
        raise FieldError(where, f"{text!r} is not an absolute http(s) URL")
    return text


def _address(value: Any, where: str) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise FieldError(where, "must be an object such as {\"Address1\": \"123 Abc St\", ...}")
    for key, entry in value.items():
        if not isinstance(entry, str):
            raise FieldError(pointer_join(where, key), f"must be a string, not {entry!r}")
    return dict(value)


def _extra(value: Any, where: str, *, reserved: set[str]) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise FieldError(where, "must be an object of further properties")
    for key in value:
        if key in reserved:
            raise FieldError(pointer_join(where, key), "is set by the builder; use the order's own "
                                                       "field instead of extra")
    return dict(value)


def _money_sum(values: Any) -> Number:
    """Sum amounts the way a till does: 9.99 + 19.99 is 29.98, not 29.979999999999997."""
    values = list(values)
    total = sum((Decimal(repr(v)) for v in values), Decimal(0))
    return int(total) if all(isinstance(v, int) for v in values) else float(total)
