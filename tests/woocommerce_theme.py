"""WooCommerce's plugin, offline: the generated PHP run by PHP (Debian's php-cli) with the
WordPress and WooCommerce functions it calls given by a small shim of ours
(tests/woocommerce_shim.php, documented there), and WooCommerce-shaped objects.

The objects are the Store API's JSON, as WooCommerce documents it (woocommerce/woocommerce
docs/apis/store-api/resources-endpoints/products.md, product-categories.md, cart.md): money as
strings of minor units with currency_minor_unit, absolute permalinks and image URLs, nulls and
empty lists where the store has nothing. jQuery is Debian's libjs-jquery (WordPress ships jQuery
3.7; WooCommerce's add-to-cart.js triggers added_to_cart through it).

Without php, or without jQuery for the browser tests, a test skips saying NO PHP or NO JQUERY,
which the suite's strict mode (KLAVIYO_SNIPPETS_STRICT=1) turns into a failure.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest

from tests.platform_pages import write_files

SHIM = Path(__file__).with_name("woocommerce_shim.php")
JQUERY = Path("/usr/share/javascript/jquery/jquery.min.js")  # Debian's libjs-jquery
PLUGIN_PATH = "/wp-content/plugins/klaviyo-snippets/"
ORIGIN = "https://shop.test"


def php_binary() -> str:
    found = shutil.which("php")
    if not found:
        pytest.skip("NO PHP: ./bootstrap installs php-cli from Debian (apt-get install php-cli) to run the WooCommerce plugin")
    return found


def jquery_source() -> str:
    if not JQUERY.is_file():
        pytest.skip("NO JQUERY: ./bootstrap installs libjs-jquery from Debian (WooCommerce's added_to_cart is a jQuery event)")
    return JQUERY.read_text(encoding="utf-8")


#: Files a plugins folder holds besides ours, which the generator must never touch.
FOREIGN_FILES = {
    "languages/klaviyo-snippets-fr_FR.po": 'msgid "Klaviyo"\nmsgstr "Klaviyo"\n',
    "uninstall.php": "<?php\ndefined( 'WP_UNINSTALL_PLUGIN' ) || exit;\n",
}


def make_folder(folder: Path) -> dict[str, bytes]:
    return write_files(folder, FOREIGN_FILES)


def run_php(plugin: Path, page: list[str] | None = None, **state: Any) -> str:
    """The page PHP prints with the plugin active: wp_head() in <head> (see the shim)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", encoding="utf-8", delete=False) as handle:
        json.dump({"page": page or [], **state}, handle)
    try:
        done = subprocess.run([php_binary(), str(SHIM), handle.name, str(plugin / "klaviyo-snippets.php")],
                              capture_output=True, text=True, timeout=30)
    finally:
        Path(handle.name).unlink()
    assert done.returncode == 0 and not done.stderr, done.stderr + done.stdout
    return done.stdout


def php_lint(path: Path) -> str:
    done = subprocess.run([php_binary(), "-l", str(path)], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def asset_pages(plugin: Path) -> dict[str, str]:
    """The plugin's assets and WordPress's jQuery as the store serves them: {path: text}."""
    pages = {PLUGIN_PATH + "assets/" + p.name: p.read_text(encoding="utf-8") for p in (plugin / "assets").iterdir()}
    pages["/wp-includes/js/jquery/jquery.min.js"] = jquery_source()
    return pages


# --------------------------------------------------------------------------- WooCommerce's shapes


def _prices(minor: str, regular: str | None = None) -> dict:
    return {"price": minor, "regular_price": regular or minor, "sale_price": minor, "price_range": None,
            "currency_code": "USD", "currency_symbol": "$", "currency_minor_unit": 2,
            "currency_decimal_separator": ".", "currency_thousand_separator": ",", "currency_prefix": "$",
            "currency_suffix": ""}


def _image(image_id: int, name: str) -> dict:
    src = f"{ORIGIN}/wp-content/uploads/2026/11/{name}.png"
    return {"id": image_id, "src": src, "thumbnail": src.replace(".png", "-300x300.png"),
            "srcset": f"{src} 800w", "sizes": "(max-width: 800px) 100vw, 800px", "name": f"{name}.png", "alt": ""}


USER = {"ID": 7, "user_email": "thomas.jefferson@example.com", "user_login": "tjefferson",
        "display_name": "Thomas Jefferson", "first_name": "Thomas", "last_name": "Jefferson"}

#: GET /wc/store/v1/products/1111
PRODUCT = {
    "id": 1111, "name": "Winnie the Pooh", "slug": "winnie-the-pooh", "parent": 0, "type": "simple", "variation": "",
    "permalink": f"{ORIGIN}/product/winnie-the-pooh/", "sku": "WINNIEPOOH", "short_description": "<p>A bear.</p>",
    "description": "<p>A bear of very little brain.</p>", "on_sale": True, "prices": _prices("999", "1499"),
    "price_html": "<del>$14.99</del> <ins>$9.99</ins>", "average_rating": "0", "review_count": 0,
    "images": [_image(42, "winnie")],
    "categories": [{"id": 15, "name": "Fiction", "slug": "fiction", "link": f"{ORIGIN}/product-category/fiction/"},
                   {"id": 16, "name": "Children", "slug": "children", "link": f"{ORIGIN}/product-category/children/"}],
    "tags": [], "brands": [{"id": 30, "name": "Kids Books", "slug": "kids-books", "link": f"{ORIGIN}/brand/kids-books/"}],
    "attributes": [], "variations": [], "has_options": False, "is_purchasable": True, "is_in_stock": True,
    "is_on_backorder": False, "low_stock_remaining": None, "sold_individually": False,
    "add_to_cart": {"text": "Add to cart", "description": "Add to cart: “Winnie the Pooh”", "url": "?add-to-cart=1111",
                    "minimum": 1, "maximum": 9999, "multiple_of": 1},
}

#: GET /wc/store/v1/products/categories/401
CATEGORY = {"id": 401, "name": "Fantasy Books", "slug": "fantasy-books", "description": "", "parent": 0, "count": 54,
            "image": _image(77, "fantasy"), "review_count": 0, "permalink": f"{ORIGIN}/product-category/fantasy-books/"}


def item(key: str, product_id: int, name: str, sku: str, price: str, quantity: int = 1) -> dict:
    """An item of GET /wc/store/v1/cart."""
    line = str(int(price) * quantity)
    return {
        "key": key, "id": product_id, "type": "simple", "quantity": quantity,
        "quantity_limits": {"minimum": 1, "maximum": 9999, "multiple_of": 1, "editable": True},
        "name": name, "short_description": "", "description": "", "sku": sku, "low_stock_remaining": None,
        "backorders_allowed": False, "show_backorder_badge": False, "sold_individually": False,
        "permalink": f"{ORIGIN}/product/{sku.lower()}/", "images": [_image(product_id, sku.lower())],
        "variation": [], "item_data": [], "prices": {**_prices(price), "raw_prices": {"precision": 6, "price": price + "0000"}},
        "totals": {"line_subtotal": line, "line_subtotal_tax": "0", "line_total": line, "line_total_tax": "0",
                   **{k: v for k, v in _prices(price).items() if k.startswith("currency")}},
        "catalog_visibility": "visible", "extensions": {},
    }


WINNIE_ITEM = item("7f3c1e0a9b", 1111, "Winnie the Pooh", "WINNIEPOOH", "999")
TALE_ITEM = item("2a9e44b1c0", 1112, "A Tale of Two Cities", "TALEOFTWO", "1999")


def cart(*items: dict) -> dict:
    """GET /wc/store/v1/cart holding `items`."""
    total = str(sum(int(i["totals"]["line_total"]) for i in items))
    address = {k: "" for k in ("first_name", "last_name", "company", "address_1", "address_2", "city", "state",
                               "postcode", "country", "phone")}
    return {
        "items": list(items), "coupons": [], "fees": [],
        "totals": {"total_items": total, "total_items_tax": "0", "total_fees": "0", "total_fees_tax": "0",
                   "total_discount": "0", "total_discount_tax": "0", "total_shipping": None, "total_shipping_tax": None,
                   "total_price": total, "total_tax": "0", "tax_lines": [],
                   **{k: v for k, v in _prices("0").items() if k.startswith("currency")}},
        "shipping_address": address, "billing_address": {**address, "email": ""},
        "needs_payment": bool(items), "needs_shipping": bool(items), "payment_requirements": ["products"],
        "has_calculated_shipping": False, "shipping_rates": [], "items_count": sum(i["quantity"] for i in items),
        "items_weight": 0, "cross_sells": [], "errors": [], "payment_methods": ["cod"], "extensions": {},
    }


def store(product: dict | None = None, category: dict | None = None, the_cart: dict | None = None) -> dict:
    """The Store API routes rest_do_request answers (a route left out is a 404)."""
    routes = {"/wc/store/v1/cart": the_cart if the_cart is not None else cart()}
    if product is not None:
        routes[f"/wc/store/v1/products/{product['id']}"] = product
    if category is not None:
        routes[f"/wc/store/v1/products/categories/{category['id']}"] = category
    return routes
