"""The product catalog: the custom catalog feed (JSON or XML), Catalogs API bodies, and an id check.

Products are flat mappings named like Klaviyo's feed fields (`id`, `title`, `link`,
`description`, `image_link`, optional `price`, `categories`, `inventory_quantity`,
`inventory_policy`; any other field is item metadata). Every problem is reported per product:
which product (file and line, or index), which field, and why, all at once.
A catalog is filled by a feed *or* by the API, never both (the guide): this module builds
either, the caller picks one.

A products file is read one product at a time (`iter_products`), and the feed (`feed_pieces`)
and the API bodies (`job_bodies`) are made one piece at a time, so a command's memory does not
grow with the catalog; the list-returning functions are the same on products in memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from os import PathLike
from typing import Any
from xml.sax.saxutils import escape

from klaviyo_snippets.generator.net import is_absolute_http_url
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.server._bodies import _type_name, is_finite_number, parse_json
from klaviyo_snippets.generator.server._stream import (
    KeyIndex,
    ReadProgressSink,
    read_json_array,
    read_lines,
    starts_with_bracket,
)

__all__ = [
    "Product",
    "ProductProblem",
    "InvalidProducts",
    "ProductProblems",
    "UnknownProductId",
    "read_products",
    "iter_products",
    "validate_products",
    "feed_checks",
    "feed_pieces",
    "build_feed",
    "catalog_item_body",
    "api_checks",
    "job_bodies",
    "bulk_create_job_bodies",
    "check_ids",
    "iter_unknown_ids",
    "REQUIRED_FIELDS",
    "MAX_FEED_BYTES",
    "RECOMMENDED_FEED_BYTES",
]

REQUIRED_FIELDS = ("id", "title", "link", "description", "image_link")
_OPTIONAL_FIELDS = ("price", "categories", "inventory_quantity", "inventory_policy")
_STANDARD_FIELDS = (*REQUIRED_FIELDS, *_OPTIONAL_FIELDS)

# Decimal megabytes: a file under 100,000,000 bytes is under 100 MB however Klaviyo counts.
MAX_FEED_BYTES = 100_000_000
RECOMMENDED_FEED_BYTES = 50_000_000

MAX_ITEMS_PER_JOB = 100          # Catalogs API: ≤ 100 items a bulk request [spec]
MAX_JOB_BYTES = 5_000_000        # and ≤ 5 MB a request [spec]
MAX_METADATA_BYTES = 100_000     # custom_metadata ≤ 100 kB [spec]

_SHOWN_PROBLEMS = 50


class Product(dict):
    """A validated product: a plain dict of feed fields that remembers where it came from."""

    where: str = "product"


@dataclass(frozen=True)
class ProductProblem:
    where: str              # "products.jsonl:3" or "products[2]"
    product_id: str | None  # the product's id when it has a usable one
    field: str | None       # the feed field, or None for the product as a whole
    reason: str

    def __str__(self) -> str:
        place = self.where + (f" (id {self.product_id!r})" if self.product_id else "")
        return f"{place}{f' at {self.field}' if self.field else ''}: {self.reason}"


class InvalidProducts(UserError):
    """Some products cannot go into the catalog; `problems` lists every one (of a file read a
    product at a time: the first 50, with `total` problems over `products` products in all)."""

    def __init__(self, problems: list[ProductProblem], *, total: int | None = None,
                 products: int | None = None):
        count = products if products is not None else len({problem.where for problem in problems})
        total = total if total is not None else len(problems)
        lines = [str(problem) for problem in problems[:_SHOWN_PROBLEMS]]
        if total > len(lines):
            lines.append(f"... and {total - len(lines)} more")
        noun = "product is" if count == 1 else "products are"
        super().__init__(f"{count} {noun} not valid for the catalog:\n  " + "\n  ".join(lines),
                         hint="`klaviyo-snippets docs server-side` lists the catalog fields and their rules")
        self.problems = problems


class ProductProblems:
    """The problems found while reading products: the first 50 kept, all counted (`len()` is
    the number of bad products), so a file of a million bad lines is not a million errors held."""

    def __init__(self) -> None:
        self.shown: list[ProductProblem] = []
        self.total = 0
        self.products = 0
        self.seen = 0  # products read, good or bad

    def add(self, found: list[ProductProblem]) -> None:
        self.products += 1
        self.total += len(found)
        self.shown.extend(found[:max(0, _SHOWN_PROBLEMS - len(self.shown))])

    def __len__(self) -> int:
        return self.products

    def error(self) -> InvalidProducts:
        return InvalidProducts(self.shown, total=self.total, products=self.products)


Check = Callable[["Product"], list[ProductProblem]]


# -- reading and validating --------------------------------------------------------------------

def read_products(path: str | PathLike[str]) -> list[Product]:
    """Products from a JSONL file (one object a line) or a JSON array, validated, in a list.

    Errors name the file and line (JSONL) or the array index (JSON). For a catalog of any size,
    `iter_products` reads them one at a time.
    """
    return list(iter_products(path))


def iter_products(path: str | PathLike[str], *, checks: Check | None = None,
                  problems: ProductProblems | None = None,
                  progress: ReadProgressSink | None = None) -> Iterator[Product]:
    """The valid products of a JSONL file or a JSON array file, one at a time (memory does not
    grow with the file; `progress.update(bytes, lines)` is told as it goes), each also passed
    through `checks` (`feed_checks`, `api_checks`). Every problem is collected, and
    `InvalidProducts` raised after the last product: a caller that must not act on a bad file
    reads it through once first. A line that is not JSON (or UTF-8) raises at once.
    """
    collected = problems if problems is not None else ProductProblems()
    what = "products file"
    if starts_with_bracket(path, what):
        located: Iterator[tuple[int, str, Any]] = (
            (index, f"{path} [{index}]", value)
            for index, value in read_json_array(path, what, progress=progress))

        def where_of(tag: int) -> str:
            return f"{path} [{tag}]"
    else:
        located = ((number, f"{path}:{number}",
                    parse_json(text, str(path), line=number, hint="each line of a products file is one JSON object"))
                   for number, text in read_lines(path, what, progress=progress) if text.strip())

        def where_of(tag: int) -> str:
            return f"{path}:{tag}"
    yield from _validated(located, where_of, collected, checks)
    if collected:
        raise collected.error()
    if not collected.seen:
        raise UserError("no products in the file", where=str(path))


def validate_products(products: Iterable[Mapping[str, Any]]) -> list[Product]:
    """Validate products (all of them, reporting every problem); return them normalised.

    Normalised: `id` a string, null fields dropped, standard fields first in the feed's order.
    """
    items = list(products)
    if not items:
        raise UserError("no products to put in the catalog")
    wheres = [getattr(p, "where", None) or f"products[{i}]" for i, p in enumerate(items)]
    collected = ProductProblems()
    valid = list(_validated(((i, wheres[i], p) for i, p in enumerate(items)), wheres.__getitem__,
                            collected, None))
    if collected:
        raise collected.error()
    return valid


def _validated(located: Iterable[tuple[int, str, Any]], where_of: Callable[[int], str],
               collected: ProductProblems, checks: Check | None) -> Iterator[Product]:
    """The valid products of `(tag, where, raw)`: ids are remembered by tag (a line or an
    index, 24 bytes each), and `where_of(tag)` names the first of two products with one id."""
    first_seen = KeyIndex()
    for tag, where, raw in located:
        collected.seen += 1
        product, found = _validate_one(raw, where)
        if product is not None:
            first = first_seen.get(product["id"])
            if first is not None:
                found = [ProductProblem(where, product["id"], "id",
                                        f"duplicates the id of {where_of(first)} "
                                        "(each item, and each variant, needs its own id)")]
            else:
                first_seen.set(product["id"], tag)
                found = checks(product) if checks is not None else []
        if found:
            collected.add(found)
            continue
        yield product


def _validate_one(raw: Any, where: str) -> tuple[Product | None, list[ProductProblem]]:
    if not isinstance(raw, Mapping):
        return None, [ProductProblem(where, None, None, "must be an object of feed fields")]
    problems: list[ProductProblem] = []
    product_id = raw.get("id")
    shown_id = str(product_id) if isinstance(product_id, (str, int)) and not isinstance(product_id, bool) \
        and str(product_id).strip() else None

    def problem(field: str | None, reason: str) -> None:
        problems.append(ProductProblem(where, shown_id, field, reason))

    out = Product()
    out.where = where
    for field in REQUIRED_FIELDS:
        value = raw.get(field)
        if value is None:
            problem(field, "is required")
        elif field == "id" and isinstance(value, int) and not isinstance(value, bool):
            out["id"] = str(value)
        elif not isinstance(value, str):
            problem(field, f"must be a string, not {_type_name(value)}")
        elif not value.strip():
            problem(field, "must not be blank")
        elif field in ("link", "image_link") and not is_absolute_http_url(value):
            problem(field, f"{value!r} is not an absolute http(s) URL")
        else:
            out[field] = value

    if raw.get("price") is not None:
        price = raw["price"]
        if isinstance(price, bool) or not isinstance(price, (int, float, Decimal)):
            problem("price", f"must be a bare number (no currency), not {_type_name(price)}")
        elif not is_finite_number(price) or price < 0:
            problem("price", f"must be a finite number ≥ 0, not {_type_name(price)}")
        else:
            out["price"] = float(price) if isinstance(price, Decimal) else price
    if raw.get("categories") is not None:
        categories = raw["categories"]
        if not isinstance(categories, list):
            problem("categories", f"must be a list of category names, not {_type_name(categories)}")
        else:
            clean: list[str] = []
            for index, name in enumerate(categories):
                if not isinstance(name, str) or not name.strip():
                    problem(f"categories/{index}", f"must be a non-blank string, not {_type_name(name)}")
                elif "," in name:
                    problem(f"categories/{index}", f"{name!r} contains a comma, which the XML feed "
                                                   "uses to separate categories")
                elif name not in clean:
                    clean.append(name)
            out["categories"] = clean
    if raw.get("inventory_quantity") is not None:
        quantity = raw["inventory_quantity"]
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not is_finite_number(quantity):
            problem("inventory_quantity", f"must be a whole number, not {_type_name(quantity)}")
        else:
            out["inventory_quantity"] = quantity
    if raw.get("inventory_policy") is not None:
        policy = raw["inventory_policy"]
        if isinstance(policy, bool) or policy not in (1, 2):
            problem("inventory_policy", f"must be 1 (hide out-of-stock items from recommendations) "
                                        f"or 2 (the default), not {policy!r}")
        else:
            out["inventory_policy"] = int(policy)

    for field, value in raw.items():
        if field in _STANDARD_FIELDS or value is None:
            continue
        if not isinstance(field, str) or not field.strip():
            problem(repr(field), "a field name must be a non-blank string")
        elif isinstance(value, (Mapping, list, tuple)):
            problem(field, "the feed is one level deep: a metadata field must be a string, number "
                           "or boolean, not " + _type_name(value))
        elif not isinstance(value, (str, int, float, bool, Decimal)):
            problem(field, f"must be a string, number or boolean, not {_type_name(value)}")
        elif not isinstance(value, (str, bool)) and not is_finite_number(value):
            problem(field, f"must be a finite number, not {_type_name(value)}")
        elif isinstance(value, Decimal):
            out[field] = float(value)
        else:
            out[field] = value
    return (None if problems else out), problems


# -- the feed ----------------------------------------------------------------------------------

_FEED_FRAMES = {  # head, tail, separator
    "json": (b"[\n", b"\n]\n", b",\n"),
    "xml": (b'<?xml version="1.0" encoding="UTF-8"?>\n<rss version="2.0">\n<Products>\n',
            b"\n</Products>\n</rss>\n", b"\n"),
}


def _check_feed_options(format: str, max_bytes: int) -> None:
    if format not in _FEED_FRAMES:
        raise ValueError(f"format must be 'json' or 'xml', not {format!r}")
    if not 0 < max_bytes <= MAX_FEED_BYTES:
        raise ValueError(f"max_bytes must be from 1 to {MAX_FEED_BYTES} (Klaviyo's 100 MB limit)")


def _feed_chunk(product: Product, format: str) -> bytes:
    if format == "json":
        return json.dumps(product, ensure_ascii=False).encode("utf-8")
    return _xml_product(product)


def feed_checks(format: str = "json", *, max_bytes: int = RECOMMENDED_FEED_BYTES) -> Check:
    """What a valid product must also be to go into a feed file: XML-safe (for XML), and small
    enough for a file of `max_bytes` with the feed's own bytes around it."""
    _check_feed_options(format, max_bytes)
    head, tail, _ = _FEED_FRAMES[format]

    def check(product: Product) -> list[ProductProblem]:
        problems = _xml_problems(product) if format == "xml" else []
        if problems:
            return problems
        size = len(_feed_chunk(product, format))
        if len(head) + size + len(tail) > max_bytes:
            return [ProductProblem(product.where, product["id"], None,
                                   f"is {size} bytes; with the feed's own {len(head) + len(tail)} "
                                   f"bytes around it, a file holding it exceeds the {max_bytes}-byte limit")]
        return []
    return check


def feed_pieces(products: Iterable[Product], format: str = "json", *,
                max_bytes: int = RECOMMENDED_FEED_BYTES) -> Iterator[tuple[int, bytes]]:
    """The feed a piece at a time: `(file number from 0, bytes to append to that file)`, for
    products that passed `feed_checks` (a file is complete when the next one starts, or at the
    end). A feed past `max_bytes` is split into several complete files."""
    _check_feed_options(format, max_bytes)
    head, tail, separator = _FEED_FRAMES[format]
    number, size, empty = 0, len(head) + len(tail), True
    yield number, head
    for product in products:
        chunk = _feed_chunk(product, format)
        extra = len(chunk) + (0 if empty else len(separator))
        if not empty and size + extra > max_bytes:
            yield number, tail
            number, size, empty = number + 1, len(head) + len(tail), True
            yield number, head
            extra = len(chunk)
        yield number, chunk if empty else separator + chunk
        size += extra
        empty = False
    yield number, tail


def build_feed(products: Iterable[Mapping[str, Any]], format: str = "json", *,
               max_bytes: int = RECOMMENDED_FEED_BYTES) -> list[bytes]:
    """The custom catalog feed as one or more files, each at most `max_bytes` (in memory; the
    `catalog build` command writes `feed_pieces` as they come instead).

    JSON: an array of flat objects, one product a line. XML, as Klaviyo's template writes it:
    `<rss version="2.0"><Products><Product><id>…</id>…</Product></Products></rss>`, with
    `categories` comma-separated. A feed past `max_bytes` is split into several complete files
    (Klaviyo: ≤ 100 MB a file, ≤ 50 MB recommended; all of them feed the same catalog).
    """
    _check_feed_options(format, max_bytes)
    validated = validate_products(products)
    check = feed_checks(format, max_bytes=max_bytes)
    problems = [problem for product in validated for problem in check(product)]
    if problems:
        raise InvalidProducts(problems)
    files: list[bytearray] = []
    for number, piece in feed_pieces(validated, format, max_bytes=max_bytes):
        if number == len(files):
            files.append(bytearray())
        files[number] += piece
    return [bytes(file) for file in files]


# XML 1.0 allows tab, newline, carriage return and most of Unicode; not other control characters.
_XML_BAD_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\Z")


def _xml_problems(product: Product) -> list[ProductProblem]:
    problems = []
    for field, value in product.items():
        if not _XML_NAME.match(field) or field.lower().startswith("xml"):
            problems.append(ProductProblem(product.where, product["id"], field,
                                           "is not a valid XML element name (letters, digits, "
                                           "_ . -, not starting with a digit or 'xml')"))
        texts = value if isinstance(value, list) else [value]
        for text in texts:
            if isinstance(text, str) and (match := _XML_BAD_CHARS.search(text)):
                problems.append(ProductProblem(product.where, product["id"], field,
                                               f"contains U+{ord(match.group()):04X}, a character "
                                               "XML cannot carry"))
                break
    return problems


def _xml_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ",".join(value)
    return str(value)


def _xml_product(product: Product) -> bytes:
    fields = "".join(f"<{field}>{escape(_xml_text(value))}</{field}>"
                     for field, value in product.items())
    return f"<Product>{fields}</Product>".encode("utf-8")


# -- the Catalogs API --------------------------------------------------------------------------

def _item_resource(product: Product) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "external_id": product["id"],
        "integration_type": "$custom",
        "catalog_type": "$default",
        "title": product["title"],
        "description": product["description"],
        "url": product["link"],
    }
    if "price" in product:
        attributes["price"] = product["price"]
    attributes["image_full_url"] = product["image_link"]
    metadata = {k: v for k, v in product.items() if k not in _STANDARD_FIELDS}
    if metadata:
        attributes["custom_metadata"] = metadata
    attributes["published"] = True
    resource: dict[str, Any] = {"type": "catalog-item", "attributes": attributes}
    if product.get("categories"):
        resource["relationships"] = {"categories": {"data": [
            {"type": "catalog-category", "id": f"$custom:::$default:::{name}"}
            for name in product["categories"]]}}
    return resource


def _api_problems(product: Product) -> list[ProductProblem]:
    metadata = {k: v for k, v in product.items() if k not in _STANDARD_FIELDS}
    size = len(json.dumps(metadata, ensure_ascii=False).encode("utf-8"))
    if size > MAX_METADATA_BYTES:
        return [ProductProblem(product.where, product["id"], None,
                               f"its metadata fields come to {size} bytes; the Catalogs API "
                               f"takes at most {MAX_METADATA_BYTES} as custom_metadata")]
    return []


def catalog_item_body(product: Mapping[str, Any]) -> dict[str, Any]:
    """A `POST /api/catalog-items` body (`CatalogItemCreateQuery`) for one product.

    Feed fields map to the API's: id → external_id, link → url, image_link → image_full_url,
    other fields → custom_metadata, categories → category relationships with ids
    `$custom:::$default:::<name>` (the categories must exist first). Inventory fields are not
    item attributes in the API (inventory lives on variants), so they are not sent.
    """
    (validated,) = validate_products([product])
    problems = _api_problems(validated)
    if problems:
        raise InvalidProducts(problems)
    return {"data": _item_resource(validated)}


def _job(resources: list[dict[str, Any]]) -> dict[str, Any]:
    return {"data": {"type": "catalog-item-bulk-create-job",
                     "attributes": {"items": {"data": resources}}}}


_JOB_OVERHEAD = len(json.dumps(_job([])).encode("utf-8"))


def _check_job_options(batch_size: int, max_bytes: int) -> None:
    if not 1 <= batch_size <= MAX_ITEMS_PER_JOB:
        raise ValueError(f"batch_size must be from 1 to {MAX_ITEMS_PER_JOB}")
    if not 0 < max_bytes <= MAX_JOB_BYTES:
        raise ValueError(f"max_bytes must be from 1 to {MAX_JOB_BYTES}")


def _item_size(resource: dict[str, Any]) -> int:
    return len(json.dumps(resource, ensure_ascii=False).encode("utf-8")) + 2


def api_checks(*, max_bytes: int = MAX_JOB_BYTES) -> Check:
    """What a valid product must also be for the Catalogs API: metadata within 100 kB, and an
    item that fits in a request of `max_bytes`."""
    _check_job_options(MAX_ITEMS_PER_JOB, max_bytes)

    def check(product: Product) -> list[ProductProblem]:
        problems = _api_problems(product)
        if problems:
            return problems
        size = _item_size(_item_resource(product))
        if _JOB_OVERHEAD + size > max_bytes:
            return [ProductProblem(product.where, product["id"], None,
                                   f"is {size} bytes as an API item, more than the {max_bytes}-byte "
                                   "request limit")]
        return []
    return check


def job_bodies(products: Iterable[Product | None], *, batch_size: int = MAX_ITEMS_PER_JOB,
               max_bytes: int = MAX_JOB_BYTES) -> Iterator[dict[str, Any] | None]:
    """`POST /api/catalog-item-bulk-create-jobs` bodies, one at a time, for products that passed
    `api_checks`: ≤ `batch_size` (≤ 100) items and ≤ `max_bytes` (≤ 5 MB) each, in product order.
    A None among the products comes out as a None (a reader's pause, passed on)."""
    _check_job_options(batch_size, max_bytes)
    batch: list[dict[str, Any]] = []
    size = _JOB_OVERHEAD
    for product in products:
        if product is None:
            yield None
            continue
        resource = _item_resource(product)
        item_size = _item_size(resource)
        if batch and (len(batch) == batch_size or size + item_size > max_bytes):
            yield _job(batch)
            batch, size = [], _JOB_OVERHEAD
        batch.append(resource)
        size += item_size
    if batch:
        yield _job(batch)


def bulk_create_job_bodies(products: Iterable[Mapping[str, Any]], *,
                           batch_size: int = MAX_ITEMS_PER_JOB,
                           max_bytes: int = MAX_JOB_BYTES) -> list[dict[str, Any]]:
    """`POST /api/catalog-item-bulk-create-jobs` bodies: ≤ `batch_size` (≤ 100) items and
    ≤ `max_bytes` (≤ 5 MB) each, in product order (every product checked first)."""
    _check_job_options(batch_size, max_bytes)
    validated = validate_products(products)
    check = api_checks(max_bytes=max_bytes)
    problems = [problem for product in validated for problem in check(product)]
    if problems:
        raise InvalidProducts(problems)
    return list(job_bodies(validated, batch_size=batch_size, max_bytes=max_bytes))


# -- do the events' product ids exist in the catalog? ------------------------------------------

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
