"""`generate --target bigcommerce` and `init --platform bigcommerce`, without a browser: the
theme folder (only our files touched, `--check`), every template compiled and rendered by
Stencil's engine (@bigcommerce/stencil-paper-handlebars: tests/bigcommerce_theme.py) from
Stencil-shaped objects, nulls included, the payloads the preset computes from the islands,
hostile values, and the errors for paths Stencil does not document."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from klaviyo_snippets.generator.codegen import generate, platforms, preset_path, render_files
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.plan import evaluate, load_plan
from klaviyo_snippets.harness.cli import main
from tests.bigcommerce_theme import (
    CART, CATEGORY, CUSTOMER, PRODUCT, TALE_SF, URLS, WINNIE_SF, guide_added_to_cart, make_theme, render_page,
    storefront_cart,
)
from tests.platform_pages import UNREAD_ISLAND_PLAN, files_under, parsed_islands as islands

PRESET = preset_path("bigcommerce")
PARTIALS = "templates/components/klaviyo/"
GLUE = "assets/klaviyo/klaviyo-bigcommerce.js"
OURS = {"assets/klaviyo/klaviyo-snippets.min.js", GLUE, "klaviyo-snippets/README.md", "klaviyo-snippets/manifest.json",
        *(PARTIALS + f"{name}.html" for name in ("install", "customer", "product", "category", "cart"))}
IMG = "https://cdn11.bigcommerce.com/s-abc123/images/stencil/1280x1280/products/1111/1/winnie.png?c=2"


@pytest.fixture(scope="module")
def theme(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("cornerstone")
    make_theme(folder)
    generate(PRESET, folder, target="bigcommerce")
    return folder


def test_generate_touches_only_its_own_files_and_check_follows_the_plan(tmp_path):
    folder = tmp_path / "cornerstone"
    theme_files = make_theme(folder)
    assert set(generate(PRESET, folder, target="bigcommerce").written) == OURS
    after = files_under(folder)
    assert set(after) == set(theme_files) | OURS
    assert {name: after[name] for name in theme_files} == theme_files  # the theme's own files, byte for byte
    assert generate(PRESET, folder, target="bigcommerce", check=True).current

    text = PRESET.read_text(encoding="utf-8")  # the plan stops reading categories; its key changes
    plan = tmp_path / "plan.yaml"
    plan.write_text(text[:text.index("  viewed_category:")].replace("public_key: XXXXXX", "public_key: AbC123"),
                    encoding="utf-8")
    stale = generate(plan, folder, target="bigcommerce", check=True)
    assert not stale.current and set(stale.stale) == OURS  # every file of ours names its plan; none of the theme's
    assert set(stale.diffs) == OURS - {PARTIALS + "category.html"}
    assert set(generate(plan, folder, target="bigcommerce").removed) == {PARTIALS + "category.html"}
    after = files_under(folder)
    assert {name: after[name] for name in theme_files} == theme_files
    assert "static.klaviyo.com/onsite/js/AbC123/klaviyo.js" in after[PARTIALS + "install.html"].decode()
    assert generate(plan, folder, target="bigcommerce", check=True).current


def test_init_platform_bigcommerce_writes_the_preset_that_generates_a_theme(tmp_path, capsys):
    assert "bigcommerce" in platforms()
    plan = tmp_path / "plan.yaml"
    assert main(["init", "--platform", "bigcommerce", str(plan)]) == 0
    assert plan.read_text(encoding="utf-8") == PRESET.read_text(encoding="utf-8").replace("../plan.schema", "./plan.schema", 1)
    args = ["generate", "--target", "bigcommerce", "--plan", str(plan), "--public-key", "AbC123", "--out", str(tmp_path / "t")]
    assert main(args) == 0 and main([*args, "--check"]) == 0
    capsys.readouterr()
    assert main(["generate", "--target", "bigcommerce", "--plan", str(plan)]) == 2  # a theme folder: --out required
    assert capsys.readouterr().err == ("error: --out: --target bigcommerce writes into your theme's folder: say which "
                                       "with --out\n  hint: e.g. klaviyo-snippets generate --target bigcommerce --out my-theme\n")


def test_islands_render_stencil_objects_as_the_preset_reads_them(theme):
    html = render_page(theme, "pages/product", {"product": PRODUCT, "customer": CUSTOMER})
    found = islands(html)
    assert found == {
        "customer": {"email": "thomas.jefferson@example.com"},
        "product": {  # only what the plan reads; the image a URL at zoom_size; with_tax absent: null
            "title": "Winnie the Pooh", "id": 1111, "sku": "WINNIEPOOH", "category": ["Fiction", "Children"],
            "main_image": IMG, "url": "https://store.test/winnie-the-pooh/", "brand": {"name": "Kids Books"},
            "price": {"with_tax": {"value": None}, "without_tax": {"value": 9.99}, "rrp_without_tax": {"value": 14.99}},
        },
    }
    # Stencil's cdn helper (a store's CDN in production; a path here) and the page's CSP nonce
    assert '<script nonce="" src="/assets/klaviyo/klaviyo-snippets.min.js" defer></script>' in html
    viewed = evaluate(load_plan(PRESET).event("viewed_product"), {"product": found["product"], "page": {"url": "x"}})
    assert viewed.payload == {
        "ProductName": "Winnie the Pooh", "ProductID": "1111", "SKU": "WINNIEPOOH", "Categories": ["Fiction", "Children"],
        "ImageURL": IMG, "URL": "https://store.test/winnie-the-pooh/", "Brand": "Kids Books", "Price": 9.99,
        "CompareAtPrice": 14.99}
    with_tax = {**PRODUCT, "price": {**PRODUCT["price"], "with_tax": {"formatted": "$10.79", "value": 10.79}}}
    product = islands(render_page(theme, "pages/product", {"product": with_tax}))["product"]
    assert evaluate(load_plan(PRESET).event("viewed_product"), {"product": product, "page": {}}).payload["Price"] == 10.79


def test_missing_objects_and_null_fields_render_as_json_null(theme):
    bare = {"id": 1111, "title": "Winnie the Pooh", "main_image": None, "brand": None, "category": [], "sku": None}
    found = islands(render_page(theme, "pages/product", {"product": bare}))
    assert set(found) == {"product"}  # no customer: no customer island, so no identify
    assert found["product"] == {"title": "Winnie the Pooh", "id": 1111, "sku": None, "category": [], "main_image": None,
                                "url": None, "brand": {"name": None},
                                "price": {"with_tax": {"value": None}, "without_tax": {"value": None},
                                          "rrp_without_tax": {"value": None}}}
    assert evaluate(load_plan(PRESET).event("viewed_product"), {"product": found["product"], "page": {}}).payload == {
        "ProductName": "Winnie the Pooh", "ProductID": "1111"}
    assert islands(render_page(theme, "pages/category", {"category": CATEGORY})) == {
        "category": {"name": "Fantasy Books", "id": 401, "image": None, "url": "https://store.test/fantasy-books/"}}
    cart = islands(render_page(theme, "pages/cart", {"cart": CART}))["cart"]
    assert cart["grand_total"] == {"value": 49.97} and cart["items"][1]["image"] is None
    assert [line["total"]["value"] for line in cart["items"]] == [9.99, 39.98]
    assert islands(render_page(theme, "pages/page", {})) == {}


HOSTILE = "</script><script>window.pwned=1</script><!-- {{x}} {{{x}}} \"quoted\" 'single' <?php echo 1; ?> & \u2028"


def test_hostile_strings_stay_data(theme):
    product = {**PRODUCT, "title": HOSTILE, "sku": HOSTILE, "category": [HOSTILE], "brand": {"name": HOSTILE}}
    html = render_page(theme, "pages/product", {"product": product, "x": "EXPANDED"})
    found = islands(html)["product"]
    assert (found["title"], found["sku"], found["category"], found["brand"]["name"]) == (HOSTILE, HOSTILE, [HOSTILE], HOSTILE)
    assert "EXPANDED" not in html and "</script><script>" not in html


PLAN = """\
version: 1
public_key: AbC123
events:
  viewed_product:
    metric: Viewed Product
    inputs: [product]
    fire: {{load: true}}
    properties:
      ProductName: {{type: string, required: true, from: product.title}}
      X: {{type: {type}, {source}}}
"""


@pytest.mark.parametrize("source, message, hint", [
    ("from: product.vendor", "product.vendor: Stencil's product has no field 'vendor'", "product has: "),
    ("from: product.titel", "has no field 'titel'", "did you mean 'title'?"),
    ("from: product.price.value", "Stencil's product_price has no field 'value'", "without_tax"),
    ("from: product.brand", "reads product.brand whole, a product_brand", "read its fields, e.g. product.brand.name"),
    ("from: product.sku.name", "reads 'name' of product.sku, which is a string (no fields)", "end the path at product.sku"),
], ids=["no-such-field", "typo", "money-object", "whole-object", "field-of-a-string"])
def test_a_path_stencil_does_not_document_is_refused_naming_the_object_and_its_fields(tmp_path, source, message, hint):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(type="string", source=source), encoding="utf-8")
    with pytest.raises(UserError) as raised:
        render_files(plan, tmp_path / "theme", target="bigcommerce")
    assert raised.value.where.startswith(f"{plan}:10:")
    assert "--target bigcommerce" in raised.value.message and message in raised.value.message
    assert hint in raised.value.hint
    render_files(plan, tmp_path / "dist")  # the plain target reads any object


def test_an_input_stencil_has_no_object_for_is_refused(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(type="string", source="from: product.title").replace("[product]", "[collection]")
                    .replace("product.title", "collection.title"), encoding="utf-8")
    with pytest.raises(UserError, match=r"--target bigcommerce: Viewed Product reads the data island 'collection'") as raised:
        render_files(plan, tmp_path / "theme", target="bigcommerce")
    assert raised.value.hint == "name the input after the Stencil object it holds: customer, product, category, cart"


def test_an_island_the_plan_reads_no_field_of_is_still_rendered_so_its_load_trigger_fires(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(UNREAD_ISLAND_PLAN, encoding="utf-8")
    theme = tmp_path / "theme"
    make_theme(theme)
    generate(plan, theme, target="bigcommerce")
    found = islands(render_page(theme, "pages/product", {"product": PRODUCT}))
    assert found == {"product": {}}  # only on product pages
    assert evaluate(load_plan(plan).event("viewed_product_page"), found).payload == {"Page": "product page"}
    assert islands(render_page(theme, "pages/category", {"category": CATEGORY})) == {}


def test_the_install_partial_gives_the_cart_glue_stencils_urls_and_added_to_cart_is_the_guides(theme):
    """The glue's JSON (Stencil's urls, rendered by Stencil's engine) and what the preset computes
    from the glue's arguments, BigCommerce-shaped: the guide's Added to Cart, less categories."""
    html = render_page(theme, "pages/product", {"product": PRODUCT, "urls": URLS, "x": "EXPANDED"})
    assert '<script nonce="" src="/assets/klaviyo/klaviyo-bigcommerce.js" defer></script>' in html
    config = html.split('<script type="application/json" id="klaviyo-bigcommerce">')[1].split("</script>")[0]
    assert json.loads(config) == {"urls": URLS}
    assert html.index("klaviyo-snippets.min.js") < html.index("klaviyo-bigcommerce.js")  # defer keeps the order
    no_urls = render_page(theme, "pages/page", {})
    assert '<script type="application/json" id="klaviyo-bigcommerce">{"urls": null }</script>' in no_urls

    event = load_plan(PRESET).event("added_to_cart")
    roots = {"cart": storefront_cart(WINNIE_SF, TALE_SF), "item": TALE_SF, "urls": json.loads(config)["urls"],
             "page": {"url": "http://www.example.com/path/to/product2"}}
    assert evaluate(event, roots).payload == guide_added_to_cart("http://www.example.com/checkout")
    assert [t.kind for t in event.triggers] == ["call"]  # called by the glue only: no trigger of its own

    glue = (theme / GLUE).read_text(encoding="utf-8")
    assert glue.startswith("/* Generated by klaviyo-snippets") and "klaviyoSnippets.addedToCart(" in glue
    assert "/remote\\/v1\\/cart\\/add$/" in glue and "/api/storefront/carts?include=" in glue


def test_a_plan_without_added_to_cart_writes_no_glue(tmp_path):
    text = PRESET.read_text(encoding="utf-8")
    start, end = text.index("  added_to_cart:"), text.index("  started_checkout:")
    plan = tmp_path / "plan.yaml"
    plan.write_text(text[:start] + text[end:], encoding="utf-8")
    theme = tmp_path / "theme"
    make_theme(theme)
    assert set(generate(plan, theme, target="bigcommerce").written) == OURS - {GLUE}
    html = render_page(theme, "pages/product", {"product": PRODUCT, "urls": URLS})
    assert "klaviyo-bigcommerce" not in html


GLUE_PLAN = """\
version: 1
public_key: AbC123
events:
  added_to_cart:
    metric: Added to Cart
    inputs: {inputs}
    properties:
      $value: {{type: number, required: true, from: cart.cartAmount}}
      X: {{type: string, from: "{path}"}}
"""


@pytest.mark.parametrize("inputs, path, message, hint", [
    ("[cart, item]", "item.name", "the cart glue calls Added to Cart as addedToCart(cart, item, urls) with the "
     "Storefront API's cart, the line added and Stencil's urls, but its inputs are ['cart', 'item']",
     "write inputs: [cart, item, urls]"),
    ("[cart, item, urls]", "item.title", "item.title: Stencil's line_item (Storefront API JSON (/api/storefront/carts)) "
     "has no field 'title'", "line_item has: brand, couponAmount,"),
    ("[cart, item, urls]", "cart.lineItems.physicalItems[0].category_names", "has no field 'category_names'",
     "line_item has: "),
    ("[cart, item, urls]", "urls.checkout.url", "Stencil's urls_checkout has no field 'url'",
     "urls_checkout has: multiple_address, single_address"),
], ids=["inputs", "storefront-field", "no-categories", "urls-field"])
def test_added_to_cart_reads_only_what_the_glue_passes(tmp_path, inputs, path, message, hint):
    plan = tmp_path / "plan.yaml"
    plan.write_text(GLUE_PLAN.format(inputs=inputs, path=path), encoding="utf-8")
    with pytest.raises(UserError) as raised:
        render_files(plan, tmp_path / "theme", target="bigcommerce")
    assert "--target bigcommerce" in raised.value.message and message in raised.value.message
    assert hint in raised.value.hint
