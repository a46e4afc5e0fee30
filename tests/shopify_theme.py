"""Shopify's Liquid, offline: python-liquid (the engine) with the Shopify filters the generated
snippets use, a Dawn-like theme folder, and Shopify-shaped objects.

python-liquid renders standard Liquid (tags, `render`, `capture`, `replace`, `forloop`) as
Shopify does; Shopify's own filters are not in it, so these stand in for them, written from
Shopify's documentation (theme-liquid-docs data/filters.json):

* `json`: JSON of the value; like Shopify's (believed, not documented), it escapes `<`, `>` and
  `&` as \\u003c, \\u003e, \\u0026. `escaping=False` gives a `json` that does not, to prove the
  snippets stay inert whatever Shopify's does.
* `asset_url`: the CDN URL of a theme asset, protocol-relative with a version query, as Shopify's
  newer stores give it (`//shop/cdn/shop/t/1/assets/x.js?v=...`); here on the storefront origin
  the harness serves, https://shop.test.
* `image_url`: the image's URL with the width asked for; an error without width or height, as
  Shopify's ("you need to specify either a width or height").

Undefined values are Shopify's: a field of nil is nil, and `json` writes it `null` (the snippets'
paths are checked against Shopify's documented fields when they are generated). Every global the
snippets read is passed, `None` (Liquid's nil) where the page has none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from liquid import Environment, FileSystemLoader, Undefined

from tests.platform_pages import write_files

ASSETS = "/cdn/shop/t/1/assets/"
ORIGIN = "https://shop.test"

#: A Dawn-like layout/theme.liquid: Dawn's head scripts, then the one line the docs ask for.
LAYOUT = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <title>{{ page_title }}</title>
    <script src="{{ 'global.js' | asset_url }}" defer="defer"></script>
    {% render 'klaviyo-install' %}
  </head>
  <body>
    {{ content_for_layout }}
  </body>
</html>
"""

#: Files of a Dawn-like theme, which the generator must never touch.
THEME_FILES = {
    "layout/theme.liquid": LAYOUT,
    "config/settings_schema.json": '[{"name": "theme_info", "theme_name": "Dawn"}]\n',
    "sections/main-cart-footer.liquid": '<button type="submit" id="checkout" name="checkout" form="cart">Check out</button>\n',
    "snippets/cart-drawer.liquid": '<form action="{{ routes.cart_url }}" id="CartDrawer-Form" method="post"></form>\n',
    "snippets/meta-tags.liquid": '<meta property="og:site_name" content="{{ shop.name }}">\n',
    "assets/global.js": "function fetchConfig(type = 'json') { return {method: 'POST'}; }\n",
    "assets/base.css": "body { margin: 0; }\n",
    "templates/product.json": '{"sections": {"main": {"type": "main-product"}}, "order": ["main"]}\n',
}


def make_theme(folder: Path) -> dict[str, bytes]:
    """Write the Dawn-like theme's files into `folder`; their bytes by relative path."""
    return write_files(folder, THEME_FILES)


def liquid(theme: Path, *, escaping: bool = True) -> Environment:
    env = Environment(loader=FileSystemLoader(str(theme / "snippets"), ext=".liquid"))

    def to_json(value: Any) -> str:
        text = json.dumps(None if isinstance(value, Undefined) else value, ensure_ascii=False)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026") if escaping else text

    def asset_url(name: str) -> str:
        return f"//shop.test{ASSETS}{name}?v=1700000000"

    def image_url(image: Any, width: int | None = None, height: int | None = None) -> str:
        if width is None and height is None:
            raise ValueError("image_url: you need to specify either a width or height")
        src = image["src"] if isinstance(image, dict) else str(image)
        size = f"width={width}" if width is not None else f"height={height}"
        return src + ("&" if "?" in src else "?") + size

    env.add_filter("json", to_json)
    env.add_filter("asset_url", asset_url)
    env.add_filter("image_url", image_url)
    return env


#: Every global the snippets may read, nil unless the page has it.
NIL_GLOBALS = {"customer": None, "product": None, "collection": None, "search": None, "article": None}


def render_page(theme: Path, *, page_type: str, content: str = "", escaping: bool = True, **objects: Any) -> str:
    """The theme's layout rendered for one page, with `content` as the template's output."""
    env = liquid(theme, escaping=escaping)
    layout = (theme / "layout" / "theme.liquid").read_text(encoding="utf-8")
    values = {**NIL_GLOBALS, "cart": EMPTY_CART, "page_title": page_type, **objects,
              "request": {"page_type": page_type, "origin": ORIGIN, "host": "shop.test"},
              "content_for_layout": content}
    return env.from_string(layout).render(**values)


def asset_pages(theme: Path) -> dict[str, str]:
    """The theme's assets as the storefront serves them: {path on shop.test: text}."""
    return {ASSETS + path.name: path.read_text(encoding="utf-8") for path in (theme / "assets").iterdir()}


# --------------------------------------------------------------------------- Shopify's shapes
# The integration guide's examples, as Shopify's objects hold them (Liquid reference,
# objects.json; Ajax API reference for the cart): money in cents, relative URLs, nested variants,
# images as image objects whose src image_url turns into a CDN URL.

CUSTOMER = {"id": 7001, "email": "thomas.jefferson@example.com", "first_name": "Thomas",
            "last_name": "Jefferson", "name": "Thomas Jefferson", "phone": None, "tags": []}

PRODUCT = {
    "id": 1111, "title": "Winnie the Pooh", "handle": "winnie-the-pooh", "vendor": "Kids Books",
    "type": "Fiction", "price": 999, "compare_at_price": 1499, "url": "/products/winnie-the-pooh",
    "featured_image": {"src": "//shop.test/cdn/shop/files/winnie.png?v=1700000001", "alt": "Winnie", "width": 2048},
    "collections": [{"id": 401, "title": "Fiction", "url": "/collections/fiction"},
                    {"id": 402, "title": "Children", "url": "/collections/children"}],
    "tags": ["bestseller"],
    "variants": [{"id": 39001111, "sku": "WINNIEPOOH", "price": 999, "compare_at_price": 1499, "title": "Hardcover"},
                 {"id": 39001113, "sku": "WINNIEPOOH-PB", "price": 599, "compare_at_price": None, "title": "Paperback"}],
}
PRODUCT["selected_or_first_available_variant"] = PRODUCT["variants"][0]

COLLECTION = {"id": 401, "title": "Fantasy Books", "handle": "fantasy", "url": "/collections/fantasy",
              "image": {"src": "//shop.test/cdn/shop/collections/fantasy.png?v=1700000002"}, "featured_image": None}

SEARCH = {"terms": "Fantasty Boks", "performed": True, "results_count": 54}

WINNIE_LINE = {
    "id": 39001111, "key": "39001111:7f3c", "variant_id": 39001111, "product_id": 1111, "quantity": 1,
    "title": "Winnie the Pooh - Hardcover", "product_title": "Winnie the Pooh", "variant_title": "Hardcover",
    "product_type": "Fiction", "vendor": "Kids Books", "sku": "WINNIEPOOH", "price": 999, "final_price": 999,
    "line_price": 999, "final_line_price": 999, "url": "/products/winnie-the-pooh?variant=39001111",
    "image": "https://cdn.shopify.com/s/files/1/0001/winnie.png?v=1700000001", "handle": "winnie-the-pooh",
    "featured_image": {"url": "https://cdn.shopify.com/s/files/1/0001/winnie.png?v=1700000001", "alt": "Winnie"},
}
TALE_LINE = {
    "id": 39001112, "key": "39001112:2a9e", "variant_id": 39001112, "product_id": 1112, "quantity": 1,
    "title": "A Tale of Two Cities", "product_title": "A Tale of Two Cities", "variant_title": None,
    "product_type": "Classics", "vendor": "Penguin", "sku": "TALEOFTWO", "price": 1999, "final_price": 1999,
    "line_price": 1999, "final_line_price": 1999, "url": "/products/a-tale-of-two-cities?variant=39001112",
    "image": "//cdn.shopify.com/s/files/1/0001/tale.png?v=1700000003", "handle": "a-tale-of-two-cities",
    "featured_image": {"url": "//cdn.shopify.com/s/files/1/0001/tale.png?v=1700000003", "alt": None},
}


def cart(*lines: dict) -> dict:
    """/cart.js (and Liquid's {{ cart | json }}) holding `lines`."""
    return {"token": "c1-7a2f9e", "note": None, "attributes": {}, "currency": "USD",
            "item_count": sum(line["quantity"] for line in lines),
            "total_price": sum(line["final_line_price"] for line in lines),
            "original_total_price": sum(line["final_line_price"] for line in lines),
            "items_subtotal_price": sum(line["final_line_price"] for line in lines),
            "total_discount": 0, "total_weight": 0, "requires_shipping": True, "items": list(lines)}


EMPTY_CART = cart()
