"""Do the events' product ids exist in the catalog? (the ids that feed recommendations)"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from klaviyo_snippets.generator.server._stream import KeyIndex


# Metrics whose product ids feed recommendations and catalog lookups.
_PRODUCT_METRICS = {
    "Viewed Product", "Added to Cart", "Started Checkout", "Placed Order", "Ordered Product",
    "Fulfilled Order", "Canceled Order", "Refunded Order",
}


@dataclass(frozen=True)
class UnknownProductId:
    product_id: str
    metric: str
    where: str  # "event 3 (Placed Order, unique_id 1234) at /data/attributes/properties/Items/1/ProductID"

    def __str__(self) -> str:
        return f"{self.where}: product id {self.product_id!r} is not in the catalog"


def check_ids(event_bodies: Iterable[Mapping[str, Any]],
              products: Iterable[Mapping[str, Any]] | Iterable[str]) -> list[UnknownProductId]:
    """Every product id an event sends that the catalog does not have, with where it was sent.

    Looks at `ProductID` and `AddedItemProductID` and at `Items[].ProductID` in the events of
    `_PRODUCT_METRICS` (event bodies as sent to `/api/events` or `/client/events`). Ids compare
    as text: an event's `1111` matches the catalog's `"1111"`. `products` may be product
    mappings or bare ids.
    """
    return list(iter_unknown_ids(event_bodies, products))


def iter_unknown_ids(event_bodies: Iterable[Mapping[str, Any]],
                     products: Iterable[Mapping[str, Any]] | Iterable[str] | KeyIndex
                     ) -> Iterator[UnknownProductId]:
    """`check_ids` one finding at a time, over bodies read one at a time; `products` may also
    be a `KeyIndex` of the catalog's ids (a catalog of any size in ~24 bytes an id)."""
    known = products if isinstance(products, KeyIndex) else \
        {str(p["id"]) if isinstance(p, Mapping) else str(p) for p in products}
    for number, body in enumerate(event_bodies, start=1):
        attributes = (body.get("data") or {}).get("attributes") or {}
        metric = (((attributes.get("metric") or {}).get("data") or {})
                  .get("attributes") or {}).get("name")
        if metric not in _PRODUCT_METRICS:
            continue
        properties = attributes.get("properties") or {}
        base = "/data/attributes/properties"
        candidates: list[tuple[str, Any]] = []
        for key in ("ProductID", "AddedItemProductID"):
            if key in properties:
                candidates.append((f"{base}/{key}", properties[key]))
        items = properties.get("Items")
        if isinstance(items, list):
            for index, item in enumerate(items):
                if isinstance(item, Mapping) and "ProductID" in item:
                    candidates.append((f"{base}/Items/{index}/ProductID", item["ProductID"]))
        unique_id = attributes.get("unique_id")
        which = f"{metric}, unique_id {unique_id}" if unique_id else metric  # an order's events have one
        for pointer, value in candidates:
            if str(value) not in known:
                yield UnknownProductId(str(value), metric, f"event {number} ({which}) at {pointer}")
