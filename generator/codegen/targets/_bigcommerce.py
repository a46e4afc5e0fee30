"""The BigCommerce target: a Stencil theme's own layout (Cornerstone and its kin), written into
the theme's folder.

    templates/components/klaviyo/install.html    a partial for templates/layout/base.html: the
                                                 bundle (with the page's CSP nonce), Klaviyo's onsite
                                                 script, and the data islands of this page
    templates/components/klaviyo/<object>.html   one data island per Stencil context object the plan
                                                 reads (product, category, customer, cart)
    assets/klaviyo/klaviyo-snippets.min.js       the bundle, loaded with Stencil's cdn helper
    klaviyo-snippets/README.md, manifest.json    what goes where; what the writer generated

Islands render exactly the fields the plan reads (checked against the documented context by
`_bigcommerce_reads`), each with Stencil's ``json`` helper in a triple-stash (a double-stash would
HTML-escape the quotes); the helper escapes ``<``, ``>`` and ``/``, so no value can close the
script element. A field the page does not have is ``null`` (``typeof`` is ``undefined``), images
are written with ``getImage`` at the theme's ``zoom_size``, and money stays as Stencil gives it,
in major units.
"""

from __future__ import annotations

import json
from pathlib import Path

from klaviyo_snippets.generator.codegen._build import BUNDLE, Options, SCRIPT_URL, build
from klaviyo_snippets.generator.codegen.targets._base import Target, manifest_file, notice, render_template
from klaviyo_snippets.generator.codegen.targets._bigcommerce_reads import ISLANDS, reads
from klaviyo_snippets.generator.codegen.targets._shopify_reads import Node
from klaviyo_snippets.generator.plan import Plan

__all__ = ["TARGET", "MANIFEST", "ASSET", "PARTIALS", "IMAGE_SIZE"]

NAME = "bigcommerce"
MANIFEST = "klaviyo-snippets/manifest.json"
ASSET = f"assets/klaviyo/{BUNDLE}.min.js"
PARTIALS = "templates/components/klaviyo"
#: The theme setting getImage sizes images by (Cornerstone's: 1280x1280); the original without it.
IMAGE_SIZE = "zoom_size"


def render(plan: Plan, out_dir: Path, options: Options):
    plain, plain_manifest = build(plan, out_dir, Options(public_key=options.public_key))
    key = plain_manifest["options"]["public_key"]
    found = reads(plan)
    text = hbs_comment(notice(plan, out_dir, options, NAME))
    files: dict[str, str | bytes] = {ASSET: plain[f"{BUNDLE}.min.js"]}
    for name, node in found.items():
        files[f"{PARTIALS}/{name}.html"] = render_template(
            NAME, "island.html.j2", notice=text, name=name, body=_value(node, name, 0), page=ISLANDS[name][1])
    files[f"{PARTIALS}/install.html"] = render_template(
        NAME, "install.html.j2", notice=text, script_url=SCRIPT_URL.format(key=key), asset=ASSET,
        islands=list(found), partials=PARTIALS.removeprefix("templates/"))
    files["klaviyo-snippets/README.md"] = render_template(
        NAME, "README.md.j2", notice=text, islands=list(found), partials=PARTIALS, asset=ASSET, key=key,
        events=[(e.label, _fires(e, plan)) for e in plan.events])
    encoded = {name: data if isinstance(data, bytes) else data.encode("utf-8") for name, data in files.items()}
    return manifest_file(encoded, notice_text=text, plan=plan, out_dir=out_dir, target=NAME, key=key, path=MANIFEST)


def _fires(event, plan: Plan) -> str:
    how = [{"load": "on page load", "click": f"on a click on {t.selector}", "submit": f"on submit of {t.selector}"}
           .get(t.kind, "") for t in event.triggers]
    how += [f"with {other.label}" for other in plan.events if event.key in other.also]
    return ", ".join(h for h in how if h) or f"when your code calls klaviyoSnippets.{event.function}"


def hbs_comment(text: str) -> str:
    """Human text for inside ``{{!-- --}}``: nothing in it can end the comment or open a mustache."""
    for bad, good in (("--}}", "-- }}"), ("{{", "{ {"), ("}}", "} }")):
        while bad in text:
            text = text.replace(bad, good)
    return " ".join(text.split())


# --------------------------------------------------------------------------- Handlebars islands


def _value(node: Node, expr: str, depth: int) -> str:
    """Handlebars that writes, as JSON, what the plan reads at ``node`` of the context value ``expr``."""
    if node.leaf:
        return _leaf(expr, node.type)
    pad = "  " * depth
    if node.type.endswith("[]"):
        each = node.kids.get(("e",))
        if each is None:  # elements by index only: [element 0, element 1, ...], null where unread
            last = max(token[1] for token in node.kids)
            items = [_value(node.kids[("i", i)], f"{expr}.[{i}]", depth + 1) if ("i", i) in node.kids else "null"
                     for i in range(last + 1)]
            return "[\n" + ",\n".join(f"{pad}  {item}" for item in items) + f"\n{pad}]"
        for token, kid in node.kids.items():  # an index read as well: the mapped list holds it
            if token[0] == "i":
                each = _merged(each, kid)
        return (f"[\n{pad}  {{{{#each {expr}}}}}{{{{#unless @first}}}},{{{{/unless}}}}\n"
                f"{pad}  {_value(each, 'this', depth + 1)}\n{pad}  {{{{/each}}}}\n{pad}]")
    fields = [f"{pad}  {_key(token[1])}: {_value(kid, f'{expr}.{token[1]}', depth + 1)}"
              for token, kid in node.kids.items()]
    return "{\n" + ",\n".join(fields) + f"\n{pad}}}"


def _leaf(expr: str, kind: str) -> str:
    image = "{{{json (getImage EXPR '" + IMAGE_SIZE + "')}}}"
    if kind == "image":
        return f"{{{{#if {expr}}}}}{image.replace('EXPR', expr)}{{{{else}}}}null{{{{/if}}}}"
    if kind == "image[]":
        return (f"[{{{{#each {expr}}}}}{{{{#unless @first}}}},{{{{/unless}}}}{image.replace('EXPR', 'this')}"
                f"{{{{/each}}}}]")
    # json writes nothing for undefined: a field the page lacks is null, as JSON has it
    return f'{{{{#if (typeof {expr}) "===" "undefined"}}}}null{{{{else}}}}{{{{{{json {expr}}}}}}}{{{{/if}}}}'


def _merged(a: Node, b: Node) -> Node:
    out = Node(a.type, dict(a.kids), a.leaf or b.leaf)
    for token, kid in b.kids.items():
        out.kids[token] = _merged(out.kids[token], kid) if token in out.kids else kid
    return out


def _key(name: str) -> str:
    """A JSON key in a Handlebars template: JSON-escaped, with no < > & and no mustache."""
    text = json.dumps(name, ensure_ascii=True)
    for bad, good in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("{", "\\u007b"), ("}", "\\u007d")):
        text = text.replace(bad, good)
    return text


TARGET = Target(
    name=NAME,
    summary="a BigCommerce Stencil theme: templates/components/klaviyo/*.html partials and assets/klaviyo/",
    render=render,
    manifest=MANIFEST,
    default_out=None,
    html_options=False,
    downloads=(f"assets/klaviyo/{BUNDLE}.min.js",),
    next_step="add {{> components/klaviyo/install}} to templates/layout/base.html before </head> "
              "(klaviyo-snippets docs bigcommerce)",
)
