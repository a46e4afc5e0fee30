"""Data islands for the platform targets (shopify, bigcommerce, woocommerce): what a plan reads of
a platform's objects, checked against their documented fields, and the template text that writes
what is read as JSON.

An event's input reaches a platform's page one of two ways, each with a documented shape
(``snippets/targets/NAME/objects.yaml``: ``{kind: {object: {field: type}}}``):

* a data island, which the theme or plugin renders from one of the platform's objects
  (`Platform.islands`) with only the paths the plan reads, or whole for a kind in
  `Platform.whole` (Shopify's ``{{ cart | json }}``);
* the glue's call of Added to Cart (`GLUE_METRIC`): ``(cart, item)``, passed whole
  (`Platform.glue`).

`reads` walks every path of a plan the same way for each platform; a target gives only its
`Platform`. A path the object does not document is a `PlanError` naming the target, the object
and its fields. What is read of each island comes back as a tree (`Node`), which the target
writes in its own template language (`json_template` for Liquid and Handlebars).
"""

from __future__ import annotations

import difflib
import functools
import json
from dataclasses import dataclass, field
from typing import Callable

import yaml

from klaviyo_snippets.generator.plan import Event, Plan, PlanError, Property, is_index_part, shown_path
from klaviyo_snippets.generator.resources import snippets_dir

__all__ = ["GLUE_METRIC", "LEAVES", "Node", "Platform", "Reads", "Syntax", "json_key", "json_template", "objects",
           "reads"]

#: The event a platform's cart glue calls after an add, as ``FUNCTION(cart, item)``.
GLUE_METRIC = "Added to Cart"
#: Types an island renders as they are; an object is read field by field ("object" is free-form).
LEAVES = frozenset({"string", "number", "boolean", "object", "string[]", "number[]"})


@dataclass(frozen=True)
class Platform:
    """What a target's islands are made from, and how its messages name them."""

    #: the target (``--target NAME``) and the folder of its objects.yaml
    name: str
    #: input name -> (the kind of object: a top key of objects.yaml, the object)
    islands: dict[str, tuple[str, str]]
    #: how messages name the objects: "Shopify's" product
    owner: str
    #: why an input with no island is refused: "... reads the data island 'x', and {no_island}"
    no_island: str
    #: "name the input after {holds} it holds: ..."
    holds: str
    #: kind -> how a "no field" message names it ("Liquid object"); a kind left out is not named
    kinds: dict[str, str] = field(default_factory=dict)
    #: what an island does with the fields: it "renders" (a theme) or "prints" (a plugin) them
    verb: str = "renders"
    #: leaf types besides `LEAVES` (Shopify's and Stencil's image, written as its URL)
    leaves: frozenset[str] = frozenset()
    #: kinds whose islands are rendered whole, not narrowed to the paths read
    whole: frozenset[str] = frozenset()
    #: Added to Cart's inputs when the glue calls it: {"cart": (kind, object), "item": (kind, object)}
    glue: dict[str, tuple[str, str]] | None = None
    #: the glue's call, for an Added to Cart with other inputs: "{label}", "{function}" filled in
    glue_call: str = ""

    @property
    def target(self) -> str:
        return f"--target {self.name}"


@functools.cache
def objects(name: str) -> dict[str, dict[str, dict[str, str]]]:
    """{kind: {object: {field: type}}}, from ``snippets/targets/NAME/objects.yaml``."""
    with (snippets_dir() / "targets" / name / "objects.yaml").open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


@dataclass
class Node:
    """One place in an object that a plan reads: its documented type, and what is read below it
    (a field ``("f", name)``, an element ``("i", n)``, every element ``("e",)``). ``leaf``: the
    value itself is read here. In what `reads` returns, a list read by every element and by
    index holds only ``("e",)``, each element with every field read of any."""

    type: str
    kids: dict[tuple, "Node"] = field(default_factory=dict)
    leaf: bool = False


@dataclass
class Reads:
    #: island name -> what is read of it, in the order of `Platform.islands`
    islands: dict[str, Node] = field(default_factory=dict)
    #: the islands rendered whole (a kind in `Platform.whole`) that a trigger reads
    whole: set[str] = field(default_factory=set)
    #: the event the glue calls after an add (its metric is `GLUE_METRIC`), if any
    glue: Event | None = None


def reads(plan: Plan, platform: Platform) -> Reads:
    """Every path the plan reads from the platform's objects, checked (a `PlanError` for a path
    the object does not document, or an input the platform has no object for). Every input a
    trigger reads gets its island, even when no field of it is read: the trigger waits for it."""
    found = Reads()
    by_key = {event.key: event for event in plan.events}
    for event in plan.events:
        names = set(event.island_inputs)
        unknown = sorted(names - set(platform.islands))
        if unknown:
            raise PlanError(
                f"{platform.target}: {event.label} reads the data island {unknown[0]!r}, and {platform.no_island}",
                where=_where(plan, event.pointer + "/inputs"),
                hint=f"name the input after {platform.holds} it holds: {', '.join(platform.islands)}",
            )
        if platform.glue and event.metric == GLUE_METRIC and event.method == "track":
            if tuple(event.inputs) != tuple(platform.glue):
                call = platform.glue_call.format(label=event.label, function=event.function)
                raise PlanError(f"{platform.target}: {call}, but its inputs are {list(event.inputs)}",
                                where=_where(plan, event.pointer + "/inputs"),
                                hint=f"write inputs: [{', '.join(platform.glue)}]")
            found.glue = event
            shapes = platform.glue  # the glue's arguments are passed whole
        else:
            shapes = {name: platform.islands[name] for name in names}
        narrowed = {name for name in names if platform.islands[name][0] not in platform.whole}
        found.whole |= names - narrowed
        for name in narrowed:
            found.islands.setdefault(name, Node(platform.islands[name][1]))
        for fired in [event, *(by_key[key] for key in event.also)]:
            # an event fired with this one (also:) gets the same arguments (the plan's rules give
            # it the same inputs, in the same order)
            renamed = {fired.inputs[i]: name for i, name in enumerate(event.inputs)
                       if name in shapes and i < len(fired.inputs)}
            for path, prop in _paths(fired.properties):
                root, _, rest = path.partition(".")
                if root in renamed:
                    name = renamed[root]
                    node = _check(platform, plan, prop, path, *shapes[name], rest)
                    if name in narrowed:
                        _insert(found.islands[name], node, plan, prop, platform)
    found.islands = {name: _folded(found.islands[name]) for name in platform.islands if name in found.islands}
    return found


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


def _check(platform: Platform, plan: Plan, prop: Property, path: str, kind: str, obj: str, rest: str) -> Node:
    """The path as a chain of nodes under its root (``obj``), each with its documented type."""
    table = objects(platform.name)[kind]
    top = node = Node(obj)
    here = path.partition(".")[0]
    for token in _tokens(rest):
        t = node.type
        if t == "object":  # free-form (attributes, extensions): passed through whole
            break
        if token[0] == "f":
            fields = table.get(t)
            if fields is None or token[1] not in fields:
                raise _no_field(platform, plan, prop, path, here, t, token[1], fields, kind)
            child = Node(fields[token[1]])
            here += "." + token[1]
        elif t.endswith("[]"):
            child = Node(t[:-2])
            here += "[]" if token[0] == "e" else f"[{token[1]}]"
        else:
            raise PlanError(f"{platform.target}: {shown_path(path)} reads {here} as a list, but it is {_a(t)}",
                            where=_where(plan, _pointer(prop)), hint=f"{here} is documented as {_a(t)}")
        node.kids[token] = child
        node = child
    if prop.type == "line_items" and node.type.endswith("[]") and path in prop.source.paths:
        node.kids[("e",)] = Node(node.type[:-2])  # a list of lines: its item's properties read their fields
        return top
    if kind not in platform.whole and node.type not in LEAVES | platform.leaves:
        fields = table.get(node.type.removesuffix("[]"), {})
        example = next(iter(sorted(fields)), "id")
        read = f"{here}[0].{example}" if node.type.endswith("[]") else f"{here}.{example}"
        raise PlanError(
            f"{platform.target}: {shown_path(path)} reads {here} whole, {_a(node.type)}: the data island "
            f"{platform.verb} the fields a plan reads, not whole objects",
            where=_where(plan, _pointer(prop)),
            hint=f"read its fields, e.g. {read}; {node.type.removesuffix('[]')} has: {', '.join(sorted(fields))}")
    node.leaf = True
    return top


def _insert(into: Node, chain: Node, plan: Plan, prop: Property, platform: Platform) -> None:
    if chain.leaf:
        into.leaf = True
    for token, child in chain.kids.items():
        _insert(into.kids.setdefault(token, Node(child.type)), child, plan, prop, platform)
    if into.leaf and into.kids and into.type == "image":
        raise PlanError(f"{platform.target}: the plan reads an image both as its URL and by its fields",
                        where=_where(plan, _pointer(prop)),
                        hint="read the image's URL (a path ending at the image), or its fields (src, alt...), not both")


def _folded(node: Node) -> Node:
    """`node` with the elements a list reads by index folded into its every element, when it
    has one: the mapped list holds them."""
    kids = {token: _folded(kid) for token, kid in node.kids.items()}
    if ("e",) in kids:
        for token in [token for token in kids if token[0] == "i"]:
            kids[("e",)] = _merged(kids[("e",)], kids.pop(token))
    return Node(node.type, kids, node.leaf)


def _merged(a: Node, b: Node) -> Node:
    out = Node(a.type, dict(a.kids), a.leaf or b.leaf)
    for token, kid in b.kids.items():
        out.kids[token] = _merged(out.kids[token], kid) if token in out.kids else kid
    return out


def _no_field(platform: Platform, plan: Plan, prop: Property, path: str, here: str, t: str, name: str,
              fields: dict[str, str] | None, kind: str) -> PlanError:
    if fields is None:
        return PlanError(f"{platform.target}: {shown_path(path)} reads {name!r} of {here}, which is {_a(t)} (no fields)",
                         where=_where(plan, _pointer(prop)), hint=f"end the path at {here}")
    table = objects(platform.name)[kind]
    # The field one object further down (product.sku is a variant's; not when most objects below
    # have it, as every money object has a value), else a near spelling.
    nested = [f"{here}.{f}{'[0]' if ft.endswith('[]') else ''}.{name}" for f, ft in sorted(fields.items())
              if name in table.get(ft.removesuffix("[]"), {})]
    close = difflib.get_close_matches(name, fields, n=1)
    suggestion = (f"it is at {' or '.join(nested)}; " if 0 < len(nested) <= 4
                  else f"did you mean {close[0]!r}? " if close else "")
    what = f" ({platform.kinds[kind]})" if kind in platform.kinds else ""
    return PlanError(f"{platform.target}: {shown_path(path)}: {platform.owner} {t}{what} has no field {name!r}",
                     where=_where(plan, _pointer(prop)), hint=suggestion + f"{t} has: {', '.join(sorted(fields))}")


def _a(t: str) -> str:
    return f"a list of {t[:-2]}" if t.endswith("[]") else f"{'an' if t[0] in 'aeiou' else 'a'} {t}"


def _pointer(prop: Property) -> str:
    src = prop.source
    return prop.pointer + ("/from" if src.kind == "path" else f"/derive/{src.op}" if src.kind == "derive" else "")


def _where(plan: Plan, pointer: str) -> str | None:
    return plan.marked.where(pointer) if plan.marked else str(plan.path)


# --------------------------------------------------------------------------- writing an island


@dataclass(frozen=True)
class Syntax:
    """How a template language writes an island's JSON: ``index(expr, n)`` is element n of a
    list, ``loop(expr, depth)`` is (the opening that writes a comma before each element but the
    first, the element's name, the closing), ``leaf(expr, type, depth)`` writes a value as JSON."""

    index: Callable[[str, int], str]
    loop: Callable[[str, int], tuple[str, str, str]]
    leaf: Callable[[str, str, int], str]


def json_template(node: Node, expr: str, syntax: Syntax, depth: int = 0) -> str:
    """Template text that writes, as JSON, what the plan reads at ``node`` of the value ``expr``."""
    if node.leaf:
        return syntax.leaf(expr, node.type, depth)
    pad = "  " * depth
    if ("e",) in node.kids:  # every element
        start, var, end = syntax.loop(expr, depth)
        return (f"[\n{pad}  {start}\n{pad}  {json_template(node.kids[('e',)], var, syntax, depth + 1)}\n"
                f"{pad}  {end}\n{pad}]")
    if node.type.endswith("[]"):  # elements by index only: [element 0, element 1, ...], null where unread
        last = max(token[1] for token in node.kids)
        items = [json_template(node.kids[("i", i)], syntax.index(expr, i), syntax, depth + 1)
                 if ("i", i) in node.kids else "null" for i in range(last + 1)]
        return "[\n" + ",\n".join(f"{pad}  {item}" for item in items) + f"\n{pad}]"
    fields = [f"{pad}  {json_key(token[1])}: {json_template(kid, f'{expr}.{token[1]}', syntax, depth + 1)}"
              for token, kid in node.kids.items()]
    return "{\n" + ",\n".join(fields) + f"\n{pad}}}"


def json_key(name: str) -> str:
    """A JSON key in a template: JSON-escaped, with no < > & and no template delimiter."""
    text = json.dumps(name, ensure_ascii=True)
    for bad, good in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"), ("{", "\\u007b"), ("}", "\\u007d")):
        text = text.replace(bad, good)
    return text
