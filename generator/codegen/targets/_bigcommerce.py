"""The BigCommerce target: a Stencil theme's own layout (Cornerstone and its kin), written into
the theme's folder.

    templates/components/klaviyo/install.html    a partial for templates/layout/base.html: the
                                                 bundle (with the page's CSP nonce), Klaviyo's onsite
                                                 script, and the data islands of this page
    templates/components/klaviyo/<object>.html   one data island per Stencil context object the plan
                                                 reads (product, category, customer, cart)
    assets/klaviyo/klaviyo-snippets.min.js       the bundle, loaded with Stencil's cdn helper
    assets/klaviyo/klaviyo-bigcommerce.js        the cart glue: Added to Cart after the theme's add
                                                 (stencil-utils), with the Storefront API's cart
    klaviyo-snippets/README.md, manifest.json    what goes where; what the writer generated

Every event input that a page-load, click or submit trigger reads is a data island rendered
from one of Stencil's context objects (`PLATFORM`: product, category, customer, cart), field by
field, checked against their documented shapes (``snippets/targets/bigcommerce/objects.yaml``) by
`_islands.reads`. Islands render exactly the fields the plan reads, each with Stencil's ``json``
helper in a triple-stash (a double-stash would HTML-escape the quotes); the helper escapes ``<``,
``>`` and ``/``, so no value can close the script element. A field the page does not have is
``null`` (``typeof`` is ``undefined``), images are written with ``getImage`` at the theme's
``zoom_size``, and money stays as Stencil gives it, in major units.

Added to Cart, when the plan has it, is called by the cart glue (``glue.js.j2``) after the
theme's add to cart (stencil-utils' POST to ``/remote/v1/cart/add``) as ``(cart, item, urls)``:
the REST Storefront API's cart (``GET /api/storefront/carts``), its line for what was added, and
Stencil's ``urls`` object (for the checkout's URL), which the install partial renders whole as
JSON for the glue. Their shapes are the ``storefront`` kind of objects.yaml (and ``urls`` the
``stencil`` one's).
"""

from __future__ import annotations

from pathlib import Path

from klaviyo_snippets.generator.codegen._build import BUNDLE, Options, SCRIPT_URL
from klaviyo_snippets.generator.codegen.targets._base import (
    Target, fires, glue_script, manifest_file, notice, plan_bundle, render_template,
)
from klaviyo_snippets.generator.codegen.targets._islands import Platform, Syntax, json_template, reads
from klaviyo_snippets.generator.plan import Plan

__all__ = ["TARGET", "MANIFEST", "ASSET", "GLUE", "PARTIALS", "IMAGE_SIZE", "PLATFORM"]

NAME = "bigcommerce"
MANIFEST = "klaviyo-snippets/manifest.json"
ASSET = f"assets/klaviyo/{BUNDLE}.min.js"
GLUE = "assets/klaviyo/klaviyo-bigcommerce.js"
PARTIALS = "templates/components/klaviyo"
#: The theme setting getImage sizes images by (Cornerstone's: 1280x1280); the original without it.
IMAGE_SIZE = "zoom_size"
PLATFORM = Platform(
    name=NAME,
    islands={"customer": ("stencil", "customer"), "product": ("stencil", "product"),
             "category": ("stencil", "category"), "cart": ("stencil", "cart")},
    owner="Stencil's", no_island="Stencil has no context object the theme can render it from",
    holds="the Stencil object", leaves=frozenset({"image", "image[]"}),
    kinds={"storefront": "Storefront API JSON (/api/storefront/carts)"},
    glue={"cart": ("storefront", "cart"), "item": ("storefront", "line_item"), "urls": ("stencil", "urls")},
    glue_call="the cart glue calls {label} as {function}(cart, item, urls) with the Storefront API's cart, "
              "the line added and Stencil's urls",
)
#: island -> the pages it is on, for the partial's comment
_PAGES = {"customer": "every page, for a logged-in customer", "product": "product pages",
          "category": "category pages", "cart": "the cart page"}


def render(plan: Plan, out_dir: Path, options: Options):
    bundle, key = plan_bundle(plan, out_dir, options)
    read = reads(plan, PLATFORM)
    found, glue = read.islands, read.glue
    text = hbs_comment(notice(plan, out_dir, options, NAME))
    files: dict[str, str | bytes] = {ASSET: bundle}
    if glue:
        files[GLUE] = glue_script(NAME, "glue.js.j2", text, added=glue.function, label=glue.label)
    for name, node in found.items():
        files[f"{PARTIALS}/{name}.html"] = render_template(
            NAME, "island.html.j2", notice=text, name=name, body=json_template(node, name, _HANDLEBARS),
            page=_PAGES[name])
    files[f"{PARTIALS}/install.html"] = render_template(
        NAME, "install.html.j2", notice=text, script_url=SCRIPT_URL.format(key=key) if plan.onsite_load == "tag" else None, asset=ASSET,
        glue=GLUE if glue else None, islands=list(found), partials=PARTIALS.removeprefix("templates/"))
    files["klaviyo-snippets/README.md"] = render_template(
        NAME, "README.md.j2", notice=text, islands=list(found), partials=PARTIALS, asset=ASSET, key=key,
        glue=GLUE if glue else None, added=glue and glue.label,
        events=[(e.label, fires(e, plan, glue)) for e in plan.events])
    return manifest_file(files, notice_text=text, plan=plan, out_dir=out_dir, target=NAME, key=key, path=MANIFEST)


def hbs_comment(text: str) -> str:
    """Human text for inside ``{{!-- --}}``: nothing in it can end the comment or open a mustache."""
    for bad, good in (("--}}", "-- }}"), ("{{", "{ {"), ("}}", "} }")):
        while bad in text:
            text = text.replace(bad, good)
    return " ".join(text.split())


# --------------------------------------------------------------------------- Handlebars islands


def _loop(expr: str, depth: int) -> tuple[str, str, str]:
    return f"{{{{#each {expr}}}}}{{{{#unless @first}}}},{{{{/unless}}}}", "this", "{{/each}}"


def _leaf(expr: str, kind: str, depth: int) -> str:
    image = "{{{json (getImage EXPR '" + IMAGE_SIZE + "')}}}"
    if kind == "image":
        return f"{{{{#if {expr}}}}}{image.replace('EXPR', expr)}{{{{else}}}}null{{{{/if}}}}"
    if kind == "image[]":
        start, var, end = _loop(expr, depth)
        return f"[{start}{image.replace('EXPR', var)}{end}]"
    # json writes nothing for undefined: a field the page lacks is null, as JSON has it
    return f'{{{{#if (typeof {expr}) "===" "undefined"}}}}null{{{{else}}}}{{{{{{json {expr}}}}}}}{{{{/if}}}}'


_HANDLEBARS = Syntax(index=lambda expr, i: f"{expr}.[{i}]", loop=_loop, leaf=_leaf)


TARGET = Target(
    name=NAME,
    summary="a BigCommerce Stencil theme: templates/components/klaviyo/*.html partials and assets/klaviyo/",
    render=render,
    manifest=MANIFEST,
    default_out=None,
    html_options=False,
    downloads=(f"assets/klaviyo/{BUNDLE}.min.js", GLUE),
    next_step="add {{> components/klaviyo/install}} to templates/layout/base.html before </head> "
              "(klaviyo-snippets docs bigcommerce)",
)
