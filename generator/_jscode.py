"""Each event as data for the bundle's small interpreter (``snippets/templates/bundle.js.j2``).

An event becomes ``F(["track", metric] or [method], [inputs], [properties], output order,
[also], [triggers])``; a property ``[name, type code, source, nested properties, their order]``. A
source is a path string (".title" is short for a path into the scope's default root: the
event's first input, or in line items the line), or, for derived values and constants, a small
function of the path getter ``g``: only the helpers a plan uses are in its bundle. Every plan value reaches the code
through `js_literal` (see ``_escape``).
"""

from __future__ import annotations

from ._escape import js_literal
from ._plan import PAGE_FIELDS, Event, Property, Source, dependency_order

__all__ = ["event_args", "form_fields", "TYPE_CODES", "plan_features"]

TYPE_CODES = {
    "string": "s", "number": "n", "boolean": "b", "date": "d",
    "string_list": "l", "line_items": "i", "object": "o",
}
INDENT = "  "


def _short(path: str, root: str | None) -> str:
    """Paths into the scope's default root (the first input; in line items, the line) are
    written ".title" instead of "product.title": the runtime keeps that root under ""."""
    out = []
    for alternative in path.split("|"):
        head, dot, rest = alternative.partition(".")
        out.append("." + rest if root and dot and head == root else alternative)
    return "|".join(out)


def _g(path: str, root: str | None) -> str:
    return f"g({js_literal(_short(path, root))})"


def _source(prop: Property, root: str | None) -> str:
    """A path string, or a function of the getter g; "0" when nested properties build the value."""
    src: Source = prop.source
    if src.kind == "properties":
        return "0"
    if src.kind == "path" and not prop.has_default:
        return js_literal(_short("|".join(src.paths), root))
    if src.kind == "path":
        expr = _g("|".join(src.paths), root)
    elif src.kind == "value":
        expr = js_literal(src.value)
    elif src.op == "union":
        expr = f"U([{', '.join(_g(p, root) for p in src.paths)}])"
    elif src.op == "sum":
        expr = f"Z({_g(src.paths[0], root)}, {src.digits})"
    elif src.op == "count":
        return (f"function (g) {{ var v = {_g(src.paths[0], root)}; "
                f"return v == null || A(v) ? v && v.length : X; }}")
    elif src.op == "format":
        texts, paths, pending = [], [], ""
        for kind, part in src.parts:
            if kind == "text":
                pending += part
            else:
                texts.append(pending)
                pending = ""
                paths.append(part)
        texts.append(pending)
        expr = f"Fm({js_literal(texts)}, [{', '.join(_g(p, root) for p in paths)}])"
    else:  # pragma: no cover - the plan loader allows nothing else
        raise AssertionError(src)
    if prop.has_default:
        return f"function (g) {{ var v = {expr}; return v == null ? {js_literal(prop.default)} : v; }}"
    return f"function ({'g' if 'g(' in expr else ''}) {{ return {expr}; }}"


def _order(props: tuple[Property, ...]) -> str | None:
    """Output order as indexes into the computed order, or None when they are the same."""
    computed = dependency_order(props)
    if computed == props:
        return None
    index = {p.name: i for i, p in enumerate(computed)}
    return js_literal([index[p.name] for p in props])


def _props(props: tuple[Property, ...], depth: int, root: str | None) -> tuple[str, str | None]:
    pad = INDENT * (depth + 1)
    rows = []
    for prop in dependency_order(props):
        code = TYPE_CODES[prop.type]
        code = code.upper() if prop.required else code
        source = _source(prop, root)
        if not prop.children and source.startswith('"'):  # the common case, in one encoder call
            rows.append(pad + js_literal([prop.name, code, _short("|".join(prop.source.paths), root)], spaced=True))
            continue
        parts = [js_literal(prop.name), js_literal(code), source]
        if prop.children:
            children, order = _props(prop.children, depth + 1, "line" if prop.type == "line_items" else root)
            parts.append(children)
            if order:
                parts.append(order)
        rows.append(f"{pad}[{', '.join(parts)}]")
    return "[\n" + ",\n".join(rows) + "\n" + INDENT * depth + "]", _order(props)


def event_args(event: Event) -> str:
    """The arguments of ``F(...)`` for one event, laid out for reading."""
    props, order = _props(event.properties, 1, event.inputs[0] if event.inputs else None)
    also = [_fn(key) for key in event.also]
    triggers = []
    for t in event.triggers:
        if t.kind == "load":
            triggers.append(["load"])
        elif t.kind == "click":
            triggers.append([t.kind, t.selector] + ([t.input] if t.input else []))
        elif t.kind == "submit":
            triggers.append([t.kind, t.selector] + ([t.input, form_fields(event, t.input)] if t.input else []))
    call = ["track", event.metric] if event.method == "track" else [event.method]
    args = [
        js_literal(call), js_literal(list(event.inputs)), props,
        order or "0", js_literal(also) if also else "0", js_literal(triggers) if triggers else "0",
    ]
    while args[-1] == "0":
        args.pop()
    return ", ".join(args)


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
    nested = False

    def walk(props):
        nonlocal nested
        for prop in props:
            types.add(TYPE_CODES[prop.type])
            if prop.source.op:
                ops.add(prop.source.op)
            if prop.children:
                nested = True
            for path in prop.source.paths:
                for alternative in path.split("|"):
                    head, _, rest = alternative.partition(".")
                    if head == "page":
                        page.add(rest.split(".", 1)[0].removesuffix("[]") if rest else "")
            walk(prop.children)

    for event in events:
        walk(event.properties)
    fields = list(PAGE_FIELDS) if "" in page else [f for f in PAGE_FIELDS if f in page]
    return {"types": sorted(types), "ops": sorted(ops), "page_fields": fields, "nested": nested}
