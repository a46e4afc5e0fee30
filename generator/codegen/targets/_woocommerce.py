"""The WooCommerce target: a WordPress plugin folder, written into ``wp-content/plugins/klaviyo-snippets``.

    klaviyo-snippets.php             the plugin: enqueues the bundle, the glue and Klaviyo's onsite
                                     script (wp_enqueue_script); prints the page's data islands
                                     in wp_head (wp_json_encode with JSON_HEX_TAG | JSON_HEX_AMP)
    assets/klaviyo-snippets.min.js   the bundle
    assets/klaviyo-woocommerce.js    the glue: Added to Cart after WooCommerce's added_to_cart
                                     event and after a form post that added to the cart
    README.md, manifest.json         what goes where; what the writer generated

An event's input reaches a WooCommerce page one of two ways, each with a documented shape
(``snippets/targets/woocommerce/objects.yaml``): a data island the plugin prints (`PLATFORM`):
the Store API's JSON for the product, the product category, the cart (every page) and the
checkout (the cart, on the checkout page), or WordPress's user and search, narrowed in PHP to the
paths the plan reads (checked by `_islands.reads`); or the Added to Cart glue's call, ``(cart,
item)``, the Store API cart and its added item. The plan's text never becomes PHP: the plugin holds only PHP written here,
field names from the documented objects, and values as single-quoted PHP strings.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from klaviyo_snippets.generator.codegen._build import BUNDLE, Options, SCRIPT_URL
from klaviyo_snippets.generator.codegen.targets._base import (
    Target, fires, glue_script, manifest_file, notice, plan_bundle, render_template,
)
from klaviyo_snippets.generator.codegen.targets._islands import Node, Platform, reads
from klaviyo_snippets.generator.plan import Plan

__all__ = ["TARGET", "PLUGIN", "GLUE", "PLATFORM"]

NAME = "woocommerce"
PLUGIN = "klaviyo-snippets.php"
GLUE = "assets/klaviyo-woocommerce.js"
PLATFORM = Platform(
    name=NAME,
    islands={"customer": ("wordpress", "customer"), "cart": ("store", "cart"), "product": ("store", "product"),
             "category": ("store", "product_category"), "checkout": ("store", "cart"),
             "search": ("wordpress", "search")},
    owner="WooCommerce's", kinds={"store": "Store API JSON", "wordpress": "WordPress"},
    no_island="the plugin has no WooCommerce object to print it from", holds="the object", verb="prints",
    glue={"cart": ("store", "cart"), "item": ("store", "cart_item")},
    glue_call="the glue calls {label} as {function}(cart, item) with the Store API cart and the item added",
)


def render(plan: Plan, out_dir: Path, options: Options):
    bundle, key = plan_bundle(plan, out_dir, options)
    found = reads(plan, PLATFORM)
    text = notice(plan, out_dir, options, NAME)
    files: dict[str, str | bytes] = {f"assets/{BUNDLE}.min.js": bundle}
    islands = list(found.islands)
    glue = found.glue
    version = hashlib.sha256(bundle).hexdigest()[:12]
    if glue:
        files[GLUE] = glue_script(NAME, "glue.js.j2", text, added=glue.function, label=glue.label)
        version = hashlib.sha256(bundle + files[GLUE].encode("utf-8")).hexdigest()[:12]
    reads_php = "array(" + ", ".join(f"{php_string(name)} => {_tree(found.islands[name])}" for name in islands) + ")"
    files[PLUGIN] = render_template(
        NAME, "klaviyo-snippets.php.j2", notice=text, version=version, version_php=php_string(version),
        script_url_php=php_string(SCRIPT_URL.format(key=key)) if plan.onsite_load == "tag" else None, glue=bool(glue), islands=islands, reads=reads_php)
    files["README.md"] = render_template(
        NAME, "README.md.j2", notice=text, key=key, glue=bool(glue), added=glue and glue.label,
        islands=islands or ["none"], events=[(e.label, fires(e, plan, glue)) for e in plan.events])
    return manifest_file(files, notice_text=text, plan=plan, out_dir=out_dir, target=NAME, key=key,
                         path="manifest.json")


def _tree(node: Node) -> str:
    """What is read at ``node``, as the PHP array klaviyo_snippets_pick() walks."""
    if node.leaf:
        return "true"
    if ("e",) in node.kids:
        return f"array('e' => {_tree(node.kids[('e',)])})"
    if node.type.endswith("[]"):
        return "array('i' => array(" + ", ".join(
            f"{token[1]} => {_tree(kid)}" for token, kid in sorted(node.kids.items())) + "))"
    return "array('f' => array(" + ", ".join(
        f"{php_string(token[1])} => {_tree(kid)}" for token, kid in node.kids.items()) + "))"


def php_string(text: str) -> str:
    """A single-quoted PHP string literal: only backslash and quote mean anything there."""
    return "'" + str(text).replace("\\", "\\\\").replace("'", "\\'") + "'"


TARGET = Target(
    name=NAME,
    summary="a WordPress plugin for WooCommerce (klaviyo-snippets.php, assets/), into wp-content/plugins/klaviyo-snippets",
    render=render,
    default_out=None,
    out_folder=("the plugin's folder in your WordPress", "wp-content/plugins/klaviyo-snippets"),
    html_options=False,
    downloads=(f"assets/{BUNDLE}.min.js", "assets/klaviyo-woocommerce.js"),
    next_step="activate the plugin in {out} (WordPress admin > Plugins); it prints through wp_head() "
              "(klaviyo-snippets docs woocommerce)",
)
