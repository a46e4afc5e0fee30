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

Islands render exactly the fields the plan reads (checked against Shopify's documented fields by
`_shopify_reads`), each with Shopify's ``json`` filter, and then ``<``, ``>``, ``&`` escaped once
more with ``replace``: a value cannot close the script element whether or not Shopify's ``json``
escapes them (it is believed to; it is not documented). Images are rendered with
``image_url: width: 1024``; money stays in cents for the plan's ``minor_units``.
"""

from __future__ import annotations

import json
from pathlib import Path

import rjsmin

from klaviyo_snippets.generator.codegen._build import BUNDLE, Options, SCRIPT_URL, build
from klaviyo_snippets.generator.codegen._escape import js_comment
from klaviyo_snippets.generator.codegen.targets._base import Target, manifest_file, notice, render_template
from klaviyo_snippets.generator.codegen.targets._shopify_reads import ISLANDS, Node, reads
from klaviyo_snippets.generator.plan import Plan

__all__ = ["TARGET", "IMAGE_WIDTH", "PIXEL", "MANIFEST", "GLUE"]

NAME = "shopify"
MANIFEST = "klaviyo-snippets/manifest.json"
PIXEL = "klaviyo-snippets/klaviyo-checkout-pixel.js"
GLUE = "assets/klaviyo-shopify.js"
#: The width images are rendered at for Klaviyo's emails (Shopify never enlarges an image).
IMAGE_WIDTH = 1024
#: The client API revision the checkout pixel sends (the OpenAPI extract's, as the sender's).
REVISION = "2026-07-15"
#: What each island is for, in its snippet's comment.
_PAGES = {"product": "product pages", "collection": "collection pages", "search": "search results pages",
          "article": "blog articles", "customer": "every page, for a logged-in customer", "cart": "every page"}


def render(plan: Plan, out_dir: Path, options: Options):
    plain, plain_manifest = build(plan, out_dir, Options(public_key=options.public_key))
    key = plain_manifest["options"]["public_key"]
    found = reads(plan)
    text = notice(plan, out_dir, options, NAME)
    islands = [name for name in ISLANDS if name in found.islands or (name == "cart" and found.cart)]
    files: dict[str, str | bytes] = {f"assets/{BUNDLE}.min.js": plain[f"{BUNDLE}.min.js"]}
    for name in islands:
        body = "{{ cart | json }}" if name == "cart" else _value(found.islands[name], name, 0)
        files[f"snippets/klaviyo-{name}.liquid"] = render_template(
            NAME, "island.liquid.j2", notice=text, name=name, body=body, page=_PAGES[name])
    glue = bool(found.glue) or "cart" in islands
    files["snippets/klaviyo-install.liquid"] = render_template(
        NAME, "install.liquid.j2", notice=text, script_url=SCRIPT_URL.format(key=key), bundle=f"{BUNDLE}.min.js",
        glue=GLUE.rpartition("/")[2] if glue else None,
        islands=[(name, ISLANDS[name][2]) for name in islands])
    if glue:  # minified (rjsmin: comments and whitespace), after the notice the writer looks for
        source = render_template(NAME, "cart.js.j2", added=found.glue and found.glue.function,
                                 label=found.glue and found.glue.label)
        files[GLUE] = f"/* {js_comment(text)} */\n" + rjsmin.jsmin(source) + "\n"
    files[PIXEL] = render_template(NAME, "checkout-pixel.js.j2", notice=text, key=key, revision=REVISION)
    files["klaviyo-snippets/README.md"] = render_template(
        NAME, "README.md.j2", notice=text, islands=islands, glue=glue, added=found.glue and found.glue.label,
        pixel=PIXEL, events=[(e.label, _fires(e, plan, found.glue)) for e in plan.events], key=key)
    encoded = {name: data if isinstance(data, bytes) else data.encode("utf-8") for name, data in files.items()}
    return manifest_file(encoded, notice_text=text, plan=plan, out_dir=out_dir, target=NAME, key=key, path=MANIFEST)


def _fires(event, plan: Plan, glue) -> str:
    how = [{"load": "on page load", "click": f"on a click on {t.selector}", "submit": f"on submit of {t.selector}"}
           .get(t.kind, "") for t in event.triggers]
    how += [f"with {other.label}" for other in plan.events if event.key in other.also]
    if event is glue:
        how.append("after an add to cart (the cart glue)")
    return ", ".join(h for h in how if h) or f"when your code calls klaviyoSnippets.{event.function}"


# --------------------------------------------------------------------------- Liquid islands


def _value(node: Node, expr: str, depth: int) -> str:
    """Liquid that writes, as JSON, what the plan reads at ``node`` of the Liquid value ``expr``."""
    if node.leaf:
        return _leaf(expr, node.type, depth)
    pad = "  " * depth
    if node.type.endswith("[]"):
        each = node.kids.get(("e",))
        if each is None:  # elements by index only: [element 0, element 1, ...], null where unread
            last = max(token[1] for token in node.kids)
            items = [_value(node.kids[("i", i)], f"{expr}[{i}]", depth + 1) if ("i", i) in node.kids else "null"
                     for i in range(last + 1)]
            return "[\n" + ",\n".join(f"{pad}  {item}" for item in items) + f"\n{pad}]"
        for token, kid in node.kids.items():  # an index read as well: the mapped list holds it
            if token[0] == "i":
                each = _merged(each, kid)
        var = f"klaviyo_{depth}"
        return (f"[\n{pad}  {{%- for {var} in {expr} -%}}{{%- unless forloop.first -%}},{{%- endunless -%}}\n"
                f"{pad}  {_value(each, var, depth + 1)}\n{pad}  {{%- endfor -%}}\n{pad}]")
    fields = [f"{pad}  {_key(token[1])}: {_value(kid, f'{expr}.{token[1]}', depth + 1)}"
              for token, kid in node.kids.items()]
    return "{\n" + ",\n".join(fields) + f"\n{pad}}}"


def _leaf(expr: str, kind: str, depth: int) -> str:
    image = f"| image_url: width: {IMAGE_WIDTH} | json"
    if kind == "image":
        return f"{{%- if {expr} -%}}{{{{ {expr} {image} }}}}{{%- else -%}}null{{%- endif -%}}"
    if kind == "image[]":
        var = f"klaviyo_{depth}"
        return (f"[{{%- for {var} in {expr} -%}}{{%- unless forloop.first -%}},{{%- endunless -%}}"
                f"{{{{ {var} {image} }}}}{{%- endfor -%}}]")
    return f"{{{{ {expr} | json }}}}"


def _merged(a: Node, b: Node) -> Node:
    out = Node(a.type, dict(a.kids), a.leaf or b.leaf)
    for token, kid in b.kids.items():
        out.kids[token] = _merged(out.kids[token], kid) if token in out.kids else kid
    return out


def _key(name: str) -> str:
    """A JSON key in a Liquid template: JSON-escaped, with no < > & and no Liquid delimiter."""
    text = json.dumps(name, ensure_ascii=True)
    for bad, good in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("{", "\\u007b"), ("}", "\\u007d")):
        text = text.replace(bad, good)
    return text


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
