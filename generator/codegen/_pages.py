"""The two files generated per event, built with plain string joins (a thousand-event plan renders
two thousand of them; a template engine's per-render overhead would dominate).

- `event_html`: ``snippets/<event>.html``, a copy-paste snippet shaped like the guide's: a
  comment on how it fires, the data islands with the sample data, example markup for click and
  submit triggers, and an inline call for events that only fire when called.
- `event_markdown`: ``docs/<event>.md``, the event's page: how it fires, its properties, the sample
  call and what the klaviyo object receives, and the payload's TypeScript type.

Every value from the plan goes through an escaper of ``_escape`` for its context.
"""

from __future__ import annotations

import json
from typing import Any

from klaviyo_snippets.generator.codegen._escape import html_attr, html_comment, js_literal, md_cell, md_fence

__all__ = ["event_html", "event_markdown"]


def event_html(
    *, header_html: str, event, islands: list[tuple[str, str]], markup: list[tuple[Any, str | None]],
    pushes: list[tuple[Any, str]], call: str, inline: bool, nonce: str | None,
) -> str:
    inputs = ", ".join(event.inputs)
    plural = len(event.inputs) > 1
    note = html_comment(event.label)
    if event.description:
        note += ": " + html_comment(event.description)
    out = [header_html, "\n<!-- ", note, "\n     Needs install.html on the page.\n"]
    for t in event.triggers:
        if t.kind == "call":
            out.append(f"     Call: klaviyoSnippets.{event.function}({inputs}) from your own code.\n")
        elif t.kind == "load":
            out.append(
                f"     Fires on page load when the data island{'s' if plural else ''} below "
                f"{'are' if plural else 'is'} on the page.\n"
            )
        elif t.kind == "click":
            out.append(f"     Fires on a click on (or inside) any element matching {html_comment(t.selector)}.\n")
        elif t.kind == "submit":
            bound = f"; its fields become `{t.input}`" if t.input else ""
            out.append(f"     Fires when a form matching {html_comment(t.selector)} is submitted{bound}.\n")
        elif t.kind == "datalayer":
            out.append(f"     Fires when the page pushes {html_comment(t.event)} to its data layer (window.dataLayer, as\n"
                       f"     Google Tag Manager or gtag.js); the push becomes `{t.input}`.\n")
        elif t.kind == "route":
            bound = f"; the route's match becomes `{t.input}`" if t.input else ""
            out.append(f"     Fires once per route view whose path matches {html_comment(t.path)} (page load, history\n"
                       f"     pushState/replaceState, back and forward), once the view's data islands are on the page{bound}.\n")
    if islands:
        out.append(
            "     Render each data island from your platform's object (JSON-encode it and escape <, > and &\n"
            "     as \\u003c, \\u003e, \\u0026); the sample data below is the guide's example.\n"
        )
    out.append("-->\n")
    for name, text in islands:
        out.append(f'<script type="application/json" data-klaviyo="{html_attr(name)}">{text}</script>\n')
    for trigger, element in markup:
        if element:
            out.append(element + "\n")
        else:
            out.append(f"<!-- (your element matching {html_comment(trigger.selector)}) -->\n")
    for trigger, push in pushes:
        if inline:
            stamp = f' nonce="{html_attr(nonce)}"' if nonce is not None else ""
            out.append(f"<!-- (your data layer's {html_comment(trigger.event)} push; here the sample) -->\n"
                       f"<script{stamp}>\n  window.dataLayer = window.dataLayer || [];\n"
                       f"  dataLayer.push({_indent(push, 2)});\n</script>\n")
        else:
            out.append(f"<!-- (your data layer's {html_comment(trigger.event)} push, from your own script file) -->\n")
    if all(t.kind == "call" for t in event.triggers):
        if inline:
            stamp = f' nonce="{html_attr(nonce)}"' if nonce is not None else ""
            out.append(f"<script{stamp}>\n  {_indent(call, 2)}\n</script>\n")
        else:
            out.append(
                f"<!-- No inline code (--no-inline): call klaviyoSnippets.{event.function}({inputs}) "
                "from your own script file. -->\n"
            )
    return "".join(out)


def _indent(text: str, width: int) -> str:
    """Jinja's ``indent`` filter: every line but the first, blank lines left alone."""
    pad = " " * width
    lines = text.split("\n")
    return "\n".join([lines[0]] + [pad + line if line else line for line in lines[1:]])


def _tojson(value: Any) -> str:
    """Jinja's ``tojson`` filter (sorted keys; <, >, & and ' escaped)."""
    return (
        json.dumps(value, sort_keys=True).replace("<", "\\u003c").replace(">", "\\u003e")
        .replace("&", "\\u0026").replace("'", "\\u0027")
    )


def _fenced(text: str, language: str) -> str:
    fence = md_fence(text)
    return f"{fence}{language}\n{text}\n{fence}\n"


def event_markdown(
    *, header_html: str, event, types: dict[str, Any], roots: dict, outcome, call_js: str | None,
    sample_args: list, properties: list[dict[str, Any]],
) -> str:
    inputs = ", ".join(event.inputs)
    plural = len(event.inputs) > 1
    out = [header_html, "\n# ", md_cell(event.label), "\n\n"]
    if event.description:
        out += [md_cell(event.description), "\n\n"]
    metric = md_cell(js_literal(event.metric)) + ", " if event.method == "track" else ""
    out.append(
        "| | |\n|---|---|\n"
        f"| klaviyo call | `klaviyo.{event.method}({metric}payload)` |\n"
        f"| function | `klaviyoSnippets.{event.function}({inputs})` |\n"
        f"| HTML snippet | [snippets/{event.slug}.html](../snippets/{event.slug}.html) |\n"
    )
    if event.also:
        out.append("| also fires | " + ", ".join(f"`{key}`" for key in event.also) + " |\n")
    out.append("\n## How it fires\n\n")
    for t in event.triggers:
        if t.kind == "call":
            objects = f" with your platform's {' and '.join(event.inputs)} object{'s' if plural else ''}" if event.inputs else ""
            out.append(f"- Your code calls `klaviyoSnippets.{event.function}({inputs})`{objects}.\n")
        elif t.kind == "load":
            islands = " and ".join(f'`<script type="application/json" data-klaviyo="{name}">`' for name in event.inputs)
            out.append(f"- On page load, when {islands} {'are' if plural else 'is'} on the page.\n")
        elif t.kind == "click":
            bound = f", which becomes `{t.input}`" if t.input else ""
            out.append(f"- On a click on (or inside) an element matching {md_cell(js_literal(t.selector))}{bound}.\n")
        elif t.kind == "submit":
            bound = f"; its fields (name: value) become `{t.input}`" if t.input else ""
            out.append(f"- When a form matching {md_cell(js_literal(t.selector))} is submitted{bound}.\n")
        elif t.kind == "datalayer":
            out.append(f"- When the page pushes the event {md_cell(js_literal(t.event))} to its data layer (`window.dataLayer`, "
                       f"as Google Tag Manager or gtag.js fill it; pushes made before the code loaded are replayed once), "
                       f"which becomes `{t.input}`.\n")
        elif t.kind == "route":
            bound = f"; the route's match `{{path, params}}` becomes `{t.input}`" if t.input else ""
            out.append(f"- Once per route view whose path matches {md_cell(js_literal(t.path))}: on page load and on each "
                       f"`history.pushState`, `replaceState`, back or forward that changes the path, once the new view's data "
                       f"islands are on the page (`klaviyo-snippets docs spa`){bound}.\n")
    if event.once is not None and not event.once[1]:
        key = ", ".join(md_cell(js_literal(name)) for name in event.once[0]) or "whole payload"
        out.append(f"- Once per route view: a repeat with the same {key} in the same view of a single-page app "
                   f"is not sent again (`once: {{per: view}}`, `klaviyo-snippets docs spa`).\n")
    elif event.once is not None:
        key = ", ".join(md_cell(js_literal(name)) for name in event.once[0]) or "whole payload"
        out.append(f"- Once per action: a repeat with the same {key} within {event.once[1]:g} s of the first "
                   f"send is not sent again (`once:`).\n")
    if any(t.kind in ("click", "submit", "datalayer", "route") for t in event.triggers):
        out.append("- Inputs not bound to the element or form come from their data islands.\n")
    out.append(
        "\n## Properties\n\n"
        "| property | type | required | source | description |\n"
        "|---|---|---|---|---|\n"
    )
    for row in properties:
        out.append(
            f"| {md_cell(row['name'])} | {row['type']} | {'yes' if row['required'] else 'no'} | "
            f"{row['source']} | {md_cell(row['description'])} |\n"
        )
    out.append(
        "\nA value of the wrong type that cannot be converted is left out with a console warning; a\n"
        "missing required property stops the event (nothing is sent; the console says what was missing).\n\n"
    )
    if outcome:
        when = ""
        if roots.get("now") is not None:
            when += f", at unix time {roots['now']}"
        if roots.get("page") is not None:
            when += f", on page {md_cell(_tojson(roots['page']))}"
        out.append(f"## Sample\n\nInput (the sample data named in the plan{when}):\n\n")
        args = ", ".join(js_literal(arg, indent=2) for arg in sample_args)
        out.append(_fenced(f"klaviyoSnippets.{event.function}({args});", "js"))
        out.append("\n")
        warnings = md_cell("; ".join(outcome.warnings))
        if outcome.sent:
            out.append("What the klaviyo object receives:\n\n")
            out.append(_fenced(call_js, "js"))
        else:
            out.append(f"Not sent: {warnings}\n")
        if outcome.warnings and outcome.sent:
            out.append(f"\nConsole warnings: {warnings}\n")
        out.append("\n")
    out.append("## Types\n\n")
    out.append(_fenced(f"interface {types['type_name']}Payload {types['payload']}", "ts"))
    return "".join(out)
