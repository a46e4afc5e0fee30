"""A fast yes/no answer to "is this plan valid against plan.schema.json?".

`jsonschema` explains errors well but walks a large plan slowly (a thousand events take about a
second). Plans are almost always valid, so `compile_schema` turns the schema into plain Python
closures that only answer yes or no, ten times faster; when the answer is no, `_plan` asks
`jsonschema` for the explanation. The closures implement exactly the keywords the schema uses
(JSON Schema 2020-12 semantics, booleans apart from numbers as in `jsonschema`); a schema with
any other keyword is refused with `Unsupported`, and `_plan` then uses `jsonschema` alone, so a
change to the schema can never be checked more loosely than it says.
"""

from __future__ import annotations

import re
from typing import Any, Callable

__all__ = ["compile_schema", "Unsupported"]

Check = Callable[[Any], bool]

#: Keywords that only annotate.
_IGNORED = frozenset({"$schema", "$id", "$defs", "$comment", "title", "description", "default", "examples"})
_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer()),
}


class Unsupported(Exception):
    """The schema uses a keyword this module does not implement."""


def _same(a: Any, b: Any) -> bool:
    """JSON equality: true is not 1, 1 is 1.0, containers compare deeply."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return a == b


def _unique(items: list) -> bool:
    return all(not _same(items[i], items[j]) for i in range(len(items)) for j in range(i))


def compile_schema(schema: Any) -> Check:
    """A function telling whether a value is valid. ``schema`` may contain cycles (resolved
    ``$ref``s): each schema object is compiled once."""
    compiled: dict[int, Check] = {}

    def build(node: Any) -> Check:
        if node is True:
            return lambda v: True
        if node is False:
            return lambda v: False
        if not isinstance(node, dict):
            raise Unsupported(f"schema node {node!r}")
        key = id(node)
        if key in compiled:
            return compiled[key]
        slot: list[Check] = []
        compiled[key] = lambda v: slot[0](v)  # a cycle reaches this before it is built
        checks = [_keyword(node, name, build) for name in node if name not in _IGNORED and name not in ("then", "else")]
        checks = [c for c in checks if c is not None]
        if len(checks) == 1:
            check = checks[0]
        else:
            def check(v, checks=tuple(checks)):
                for c in checks:
                    if not c(v):
                        return False
                return True
        slot.append(check)
        compiled[key] = check
        return check

    return build(schema)


def _keyword(node: dict, name: str, build) -> Check | None:
    value = node[name]
    if name == "type":
        names = value if isinstance(value, list) else [value]
        tests = [_TYPES[t] for t in names]
        return tests[0] if len(tests) == 1 else (lambda v: any(t(v) for t in tests))
    if name == "enum":
        return lambda v: any(_same(v, option) for option in value)
    if name == "const":
        return lambda v: _same(v, value)
    if name == "properties":
        subs = {key: build(sub) for key, sub in value.items()}

        def properties(v):
            if not isinstance(v, dict):
                return True
            for key, check in subs.items():
                if key in v and not check(v[key]):
                    return False
            return True
        return properties
    if name == "additionalProperties":
        known = frozenset(node.get("properties", ()))
        if "patternProperties" in node:
            raise Unsupported("patternProperties")
        if value is False:
            return lambda v: not isinstance(v, dict) or all(k in known for k in v)
        sub = build(value)
        return lambda v: not isinstance(v, dict) or all(k in known or sub(x) for k, x in v.items())
    if name == "required":
        return lambda v: not isinstance(v, dict) or all(k in v for k in value)
    if name == "propertyNames":
        sub = build(value)
        return lambda v: not isinstance(v, dict) or all(sub(k) for k in v)
    if name == "minProperties":
        return lambda v: not isinstance(v, dict) or len(v) >= value
    if name == "items":
        if "prefixItems" in node:
            raise Unsupported("prefixItems")
        sub = build(value)
        return lambda v: not isinstance(v, list) or all(sub(x) for x in v)
    if name == "minItems":
        return lambda v: not isinstance(v, list) or len(v) >= value
    if name == "uniqueItems":
        return (lambda v: not isinstance(v, list) or _unique(v)) if value else None
    if name == "minLength":
        return lambda v: not isinstance(v, str) or len(v) >= value
    if name == "maxLength":
        return lambda v: not isinstance(v, str) or len(v) <= value
    if name == "pattern":
        regexp = re.compile(value)
        return lambda v: not isinstance(v, str) or regexp.search(v) is not None
    if name == "minimum":
        return lambda v: not _TYPES["number"](v) or v >= value
    if name == "maximum":
        return lambda v: not _TYPES["number"](v) or v <= value
    if name == "exclusiveMinimum":
        return lambda v: not _TYPES["number"](v) or v > value
    if name == "allOf":
        subs = [build(sub) for sub in value]
        return lambda v: all(s(v) for s in subs)
    if name == "anyOf":
        subs = [build(sub) for sub in value]
        return lambda v: any(s(v) for s in subs)
    if name == "oneOf":
        subs = [build(sub) for sub in value]
        return lambda v: sum(1 for s in subs if s(v)) == 1
    if name == "not":
        sub = build(value)
        return lambda v: not sub(v)
    if name == "if":
        test = build(value)
        then = build(node["then"]) if "then" in node else None
        other = build(node["else"]) if "else" in node else None

        def conditional(v):
            if test(v):
                return then is None or then(v)
            return other is None or other(v)
        return conditional
    raise Unsupported(name)
