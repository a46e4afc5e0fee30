"""TypeScript shapes for each event: the payload it sends and the inputs it reads.

Payload types come straight from the plan's property types. Input types are inferred from the
paths the plan reads, so they document exactly which fields of the theme's objects matter and
what the runtime accepts there (it converts "19.99" to 19.99, 1111 to "1111", ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from klaviyo_snippets.generator.codegen._escape import js_comment, ts_key
from klaviyo_snippets.generator.plan import Event, Property

__all__ = ["payload_type", "input_types", "ACCEPTS", "PAYLOAD_TS"]

PAYLOAD_TS = {
    "string": "string",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
    "string_list": "string[]",
    "object": "Record<string, unknown>",
}

#: What the runtime converts into each plan type, as TypeScript atoms.
ACCEPTS = {
    "string": ("string", "number", "boolean"),
    "number": ("number", "string"),
    "boolean": ("boolean", '"true"', '"false"'),
    "date": ("string", "number", "Date"),
    "string_list": ("Array<string | number | boolean>", "string"),
    "object": ("Record<string, unknown>",),
    "line_items": ("unknown[]",),
}
_DERIVED_ACCEPTS = {
    "union": ("string", "number", "Array<unknown>"),
    "sum": ("number", "string", "Array<unknown>"),
    "count": ("unknown[]",),
    "format": ("string", "number", "boolean"),
}


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
    atoms: list[str] = field(default_factory=list)
    children: dict[str, "_Node"] = field(default_factory=dict)
    array: bool = False

    def add(self, atoms) -> None:
        for atom in atoms:
            if atom not in self.atoms:
                self.atoms.append(atom)


def _record(tree: dict[str, _Node], path: str, atoms) -> None:
    segments = path.split(".")
    head = segments[0].removesuffix("[]")
    node = tree.setdefault(head, _Node())
    if segments[0].endswith("[]"):
        node.array = True
    for seg in segments[1:]:
        name = seg.removesuffix("[]")
        node = node.children.setdefault(name, _Node())
        if seg.endswith("[]"):
            node.array = True
    node.add(atoms)


def _walk(props: tuple[Property, ...], tree: dict[str, _Node], line: tuple[str, ...]) -> None:
    for prop in props:
        src = prop.source
        if src.kind == "derive":
            atoms = _DERIVED_ACCEPTS[src.op]
        elif prop.type == "line_items":
            atoms = ()
        else:
            atoms = ACCEPTS[prop.type]
        paths = []
        for path in src.paths:
            head = path.split(".", 1)[0]
            if head in ("event", "page", "now"):
                continue
            if head == "line":
                rest = path.split(".", 1)[1] if "." in path else ""
                paths += [f"{base}.{rest}" if rest else base for base in line]
            else:
                paths.append(path)
        for path in paths:
            _record(tree, path, atoms)
        if prop.type == "line_items":
            bases = []
            for path in paths:
                bases.append(path if path.endswith("[]") else path + "[]")
            _walk(prop.children, tree, tuple(bases))
        elif prop.children:
            _walk(prop.children, tree, line)


def _render_node(node: _Node, depth: int) -> str:
    pad = "  " * depth
    if node.children:
        lines = ["{"]
        for name, child in node.children.items():
            lines.append(f"{pad}{ts_key(name)}?: {_render_node(child, depth + 1)};")
        lines.append(f"{pad}[field: string]: unknown;")
        lines.append("  " * (depth - 1) + "}")
        body = "\n".join(lines)
        if node.atoms:
            body = " | ".join(node.atoms + [body])
    else:
        body = " | ".join(node.atoms) or "unknown"
    if node.array:
        body = f"Array<{body}>"
    return body


def input_types(event: Event) -> dict[str, str]:
    """For each input of the event, the TypeScript type of the object the generated code reads."""
    tree: dict[str, _Node] = {}
    _walk(event.properties, tree, ())
    out = {}
    for name in event.inputs:
        node = tree.get(name)
        out[name] = _render_node(node, 1) if node else "Record<string, unknown>"
    return out
