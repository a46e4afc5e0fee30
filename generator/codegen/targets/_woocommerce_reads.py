"""What a plan reads of WooCommerce's and WordPress's objects, checked against their documented
fields (``snippets/targets/woocommerce/objects.yaml``).

An event's input reaches a WooCommerce page one of two ways, each with a documented shape:

* a data island the plugin prints (`ISLANDS`): the Store API's JSON for the product, the product
  category, the cart (every page) and the checkout (the cart, on the checkout page), or
  WordPress's user and search; only the paths the plan reads are printed;
* the Added to Cart glue's call: ``(cart, item)``, the Store API cart and its added item.

A path that the object does not document is a `PlanError` naming the target, the object and its
fields. The walk over a plan's paths is `_shopify_reads`' (the same plan language); only the
objects differ.
"""

from __future__ import annotations

import difflib
import functools

import yaml

from klaviyo_snippets.generator.codegen.targets._shopify_reads import (
    Node, Reads, _a, _insert, _island_inputs, _paths, _pointer, _tokens, _where,
)
from klaviyo_snippets.generator.plan import Plan, PlanError, Property, shown_path
from klaviyo_snippets.generator.resources import snippets_dir

__all__ = ["ISLANDS", "GLUE_METRIC", "Node", "Reads", "reads", "objects"]

#: input name -> (where its shape is documented, the object)
ISLANDS = {
    "customer": ("wordpress", "customer"),
    "cart": ("store", "cart"),
    "product": ("store", "product"),
    "category": ("store", "product_category"),
    "checkout": ("store", "cart"),
    "search": ("wordpress", "search"),
}
GLUE_METRIC = "Added to Cart"
GLUE_INPUTS = {"cart": ("store", "cart"), "item": ("store", "cart_item")}
_LEAVES = {"string", "number", "boolean", "object", "string[]", "number[]"}
_TARGET = "--target woocommerce"
_WHAT = {"store": "Store API JSON", "wordpress": "WordPress"}


@functools.cache
def objects() -> dict[str, dict[str, dict[str, str]]]:
    """{"store": {object: {field: type}}, "wordpress": {...}}, from objects.yaml."""
    with (snippets_dir() / "targets" / "woocommerce" / "objects.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def reads(plan: Plan) -> Reads:
    """Every path the plan reads from a WooCommerce object, checked; ``islands`` holds what is
    read of each island (the glue's inputs are passed whole)."""
    found = Reads()
    by_key = {event.key: event for event in plan.events}
    for event in plan.events:
        names = _island_inputs(event)
        unknown = sorted(names - set(ISLANDS))
        if unknown:
            raise PlanError(
                f"{_TARGET}: {event.label} reads the data island {unknown[0]!r}, and the plugin has no "
                "WooCommerce object to print it from",
                where=_where(plan, event.pointer + "/inputs"),
                hint=f"name the input after the object it holds: {', '.join(ISLANDS)}")
        if event.metric == GLUE_METRIC and event.method == "track":
            if tuple(event.inputs) != tuple(GLUE_INPUTS):
                raise PlanError(
                    f"{_TARGET}: the glue calls {event.label} as {event.function}(cart, item) with the Store "
                    f"API cart and the item added, but its inputs are {list(event.inputs)}",
                    where=_where(plan, event.pointer + "/inputs"), hint="write inputs: [cart, item]")
            found.glue = event
            shapes, passed_whole = dict(GLUE_INPUTS), True
        else:
            shapes, passed_whole = {name: ISLANDS[name] for name in names}, False
        for fired in [event, *(by_key[key] for key in event.also)]:
            renamed = {fired.inputs[i]: (name, *shapes[name]) for i, name in enumerate(event.inputs)
                       if name in shapes and i < len(fired.inputs)}
            for path, prop in _paths(fired.properties):
                root, _, rest = path.partition(".")
                if root not in renamed:
                    continue
                island, kind, obj = renamed[root]
                node = _check(plan, prop, path, kind, obj, rest)
                if not passed_whole:
                    _insert(found.islands.setdefault(island, Node(obj)), node, plan, prop)
    return found


def _check(plan: Plan, prop: Property, path: str, kind: str, obj: str, rest: str) -> Node:
    table = objects()[kind]
    top = node = Node(obj)
    here = path.partition(".")[0]
    for token in _tokens(rest):
        t = node.type
        if t == "object":  # free-form (attributes, extensions): passed through whole
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
            raise PlanError(f"{_TARGET}: {shown_path(path)} reads {here} as a list, but it is {_a(t)}",
                            where=_where(plan, _pointer(prop)), hint=f"{here} is documented as {_a(t)}")
        node.kids[token] = child
        node = child
    if prop.type == "line_items" and node.type.endswith("[]") and path in (prop.source.paths or ()):
        node.kids[("e",)] = Node(node.type[:-2])  # a list of lines: its item's properties read their fields
        return top
    if node.type not in _LEAVES:
        fields = table.get(node.type.removesuffix("[]"), {})
        example = next(iter(sorted(fields)), "id")
        read = f"{here}[0].{example}" if node.type.endswith("[]") else f"{here}.{example}"
        raise PlanError(
            f"{_TARGET}: {shown_path(path)} reads {here} whole, {_a(node.type)}: the data island "
            "prints the fields a plan reads, not whole objects",
            where=_where(plan, _pointer(prop)),
            hint=f"read its fields, e.g. {read}; {node.type.removesuffix('[]')} has: {', '.join(sorted(fields))}")
    node.leaf = True
    return top


def _no_field(plan, prop, path, here, t, name, fields, kind) -> PlanError:
    if fields is None:
        return PlanError(f"{_TARGET}: {shown_path(path)} reads {name!r} of {here}, which is {_a(t)} (no fields)",
                         where=_where(plan, _pointer(prop)), hint=f"end the path at {here}")
    close = difflib.get_close_matches(name, fields, n=1)
    table = objects()[kind]
    nested = [f"{here}.{f}{'[0]' if ft.endswith('[]') else ''}.{name}" for f, ft in sorted(fields.items())
              if name in table.get(ft.removesuffix("[]"), {})]
    suggestion = f"it is at {' or '.join(nested[:4])}; " if nested else f"did you mean {close[0]!r}? " if close else ""
    return PlanError(f"{_TARGET}: {shown_path(path)}: WooCommerce's {t} ({_WHAT[kind]}) has no field {name!r}",
                     where=_where(plan, _pointer(prop)), hint=suggestion + f"{t} has: {', '.join(sorted(fields))}")
