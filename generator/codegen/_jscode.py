"""Each event as data for the bundle's small interpreter (``snippets/templates/bundle.js.j2``).

An event becomes ``F(metric or [method], [inputs], [properties], [triggers], [also], output
order)``, trailing empty arguments left out; a property ``[name, type code, source, nested
properties, their order, constant or default]``. A source is a path string (".title" is short
for a path into the scope's default root: the event's first input, or in line items the line),
or ``[helper, arguments...]`` for a derived value, whose text arguments are paths the runtime
resolves before the call (``[Mu, 2, ".price"]``: minor units with 2 digits; ``[Au, "page.url",
".url"]``: a URL made absolute against the page): only the helpers a plan uses are in its
bundle. A constant (``value:``) or a default is JSON text the runtime parses for each payload.
Every plan value reaches the code through `js_literal` (see ``_escape``); the events are joined
as plain strings, one per event.
"""

from __future__ import annotations

import json

from klaviyo_snippets.generator.codegen._escape import js_comment, js_literal
from klaviyo_snippets.generator.plan import MINOR_DIGITS, PAGE_FIELDS, Event, Property, dependency_order

__all__ = ["event_args", "event_code", "form_fields", "TYPE_CODES", "plan_features"]

TYPE_CODES = {
    "string": "s", "number": "n", "boolean": "b", "date": "d",
    "string_list": "l", "line_items": "i", "object": "o",
}
INDENT = "  "


def _short(path: str, root: str | None) -> str:
    """Paths into the scope's default root (the first input; in line items, the line) are
    written ".title" instead of "product.title": the runtime keeps that root under ""."""
    if not root:
        return path
    prefix = root + "."
    if "|" not in path:
        return path[len(root):] if path.startswith(prefix) else path
    return "|".join(p[len(root):] if p.startswith(prefix) else p for p in path.split("|"))


def _source(prop: Property, root: str | None) -> str:
    """The source as JavaScript: a path string, ``[helper, arguments...]`` (text arguments are
    paths, the runtime resolves them before the call), or null/0 when there is none (a constant
    or a default is the property's sixth element; nested properties build an object)."""
    src = prop.source
    kind = src.kind
    if kind == "properties":
        return "0"
    if kind == "path":
        return js_literal(_short("|".join(src.paths), root))
    if kind == "value":
        return "null"
    if src.op == "union":
        return "[U, " + ", ".join(js_literal(_short(p, root)) for p in src.paths) + "]"
    if src.op == "sum":
        return f"[Z, {10 ** src.digits}, {js_literal(_short(src.paths[0], root))}]"
    if src.op == "count":
        return f"[Ct, {js_literal(_short(src.paths[0], root))}]"
    if src.op == "minor_units":  # [Mu, digits, value path(s), the currency code's path]
        code = f", {js_literal(_short(src.currency_path, root))}" if src.currency_path else ""
        return f"[Mu, {src.digits}, {js_literal(_short('|'.join(src.paths), root))}{code}]"
    if src.op == "absolute_url":  # [Au, the page's URL, value path(s)]
        return f"[Au, \"page.url\", {js_literal(_short('|'.join(src.paths), root))}]"
    if src.op == "format":
        texts, paths, pending = [], [], ""
        for k, part in src.parts:
            if k == "text":
                pending += part
            else:
                texts.append(pending)
                pending = ""
                paths.append(js_literal(_short(part, root)))
        texts.append(pending)
        return f"[Fm, {js_literal(texts)}, {', '.join(paths)}]"
    raise AssertionError(src)  # pragma: no cover - the plan loader allows nothing else


def _constant(prop: Property) -> str | None:
    """A constant (``value:``) or a default, as JSON text the runtime parses on each call (so
    every payload gets its own copy)."""
    if prop.source.kind == "value":
        value = prop.source.value if prop.source.value is not None or not prop.has_default else prop.default
    elif prop.has_default and prop.source.kind != "properties":
        value = prop.default
    else:
        return None
    if value is None:
        return None
    return js_literal(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _ordered(props: tuple[Property, ...]) -> tuple[tuple[Property, ...], str | None]:
    """The computing order, and the output order as indexes into it when they differ."""
    computed = dependency_order(props)
    if computed is props or all(a is b for a, b in zip(computed, props)):
        return props, None
    index = {p.name: i for i, p in enumerate(computed)}
    return computed, js_literal([index[p.name] for p in props])


def _props(props: tuple[Property, ...], depth: int, root: str | None) -> tuple[str, str | None]:
    pad = INDENT * (depth + 1)
    computed, order = _ordered(props)
    rows = []
    for prop in computed:
        code = TYPE_CODES[prop.type]
        if prop.required:
            code = code.upper()
        parts = [f'{pad}[{js_literal(prop.name)}, "{code}", {_source(prop, root)}']
        if prop.children:
            children, child_order = _props(prop.children, depth + 1, "line" if prop.type == "line_items" else root)
            parts += [children, child_order or "0"]
        constant = _constant(prop)
        if constant:
            parts += ["0", "0"][len(parts) - 1:] + [constant]
        while parts[-1] == "0":
            parts.pop()
        rows.append(", ".join(parts) + "]")
    return "[\n" + ",\n".join(rows) + "\n" + INDENT * depth + "]", order


def _triggers(event: Event) -> str | None:
    out = []
    for t in event.triggers:
        if t.kind == "load":
            out.append('["load"]')
        elif t.kind in ("click", "submit"):
            out.append(js_literal([t.kind, t.selector] + ([t.input] if t.input else [])))
        elif t.kind == "datalayer":
            out.append(js_literal([t.kind, t.event, t.input]))
        elif t.kind == "route":
            out.append(js_literal([t.kind, t.path] + ([t.input] if t.input else [])))
    return "[" + ", ".join(out) + "]" if out else None


def event_args(event: Event) -> str:
    """The arguments of ``F(...)`` for one event, laid out for reading."""
    props, order = _props(event.properties, 1, event.inputs[0] if event.inputs else None)
    call = js_literal(event.metric) if event.method == "track" else js_literal([event.method])
    also = js_literal([_fn(key) for key in event.also]) if event.also else None
    once = None if event.once is None else js_literal([list(event.once[0]) or 0, round(event.once[1] * 1000)])
    args = [call, js_literal(list(event.inputs)), props, _triggers(event), also, order, once]
    while args[-1] is None:
        args.pop()
    return ", ".join("0" if a is None else a for a in args)


def event_code(event: Event) -> str:
    """One event's statement in the bundle, with its label and description as a comment."""
    note = js_comment(event.label + (f": {event.description}" if event.description else ""))
    return f"\n  /* {note} */\n  S.{event.function} = F({event_args(event)});\n"


def form_fields(event: Event, bound: str) -> list[str]:
    """The names of the form fields an event reads from its submit-bound input (``share.recipients``
    -> ``recipients``), in the order the plan first mentions them."""
    names: list[str] = []

    def walk(props: tuple[Property, ...]) -> None:
        for prop in props:
            for path in prop.source.paths:
                parts = path.split(".")
                if parts[0] == bound and len(parts) > 1 and parts[1].removesuffix("[]") not in names:
                    names.append(parts[1].removesuffix("[]"))
            walk(prop.children)

    walk(event.properties)
    return names


def _fn(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest if part)


def plan_features(events) -> dict:
    """Which optional parts of the runtime the plan needs (the bundle leaves the rest out)."""
    types: set[str] = set()
    ops: set[str] = set()
    page: set[str] = set()
    kinds: set[str] = set()
    nested = also = currencies = False

    def walk(props):
        nonlocal nested, currencies
        for prop in props:
            src = prop.source
            types.add(TYPE_CODES[prop.type])
            if src.op:
                ops.update((src.op, "derive"))
            if src.op == "absolute_url":
                page.add("url")
            currencies = currencies or bool(src.currency_path)
            if src.kind == "value" or (prop.has_default and src.kind != "properties"):
                ops.add("value")
            if prop.children:
                nested = True
                walk(prop.children)
            for path in src.paths:
                if "page" in path:
                    for alternative in path.split("|"):
                        head, _, rest = alternative.partition(".")
                        if head == "page":
                            page.add(rest.split(".", 1)[0].removesuffix("[]") if rest else "")

    for event in events:
        walk(event.properties)
        also = also or bool(event.also)
        kinds.update(t.kind for t in event.triggers)
    fields = list(PAGE_FIELDS) if "" in page else [f for f in PAGE_FIELDS if f in page]
    return {
        "types": sorted(types), "ops": sorted(ops), "page_fields": fields, "nested": nested,
        "has_also": also, "triggers": bool(kinds - {"call"}), "has_load": "load" in kinds,
        "has_submit": "submit" in kinds, "has_dom": bool(kinds & {"click", "submit"}),
        "has_datalayer": "datalayer" in kinds, "has_once": any(event.once is not None for event in events),
        # route views: a route trigger, or once per view (once: {per: view})
        # an identify read from a data island on page load: it goes before any other event
        "has_early_identify": any(e.method == "identify" and any(t.kind == "load" for t in e.triggers) for e in events),
        "has_route": "route" in kinds, "has_views": "route" in kinds or any(e.once and not e.once[1] for e in events),
        # ISO 4217's digits for the codes that do not have 2, when a plan reads a page's code
        "currencies": js_literal(MINOR_DIGITS) if currencies else None,
    }
