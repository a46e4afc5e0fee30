"""The stand-in's advice on events Klaviyo accepts but that will not work as meant (docs/stub.md, "Lint").

`wire.py` is what Klaviyo enforces; this is ours. A good event keeps its status and gets
`warnings`, each `{"pointer", "code", "detail" (why), "fix" (how)}`:

* `relative_url`: a URL-like property (`URL`, `ImageURL`, `Items[].ProductURL`, any key ending in
  URL, Url, _url or Link) that is relative or protocol-relative: a broken link or image in an email;
* `implausible_value`: an integral `value` about 100 times the sum of the line prices (an amount in
  cents), or line prices about 100 times the `value` (prices as numbers, or as numbers in text);
* `metric_name`: a metric name that is one of Klaviyo's standard names (the integration guide's)
  written with another case, spacing or word order, or a known other name (`add_to_cart`);
* `property_name`: a standard property key (`ProductID`, `SKU`, `ImageURL`, ...) spelt another way,
  at the top of the properties or in an `Items` line.
* `template_text`: a string holding template text the page never rendered (`{{ product.title }}`,
  `{% if %}`, `<?php ... ?>`: a theme's template syntax left in a static script); such a string
  is not checked as a URL.

The integration guide's own examples give no warning (tests/unit/test_stub_lint.py). It runs on
every good event, so it is one pass over the properties with per-key answers cached.
"""

from __future__ import annotations

import functools
import re

from klaviyo_snippets.harness.standin.wire import escape_pointer, shown

# Klaviyo's standard metric names, as the integration guide writes them.
STANDARD_METRICS = (
    "Active on Site", "Viewed Product", "Added to Cart", "Started Checkout", "Placed Order",
    "Ordered Product", "Fulfilled Order", "Canceled Order", "Refunded Order", "Viewed Category",
    "Searched Site", "Clicked Banner", "Shared Article", "Received Article Share", "Referred Friend",
    "Referred by Friend",
)
# Other names people give these events (other tools' specs), written in _squash form.
METRIC_ALIASES = {
    "addtocart": "Added to Cart", "productadded": "Added to Cart",
    "viewitem": "Viewed Product", "viewproduct": "Viewed Product", "vieweditem": "Viewed Product",
    "begincheckout": "Started Checkout", "startcheckout": "Started Checkout",
    "ordercompleted": "Placed Order", "completedorder": "Placed Order", "placeorder": "Placed Order",
    "viewcategory": "Viewed Category", "search": "Searched Site", "searched": "Searched Site",
}
# The guide's product and cart property keys. Not the order keys it spells two ways itself
# (`DiscountCode` and `Discount Code`).
STANDARD_KEYS = (
    "ProductID", "ProductName", "SKU", "ImageURL", "ProductURL", "URL", "CheckoutURL", "Categories",
    "ProductCategories", "Brand", "Price", "CompareAtPrice", "ItemPrice", "RowTotal", "Quantity",
    "Items", "ItemNames",
)
MAX_CACHED_KEY = 64  # longer keys are never a standard key spelt another way
ADDED_ITEM = "AddedItem"  # the guide's Added to Cart prefix: AddedItemProductID, AddedItemImageURL, ...
CENTS_RATIO = (50, 2000)  # value / line sum: 100 (cents) or 1000 (3-digit currencies), shipping and tax aside
# How a tracking plan does each fix (docs/tracking-plan.md).
PLAN_URL = "; in a tracking plan: derive: {absolute_url: <path>}"
PLAN_MONEY = "; in a tracking plan: derive: {minor_units: <path>} (the plan's currency gives the digits)"

_SEPARATORS = re.compile(r"[\s_\-]+")
_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_HOST_FIRST = re.compile(r"www\.|[\w-]+(\.[\w-]+)+/")
# Liquid, Jinja, Twig, Handlebars (BigCommerce's Stencil) and PHP (WordPress) left unrendered. Each
# match is bounded: a 100 KB string of "{{" without "}}" costs one pass, not one per "{{".
_TEMPLATE = re.compile(r"\{\{[^{}]{0,200}\}\}|\{%[^{}]{0,200}%\}|<\?(?:php|=)[^?]{0,200}(?:\?>)?")
_DECIMAL = re.compile(r"\s*\d+(\.\d+)?\s*\Z")
_URL_ENDINGS = ("URL", "Url", "_url", "Link", "_link", "URLs", "Urls", "_urls", "Links", "_links")


def _squash(name: str) -> str:
    return _SEPARATORS.sub("", name).lower()


_METRICS_BY_SQUASH = {_squash(m): m for m in STANDARD_METRICS} | METRIC_ALIASES
_METRICS_BY_WORDS = {frozenset(m.lower().split()): m for m in STANDARD_METRICS}
_KEYS_BY_SQUASH = {_squash(k): k for k in STANDARD_KEYS}


def event_warnings(metric: str | None, attrs: dict, pointer: str) -> list[dict]:
    """The warnings for one accepted event: `attrs` its attributes, `pointer` where they are."""
    warnings: list[dict] = []
    if metric is not None:
        meant = standard_metric(metric)
        if meant is not None:
            warnings.append(_warning(
                f"{pointer}/metric/data/attributes/name", "metric_name",
                f"the metric {shown(metric)} is not Klaviyo's standard name {meant!r}: Klaviyo keeps it as another "
                f"metric, so flows, reports and benchmarks built on {meant!r} never see it",
                f"send the metric name exactly {meant!r}"))
    props = attrs.get("properties")
    if isinstance(props, dict):
        here = f"{pointer}/properties"
        _walk(props, here, warnings)
        _value_warning(attrs, props, pointer, warnings)
    return warnings


@functools.lru_cache(maxsize=1024)
def standard_metric(name: str) -> str | None:
    """The standard metric `name` was meant to be, when it is a variant of one (else None)."""
    if name in STANDARD_METRICS:
        return None
    return _METRICS_BY_SQUASH.get(_squash(name)) or _METRICS_BY_WORDS.get(frozenset(name.lower().split()))


def _key_advice(key: str) -> tuple[bool, str | None]:
    """(whether the key names a URL, the standard key it misspells or None). Short keys' answers
    are cached; a long one (no misspelling of a standard key) is not kept, however many arrive."""
    if len(key) > MAX_CACHED_KEY:
        return key.endswith(_URL_ENDINGS), None
    return _short_key_advice(key)


@functools.lru_cache(maxsize=4096)
def _short_key_advice(key: str) -> tuple[bool, str | None]:
    url_like = key.endswith(_URL_ENDINGS) or key.lower() in ("url", "urls", "link", "links", "href")
    if key.startswith("$") or key in _KEYS_BY_SQUASH.values():
        return url_like, None
    squashed = _squash(key)
    standard = _KEYS_BY_SQUASH.get(squashed)
    if standard is None and squashed.startswith(ADDED_ITEM.lower()):
        rest = _KEYS_BY_SQUASH.get(squashed[len(ADDED_ITEM):])
        standard = ADDED_ITEM + rest if rest and key != ADDED_ITEM + rest else None
    return url_like, standard


def _walk(props: dict, pointer: str, warnings: list[dict]) -> None:
    """Every URL-like string at any depth; key spellings at the top and in Items lines. In
    document order, breadth first (a queue, not recursion); pointers are made only when needed."""
    queue: list[tuple[object, str, bool, bool]] = [(props, pointer, False, True)]  # (value, pointer, url, keys)
    for value, here, url_like, check_keys in queue:
        if isinstance(value, dict):
            for key, child in value.items():
                key_url, standard = _key_advice(key)
                if check_keys and standard is not None:
                    warnings.append(_warning(
                        f"{here}/{escape_pointer(key)}", "property_name",
                        f"the property {shown(key)} is Klaviyo's standard {standard!r} spelt another way: keys are "
                        f"case-sensitive, so templates, catalog matching and segments that read {standard!r} "
                        "find nothing",
                        f"rename it {standard!r}"))
                if isinstance(child, str):
                    _text_warning(child, here, key, key_url or url_like, warnings)
                elif isinstance(child, (dict, list)):
                    items = check_keys and (standard or key) == "Items"
                    queue.append((child, f"{here}/{escape_pointer(key)}", key_url or url_like, items))
        else:  # a list
            for i, child in enumerate(value):
                if isinstance(child, str):
                    _text_warning(child, here, str(i), url_like, warnings)
                elif isinstance(child, (dict, list)):
                    queue.append((child, f"{here}/{i}", url_like, check_keys and isinstance(child, dict)))


def _text_warning(text: str, parent: str, key: str, url_like: bool, warnings: list[dict]) -> None:
    """Template text the page never rendered, in any string; else a URL-like one that is relative."""
    template = _TEMPLATE.search(text) if "{" in text or "<?" in text else None
    if template is not None:
        warnings.append(_warning(
            f"{parent}/{escape_pointer(key)}", "template_text",
            f"{shown(text)} holds template text the page never rendered ({shown(template.group(0))}): Klaviyo "
            "keeps it as it is, so emails, segments and catalog matching get the placeholder, not the value",
            "render the value where the template engine runs (in a theme template, not a static .js file), "
            "e.g. into a data island the script reads"))
    elif url_like:
        _url_warning(text, parent, key, warnings)


def _url_warning(text: str, parent: str, key: str, warnings: list[dict]) -> None:
    url = text.strip()
    if not url or _SCHEME.match(url):
        return
    if url.startswith("//"):
        why = "is protocol-relative: an email has no page to take https: from, so it is a broken link or image"
        fix = f"make it absolute, e.g. {shown('https:' + url)}{PLAN_URL}"
    else:
        why = "is not an absolute URL: in an email it is a broken link or image"
        if _HOST_FIRST.match(url):  # www.example.com/mug.png: only the scheme is missing
            example = "https://" + url
        else:
            example = "https://shop.example" + ("" if url.startswith("/") else "/") + url
        fix = f"make it absolute, e.g. {shown(example)} (the shop's origin, then the path){PLAN_URL}"
    warnings.append(_warning(f"{parent}/{escape_pointer(key)}", "relative_url", f"{shown(text)} {why}", fix))


def _amount(number: float) -> str:
    """A number as a person writes an amount: 29.98, 2998 (never 2.998e+03 or 29.979999999999997)."""
    return f"{round(number, 6):f}".rstrip("0").rstrip(".")


def _number(value: object) -> float | None:
    """A number, or a price written as one in text ("999", "9.99": WooCommerce's Store API, a
    theme's money filter); None for anything else."""
    if isinstance(value, str):
        return float(value) if _DECIMAL.match(value) else None
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _line_sum(props: dict) -> tuple[float, bool] | None:
    """The sum of the line prices (Items[].RowTotal, or ItemPrice (or Price) x Quantity; without
    Items the event's own), and whether every one is a whole number. None when none has a price."""
    lines = props.get("Items")
    lines = [line for line in lines if isinstance(line, dict)] if isinstance(lines, list) else [props]
    total, whole, priced = 0.0, True, False
    for line in lines:
        price = _number(line.get("RowTotal"))
        if price is None:
            unit = _number(line.get("ItemPrice"))
            unit = _number(line.get("Price")) if unit is None else unit
            quantity = _number(line.get("Quantity"))
            price = None if unit is None else unit * (1 if quantity is None else quantity)
        if price is not None:
            total, priced, whole = total + price, True, whole and price.is_integer()
    return (total, whole) if priced and total > 0 else None


def _value_warning(attrs: dict, props: dict, pointer: str, warnings: list[dict]) -> None:
    # Only attributes.value: a `$value` left in properties is judged bad already (wire.py).
    value, where = _number(attrs.get("value")), f"{pointer}/value"
    if value is None or value <= 0:
        return
    found = _line_sum(props)
    if found is None:
        return
    total, whole = found
    low, high = CENTS_RATIO
    if value.is_integer() and low <= value / total <= high:
        factor = 1000 if value / total >= 500 else 100
        warnings.append(_warning(
            where, "implausible_value",
            f"the value {_amount(value)} is {value / total:.4g} times the sum of the line prices "
            f"({_amount(total)}): it looks like an amount in minor units (cents); Klaviyo reads value in major "
            "units, so revenue is counted "
            f"{factor} times too high",
            f"send major units ({_amount(value / factor)}, not {_amount(value)}){PLAN_MONEY}"))
    elif whole and low <= total / value <= high:
        factor = 1000 if total / value >= 500 else 100
        warnings.append(_warning(
            f"{pointer}/properties", "implausible_value",
            f"the line prices add up to {_amount(total)}, {total / value:.4g} times the value {_amount(value)}: "
            "the prices look like amounts in minor units (cents); email templates show them as they are",
            f"send prices in major units ({_amount(total)} in minor units is {_amount(total / factor)}){PLAN_MONEY}"))


def _warning(pointer: str, code: str, detail: str, fix: str) -> dict:
    return {"pointer": pointer, "code": code, "detail": detail, "fix": fix}
