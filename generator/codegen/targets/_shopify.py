"""The Shopify target: a theme's own layout (Online Store 2.0), written into the theme's folder.

    snippets/klaviyo-install.liquid      render once in layout/theme.liquid: the bundle, the cart
                                         glue, Klaviyo's onsite script, the page's data islands
    snippets/klaviyo-<object>.liquid     one data island per Shopify object the plan reads
                                         (product, collection, search, article, customer, cart)
    assets/klaviyo-snippets.min.js       the bundle, loaded with asset_url
    assets/klaviyo-shopify.js            the cart glue: Added to Cart after the theme's cart API
                                         calls, the cart island kept current
    klaviyo-snippets/klaviyo-checkout-pixel.js   Started Checkout from the checkout, a custom pixel
    klaviyo-snippets/README.md, manifest.json    what goes where; what the writer generated

An event's input reaches the page one of three ways on Shopify, each with a documented shape
(``snippets/targets/shopify/objects.yaml``): a data island rendered field by field from a Liquid
global (`PLATFORM`: product, collection, search, article, customer); the cart island, Liquid's
``{{ cart | json }}``, which is the Ajax API's cart (the same JSON as ``/cart.js``; the cart glue
refreshes it after each cart change); the cart glue's call of Added to Cart, ``(cart, item)``,
the ``/cart.js`` cart and the line added.

Islands render exactly the fields the plan reads (checked by `_islands.reads`), each with
Shopify's ``json`` filter, and then ``<``, ``>``, ``&`` escaped once
more with ``replace``: a value cannot close the script element whether or not Shopify's ``json``
escapes them (it is believed to; it is not documented). Images are rendered with
``image_url: width: 1024``; money stays in cents for the plan's ``minor_units``.
"""

from __future__ import annotations

from pathlib import Path

from klaviyo_snippets.generator.codegen._build import BUNDLE, Options, SCRIPT_URL
from klaviyo_snippets.generator.codegen.targets._base import (
    Target, fires, glue_script, manifest_file, notice, plan_bundle, render_template,
)
from klaviyo_snippets.generator.codegen.targets._islands import Platform, Syntax, json_template, reads
from klaviyo_snippets.generator.plan import Plan

__all__ = ["TARGET", "IMAGE_WIDTH", "PIXEL", "MANIFEST", "GLUE", "PLATFORM"]

NAME = "shopify"
MANIFEST = "klaviyo-snippets/manifest.json"
PIXEL = "klaviyo-snippets/klaviyo-checkout-pixel.js"
GLUE = "assets/klaviyo-shopify.js"
#: The width images are rendered at for Klaviyo's emails (Shopify never enlarges an image).
IMAGE_WIDTH = 1024
#: The client API revision the checkout pixel sends (the OpenAPI extract's, as the sender's).
REVISION = "2026-07-15"
PLATFORM = Platform(
    name=NAME,
    islands={"customer": ("liquid", "customer"), "cart": ("ajax", "cart"), "product": ("liquid", "product"),
             "collection": ("liquid", "collection"), "search": ("liquid", "search"), "article": ("liquid", "article")},
    owner="Shopify's", kinds={"liquid": "Liquid object", "ajax": "Ajax API JSON (/cart.js)"},
    no_island="Shopify has no object the theme can render it from", holds="the Shopify object",
    leaves=frozenset({"image", "image[]"}), whole=frozenset({"ajax"}),
    glue={"cart": ("ajax", "cart"), "item": ("ajax", "line_item")},
    glue_call="the cart glue calls {label} as {function}(cart, item) with the cart of /cart.js and the line added",
)
#: island -> (the Liquid condition for its page, or None: every page; what the page is, for its comment)
_PAGES = {
    "customer": ("customer", "every page, for a logged-in customer"),
    "cart": (None, "every page"),  # a cart drawer's checkout button is on each
    "product": ("request.page_type == 'product'", "product pages"),
    "collection": ("request.page_type == 'collection'", "collection pages"),
    "search": ("request.page_type == 'search' and search.performed", "search results pages"),
    "article": ("request.page_type == 'article'", "blog articles"),
}


def render(plan: Plan, out_dir: Path, options: Options):
    bundle, key = plan_bundle(plan, out_dir, options)
    found = reads(plan, PLATFORM)
    text = notice(plan, out_dir, options, NAME)
    islands = [name for name in PLATFORM.islands if name in found.islands or name in found.whole]
    files: dict[str, str | bytes] = {f"assets/{BUNDLE}.min.js": bundle}
    for name in islands:
        body = f"{{{{ {name} | json }}}}" if name in found.whole else json_template(found.islands[name], name, _LIQUID)
        files[f"snippets/klaviyo-{name}.liquid"] = render_template(
            NAME, "island.liquid.j2", notice=text, name=name, body=body, page=_PAGES[name][1])
    glue = found.glue is not None or "cart" in islands
    added = found.glue and found.glue.function
    files["snippets/klaviyo-install.liquid"] = render_template(
        NAME, "install.liquid.j2", notice=text, script_url=SCRIPT_URL.format(key=key) if plan.onsite_load == "tag" else None, bundle=f"{BUNDLE}.min.js",
        glue=GLUE.rpartition("/")[2] if glue else None, islands=[(name, _PAGES[name][0]) for name in islands])
    if glue:
        files[GLUE] = glue_script(NAME, "cart.js.j2", text, added=added, label=found.glue and found.glue.label)
    files[PIXEL] = render_template(NAME, "checkout-pixel.js.j2", notice=text, key=key, revision=REVISION)
    files["klaviyo-snippets/README.md"] = render_template(
        NAME, "README.md.j2", notice=text, islands=islands, glue=glue, added=found.glue and found.glue.label,
        pixel=PIXEL, events=[(e.label, fires(e, plan, found.glue)) for e in plan.events], key=key)
    return manifest_file(files, notice_text=text, plan=plan, out_dir=out_dir, target=NAME, key=key, path=MANIFEST)


# --------------------------------------------------------------------------- Liquid islands


def _loop(expr: str, depth: int) -> tuple[str, str, str]:
    var = f"klaviyo_{depth}"
    return (f"{{%- for {var} in {expr} -%}}{{%- unless forloop.first -%}},{{%- endunless -%}}", var,
            "{%- endfor -%}")


def _leaf(expr: str, kind: str, depth: int) -> str:
    image = f"| image_url: width: {IMAGE_WIDTH} | json"
    if kind == "image":
        return f"{{%- if {expr} -%}}{{{{ {expr} {image} }}}}{{%- else -%}}null{{%- endif -%}}"
    if kind == "image[]":
        start, var, end = _loop(expr, depth)
        return f"[{start}{{{{ {var} {image} }}}}{end}]"
    return f"{{{{ {expr} | json }}}}"


_LIQUID = Syntax(index=lambda expr, i: f"{expr}[{i}]", loop=_loop, leaf=_leaf)


TARGET = Target(
    name=NAME,
    summary="a Shopify theme (Online Store 2.0): snippets/klaviyo-*.liquid, assets/, and a checkout custom pixel",
    render=render,
    manifest=MANIFEST,
    default_out=None,
    html_options=False,
    downloads=(f"assets/{BUNDLE}.min.js", "assets/klaviyo-shopify.js"),
    next_step="add {% render 'klaviyo-install' %} to layout/theme.liquid before </head>; the checkout pixel is "
              "{out}/klaviyo-snippets/klaviyo-checkout-pixel.js (klaviyo-snippets docs shopify)",
)
