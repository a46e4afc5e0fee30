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

from klaviyo_snippets.generator.server.catalog._api import (
    MAX_ITEMS_PER_JOB, MAX_JOB_BYTES, MAX_METADATA_BYTES, api_checks, bulk_create_job_bodies, catalog_item_body,
    job_bodies,
)
from klaviyo_snippets.generator.server.catalog._feed import (
    MAX_FEED_BYTES, RECOMMENDED_FEED_BYTES, build_feed, feed_checks, feed_pieces,
)
from klaviyo_snippets.generator.server.catalog._ids import UnknownProductId, check_ids, iter_unknown_ids
from klaviyo_snippets.generator.server.catalog._products import (
    REQUIRED_FIELDS, Check, InvalidProducts, Product, ProductProblem, ProductProblems, iter_products, read_products,
    validate_products,
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
    "MAX_ITEMS_PER_JOB",
    "MAX_JOB_BYTES",
    "MAX_METADATA_BYTES",
    "Check",
]
