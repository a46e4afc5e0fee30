"""The custom catalog feed, JSON or XML, made one product at a time within Klaviyo's size limits."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from xml.sax.saxutils import escape

from klaviyo_snippets.generator.server.catalog._products import (
    Check, InvalidProducts, Product, ProductProblem, validate_products,
)

# Decimal megabytes: a file under 100,000,000 bytes is under 100 MB however Klaviyo counts.
MAX_FEED_BYTES = 100_000_000
RECOMMENDED_FEED_BYTES = 50_000_000


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
