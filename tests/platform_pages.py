"""What the platform targets' tests share (Shopify, BigCommerce, WooCommerce): a folder of the
platform's own files written and read back, the data islands of a rendered page as a browser's
HTML parser reads them, and an event's properties as the plan built them."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path


def write_files(folder: Path, files: dict[str, str]) -> dict[str, bytes]:
    """Write `files` ({relative path: text}) into `folder`; their bytes by relative path."""
    written = {}
    for name, text in files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written[name] = text.encode("utf-8")
    return written


def files_under(folder: Path) -> dict[str, bytes]:
    """Every file under `folder`: {relative path: bytes}."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def islands(html: str) -> dict[str, str]:
    """The raw text of each data island of a page (``<script type="application/json"
    data-klaviyo=NAME>``), read as a browser's HTML parser reads it."""
    found: dict[str, str] = {}

    class Parser(HTMLParser):
        name = None

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            self.name = attrs.get("data-klaviyo") if tag == "script" else None
            if self.name:
                assert attrs.get("type") == "application/json"
                found[self.name] = ""

        def handle_data(self, data):
            if self.name:
                found[self.name] += data

        def handle_endtag(self, tag):
            self.name = None

    Parser().feed(html)
    return found


def parsed_islands(html: str) -> dict[str, object]:
    """Each data island of a page, parsed as JSON."""
    return {name: json.loads(text) for name, text in islands(html).items()}


def properties(event: dict) -> dict:
    """An event's properties as the plan built them (without what the onsite script adds)."""
    return {k: v for k, v in event["properties"].items() if k not in ("$use_ip", "$is_session_activity")}


#: A plan whose product-page event reads no field of the product: its load trigger still needs
#: the product island on the page (an empty object) to fire, on every platform.
UNREAD_ISLAND_PLAN = """\
version: 1
public_key: AbC123
events:
  viewed_product_page:
    metric: Viewed Product Page
    inputs: [product]
    fire: {load: true}
    properties:
      Page: {type: string, value: product page}
"""
