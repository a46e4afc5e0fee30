"""Products: reading a products file (JSON Lines or a JSON array) a product at a time, and what a
valid product is (Klaviyo's feed fields and their rules), every problem reported with its place."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from os import PathLike
from typing import Any

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.net import is_absolute_http_url
from klaviyo_snippets.generator.server._bodies import _type_name, is_finite_number, parse_json
from klaviyo_snippets.generator.server._stream import (
    KeyIndex,
    ReadProgressSink,
    read_json_array,
    read_lines,
    starts_with_bracket,
)


REQUIRED_FIELDS = ("id", "title", "link", "description", "image_link")
_OPTIONAL_FIELDS = ("price", "categories", "inventory_quantity", "inventory_policy")
_STANDARD_FIELDS = (*REQUIRED_FIELDS, *_OPTIONAL_FIELDS)

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
