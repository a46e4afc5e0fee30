"""The WooCommerce target: a WordPress plugin folder, written into ``wp-content/plugins/klaviyo-snippets``.

    klaviyo-snippets.php             the plugin: enqueues the bundle, the glue and Klaviyo's onsite
                                     script (wp_enqueue_script); prints the page's data islands
                                     in wp_head (wp_json_encode with JSON_HEX_TAG | JSON_HEX_AMP)
    assets/klaviyo-snippets.min.js   the bundle
    assets/klaviyo-woocommerce.js    the glue: Added to Cart after WooCommerce's added_to_cart
                                     event and after a form post that added to the cart
    README.md, manifest.json         what goes where; what the writer generated

Islands hold the Store API's JSON (product, product category, cart, checkout) or WordPress's user
and search, narrowed in PHP to the paths the plan reads (checked against the documented fields by
`_woocommerce_reads`). The plan's text never becomes PHP: the plugin holds only PHP written here,
field names from the documented objects, and values as single-quoted PHP strings.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import rjsmin

from klaviyo_snippets.generator.codegen._build import BUNDLE, Options, SCRIPT_URL, build
from klaviyo_snippets.generator.codegen._escape import js_comment
from klaviyo_snippets.generator.codegen.targets._base import Target, manifest_file, notice, render_template
from klaviyo_snippets.generator.codegen.targets._shopify import _fires, _merged
from klaviyo_snippets.generator.codegen.targets._woocommerce_reads import ISLANDS, Node, reads
from klaviyo_snippets.generator.plan import Plan

__all__ = ["TARGET", "PLUGIN", "GLUE"]

NAME = "woocommerce"
PLUGIN = "klaviyo-snippets.php"
GLUE = "assets/klaviyo-woocommerce.js"


def render(plan: Plan, out_dir: Path, options: Options):
    plain, plain_manifest = build(plan, out_dir, Options(public_key=options.public_key))
    key = plain_manifest["options"]["public_key"]
    found = reads(plan)
    text = notice(plan, out_dir, options, NAME)
    bundle = plain[f"{BUNDLE}.min.js"]
    files: dict[str, str | bytes] = {f"assets/{BUNDLE}.min.js": bundle}
    islands = [name for name in ISLANDS if name in found.islands]
    glue = found.glue
    version = hashlib.sha256(bundle).hexdigest()[:12]
    if glue:  # minified (rjsmin), after the notice the writer looks for
        source = render_template(NAME, "glue.js.j2", added=glue.function, label=glue.label)
        files[GLUE] = f"/* {js_comment(text)} */\n" + rjsmin.jsmin(source) + "\n"
        version = hashlib.sha256(bundle + files[GLUE].encode("utf-8")).hexdigest()[:12]
    reads_php = "array(" + ", ".join(f"{php_string(name)} => {_tree(found.islands[name])}" for name in islands) + ")"
    files[PLUGIN] = render_template(
        NAME, "klaviyo-snippets.php.j2", notice=text, version=version, version_php=php_string(version),
        script_url_php=php_string(SCRIPT_URL.format(key=key)), glue=bool(glue), islands=islands, reads=reads_php)
    files["README.md"] = render_template(
        NAME, "README.md.j2", notice=text, key=key, glue=bool(glue), added=glue and glue.label,
        islands=islands or ["none"], events=[(e.label, _fires(e, plan, glue)) for e in plan.events])
    encoded = {name: data if isinstance(data, bytes) else data.encode("utf-8") for name, data in files.items()}
    return manifest_file(encoded, notice_text=text, plan=plan, out_dir=out_dir, target=NAME, key=key,
                         path="manifest.json")


def _tree(node: Node) -> str:
    """What is read at ``node``, as the PHP array klaviyo_snippets_pick() walks."""
    if node.leaf:
        return "true"
    if node.type.endswith("[]"):
        each = node.kids.get(("e",))
        if each is None:
            return "array('i' => array(" + ", ".join(
                f"{token[1]} => {_tree(kid)}" for token, kid in sorted(node.kids.items())) + "))"
        for token, kid in node.kids.items():  # an index read as well: the mapped list holds it
            if token[0] == "i":
                each = _merged(each, kid)
        return f"array('e' => {_tree(each)})"
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
    html_options=False,
    downloads=(f"assets/{BUNDLE}.min.js", "assets/klaviyo-woocommerce.js"),
    next_step="activate the plugin in {out} (WordPress admin > Plugins); it prints through wp_head() "
              "(klaviyo-snippets docs woocommerce)",
)
