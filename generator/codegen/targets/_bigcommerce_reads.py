"""What a plan reads of BigCommerce's Stencil context, checked against its documented fields.

Every event input that a page-load, click or submit trigger reads is a data island rendered
from one of Stencil's context objects (`ISLANDS`: product, category, customer, cart), field by
field: only the paths the plan reads. Their documented shapes are
``snippets/targets/bigcommerce/objects.yaml``. A path the object does not document is a
`PlanError` naming the target, the object and its fields. What is read comes back as one tree
(`Node`, shared with the Shopify target) per island, which `_bigcommerce` writes as Handlebars.
"""

from __future__ import annotations

import difflib
import functools

import yaml

from klaviyo_snippets.generator.codegen.targets._shopify_reads import (
    Node, _a, _island_inputs, _paths, _pointer, _tokens, _where,
)
from klaviyo_snippets.generator.plan import Plan, PlanError, shown_path
from klaviyo_snippets.generator.resources import snippets_dir

__all__ = ["ISLANDS", "reads", "objects"]

#: input name -> (the Stencil object, the page it is on, for the partial's comment)
ISLANDS = {
    "customer": ("customer", "every page, for a logged-in customer"),
    "product": ("product", "product pages"),
    "category": ("category", "category pages"),
    "cart": ("cart", "the cart page"),
}
#: Leaves an island can render (an image as its URL; other objects field by field).
_LEAVES = {"string", "number", "boolean", "object", "string[]", "number[]", "image", "image[]"}
_TARGET = "--target bigcommerce"


@functools.cache
def objects() -> dict[str, dict[str, str]]:
    """{object: {field: type}}, from objects.yaml."""
    with (snippets_dir() / "targets" / "bigcommerce" / "objects.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)["stencil"]


def reads(plan: Plan) -> dict[str, Node]:
    """Island name -> what the plan reads of it, every path checked (a `PlanError` for a path the
    object does not document, or an input Stencil has no object for)."""
    found: dict[str, Node] = {}
    by_key = {event.key: event for event in plan.events}
    for event in plan.events:
        names = _island_inputs(event)
        unknown = sorted(names - set(ISLANDS))
        if unknown:
            raise PlanError(
                f"{_TARGET}: {event.label} reads the data island {unknown[0]!r}, and Stencil has no context "
                "object the theme can render it from",
                where=_where(plan, event.pointer + "/inputs"),
                hint=f"name the input after the Stencil object it holds: {', '.join(ISLANDS)}",
            )
        for fired in [event, *(by_key[key] for key in event.also)]:
            renamed = {fired.inputs[i]: name for i, name in enumerate(event.inputs)
                       if name in names and i < len(fired.inputs)}
            for path, prop in _paths(fired.properties):
                root, _, rest = path.partition(".")
                if root in renamed and not (prop.type == "line_items" and path == prop.source.paths[0]):
                    # (a list of line items is read by its items' fields, below it)
                    island = renamed[root]
                    node = _check(plan, prop, path, ISLANDS[island][0], rest)
                    _insert(found.setdefault(island, Node(ISLANDS[island][0])), node, plan, prop)
    return {name: found[name] for name in ISLANDS if name in found}


def _check(plan: Plan, prop, path: str, obj: str, rest: str) -> Node:
    table = objects()
    top = node = Node(obj)
    here = path.partition(".")[0]
    for token in _tokens(rest):
        t = node.type
        if t == "object":  # free-form: passed through whole
            break
        if token[0] == "f":
            fields = table.get(t)
            if fields is None or token[1] not in fields:
                raise _no_field(plan, prop, path, here, t, token[1], fields)
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
    if node.type not in _LEAVES:
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


def _insert(into: Node, chain: Node, plan: Plan, prop) -> None:
    if chain.leaf:
        into.leaf = True
    for token, child in chain.kids.items():
        _insert(into.kids.setdefault(token, Node(child.type)), child, plan, prop)


def _no_field(plan, prop, path, here, t, name, fields) -> PlanError:
    if fields is None:
        return PlanError(f"{_TARGET}: {shown_path(path)} reads {name!r} of {here}, which is {_a(t)} (no fields)",
                         where=_where(plan, _pointer(prop)), hint=f"end the path at {here}")
    close = difflib.get_close_matches(name, fields, n=1)
    return PlanError(
        f"{_TARGET}: {shown_path(path)}: Stencil's {t} has no field {name!r}",
        where=_where(plan, _pointer(prop)),
        hint=(f"did you mean {close[0]!r}? " if close else "") + f"{t} has: {', '.join(sorted(fields))}",
    )
