"""The plan's semantics in Python: what payload the generated JavaScript builds from given inputs.

This mirrors the runtime in ``snippets/templates/bundle.js.j2`` rule for rule (paths, type
coercion, derived values, required checks, warning texts). The docs show its results as each
event's sample payload, `generate` warns with it when a sample gives a mapped property no value
(`sample_warnings`), and the tests check that node, running the generated bundle, agrees.
"""

from __future__ import annotations

import datetime as _dt
import math
from decimal import Decimal
import re
import time
from dataclasses import dataclass, field
from typing import Any

from klaviyo_snippets.generator.plan._currencies import minor_digits
from klaviyo_snippets.generator.plan._model import Event, Plan, Property, dependency_order
from klaviyo_snippets.generator.plan._paths import shown

__all__ = ["evaluate", "Outcome", "js_number_string", "convert", "sample_warnings"]

_INVALID = object()  # a value present but of the wrong type (JS: the sentinel X)
_NUMERIC = re.compile(r"^[ \t]*-?[0-9]+(\.[0-9]+)?[ \t]*\Z")
_LIST_SPLIT = re.compile(r"[,\n]")
#: absolute_url: a URL with a scheme is absolute; the page's scheme, authority, path and query.
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*:", re.I | re.A)
_BASE = re.compile(r"([a-z][a-z0-9+.-]*:)(//[^/?#]*)([^?#]*)(\?[^#]*)?", re.I | re.A)
# String.prototype.trim's whitespace: WhiteSpace and LineTerminator of ECMAScript.
_JS_SPACE = "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


@dataclass
class Outcome:
    """What one call does: the arguments for the klaviyo method, or None when refused."""

    method: str
    metric: str | None
    payload: dict | None
    warnings: list[str] = field(default_factory=list)
    #: properties whose source gave no value (before any default) or one of the wrong type:
    #: (name as in warnings, e.g. ``Items[1].SKU``, the property, "nothing" or "the wrong type")
    gaps: list[tuple[str, Property, str]] = field(default_factory=list)

    @property
    def sent(self) -> bool:
        return self.payload is not None

    @property
    def call(self) -> list:
        """The klaviyo call as a list, the way it lands in ``_klOnsite`` without the resolver."""
        if self.method == "track":
            return [self.method, self.metric, self.payload]
        return [self.method, self.payload]


def js_number_string(n: float | int) -> str:
    """``String(n)`` in JavaScript, for finite numbers."""
    if isinstance(n, bool):
        return "true" if n else "false"
    if isinstance(n, int):
        if abs(n) < 2**53:
            return str(n)
        n = float(n)  # what a JavaScript number holds
    if n == 0:
        return "0"
    text = repr(n)  # the shortest digits that read back as n, as JavaScript picks them
    if "e" not in text:
        return text.removesuffix(".0")
    if 1e-6 <= abs(n) < 1e21:  # JavaScript writes these positionally
        return format(Decimal(text), "f")
    mantissa, exp = text.split("e")
    return f"{mantissa}e{'+' if int(exp) > 0 else '-'}{abs(int(exp))}"


def convert(kind: str, value: Any) -> Any:
    """`value` converted to a plan type as the runtime converts it; None when it cannot be."""
    converted = _coerce(kind, value)
    return None if converted is _INVALID else converted


def js_finite(v: Any) -> bool:
    """A number JavaScript holds as finite (a whole number past 1.8e308 is Infinity there); the
    plan's own numbers are checked with it too (`_rules.check_values`)."""
    if not isinstance(v, (int, float)) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(v)
    except OverflowError:
        return False


def _empty(v: Any) -> bool:
    """Missing: nothing, empty text or an empty list (an object is never empty)."""
    return v is None or ((v.__class__ is str or v.__class__ is list) and len(v) == 0)


def _tidy(v: float | int) -> float | int:
    """JSON.stringify writes 7.0 as 7: keep Python's output the same."""
    if isinstance(v, float) and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _get(value: Any, path: str) -> Any:
    parts = path.split(".")
    for i, key in enumerate(parts):
        if value is None:
            return None
        if key.endswith("[]"):
            value = _member(value, key[:-2])
            if not isinstance(value, list):
                return None
            rest = ".".join(parts[i + 1:])
            out: list = []
            for element in value:
                x = _get(element, rest) if rest else element
                if x is not None:
                    if "[]" in rest and isinstance(x, list):
                        out.extend(x)
                    else:
                        out.append(x)
            return out
        value = _member(value, key)
    return value


def _member(value: Any, key: str) -> Any:
    """An own member, as the runtime reads one: a key of a mapping, a list's index or length, a
    text's length (in UTF-16 units); never what JavaScript objects inherit (constructor, map...)."""
    if isinstance(value, dict):
        return value.get(key)
    if isinstance(value, (list, str)):
        if key == "length":
            return len(value.encode("utf-16-le")) // 2 if isinstance(value, str) else len(value)
        if key.isascii() and key.isdigit() and (key == "0" or not key.startswith("0")):
            index = int(key)
            if isinstance(value, list) and index < len(value):
                return value[index]
    return None


def _coerce(kind: str, v: Any) -> Any:
    if v is None:
        return None
    if kind == "string":
        if isinstance(v, str):
            return v
        if isinstance(v, bool):
            return "true" if v else "false"
        return js_number_string(v) if js_finite(v) else _INVALID
    if kind == "number":
        if js_finite(v):
            return _tidy(v)
        if isinstance(v, str) and _NUMERIC.match(v):
            n = float(v.strip(" \t"))
            return _tidy(n) if math.isfinite(n) else _INVALID  # 400 digits are Infinity
        return _INVALID
    if kind == "boolean":
        if isinstance(v, bool):
            return v
        if v in ("true", "false"):
            return v == "true"
        return _INVALID
    if kind == "date":
        if isinstance(v, str):
            return v
        if js_finite(v) and -62135596800 <= v < 253402300800:
            ms = math.trunc(v * 1000)
            moment = _dt.datetime(1970, 1, 1, tzinfo=_dt.timezone.utc) + _dt.timedelta(milliseconds=ms)
            return f"{moment.year:04d}" + moment.strftime("-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
        return _INVALID
    if kind == "string_list":
        if isinstance(v, str):
            return [part.strip(_JS_SPACE) for part in _LIST_SPLIT.split(v) if part.strip(_JS_SPACE)]
        if isinstance(v, list):
            out = []
            for element in v:
                if isinstance(element, str) or isinstance(element, bool) or js_finite(element):
                    text = _coerce("string", element).strip(_JS_SPACE)
                    if text:
                        out.append(text)
            return out
        return _INVALID
    if kind == "line_items":
        return v if isinstance(v, list) else _INVALID
    if kind == "object":
        return v if isinstance(v, dict) else _INVALID
    raise AssertionError(kind)


def _flatten(values: list) -> list:
    out: list = []
    for v in values:
        if isinstance(v, list):
            out.extend(_flatten(v))
        elif v is not None:
            out.append(v)
    return out


def _union(values: list) -> Any:
    if all(v is None for v in values):
        return None
    out: list[str] = []
    for v in _flatten(values):
        if isinstance(v, str) or isinstance(v, bool) or js_finite(v):
            text = _coerce("string", v).strip(_JS_SPACE)
            if text and text not in out:
                out.append(text)
    return out


def _js_round(x: float) -> float:
    """JavaScript's Math.round: the nearest whole number, a half rounded up; infinities kept
    (floor(x + 0.5) would round 0.49999999999999994 up and fail on infinity)."""
    if not math.isfinite(x):
        return x
    whole = math.floor(x)
    return float(whole + 1 if x - whole >= 0.5 else whole)


def _sum(value: Any, digits: int) -> Any:
    """The runtime's sum, in JavaScript's doubles: each value rounded to minor units and added;
    a total past the largest double is infinite, which `_set` refuses as the runtime does."""
    values = _flatten(value if isinstance(value, list) else [value])
    if not values:
        return None  # nothing to add up (e.g. no line has a total): missing, not 0
    scale = float(10**digits)
    total = 0.0
    for v in values:
        n = _coerce("number", v)
        if n is _INVALID:
            return _INVALID
        total += _js_round(float(n) * scale)
    return _tidy(total / scale)


def _minor_units(value: Any, digits: int, code: Any) -> Any:
    """An amount in minor units as a major-unit number, exactly: JavaScript's digits of the number
    with the decimal point moved (1999 with 2 digits reads "1999e-2", 19.99), so no binary
    floating-point division or multiplication can drift. A text code's ISO 4217 digits win (2
    for a code not in the exceptions); without one, `digits`."""
    if isinstance(code, str) and code.strip(_JS_SPACE):
        digits = minor_digits(code.strip(_JS_SPACE).upper())
    if _empty(value):
        return None
    n = _coerce("number", value)
    if n is _INVALID:
        return _INVALID
    mantissa, _, exponent = js_number_string(n).partition("e")
    return _tidy(float(f"{mantissa}e{int(exponent or 0) - digits}"))


def _absolute_url(value: Any, base: Any) -> Any:
    """A URL made absolute against the page's URL `base`, by the runtime's rules: kept when it
    has a scheme (or the page has no scheme and host); ``//host/x`` takes the page's scheme, ``/x``
    its origin, ``?q`` its path, ``#f`` its path and query, anything else its folder."""
    text = _coerce("string", value)
    if text is None or text is _INVALID:
        return text
    text = text.strip(_JS_SPACE)
    if not text:
        return None
    page = _BASE.match(base) if isinstance(base, str) else None
    if _SCHEME.match(text) or page is None:
        return text
    scheme, authority, path, query = page.group(1), page.group(2), page.group(3) or "/", page.group(4) or ""
    if text.startswith("//"):
        return scheme + text
    if text.startswith("/"):
        return scheme + authority + text
    if text.startswith("?"):
        return scheme + authority + path + text
    if text.startswith("#"):
        return scheme + authority + path + query + text
    return scheme + authority + path[:path.rfind("/") + 1] + text


def _count(value: Any) -> Any:
    if value is None:
        return None
    return len(value) if isinstance(value, list) else _INVALID


def _format(texts: list[str], values: list) -> Any:
    out = texts[0]
    for text, v in zip(texts[1:], values):
        if v is None or v == "":
            return None  # an empty placeholder leaves the whole text missing
        if isinstance(v, str) or isinstance(v, bool) or js_finite(v):
            out += _coerce("string", v) + text
        else:
            return _INVALID
    return out


class _Scope:
    def __init__(self, roots: dict, label: str, prefix: str, missing: list, warnings: list, gaps: list):
        self.roots = roots
        self.label = label
        self.prefix = prefix
        self.missing = missing
        self.warnings = warnings
        self.gaps = gaps
        self.event: dict[str, Any] = {}

    def child(self, prefix: str, extra: dict | None = None) -> "_Scope":
        roots = dict(self.roots)
        roots.update(extra or {})
        scope = _Scope(roots, self.label, prefix, self.missing, self.warnings, self.gaps)
        return scope

    def get(self, path: str) -> Any:
        roots = dict(self.roots)
        roots["event"] = self.event
        return _get(roots, path)


def _first(*values: Any) -> Any:
    """The first value present (empty text and empty lists count as missing), else the last."""
    for v in values:
        if not _empty(v):
            return v
    return values[-1] if values else None


def _value(prop: Property, scope: _Scope) -> Any:
    src = prop.source
    if src.kind == "value":
        v = src.value if src.value is not None or not prop.has_default else prop.default
    elif src.kind == "path":
        v = _first(*(scope.get(p) for p in src.paths))
    elif src.kind == "properties":
        child = scope.child(scope.prefix + prop.name + ".")
        v = _build(prop.children, child)
    elif src.op == "union":
        v = _union([scope.get(p) for p in src.paths])
    elif src.op == "sum":
        v = _sum(scope.get(src.paths[0]), src.digits)
    elif src.op == "count":
        v = _count(scope.get(src.paths[0]))
    elif src.op == "minor_units":
        code = scope.get(src.currency_path) if src.currency_path else None
        amount = _coerce("number", _first(*(scope.get(p) for p in src.paths)))
        if isinstance(amount, (int, float)) and not isinstance(amount, bool) and amount % 1:
            name = scope.prefix + prop.name
            scope.warnings.append(f"{scope.label}: {name} reads {js_number_string(amount)} as minor units, which are whole"
                                  " numbers (if it is already in major units, read it without minor_units)")
        v = _minor_units(_first(*(scope.get(p) for p in src.paths)), src.digits, code)
    elif src.op == "absolute_url":
        v = _absolute_url(_first(*(scope.get(p) for p in src.paths)), scope.get("page.url"))
    elif src.op == "format":
        texts, values, pending = [], [], ""
        for kind, part in src.parts:
            if kind == "text":
                pending += part
            else:
                texts.append(pending)
                pending = ""
                values.append(scope.get(part))
        texts.append(pending)
        v = _format(texts, values)
    else:
        raise AssertionError(src)
    if src.kind != "value" and _empty(v):
        if src.kind != "properties":
            scope.gaps.append((scope.prefix + prop.name, prop, "nothing"))
        v = prop.default if prop.has_default else None  # empty text and empty lists count as missing
    if prop.type == "line_items" and isinstance(v, list):
        lines = []
        for index, element in enumerate(v):
            child = scope.child(f"{scope.prefix}{prop.name}[{index}].", {"line": element})
            lines.append(_build(prop.children, child))
        v = lines
    return v


def _set(scope: _Scope, prop: Property, v: Any) -> None:
    x = v if v is _INVALID else _coerce(prop.type, v)
    if x is _INVALID:
        scope.warnings.append(f"{scope.label}: {scope.prefix}{prop.name} has the wrong type")
        scope.gaps.append((scope.prefix + prop.name, prop, "the wrong type"))
        x = None
    scope.event[prop.name] = x


def _build(props: tuple[Property, ...], scope: _Scope) -> dict:
    for prop in dependency_order(props):
        _set(scope, prop, _value(prop, scope))
    out: dict[str, Any] = {}
    for prop in props:
        v = scope.event.get(prop.name)
        if not _empty(v):
            out[prop.name] = v
        elif prop.required:
            scope.missing.append(scope.prefix + prop.name)
    return out


def evaluate(event: Event, roots: dict[str, Any], *, now: int | None = None) -> Outcome:
    """Run ``event`` on ``roots`` (inputs by name, optionally ``page`` and ``now``)."""
    base = {name: roots.get(name) for name in event.inputs}
    base["page"] = roots.get("page", {})
    base["now"] = roots.get("now", now if now is not None else int(time.time()))
    warnings: list[str] = []
    missing: list[str] = []
    gaps: list[tuple[str, Property, str]] = []
    scope = _Scope(base, event.label, "", missing, warnings, gaps)
    payload = _build(event.properties, scope)
    if missing:
        warnings.append(f"{event.label}: not sent, missing {', '.join(missing)}")
        return Outcome(event.method, event.metric, None, warnings, gaps)
    return Outcome(event.method, event.metric, payload, warnings, gaps)


def sample_warnings(plan: Plan) -> list[str]:
    """What each event's sample does not provide: one line per property the plan maps (from a
    path or a derivation) whose source gives nothing (a default does not count), or a value of
    the wrong type, for the sample: ``Viewed Product: sample gives nothing for SKU
    (product.variants[0].sku)``. A line item's property is named once, at the first line that
    lacks it."""
    out: list[str] = []
    for event in plan.events:
        roots = plan.sample_roots(event)
        if roots is None:
            continue
        seen: set[str] = set()
        for name, prop, what in evaluate(event, roots, now=0).gaps:
            general = re.sub(r"\[\d+\]", "[]", name)
            if general in seen:
                continue
            seen.add(general)
            out.append(f"{event.label}: sample gives {what} for {name} ({_source_text(prop)})")
    return out


def _source_text(prop: Property) -> str:
    src = prop.source
    if src.op == "format":
        return f"format {src.template}"
    return " or ".join(shown(p) for p in src.paths)
