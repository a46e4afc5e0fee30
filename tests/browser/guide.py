"""The integration guide's onsite examples, as the guide writes them, and the payloads they must make.

Each example is the guide's own code (with the guide's example data where it says `item.___`),
and the JSON it passes to `klaviyo.track`. `expected_event_body` derives the JSON:API body the
onsite script must send from that, following the wire facts' mapping rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

PUBLIC_KEY = "XyZ123"
SCRIPT_TAG = f"""<script type='text/javascript' async='' src='https://static.klaviyo.com/onsite/js/{PUBLIC_KEY}/klaviyo.js'></script>"""

_GUIDE_PAGE = Path(__file__).resolve().parents[2] / "examples" / "guide-examples.html"


def _loader() -> str:
    """The guide's `klaviyo` object loader, taken from the shipped examples page."""
    html = _GUIDE_PAGE.read_text(encoding="utf-8")
    start = html.index("!(function () {")
    end = html.index("})()", start) + len("})()")
    return html[start:end]


LOADER = _loader()
VISITOR = {"email": "thomas.jefferson@example.com", "first_name": "Thomas", "last_name": "Jefferson"}

WINNIE = {
    "ProductName": "Winnie the Pooh",
    "ProductID": "1111",
    "SKU": "WINNIEPOOH",
    "Categories": ["Fiction", "Children"],
    "ImageURL": "http://www.example.com/path/to/product/image.png",
    "URL": "http://www.example.com/path/to/product",
    "Brand": "Kids Books",
    "Price": 9.99,
    "CompareAtPrice": 14.99,
}
ITEMS = [
    {
        "ProductID": "1111", "SKU": "WINNIEPOOH", "ProductName": "Winnie the Pooh", "Quantity": 1,
        "ItemPrice": 9.99, "RowTotal": 9.99, "ProductURL": "http://www.example.com/path/to/product",
        "ImageURL": "http://www.example.com/path/to/product/image.png", "ProductCategories": ["Fiction", "Children"],
    },
    {
        "ProductID": "1112", "SKU": "TALEOFTWO", "ProductName": "A Tale of Two Cities", "Quantity": 1,
        "ItemPrice": 19.99, "RowTotal": 19.99, "ProductURL": "http://www.example.com/path/to/product2",
        "ImageURL": "http://www.example.com/path/to/product/image2.png", "ProductCategories": ["Fiction", "Classics"],
    },
]


@dataclass(frozen=True)
class Example:
    metric: str
    properties: dict  # what the guide passes to klaviyo.track

    @property
    def code(self) -> str:
        return f"klaviyo.track({json.dumps(self.metric)}, {json.dumps(self.properties, indent=2)});"


EXAMPLES = [
    Example("Viewed Product", WINNIE),
    Example("Added to Cart", {
        "$value": 29.98,
        "AddedItemProductName": "A Tale of Two Cities",
        "AddedItemProductID": "1112",
        "AddedItemSKU": "TALEOFTWO",
        "AddedItemCategories": ["Fiction", "Classics", "Children"],
        "AddedItemImageURL": "http://www.example.com/path/to/product/image2.png",
        "AddedItemURL": "http://www.example.com/path/to/product2",
        "AddedItemPrice": 19.99,
        "AddedItemQuantity": 1,
        "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"],
        "CheckoutURL": "http://www.example.com/path/to/checkout",
        "Items": ITEMS,
    }),
    Example("Started Checkout", {
        "$event_id": "1000123_1387299423",
        "$value": 29.98,
        "ItemNames": ["Winnie the Pooh", "A Tale of Two Cities"],
        "CheckoutURL": "http://www.example.com/path/to/checkout",
        "Categories": ["Fiction", "Children", "Classics"],
        "Items": ITEMS,
    }),
    Example("Viewed Category", {
        "CategoryName": "Fantasy Books",
        "CategoryID": "01",
        "ImageURL": "http://www.example.com/path/to/category/hero/image.png",
        "URL": "http://www.example.com/path/to/category",
    }),
    Example("Searched Site", {
        "SearchTerm": "Fantasty Boks",
        "SearchTerm (autocorrected)": "Fantasy Books",
        "ReturnedResults": 54,
    }),
    Example("Clicked Banner", {
        "SourceURL": "https://www.example.com/home",
        "DestinationURL": "https://www.example.com/black-friday-deals",
        "BannerTitle": "Check out these awesome Black Friday sales!",
    }),
    Example("Shared Article", {
        "Recipients": ["email.on.list@email.com", "email.2.on.list@email.com"],
        "Quantity": 2,
        "Name": "Top 10 flows for great holiday success!",
        "URL": "https://www.example.com/top-10-flows-holidays",
        "ImageURL": "https://www.example.com/top-10-flows-holidays-hero-image.png",
    }),
    Example("Referred Friend", {
        "Recipients": ["email.on.list@email.com", "email.2.on.list@email.com"],
        "Quantity": 2,
    }),
]

# The guide's Recently Viewed Items snippet, fed from the Viewed Product item.
TRACK_VIEWED_ITEM = """
klaviyo.trackViewedItem({
  "Title": item.ProductName,
  "ItemId": item.ProductID,
  "Categories": item.Categories,
  "ImageUrl": item.ImageURL,
  "Url": item.URL,
  "Metadata": {
     "Brand": item.Brand,
     "Price": item.Price,
     "CompareAtPrice": item.CompareAtPrice
  }
});
"""

# The guide's Added Like listener.
LIKE_LISTENER = """
document.getElementById("Like").addEventListener('click',function (){
    klaviyo.track('Added Like', item);
});
"""


def page(*scripts: str, body: str = "", before_loader: str = "") -> str:
    """A storefront page: the guide's script tag and loader, then the given inline scripts."""
    inline = "\n".join(f"<script>{s}</script>" for s in scripts)
    pre = f"<script>{before_loader}</script>" if before_loader else ""
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>shop</title></head><body>"
        f"{body}{SCRIPT_TAG}{pre}<script>{LOADER}</script>{inline}</body></html>"
    )


def pending_profile(**identifiers: str) -> dict:
    """The profile block of an event tracked while the visitor's identify is still pending (the
    onsite script debounces it): the identifiers themselves (wire facts: onsite event mapping)."""
    return {"data": {"type": "profile", "attributes": identifiers}}


def identified_profile(kx: str) -> dict:
    """The profile block the onsite script sends once the visitor's exchange id is known."""
    return {"data": {"type": "profile", "attributes": {"_kx": kx, "properties": {"$exchange_id": kx}}}}


def expected_event_body(metric: str, properties: dict, profile: dict) -> dict:
    """The JSON:API body for `klaviyo.track(metric, properties)` (wire facts: event mapping)."""
    props = {k: v for k, v in properties.items() if k not in ("$value", "$event_id", "time")}
    props.update({"$use_ip": True, "$is_session_activity": True})
    attributes = {
        "metric": {"data": {"type": "metric", "attributes": {"name": metric, "service": "api"}}},
        "profile": profile,
        "properties": props,
    }
    if "$value" in properties:
        attributes["value"] = properties["$value"]
    if "$event_id" in properties:
        attributes["unique_id"] = properties["$event_id"]
    if "time" in properties:
        attributes["time"] = properties["time"]
    return {"data": {"type": "event", "attributes": attributes}}
