"""BigCommerce's Stencil engine, offline: @bigcommerce/stencil-paper-handlebars (the renderer
Stencil uses, installed by ./bootstrap into .venv/tools) run by node on a Cornerstone-like
theme folder, with Stencil-shaped context objects from BigCommerce's object reference.

    html = render_page(theme, "pages/product", {"product": PRODUCT, ...})

Missing engine: the test skips with NO STENCIL (a failure under KLAVIYO_SNIPPETS_STRICT=1).
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.node import node_binary
from tests.platform_pages import write_files

ROOT = Path(__file__).resolve().parents[1]
ENGINE = ROOT / ".venv" / "tools" / "node_modules" / "@bigcommerce" / "stencil-paper-handlebars"
ORIGIN = "https://store.test"
#: Cornerstone's image settings (config.json): getImage sizes by zoom_size.
THEME_SETTINGS = {"zoom_size": "1280x1280", "product_size": "500x659"}

#: Cornerstone's layout (templates/layout/base.html), cut down, with the one line the docs ask for.
LAYOUT = """<!DOCTYPE html>
<html lang="en">
  <head>
    <title>{{ head.title }}</title>
    {{{head.scripts}}}
    {{> components/klaviyo/install}}
  </head>
  <body>
    {{#block "page"}} {{/block}}
    <script nonce="{{nonce}}" src="{{cdn 'assets/dist/theme-bundle.main.js'}}"></script>
  </body>
</html>
"""
PAGE = '{{#partial "page"}}{{{content}}}{{/partial}}\n{{> layout/base}}\n'
THEME_FILES = {
    "templates/layout/base.html": LAYOUT,
    "templates/pages/product.html": PAGE, "templates/pages/category.html": PAGE,
    "templates/pages/cart.html": PAGE, "templates/pages/page.html": PAGE,
    "config.json": '{"name": "Cornerstone", "template_engine": "handlebars_v4"}\n',
    "assets/dist/theme-bundle.main.js": "window.stencilBootstrap = function () {};\n",
}

_SCRIPT = r"""
const fs = require('fs'), path = require('path');
const [engine, root, input] = process.argv.slice(2);
const HandlebarsRenderer = require(engine);
const job = JSON.parse(fs.readFileSync(input, 'utf8'));
const renderer = new HandlebarsRenderer({cdn_url: job.origin}, job.settings, 'v4');
const templates = {};
(function walk(dir) {
  for (const name of fs.readdirSync(dir)) {
    const file = path.join(dir, name);
    if (fs.statSync(file).isDirectory()) walk(file);
    else if (name.endsWith('.html')) templates[path.relative(path.join(root, 'templates'), file).replace(/\.html$/, '')] = fs.readFileSync(file, 'utf8');
  }
})(path.join(root, 'templates'));
renderer.addTemplates(renderer.getPreProcessor()(templates));  // compiles every template, or throws
renderer.render(job.page, job.context).then((html) => process.stdout.write(html),
  (e) => { process.stderr.write(String(e && e.message) + '\n'); process.exit(1); });
"""


def engine() -> Path:
    """The engine's folder; skips (NO STENCIL) when ./bootstrap did not install it."""
    if not (ENGINE / "package.json").is_file():
        pytest.skip("NO STENCIL: run ./bootstrap (npm installs @bigcommerce/stencil-paper-handlebars "
                    "into .venv/tools) to render the BigCommerce templates")
    return ENGINE


def make_theme(folder: Path) -> dict[str, bytes]:
    return write_files(folder, THEME_FILES)


def render_page(theme: Path, page: str, context: dict, content: str = "") -> str:
    """`page` (pages/product...) of the theme rendered by Stencil's engine with `context`."""
    job = theme.parent / f"{theme.name}-job.json"
    job.write_text(json.dumps({"page": page, "origin": ORIGIN, "settings": THEME_SETTINGS,
                               "context": {**context, "content": content}}), encoding="utf-8")
    script = theme.parent / "stencil-render.js"
    script.write_text(_SCRIPT, encoding="utf-8")
    done = subprocess.run([node_binary(), str(script), str(engine()), str(theme), str(job)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def asset_pages(theme: Path) -> dict[str, str]:
    """The theme's assets as the storefront's CDN serves them (cdn helper: ORIGIN/assets/...)."""
    return {"/" + p.relative_to(theme).as_posix(): p.read_text(encoding="utf-8")
            for p in (theme / "assets").rglob("*.js")}


# --------------------------------------------------------------------------- Stencil's shapes
# BigCommerce's object reference (product.yml, category.yml, customer.yml, cart.yml): money in
# major units ({formatted, value}), absolute URLs, images {alt, data} with {:size}, nulls.
IMG = "https://cdn11.bigcommerce.com/s-abc123/images/stencil/{:size}/products/1111/1/winnie.png?c=2"
CUSTOMER = {"id": 7, "email": "thomas.jefferson@example.com", "name": "Thomas Jefferson", "phone": None,
            "customer_group_id": 0, "store_credit": {"formatted": "$0.00", "value": 0}}
PRODUCT = {
    "id": 1111, "title": "Winnie the Pooh", "sku": "WINNIEPOOH", "url": "https://store.test/winnie-the-pooh/",
    "brand": {"name": "Kids Books", "url": "https://store.test/brands/kids-books/"}, "category": ["Fiction", "Children"],
    "main_image": {"alt": "Winnie", "data": IMG}, "images": [{"alt": "Winnie", "data": IMG}],
    "description": "<p>A bear</p>", "upc": None,
    "price": {"without_tax": {"formatted": "$9.99", "value": 9.99, "currency": "USD"},
              "rrp_without_tax": {"formatted": "$14.99", "value": 14.99, "currency": "USD"}, "tax_label": "Tax"},
}
CATEGORY = {"id": 401, "name": "Fantasy Books", "url": "https://store.test/fantasy-books/", "image": None,
            "description": "", "total_products": 54, "products": []}


def _line(pid, name, sku, price, qty, cats, image):
    money = lambda v: {"formatted": f"${v:.2f}", "value": v, "currency": "USD"}  # noqa: E731
    return {"id": f"c0ffee-{pid}", "product_id": pid, "variant_id": pid + 10, "name": name, "sku": sku, "quantity": qty,
            "url": f"https://store.test/{sku.lower()}/", "image": image, "brand": {"name": None},
            "category_names": cats, "price": money(price), "total": money(round(price * qty, 2)), "type": "physical"}


CART = {"quantity": 3, "grand_total": {"formatted": "$49.97", "value": 49.97, "currency": "USD"},
        "sub_total": {"formatted": "$49.97", "value": 49.97}, "items": [
            _line(1111, "Winnie the Pooh", "WINNIEPOOH", 9.99, 1, ["Fiction", "Children"], {"alt": "", "data": IMG}),
            _line(1112, "A Tale of Two Cities", "TALEOFTWO", 19.99, 2, ["Classics"], None)]}

#: Stencil's global urls object (schemas/urls.yml), as Stencil gives it: store-relative paths.
URLS = {"home": "https://store.test/", "cart": "/cart.php", "search": "/search.php",
        "checkout": {"single_address": "/checkout", "multiple_address": "/checkout?multiple_address=1"},
        "account": {"index": "/account.php"}}


# --------------------------------------------------------------------------- the Storefront API
# GET /api/storefront/carts?include=lineItems.physicalItems.options,lineItems.digitalItems.options,
# as BigCommerce's Storefront Carts reference documents it (reference/carts.sf.yml, getCarts): an
# array of one cart; money in major units; absolute url and imageUrl; no categories. The guide's
# cart: Winnie the Pooh, then A Tale of Two Cities just added.
def storefront_line(line_id, pid, name, sku, price, qty, url, image) -> dict:
    return {"id": line_id, "parentId": None, "variantId": pid + 10, "productId": pid, "sku": sku, "name": name,
            "url": url, "quantity": qty, "brand": "", "isTaxable": True, "imageUrl": image, "discounts": [],
            "discountAmount": 0, "couponAmount": 0, "originalPrice": price, "listPrice": price, "salePrice": price,
            "extendedListPrice": round(price * qty, 2), "extendedSalePrice": round(price * qty, 2),
            "isShippingRequired": True, "giftWrapping": None, "options": []}


WINNIE_SF = storefront_line("57a877e0-d898-47d0-910d-88656e8dee0c", 1111, "Winnie the Pooh", "WINNIEPOOH", 9.99, 1,
                            "http://www.example.com/path/to/product", "http://www.example.com/path/to/product/image.png")
TALE_SF = storefront_line("22c461a2-eff9-4b72-8d22-7c2792ce2c2d", 1112, "A Tale of Two Cities", "TALEOFTWO", 19.99, 1,
                          "http://www.example.com/path/to/product2", "http://www.example.com/path/to/product/image2.png")


def storefront_cart(*lines: dict) -> dict:
    total = round(sum(line["extendedSalePrice"] for line in lines), 2)
    return {"id": "d4e978c2-bdcf-41b0-a49b-fecf4f5223c1", "customerId": 0, "email": "",
            "currency": {"name": "US Dollars", "code": "USD", "symbol": "$", "decimalPlaces": 2},
            "isTaxIncluded": False, "baseAmount": total, "discountAmount": 0, "cartAmount": total,
            "coupons": [], "discounts": [],
            "lineItems": {"physicalItems": list(lines), "digitalItems": [], "giftCertificates": [], "customItems": []},
            "createdTime": "2026-12-03T10:00:00+00:00", "updatedTime": "2026-12-03T10:01:00+00:00", "locale": "en"}


def guide_added_to_cart(checkout_url: str) -> dict:
    """The guide's Added to Cart (tests/golden/guide/payloads.json) as BigCommerce's cart carries
    it: no categories (the Storefront API has none), the checkout at `checkout_url`."""
    guide = json.loads((ROOT / "tests" / "golden" / "guide" / "payloads.json").read_text(encoding="utf-8"))
    added = {k: v for k, v in guide["Added to Cart"].items() if k != "AddedItemCategories"}
    added["Items"] = [{k: v for k, v in line.items() if k != "ProductCategories"} for line in added["Items"]]
    return {**added, "CheckoutURL": checkout_url}
