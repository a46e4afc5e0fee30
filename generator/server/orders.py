"""Server-side order events: one canonical order in, the guide's `POST /api/events` bodies out.

An order (documented field by field in `docs/server-side.md`) becomes a Placed Order, one
Ordered Product per line, and a Fulfilled, Canceled or Refunded Order for each lifecycle fact it
carries. Bad input is refused with a `UserError` naming the field (a JSON pointer inside the
order) and, when the order came from a JSONL file, the file and line.

Unique ids: Placed, Fulfilled, Canceled and Refunded Order share the order's `unique_id`
(`OrderId` unless the order sets `unique_id`), so retries dedupe and reversals count in CLV;
Ordered Product line *n* uses `<unique_id>-<n>`, so the lines of one order do not dedupe each other.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from klaviyo_snippets.generator.server._bodies import event_body, to_unix_seconds
from klaviyo_snippets.generator.server._orders_read import (
    Fulfillment,
    InvalidOrder,
    Item,
    Number,
    Order,
    Reversal,
    parse_order,
    read_orders,
)

PLACED_ORDER = "Placed Order"
ORDERED_PRODUCT = "Ordered Product"
FULFILLED_ORDER = "Fulfilled Order"
CANCELED_ORDER = "Canceled Order"
REFUNDED_ORDER = "Refunded Order"

__all__ = [
    "Order",
    "Item",
    "Fulfillment",
    "Reversal",
    "InvalidOrder",
    "parse_order",
    "read_orders",
    "order_events",
    "placed_order_body",
    "ordered_product_bodies",
    "fulfilled_order_body",
    "canceled_order_body",
    "refunded_order_body",
    "ordered_product_unique_id",
]


# -- event bodies ------------------------------------------------------------------------------

def _order_properties(order: Order, items: tuple[Item, ...]) -> dict[str, Any]:
    """The properties Placed, Fulfilled, Canceled and Refunded Order share, over `items`."""
    covered = {c for item in items for c in (item.categories or ())}
    properties: dict[str, Any] = {
        "OrderId": order.order_id,
        "Categories": [c for c in order.categories if c in covered],
        "ItemNames": [item.product_name for item in items],
    }
    if order.discount_code is not None:
        properties["DiscountCode"] = order.discount_code
    if order.discount_value is not None:
        properties["DiscountValue"] = order.discount_value
    brands: list[str] = []
    for item in items:
        if item.brand is not None and item.brand not in brands:
            brands.append(item.brand)
    properties["Brands"] = brands
    properties["Items"] = [item.properties() for item in items]
    if order.billing_address is not None:
        properties["BillingAddress"] = dict(order.billing_address)
    if order.shipping_address is not None:
        properties["ShippingAddress"] = dict(order.shipping_address)
    properties.update(order.extra)
    return properties


def _body(order: Order, metric: str, properties: dict[str, Any], *, time: str, value: Number,
          unique_id: str, backfill: bool) -> dict[str, Any]:
    return event_body(metric, properties, order.profile, time=time, value=value,
                      currency=order.currency, unique_id=unique_id, backfill=backfill)


def placed_order_body(order: Mapping[str, Any] | Order, *, backfill: bool = False) -> dict[str, Any]:
    """The Placed Order event: the whole order, `value` its total, `unique_id` the order's."""
    order = parse_order(order)
    return _body(order, PLACED_ORDER, _order_properties(order, order.items), time=order.time,
                 value=order.value, unique_id=order.unique_id, backfill=backfill)


def ordered_product_unique_id(order: Order, item: Item) -> str:
    """`<order unique_id>-<line number>`: distinct per line, stable across retries."""
    return f"{order.unique_id}-{item.line}"


def ordered_product_bodies(order: Mapping[str, Any] | Order, *,
                           backfill: bool = False) -> list[dict[str, Any]]:
    """One Ordered Product per line, each with its own `unique_id`; `value` the line's RowTotal."""
    order = parse_order(order)
    bodies = []
    for item in order.items:
        properties: dict[str, Any] = {"OrderId": order.order_id, "ProductID": item.product_id}
        if item.sku is not None:
            properties["SKU"] = item.sku
        properties["ProductName"] = item.product_name
        properties["Quantity"] = item.quantity
        if item.product_url is not None:
            properties["ProductURL"] = item.product_url
        if item.image_url is not None:
            properties["ImageURL"] = item.image_url
        if item.categories is not None:
            properties["Categories"] = list(item.categories)
        if item.brand is not None:
            properties["ProductBrand"] = item.brand
        properties.update(item.extra)
        bodies.append(_body(order, ORDERED_PRODUCT, properties, time=order.time,
                            value=item.row_total, unique_id=ordered_product_unique_id(order, item),
                            backfill=backfill))
    return bodies


def fulfilled_order_body(order: Mapping[str, Any] | Order, *,
                         backfill: bool = False) -> dict[str, Any]:
    """The Fulfilled Order event: the order's properties plus the tracking details."""
    order = parse_order(order)
    if order.fulfilled is None:
        raise ValueError(f"order {order.order_id!r} has no 'fulfilled' facts")
    properties = _order_properties(order, order.items)
    properties.update(order.fulfilled.details)
    return _body(order, FULFILLED_ORDER, properties, time=order.fulfilled.time, value=order.value,
                 unique_id=order.unique_id, backfill=backfill)


def _reversal_body(order: Order, metric: str, reversal: Reversal | None, name: str,
                   backfill: bool) -> dict[str, Any]:
    if reversal is None:
        raise ValueError(f"order {order.order_id!r} has no {name!r} facts")
    properties: dict[str, Any] = {"OrderId": order.order_id}
    if reversal.reason is not None:
        properties["Reason"] = reversal.reason
    properties.update(_order_properties(order, reversal.items))
    properties.update(reversal.extra)
    return _body(order, metric, properties, time=reversal.time, value=reversal.value,
                 unique_id=order.unique_id, backfill=backfill)


def canceled_order_body(order: Mapping[str, Any] | Order, *, backfill: bool = False) -> dict[str, Any]:
    """The Canceled Order event: the canceled lines and value, the Placed Order's `unique_id`."""
    order = parse_order(order)
    return _reversal_body(order, CANCELED_ORDER, order.canceled, "canceled", backfill)


def refunded_order_body(order: Mapping[str, Any] | Order, *, backfill: bool = False) -> dict[str, Any]:
    """The Refunded Order event: the refunded lines and amount, the Placed Order's `unique_id`."""
    order = parse_order(order)
    return _reversal_body(order, REFUNDED_ORDER, order.refunded, "refunded", backfill)


def order_events(order: Mapping[str, Any] | Order, *, backfill: bool = False) -> list[dict[str, Any]]:
    """Every event an order makes: Placed Order, its Ordered Products, then the lifecycle events
    it carries, in time order (ties: fulfilled, canceled, refunded)."""
    order = parse_order(order)
    bodies = [placed_order_body(order, backfill=backfill),
              *ordered_product_bodies(order, backfill=backfill)]
    later = []
    if order.fulfilled is not None:
        later.append((order.fulfilled.time, 0, fulfilled_order_body(order, backfill=backfill)))
    if order.canceled is not None:
        later.append((order.canceled.time, 1, canceled_order_body(order, backfill=backfill)))
    if order.refunded is not None:
        later.append((order.refunded.time, 2, refunded_order_body(order, backfill=backfill)))
    later.sort(key=lambda entry: (to_unix_seconds(entry[0]), entry[1]))
    return bodies + [body for _, _, body in later]
