"""What a plan reads of Shopify's objects, checked against their documented fields.

An event's input reaches the page one of three ways on Shopify, and each has a documented shape
(``snippets/targets/shopify/objects.yaml``):

* a data island rendered from a Liquid global (`ISLANDS`: product, collection, search, article,
  customer), field by field: only the paths the plan reads are rendered;
* the cart island, Liquid's ``{{ cart | json }}``, which is the Ajax API's cart (the same JSON
  as ``/cart.js``; the cart glue refreshes it after each cart change);
* the cart glue's call of the Added to Cart event: ``(cart, item)``, the ``/cart.js`` cart and
  the added line.

A path that the object does not document is a `PlanError` naming the target, the object and its
fields. What is read of the Liquid objects comes back as a tree (`Node`) per island, which
`_shopify` writes as Liquid.
"""

from __future__ import annotations

import difflib
import functools
from dataclasses import dataclass, field

import yaml

from klaviyo_snippets.generator.plan import Event, Plan, PlanError, Property, is_index_part, shown_path
from klaviyo_snippets.generator.resources import snippets_dir

__all__ = ["ISLANDS", "GLUE_METRIC", "Node", "Reads", "reads", "objects"]

#: input name -> (where its shape is documented, the object, the Liquid condition for the page)
ISLANDS = {
    "customer": ("liquid", "customer", "customer"),
    "cart": ("ajax", "cart", None),  # every page: a cart drawer's checkout button is on each
    "product": ("liquid", "product", "request.page_type == 'product'"),
    "collection": ("liquid", "collection", "request.page_type == 'collection'"),
    "search": ("liquid", "search", "request.page_type == 'search' and search.performed"),
    "article": ("liquid", "article", "request.page_type == 'article'"),
}
#: The event the cart glue calls after an add, with these inputs and shapes.
GLUE_METRIC = "Added to Cart"
GLUE_INPUTS = {"cart": ("ajax", "cart"), "item": ("ajax", "line_item")}
#: Leaves a Liquid island can render (an image as its URL; objects must be read field by field).
_LIQUID_LEAVES = {"string", "number", "boolean", "object", "string[]", "number[]", "image", "image[]"}
_TARGET = "--target shopify"


@functools.cache
def objects() -> dict[str, dict[str, dict[str, str]]]:
    """{"liquid": {object: {field: type}}, "ajax": {...}}, from objects.yaml."""
    with (snippets_dir() / "targets" / "shopify" / "objects.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@dataclass
class Node:
    """One place in an object that a plan reads: its documented type, and what is read below it
    (a field ``("f", name)``, an element ``("i", n)``, every element ``("e",)``). ``leaf``: the
    value itself is read here."""

    type: str
    kids: dict[tuple, "Node"] = field(default_factory=dict)
    leaf: bool = False


@dataclass
class Reads:
    #: Liquid islands: input name -> what is read of it
    islands: dict[str, Node] = field(default_factory=dict)
    #: the cart island ({{ cart | json }}) is read
    cart: bool = False
    #: the event the cart glue calls after an add (its metric is GLUE_METRIC), if any
    glue: Event | None = None


def reads(plan: Plan) -> Reads:
    """Every path the plan reads from a Shopify object, checked (a `PlanError` for a path the
    object does not document, or an input Shopify has no object for)."""
    found = Reads()
    by_key = {event.key: event for event in plan.events}
    for event in plan.events:
        names = _island_inputs(event)
        unknown = sorted(names - set(ISLANDS))
        if unknown:
            raise PlanError(
                f"{_TARGET}: {event.label} reads the data island {unknown[0]!r}, and Shopify has no object "
                "the theme can render it from",
                where=_where(plan, event.pointer + "/inputs"),
                hint=f"name the input after the Shopify object it holds: {', '.join(ISLANDS)}",
            )
        if event.metric == GLUE_METRIC and event.method == "track":
            if tuple(event.inputs) != tuple(GLUE_INPUTS):
                raise PlanError(
                    f"{_TARGET}: the cart glue calls {event.label} as {event.function}(cart, item) with the "
                    f"cart of /cart.js and the line added, but its inputs are {list(event.inputs)}",
                    where=_where(plan, event.pointer + "/inputs"), hint="write inputs: [cart, item]")
            found.glue = event
            shapes = dict(GLUE_INPUTS)
        else:
            shapes = {name: ISLANDS[name][:2] for name in names}
        found.cart |= "cart" in names
        for fired in [event, *(by_key[key] for key in event.also)]:
            # an event fired with this one (also:) gets the same arguments (the plan's rules give
            # it the same inputs, in the same order)
            renamed = {fired.inputs[i]: (name, *shapes[name]) for i, name in enumerate(event.inputs)
                       if name in shapes and i < len(fired.inputs)}
            for path, prop in _paths(fired.properties):
                root, _, rest = path.partition(".")
                if root not in renamed:
                    continue
                island, kind, obj = renamed[root]
                node = _check(plan, prop, path, kind, obj, rest)
                if kind == "liquid":  # the cart island and the glue's inputs are passed whole
                    _insert(found.islands.setdefault(island, Node(obj)), node, plan, prop)
    return found


def _island_inputs(event: Event) -> set[str]:
    """The inputs a trigger reads from data islands."""
    names: set[str] = set()
    for trigger in event.triggers:
        if trigger.kind == "load":
            names |= set(event.inputs)
        elif trigger.kind in ("click", "submit"):
            names |= {name for name in event.inputs if name != trigger.input}
    return names


def _paths(props: tuple[Property, ...], lines: tuple[str, ...] = ()):
    """(canonical path, property) for every path the properties read; ``line.`` paths inside line
    items become paths over the list they come from (``cart.items[].sku``)."""
    for prop in props:
        src = prop.source
        expanded = []
        for path in (*src.paths, *((src.currency_path,) if src.currency_path else ())):
            head, _, rest = path.partition(".")
            if head == "line":
                expanded += [_each(base) + ("." + rest if rest else "") for base in lines]
            else:
                expanded.append(path)
        for path in expanded:
            yield path, prop
        if prop.children:
            yield from _paths(prop.children, tuple(expanded) if prop.type == "line_items" else lines)


def _each(path: str) -> str:
    return path if path.endswith("[]") else path + "[]"


def _tokens(rest: str) -> list[tuple]:
    out: list[tuple] = []
    for part in rest.split(".") if rest else []:
        each = part.endswith("[]")
        part = part.removesuffix("[]")
        out.append(("i", int(part)) if is_index_part(part) else ("f", part))
        if each:
            out.append(("e",))
    return out


def _check(plan: Plan, prop: Property, path: str, kind: str, obj: str, rest: str) -> Node:
    """The path as a chain of nodes under its root (``obj``), each with its documented type."""
    table = objects()[kind]
    top = node = Node(obj)
    here = path.partition(".")[0]
    for token in _tokens(rest):
        t = node.type
        if t == "object":  # attributes, properties: free-form, passed through whole
            break
        if token[0] == "f":
            fields = table.get(t)
            if fields is None or token[1] not in fields:
                raise _no_field(plan, prop, path, here, t, token[1], fields, kind)
            child = Node(fields[token[1]])
            here += "." + token[1]
        elif t.endswith("[]"):
            child = Node(t[:-2])
            here += "[]" if token[0] == "e" else f"[{token[1]}]"
        else:
            raise PlanError(
                f"{_TARGET}: {shown_path(path)} reads {here} as a list, but it is {_a(t)}",
                where=_where(plan, _pointer(prop)), hint=f"{here} is documented as {_a(t)}")
        node.kids[token] = child
        node = child
    if kind == "liquid" and node.type not in _LIQUID_LEAVES:
        fields = table.get(node.type.removesuffix("[]"), {})
        example = next(iter(sorted(fields)), "id")
        read = f"{here}[0].{example}" if node.type.endswith("[]") else f"{here}.{example}"
        raise PlanError(
            f"{_TARGET}: {shown_path(path)} reads {here} whole, {_a(node.type)}: the data island "
            "renders the fields a plan reads, not whole objects",
            where=_where(plan, _pointer(prop)),
            hint=f"read its fields, e.g. {read}; {node.type.removesuffix('[]')} has: {', '.join(sorted(fields))}")
    node.leaf = True
    return top


def _insert(into: Node, chain: Node, plan: Plan, prop: Property) -> None:
    if chain.leaf:
        into.leaf = True
    for token, child in chain.kids.items():
        _insert(into.kids.setdefault(token, Node(child.type)), child, plan, prop)
    if into.leaf and into.kids and into.type == "image":
        raise PlanError(f"{_TARGET}: the plan reads an image both as its URL and by its fields",
                        where=_where(plan, _pointer(prop)),
                        hint="read the image's URL (a path ending at the image), or its fields (src, alt...), not both")


def _no_field(plan, prop, path, here, t, name, fields, kind) -> PlanError:
    if fields is None:
        return PlanError(f"{_TARGET}: {shown_path(path)} reads {name!r} of {here}, which is {_a(t)} (no fields)",
                         where=_where(plan, _pointer(prop)), hint=f"end the path at {here}")
    what = {"liquid": "Liquid object", "ajax": "Ajax API JSON (/cart.js)"}[kind]
    close = difflib.get_close_matches(name, fields, n=1)
    # The field one object further down: product.sku is a variant's
    table = objects()[kind]
    nested = [f"{here}.{f}{'[0]' if ft.endswith('[]') else ''}.{name}" for f, ft in sorted(fields.items())
              if name in table.get(ft.removesuffix("[]"), {})]
    suggestion = f"did you mean {close[0]!r}? " if close else f"it is at {' or '.join(nested[:4])}; " if nested else ""
    return PlanError(
        f"{_TARGET}: {shown_path(path)}: Shopify's {t} ({what}) has no field {name!r}",
        where=_where(plan, _pointer(prop)),
        hint=suggestion + f"{t} has: {', '.join(sorted(fields))}",
    )


def _a(t: str) -> str:
    return f"a list of {t[:-2]}" if t.endswith("[]") else f"{'an' if t[0] in 'aeiou' else 'a'} {t}"


def _pointer(prop: Property) -> str:
    src = prop.source
    return prop.pointer + ("/from" if src.kind == "path" else f"/derive/{src.op}" if src.kind == "derive" else "")


def _where(plan: Plan, pointer: str) -> str | None:
    return plan.marked.where(pointer) if plan.marked else str(plan.path)
