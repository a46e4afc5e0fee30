"""TypeScript shapes for each event: the payload it sends and the inputs it reads.

Payload types come straight from the plan's property types. Input types are inferred from the
paths the plan reads, so they document exactly which fields of the theme's objects matter and
what the runtime accepts there (it converts "19.99" to 19.99, 1111 to "1111", ...):

* every field is optional and may be `null` (the runtime reads null as missing), and so may each
  input and each element of a list;
* a list read with ``[]`` or ``[N]`` is a ``ReadonlyArray`` (real arrays, readonly or not, pass);
* objects are object types without an index signature, so a value typed by an interface passes
  (an index signature would refuse it) and an object literal with a misspelt key is an error
  (TypeScript's excess property check);
* "any object" is ``object``, not ``Record<string, unknown>``, for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from klaviyo_snippets.generator.codegen._escape import js_comment, ts_key
from klaviyo_snippets.generator.plan import Event, Property, is_index_part

__all__ = ["payload_type", "input_types", "ACCEPTS", "PAYLOAD_TS"]

PAYLOAD_TS = {
    "string": "string",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
    "string_list": "string[]",
    "object": "object",
}

_LIST = "readonly unknown[]"
#: What the runtime converts into each plan type, as TypeScript atoms.
ACCEPTS = {
    "string": ("string", "number", "boolean"),
    "number": ("number", "string"),
    "boolean": ("boolean", '"true"', '"false"'),
    "date": ("string", "number", "Date"),
    "string_list": ("ReadonlyArray<string | number | boolean | null>", "string"),
    "object": ("object",),
    "line_items": (_LIST,),
}
_DERIVED_ACCEPTS = {
    "union": ("string", "number", _LIST),
    "sum": ("number", "string", _LIST),
    "count": (_LIST,),
    "format": ("string", "number", "boolean"),
    "minor_units": ("number", "string"),
    "absolute_url": ("string",),
}
#: What a currency code path accepts (a code; anything else counts as none).
_CURRENCY_ACCEPTS = ("string",)


def _doc(prop: Property, pad: str) -> str:
    if not prop.description:
        return ""
    return f"{pad}/** {js_comment(prop.description)} */\n"


def payload_type(props: tuple[Property, ...], depth: int = 1) -> str:
    pad = "  " * depth
    lines = ["{"]
    for prop in props:
        if prop.type == "line_items":
            ts = f"Array<{payload_type(prop.children, depth + 1)}>"
        elif prop.type == "object" and prop.children:
            ts = payload_type(prop.children, depth + 1)
        else:
            ts = PAYLOAD_TS[prop.type]
        opt = "" if prop.required else "?"
        lines.append(f"{_doc(prop, pad)}{pad}{ts_key(prop.name)}{opt}: {ts};")
    lines.append("  " * (depth - 1) + "}")
    return "\n".join(lines)


@dataclass
class _Node:
    """What the plan reads at one place of an input: values of some types (atoms), named fields,
    and list elements (through ``[]`` or ``[N]``)."""

    atoms: list[str] = field(default_factory=list)
    fields: dict[str, "_Node"] = field(default_factory=dict)
    element: "_Node | None" = None

    def add(self, atoms) -> None:
        for atom in atoms:
            if atom not in self.atoms:
                self.atoms.append(atom)

    def field(self, name: str) -> "_Node":
        return self.fields.setdefault(name, _Node())

    def elements(self) -> "_Node":
        if self.element is None:
            self.element = _Node()
        return self.element


def _record(tree: _Node, path: str, atoms) -> None:
    """Note that the plan reads `path` (canonical: ``a.b.0.c``, ``a.b[].c``) as one of `atoms`."""
    node = tree
    for index, part in enumerate(path.split(".")):
        mapped = part.endswith("[]")
        name = part.removesuffix("[]")
        node = node.elements() if index and is_index_part(name) else node.field(name)
        if mapped:
            node = node.elements()
    node.add(atoms)


def _walk(props: tuple[Property, ...], tree: _Node, line: tuple[str, ...]) -> None:
    for prop in props:
        src = prop.source
        if src.kind == "derive":
            atoms = _DERIVED_ACCEPTS[src.op]
        elif prop.type == "line_items":
            atoms = ()
        else:
            atoms = ACCEPTS[prop.type]
        paths = [(p, atoms) for p in src.paths]
        if src.currency_path:
            paths.append((src.currency_path, _CURRENCY_ACCEPTS))
        found = []
        for path, kinds in paths:
            head = path.split(".", 1)[0]
            if head in ("event", "page", "now"):
                continue
            if head == "line":
                rest = path.split(".", 1)[1] if "." in path else ""
                found += [(f"{base}.{rest}" if rest else base, kinds) for base in line]
            else:
                found.append((path, kinds))
        for path, kinds in found:
            _record(tree, path, kinds)
        if prop.type == "line_items":
            bases = tuple(path if path.endswith("[]") else path + "[]" for path, _ in found)
            _walk(prop.children, tree, bases)
        elif prop.children:
            _walk(prop.children, tree, line)


def _render(node: _Node, depth: int) -> str:
    """The node's type: a union of its atoms, an object of its fields, a list of its elements;
    fields and elements may be null."""
    pad = "  " * depth
    kinds = [a for a in node.atoms if not (node.element and a == _LIST)]
    if node.fields:
        lines = ["{"]
        for name, child in node.fields.items():
            lines.append(f"{pad}{ts_key(name)}?: {_render(child, depth + 1)} | null;")
        lines.append("  " * (depth - 1) + "}")
        kinds.append("\n".join(lines))
    if node.element is not None:
        kinds.append(f"ReadonlyArray<{_render(node.element, depth)} | null>")
    return " | ".join(kinds) or "unknown"


def input_types(event: Event) -> dict[str, str]:
    """For each input of the event, the TypeScript type of the object the generated code reads
    (null included: the runtime reads a null input as one that gives nothing)."""
    tree = _Node()
    _walk(event.properties, tree, ())
    out = {}
    for name in event.inputs:
        node = tree.fields.get(name)
        out[name] = (_render(node, 1) if node else "object") + " | null"
    return out
