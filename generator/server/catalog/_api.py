"""Catalogs API bodies: one item, and bulk-create jobs within Klaviyo's item and byte limits."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from klaviyo_snippets.generator.server.catalog._products import (
    _STANDARD_FIELDS, Check, InvalidProducts, Product, ProductProblem, validate_products,
)

MAX_ITEMS_PER_JOB = 100          # Catalogs API: ≤ 100 items a bulk request [spec]
MAX_JOB_BYTES = 5_000_000        # and ≤ 5 MB a request [spec]
MAX_METADATA_BYTES = 100_000     # custom_metadata ≤ 100 kB [spec]


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
