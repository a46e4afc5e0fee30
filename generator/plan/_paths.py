"""Paths as a plan writes them, and as the runtimes read them.

A path is parts joined by dots: ``product.title``. After its name a part may take ``[N]``, element
N of a list (``product.variants[0].sku``), and ``[]``, every element (``cart.items[].title``).
The runtimes (the bundle's ``H``, the evaluator's ``_get``) read one canonical form, in which an
index is a part of its own: ``product.variants.0.sku``. That dotted form is accepted as written
too, an alias; messages and docs show the bracket form (`shown`).
"""

from __future__ import annotations

import re

__all__ = ["SYNTAX", "parse_path", "shown", "is_index"]

#: How paths are written: the end of every hint about a path.
SYNTAX = (
    "paths are dotted names: product.title, product.variants[0].sku (element 0 of a list), "
    "cart.items[].title (every element of a list)"
)
_NAME = re.compile(r"[^.\[\]|]+")
_INDEX = re.compile(r"(0|[1-9][0-9]*)(\[\])?\Z")


def is_index(part: str) -> bool:
    """Whether a canonical part is a list index (``0``, ``12``; ``0[]`` maps over element 0)."""
    return _INDEX.match(part) is not None


def parse_path(text: str) -> str:
    """The canonical form of a path as written (``a.b[0][].c`` -> ``a.b.0[].c``); a `ValueError`
    saying what is wrong, in words, when it is not a path."""
    if not isinstance(text, str) or not text:
        raise ValueError("it is empty")
    parts: list[str] = []
    pos, end = 0, len(text)
    while True:
        match = _NAME.match(text, pos)
        if match is None:
            raise ValueError(_no_name(text, pos))
        parts.append(match.group())
        pos = match.end()
        while pos < end and text[pos] == "[":
            close = text.find("]", pos)
            inner = text[pos + 1:close] if close >= 0 else None
            if inner is None:
                raise ValueError(f"the [ at character {pos + 1} is never closed")
            if inner == "":
                if parts[-1].endswith("[]"):
                    raise ValueError("[][]: [] maps over one list at a time "
                                     "(name[][0] reads element 0 of every element)")
                parts[-1] += "[]"
            elif inner.isascii() and inner.isdigit() and (inner == "0" or inner[0] != "0"):
                parts.append(inner)
            else:
                raise ValueError(f"[{inner}] is not an index: write a whole number such as [0] "
                                 "(the first element), or [] for every element")
            pos = close + 1
        if pos == end:
            return ".".join(parts)
        if text[pos] != ".":
            raise ValueError(_no_name(text, pos) if text[pos] in "|]" else
                             f"{text[pos]!r} after {text[:pos]!r}: a dot comes between parts")
        pos += 1
        if pos == end:
            raise ValueError("it ends with a dot")


def _no_name(text: str, pos: int) -> str:
    char = text[pos] if pos < len(text) else ""
    if char == "|":
        return "| is not part of a path: for a fallback, list the paths (from: [a.b, c.d])"
    if char == "]":
        return f"the ] at character {pos + 1} closes no ["
    if char == ".":
        return "it starts with a dot" if pos == 0 else "two dots in a row (an empty part)"
    if char == "[" and pos == 0:
        return "it starts with [: a path starts with a name (an input, page, now, event or line)"
    if char == "[":
        return "[ after a dot: an index follows its list's name directly (variants[0], not variants.[0])"
    return f"{char!r} at character {pos + 1}: a part cannot start with it"


def shown(path: str) -> str:
    """A canonical path as a plan writes it: indexes in brackets (``a.b.0.c`` -> ``a.b[0].c``)."""
    parts = path.split(".")
    out = parts[0]
    for part in parts[1:]:
        out += f"[{part.removesuffix('[]')}]{'[]' if part.endswith('[]') else ''}" if is_index(part) else "." + part
    return out
