"""The tracking plan: load a YAML file, check it against the schema and the rules the schema cannot
express, and turn it into small immutable objects the renderer walks.

Every mistake becomes a `PlanError` (a `UserError`) naming file, line, JSON pointer and a fix.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klaviyo_snippets.generator.resources import default_plan_path, schema_path
from klaviyo_snippets.generator.plan._schemafast import Unsupported, compile_schema
from klaviyo_snippets.generator.plan._yamlmarks import Marked, escape_pointer, load_yaml
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.keys import PRIVATE_KEY_IN_TEXT, is_public_key, looks_private

__all__ = [
    "Plan", "Event", "Property", "Source", "Trigger", "PlanError",
    "load_plan", "check_public_key", "TYPES", "METHODS",
]

TYPES = ("string", "number", "boolean", "date", "string_list", "line_items", "object")
METHODS = ("track", "identify", "trackViewedItem")
#: Roots a path may start with besides the event's inputs.
RUNTIME_ROOTS = ("page", "now", "event")
LINE_ROOT = "line"
#: The fields of the `page` root, from the browser's location and document.
PAGE_FIELDS = ("url", "path", "title", "referrer")
RESERVED_INPUTS = frozenset(RUNTIME_ROOTS + (LINE_ROOT, "constructor"))  # constructor: every JS object has one
#: What each derivation yields, to check it against the declared type.
DERIVED_TYPES = {"union": "string_list", "sum": "number", "count": "number", "format": "string"}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
PATH_SEGMENT = re.compile(r"^[^.\[\]|]+(\[\])?\Z")
#: Words JavaScript will not take as a parameter or variable name (strict mode, ES5 and later).
JS_RESERVED = frozenset(
    "arguments await break case catch class const continue debugger default delete do else enum "
    "eval export extends false finally for function if implements import in instanceof interface "
    "let new null package private protected public return static super switch this throw true "
    "try typeof var void while with yield undefined nan infinity".split()
)
#: Names on klaviyoSnippets (and in its ES module) that are not events.
BUNDLE_NAMES = frozenset({"version", "klaviyoSnippets", "default"})


class PlanError(UserError):
    """A mistake in a tracking plan."""


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Source:
    """Where a property's value comes from. ``kind`` is path, value, derive or properties."""

    kind: str
    paths: tuple[str, ...] = ()
    value: Any = None
    op: str | None = None  # union, sum, count, format
    digits: int = 2
    template: str | None = None
    #: format: the template split into ("text", s) and ("path", p) parts
    parts: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Property:
    name: str
    type: str
    required: bool
    source: Source
    description: str = ""
    default: Any = None
    has_default: bool = False
    children: tuple["Property", ...] = ()  # line_items: each line; object: nested properties
    pointer: str = ""

    @functools.cached_property
    def event_refs(self) -> tuple[str, ...]:
        """Names of sibling properties this one reads through ``event.``."""
        refs = []
        for path in _source_paths(self.source):
            head, _, rest = path.partition(".")
            if head == "event" and rest:
                refs.append(rest.split(".", 1)[0].removesuffix("[]"))
        return tuple(dict.fromkeys(refs))


@dataclass(frozen=True)
class Trigger:
    kind: str  # call, load, click, submit
    selector: str | None = None
    input: str | None = None


@dataclass(frozen=True)
class Event:
    key: str
    method: str
    metric: str | None
    description: str
    inputs: tuple[str, ...]
    triggers: tuple[Trigger, ...]
    properties: tuple[Property, ...]
    also: tuple[str, ...] = ()
    sample: tuple[tuple[str, str], ...] = ()
    pointer: str = ""

    @functools.cached_property
    def function(self) -> str:
        """The JavaScript function name: ``added_to_cart`` -> ``addedToCart``."""
        head, *rest = self.key.split("_")
        return head + "".join(part[:1].upper() + part[1:] for part in rest if part)

    @functools.cached_property
    def slug(self) -> str:
        return self.key.replace("_", "-")

    @functools.cached_property
    def label(self) -> str:
        """The metric for a track, else the method: what warnings and docs call it."""
        return self.metric if self.method == "track" else self.method

    @functools.cached_property
    def type_name(self) -> str:
        """PascalCase name for TypeScript: ``AddedToCart``."""
        return "".join(part[:1].upper() + part[1:] for part in self.key.split("_") if part)

    def trigger(self, kind: str) -> Trigger | None:
        return next((t for t in self.triggers if t.kind == kind), None)


@dataclass(frozen=True)
class Plan:
    path: Path
    sha256: str
    public_key: str | None
    events: tuple[Event, ...]
    samples: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    is_default: bool = False
    marked: Marked | None = field(default=None, compare=False, hash=False, repr=False)

    def event(self, key: str) -> Event:
        for event in self.events:
            if event.key == key:
                return event
        raise KeyError(key)

    def sample_roots(self, event: Event) -> dict[str, Any] | None:
        """The sample data of an event as roots (input names, ``page``, ``now``), or None."""
        if not event.sample:
            return None
        return {root: self.samples[name] for root, name in event.sample}


# --------------------------------------------------------------------------- the key


_PRIVATE_WHY = (
    "a private key must never reach a browser: anyone who views the page source could read "
    "and delete your customers' data with it"
)
_USE_PUBLIC = "use the 6-character public key (company id) from Klaviyo > Settings > API keys"
_IN_PLAN = "remove it from the plan: any text in the plan can end up in the generated code"


def _private_key_error(where: str | None, what: str = "this", fix: str = _USE_PUBLIC) -> PlanError:
    """The refusal of a private key; it never quotes the key."""
    return PlanError(
        f"{what} looks like a Klaviyo private API key (pk_...); refusing to put it in browser code",
        where=where,
        hint=f"{fix}; {_PRIVATE_WHY}",
    )


def check_public_key(key: Any, *, where: str | None = None) -> str:
    """Return the key if it looks like a Klaviyo company id, else raise a `PlanError` saying why."""
    if not isinstance(key, str):
        raise PlanError(
            f"the public key must be text, got {json.dumps(key)}",
            where=where,
            hint="quote it in YAML: public_key: \"AbC123\"",
        )
    stripped = key.strip()
    # Besides a private key anywhere in it, this 6-character field refuses as one anything that
    # starts with pk_ or is too long to be a company id.
    if looks_private(stripped) or len(stripped) > 20:
        raise _private_key_error(where)
    if not is_public_key(stripped):
        raise PlanError(
            f"{key!r} is not a Klaviyo public key: expected 6 letters or digits (the company id)",
            where=where,
            hint="find it in Klaviyo > Settings > API keys > Public API key / Site ID",
        )
    return stripped


# --------------------------------------------------------------------------- loading


def load_plan(path: str | Path | None = None) -> Plan:
    """Load, check and model a tracking plan (the default plan when ``path`` is None)."""
    default = default_plan_path()
    if path is not None and str(path) == "":
        raise PlanError("the plan's path is empty", where="--plan", hint="pass --plan with the path of your plan file, or omit --plan for the default plan")
    plan_path = Path(path) if path is not None else default
    marked = load_yaml(plan_path)
    data = marked.data
    if not isinstance(data, dict):
        raise PlanError(
            f"a tracking plan is a mapping (version, public_key, samples, events), got {_kind(data)}",
            where=marked.where(""),
            hint="start from the default plan: klaviyo-snippets init my-plan.yaml writes a copy",
        )
    if "public_key" in data:
        try:
            data["public_key"] = check_public_key(data["public_key"])  # stripped, as the schema expects
        except PlanError as err:
            err.where = marked.where("/public_key")
            raise
    _check_values(data, "", marked)
    _validate_schema(data, marked)
    events = tuple(
        _event(key, spec, marked) for key, spec in _distinct_functions(data["events"], marked)
    )
    plan = Plan(
        path=plan_path,
        sha256=hashlib.sha256(marked.text.encode("utf-8")).hexdigest(),
        public_key=data.get("public_key"),
        events=events,
        samples=dict(data.get("samples") or {}),
        is_default=_same_file(plan_path, default),
        marked=marked,
    )
    _check_semantics(plan, marked)
    return plan


def _check_values(value: Any, ptr: str, marked: Marked) -> None:
    """Refuse, before anything else reads or echoes them, a private key in any text of the plan
    (keys included: everything may end up in browser code) and numbers JSON cannot carry."""
    if isinstance(value, str):
        if PRIVATE_KEY_IN_TEXT.search(value):
            raise _private_key_error(marked.where(ptr), fix=_IN_PLAN)
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise PlanError(
                f"{value} is not a number JSON can carry",
                where=marked.where(ptr),
                hint="write a finite number; YAML reads .inf, .nan and exponents such as 1e+400 as infinity or NaN",
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{ptr}/{escape_pointer(key)}"
            if isinstance(key, str) and PRIVATE_KEY_IN_TEXT.search(key):  # the pointer would show it
                raise _private_key_error(marked.where(child, key=True, shown=ptr or "/"), "a key here", _IN_PLAN)
            if not isinstance(key, str):
                _check_values(key, child, marked)
            _check_values(item, child, marked)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_values(item, f"{ptr}/{index}", marked)


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


@dataclass
class _Found:
    message: str
    pointer: str
    hint: str | None = None
    key: bool = False


def _validate_schema(data: dict, marked: Marked) -> None:
    fast = _fast_check()
    if fast is not None and fast(data):
        return
    errors = list(_validator().iter_errors(data))
    if not errors:
        return
    # The deepest error is the most specific; among equals, the one earliest in the file.
    def rank(err):
        ptr = _ptr(err.absolute_path)
        return (-len(err.absolute_path), marked.line_of(ptr))

    errors.sort(key=rank)
    found = _explain(errors[0], data)
    raise PlanError(found.message, where=marked.where(found.pointer, key=found.key), hint=found.hint)


def _ptr(parts) -> str:
    return "".join("/" + escape_pointer(p) for p in parts)


@functools.cache
def _schema() -> dict:
    """plan.schema.json with its local ``$ref``s resolved into shared Python objects once (a
    cyclic graph: properties hold properties): the same schema, quicker to walk than resolving
    each ``$ref`` on every use."""
    schema = json.loads(schema_path().read_text(encoding="utf-8"))
    defs = schema.pop("$defs")

    def inline(node):
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = defs[ref.removeprefix("#/$defs/")]
                rest = {k: inline(v) for k, v in node.items() if k != "$ref"}
                return {**rest, "allOf": [target]} if rest else target
            for key, value in node.items():
                if key not in ("enum", "const", "default", "required", "examples"):
                    node[key] = inline(value)
            return node
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    for name in list(defs):
        defs[name] = inline(defs[name])
    return inline(schema)


@functools.cache
def _validator():
    """jsonschema's validator for the schema: it explains what is wrong with a plan. Imported
    only when a plan is invalid (or the fast check is unavailable)."""
    import jsonschema

    return jsonschema.Draft202012Validator(_schema())


@functools.cache
def _fast_check():
    """The schema compiled to a yes/no function (see ``_schemafast``), or None if it uses a
    keyword the compiler does not know: then jsonschema checks every plan."""
    try:
        return compile_schema(_schema())
    except Unsupported:  # pragma: no cover - the shipped schema compiles; a changed one may not
        return None


def _closest(word: str, options) -> str:
    match = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}? " if match else ""


def _explain(err, data: Any) -> _Found:
    """Turn a schema error into a sentence a theme developer can act on."""
    parts = list(err.absolute_path)
    ptr = _ptr(parts)
    schema = err.schema if isinstance(err.schema, dict) else {}
    validator = err.validator
    last = parts[-1] if parts else None
    if validator == "enum" and last == "type":
        return _Found(
            f"unknown type {err.instance!r}",
            ptr,
            f"{_closest(err.instance, TYPES)}use one of: {', '.join(TYPES)}",
        )
    if validator == "enum" and last == "method":
        return _Found(f"unknown method {err.instance!r}", ptr, f"{_closest(err.instance, METHODS)}use one of: {', '.join(METHODS)}")
    if validator == "enum":
        return _Found(f"{err.instance!r} is not allowed here", ptr, f"use one of: {', '.join(map(str, schema['enum']))}")
    if validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(schema.get("properties", {})), key=str)
        allowed = list(schema.get("properties", {}))
        word = extra[0] if extra else "?"
        return _Found(
            f"unknown key {word!r}",
            _ptr(parts + [word]),
            f"{_closest(word, allowed)}allowed keys here: {', '.join(allowed)}",
            key=True,
        )
    if validator == "required":
        missing = [name for name in schema.get("required", []) if name not in err.instance]
        name = missing[0] if missing else "?"
        if name == "metric":
            return _Found("a track event needs a metric name", ptr, "add e.g. metric: Added to Cart (or set method: identify / trackViewedItem)")
        if name == "properties":
            return _Found("the event has no properties", ptr, "add properties: with at least one property (name: {type, from})")
        if name == "type":
            return _Found("the property has no type", ptr, f"add type: one of {', '.join(TYPES)}")
        return _Found(f"missing key {name!r}", ptr, None)
    if validator == "not" and isinstance(err.instance, dict) and "metric" in err.instance:
        return _Found(
            f"method {err.instance.get('method')} takes no metric", _ptr(parts + ["metric"]),
            "remove metric:, or use method: track", key=True,
        )
    if validator == "pattern" and len(parts) >= 2 and parts[-2] in ("events", "samples", "inputs", "also"):
        return _Found(f"{err.instance!r} is not a valid id", ptr, "use snake_case: a lowercase letter, then lowercase letters, digits or _")
    if validator in ("propertyNames",) or (validator == "pattern" and err.validator_value == "^[a-z][a-z0-9_]{0,63}$"):
        return _Found(f"{err.instance!r} is not a valid id", ptr, "use snake_case: a lowercase letter, then lowercase letters, digits or _")
    if validator == "pattern" and "path" in str(schema.get("description", "")).lower():
        return _Found(f"{err.instance!r} is not a valid path", ptr, "write a dotted path such as product.title or cart.items[].title")
    if validator == "oneOf" and last == "from":
        return _Found(f"'from' must be a path or a list of paths, got {_kind(err.instance)}", ptr, "e.g. from: product.title")
    if validator == "const" and last == "version":
        return _Found(f"unsupported plan version {err.instance!r}", ptr, "set version: 1")
    if validator == "type":
        want = err.validator_value
        return _Found(f"expected {want}, got {_kind(err.instance)} ({json.dumps(err.instance, default=str)[:60]})", ptr, None)
    if validator == "minProperties" and last == "derive" or (validator == "minProperties" and parts and parts[-1] == "derive"):
        return _Found("derive needs one of union, sum, count, format", ptr, "e.g. derive: {sum: event.Items[].RowTotal}")
    if validator == "minProperties":
        return _Found(f"{'/'.join(map(str, parts)) or 'the plan'} is empty", ptr, None)
    return _Found(err.message, ptr, None)


# --------------------------------------------------------------------------- building


def _function_name(key: str) -> str:
    """An event id as its JavaScript function: added_to_cart -> addedToCart."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest if part)


def _distinct_functions(events: dict, marked: Marked):
    """The events, refusing two ids that name one function (step_2 and step2 are both step2):
    the second would silently replace the first, and the ES module would not load."""
    seen: dict[str, str] = {}
    for key, spec in events.items():
        function = _function_name(key)
        if function in seen:
            raise PlanError(
                f"event ids {seen[function]!r} and {key!r} both name the JavaScript function {function!r}",
                where=marked.where(f"/events/{escape_pointer(key)}", key=True),
                hint="rename one of them (underscores only separate words: step_2 and step2 are the same name)",
            )
        seen[function] = key
        yield key, spec


def _event(key: str, spec: dict, marked: Marked) -> Event:
    ptr = f"/events/{escape_pointer(key)}"
    method = spec.get("method", "track")
    inputs = tuple(spec.get("inputs") or ())
    function = _function_name(key)
    if function in JS_RESERVED or function.lower() in JS_RESERVED:
        raise PlanError(
            f"event id {key!r} would name the JavaScript function {function!r}, a reserved word",
            where=marked.where(ptr, key=True),
            hint=f"rename it, e.g. {key}_event",
        )
    if function in BUNDLE_NAMES:
        raise PlanError(
            f"event id {key!r} would name the function klaviyoSnippets.{function}, which the bundle uses itself",
            where=marked.where(ptr, key=True),
            hint=f"rename it, e.g. {key}_event",
        )
    for index, name in enumerate(inputs):
        if name in JS_RESERVED:
            raise PlanError(
                f"{name!r} cannot be an input name: it is a reserved word in JavaScript",
                where=marked.where(f"{ptr}/inputs/{index}"),
                hint=f"rename it, e.g. {name}_data",
            )
        if name in RESERVED_INPUTS:
            raise PlanError(
                f"{name!r} cannot be an input name: it is a built-in path root",
                where=marked.where(f"{ptr}/inputs/{index}"),
                hint=f"rename it; {', '.join(sorted(RESERVED_INPUTS))} are reserved",
            )
    fire = spec.get("fire") or {}
    triggers = [Trigger("call")]
    if fire.get("load"):
        triggers.append(Trigger("load"))
    for kind in ("click", "submit"):
        if kind in fire:
            triggers.append(Trigger(kind, fire[kind]["selector"], fire[kind].get("input")))
    properties = _properties(spec["properties"], f"{ptr}/properties", marked)
    return Event(
        key=key,
        method=method,
        metric=spec.get("metric"),
        description=(spec.get("description") or "").strip(),
        inputs=inputs,
        triggers=tuple(triggers),
        properties=properties,
        also=tuple(spec.get("also") or ()),
        sample=tuple((spec.get("sample") or {}).items()),
        pointer=ptr,
    )


def _properties(specs: dict, ptr: str, marked: Marked) -> tuple[Property, ...]:
    return tuple(_property(name, spec, f"{ptr}/{escape_pointer(name)}", marked) for name, spec in specs.items())


def _property(name: str, spec: dict, ptr: str, marked: Marked) -> Property:
    kind = spec["type"]
    sources = [s for s in ("from", "value", "derive", "properties") if s in spec]
    if kind == "object" and "item" in spec:
        raise PlanError("'item' is for line_items; an object takes 'properties'", where=marked.where(f"{ptr}/item", key=True), hint="rename item: to properties:")
    if kind != "object" and "properties" in spec:
        raise PlanError(f"only an object has nested 'properties' (this is a {kind})", where=marked.where(f"{ptr}/properties", key=True), hint="set type: object, or remove properties:")
    if kind != "line_items" and "item" in spec:
        raise PlanError(f"only line_items take 'item' (this is a {kind})", where=marked.where(f"{ptr}/item", key=True), hint="set type: line_items, or remove item:")
    if not sources:
        hint = {
            "line_items": "add from: (the platform's list, e.g. cart.items) and item: (each line's properties)",
            "object": "add from: (a path to pass through), value: (a constant) or properties: (nested)",
        }.get(kind, "add from: product.title (a path), value: ... (a constant) or derive: {...}")
        raise PlanError(f"property {name!r} has no source: where does its value come from?", where=marked.where(ptr), hint=hint)
    if len(sources) > 1:
        raise PlanError(
            f"property {name!r} has {len(sources)} sources ({', '.join(sources)}); it needs exactly one",
            where=marked.where(ptr),
            hint="keep one of from / value / derive (use a list in from: for fallbacks, default: for a constant fallback)",
        )
    children: tuple[Property, ...] = ()
    if kind == "line_items":
        if "item" not in spec or "from" not in spec:
            raise PlanError(
                f"line_items property {name!r} needs from: (the list) and item: (each line's properties)",
                where=marked.where(ptr),
                hint="e.g. from: cart.items, item: {ProductID: {type: string, from: line.product_id}}",
            )
        children = _properties(spec["item"], f"{ptr}/item", marked)
    if kind == "object" and "properties" in spec:
        children = _properties(spec["properties"], f"{ptr}/properties", marked)
    source_key = sources[0]
    if source_key == "from":
        paths = spec["from"] if isinstance(spec["from"], list) else [spec["from"]]
        source = Source("path", paths=tuple(paths))
    elif source_key == "value":
        source = Source("value", value=spec["value"])
    elif source_key == "properties":
        source = Source("properties")
    else:
        derive = spec["derive"]
        ops = [op for op in DERIVED_TYPES if op in derive]
        if len(ops) != 1:
            raise PlanError(
                "derive needs exactly one of union, sum, count, format" + (f" (found {', '.join(ops)})" if ops else ""),
                where=marked.where(f"{ptr}/derive"),
                hint="e.g. derive: {union: [event.Items[].ProductCategories]}",
            )
        op = ops[0]
        if "digits" in derive and op != "sum":
            raise PlanError("digits: only applies to sum", where=marked.where(f"{ptr}/derive/digits", key=True), hint="remove digits:")
        if DERIVED_TYPES[op] != kind:
            raise PlanError(
                f"derive {op} gives a {DERIVED_TYPES[op]}, but {name!r} is declared {kind}",
                where=marked.where(f"{ptr}/type"),
                hint=f"set type: {DERIVED_TYPES[op]}",
            )
        if op == "format":
            template = derive["format"]
            parts = _format_parts(template, f"{ptr}/derive/format", marked)
            source = Source("derive", op="format", template=template, parts=parts,
                            paths=tuple(p for k, p in parts if k == "path"))
        elif op == "union":
            source = Source("derive", op="union", paths=tuple(derive["union"]))
        else:
            source = Source("derive", op=op, paths=(derive[op],), digits=int(derive.get("digits", 2)))
    if "default" in spec and source_key == "properties":
        raise PlanError("an object built from properties: takes no default (each nested property can have its own)",
                        where=marked.where(f"{ptr}/default", key=True), hint="move default: into the nested properties")
    for key in ("value", "default"):
        if key in spec and not _fits_type(kind, spec[key]):
            raise PlanError(f"{key}: {json.dumps(spec[key], ensure_ascii=False)[:60]} is not a {kind.replace('_', ' ')}: "
                            "every payload would leave it out with a warning",
                            where=marked.where(f"{ptr}/{key}"), hint=f"write a {kind.replace('_', ' ')}, or change type:")
    return Property(
        name=name,
        type=kind,
        required=bool(spec.get("required", False)),
        source=source,
        description=(spec.get("description") or "").strip(),
        default=spec.get("default"),
        has_default="default" in spec,
        children=children,
        pointer=ptr,
    )


def _fits_type(kind: str, value: Any) -> bool:
    """Whether a constant or default converts to its property's type (the runtime's rules)."""
    from klaviyo_snippets.generator.plan._runtime import convert  # the runtime's model; it imports this module

    return value is None or convert(kind, value) is not None


def _format_parts(template: str, ptr: str, marked: Marked) -> tuple[tuple[str, str], ...]:
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in PLACEHOLDER.finditer(template):
        if match.start() > pos:
            parts.append(("text", template[pos:match.start()]))
        path = match.group(1).strip()
        if not path or not all(PATH_SEGMENT.match(seg) for seg in path.split(".")):
            raise PlanError(f"{{{match.group(1)}}} is not a path", where=marked.where(ptr), hint="write placeholders like {checkout.id} or {now}")
        parts.append(("path", path))
        pos = match.end()
    if pos < len(template):
        parts.append(("text", template[pos:]))
    text = "".join(v for k, v in parts if k == "text")
    if "{" in text or "}" in text:
        raise PlanError("unbalanced { or } in format", where=marked.where(ptr), hint="placeholders look like {checkout.id}")
    if not any(k == "path" for k, _ in parts):
        raise PlanError("a format without placeholders is a constant", where=marked.where(ptr), hint="use value: instead of derive: {format: ...}")
    return tuple(parts)


def _source_paths(source: Source) -> tuple[str, ...]:
    return source.paths


# --------------------------------------------------------------------------- rules the schema cannot say


def _check_semantics(plan: Plan, marked: Marked) -> None:
    metrics: dict[str, Event] = {}
    keys = {event.key: event for event in plan.events}
    for event in plan.events:
        if event.method == "track":
            other = metrics.get(event.metric.casefold())
            if other is not None:
                raise PlanError(
                    f"duplicate metric {event.metric!r}: events {other.key!r} (line {marked.line_of(other.pointer)}) and {event.key!r} both track it",
                    where=marked.where(f"{event.pointer}/metric"),
                    hint="each metric is described once; merge the two events or rename one metric",
                )
            metrics[event.metric.casefold()] = event
        for kind in ("click", "submit"):
            trig = event.trigger(kind)
            if trig and trig.input and trig.input not in event.inputs:
                raise PlanError(
                    f"fire.{kind}.input {trig.input!r} is not one of the event's inputs {list(event.inputs)}",
                    where=marked.where(f"{event.pointer}/fire/{kind}/input"),
                    hint=f"add {trig.input!r} to inputs:, or bind one of {list(event.inputs)}",
                )
            problem = trig and selector_problem(trig.selector)
            if problem:
                raise PlanError(
                    f"{trig.selector!r} is not a valid CSS selector ({problem}); the browser would refuse it",
                    where=marked.where(f"{event.pointer}/fire/{kind}/selector"),
                    hint="check brackets, quotes and #/. names; e.g. '#Like', '[data-klaviyo-banner]' or 'form[data-klaviyo-search]'",
                )
        if event.trigger("load") and not event.inputs:
            raise PlanError(
                "fire.load needs at least one input: the event fires when the inputs' data islands are on the page",
                where=marked.where(f"{event.pointer}/fire/load"),
                hint="add inputs: [product], and render <script type=\"application/json\" data-klaviyo=\"product\"> in your theme",
            )
        for index, target in enumerate(event.also):
            if target not in keys:
                raise PlanError(f"also: unknown event {target!r}", where=marked.where(f"{event.pointer}/also/{index}"), hint=f"{_closest(target, keys)}events: {', '.join(keys)}")
            if target == event.key:
                raise PlanError("an event cannot fire itself", where=marked.where(f"{event.pointer}/also/{index}"), hint="remove it from also:")
            if keys[target].inputs != event.inputs:
                raise PlanError(
                    f"also: {target!r} takes inputs {list(keys[target].inputs)}, but {event.key!r} has {list(event.inputs)}",
                    where=marked.where(f"{event.pointer}/also/{index}"),
                    hint="events fired together must take the same inputs, in the same order",
                )
            own = {t.kind for t in keys[target].triggers} & {t.kind for t in event.triggers} - {"call"}
            if own:
                raise PlanError(
                    f"{target!r} already fires with {event.key!r} (also:), so its own fire.{sorted(own)[0]} would send it twice",
                    where=marked.where(f"{event.pointer}/also/{index}"),
                    hint=f"remove fire.{sorted(own)[0]} from {target!r}, or remove it from also:",
                )
            if keys[target].also:
                raise PlanError(f"also: {target!r} itself fires other events; chains are not allowed", where=marked.where(f"{event.pointer}/also/{index}"), hint="list every event in this also: directly")
        roots = set(event.inputs) | {"page", "now"}
        _check_scope(event.properties, roots, marked, event)
        for root, name in event.sample:
            ptr = f"{event.pointer}/sample/{escape_pointer(root)}"
            if root not in set(event.inputs) | {"page", "now"}:
                raise PlanError(f"sample names {root!r}, which is not an input of this event", where=marked.where(ptr, key=True), hint=f"sample keys are the inputs {list(event.inputs)}, page or now")
            if name not in plan.samples:
                raise PlanError(f"sample {name!r} is not defined under samples:", where=marked.where(ptr), hint=f"{_closest(name, plan.samples)}add it to the top-level samples:")


@functools.cache
def selector_problem(selector: str) -> str | None:
    """What is wrong with a CSS selector's syntax (cssselect's parser), or None. Syntax only: an
    unknown pseudo-class passes. cssselect predates selector lists inside :not(), :is(), :where()
    and :has(), which browsers accept: each list is checked on its own."""
    from cssselect import SelectorSyntaxError, parse

    try:
        parse(_without_inner_lists(selector, inner := []))
        for part in inner:
            parse(re.sub(r"(^|,)\s*([>+~])", r"\1* \2", part))  # :has(> img): a relative selector
    except SelectorSyntaxError as err:
        return str(err)
    return None


def _without_inner_lists(selector: str, inner: list[str]) -> str:
    """`selector` with the argument of each :not()/:is()/:where()/:has() replaced by `*`, the
    arguments collected into `inner` (a parenthesis left open is left for the parser to report)."""
    out, i = [], 0
    for match in re.finditer(r":(?:not|is|where|has|matches)\(", selector):
        if match.start() < i:
            continue  # nested inside an argument already taken
        depth, j = 1, match.end()
        while j < len(selector) and depth:
            depth += {"(": 1, ")": -1}.get(selector[j], 0)
            j += 1
        if depth:
            break
        out.append(selector[i:match.end()] + "*)")
        inner.append(selector[match.end():j - 1])
        i = j
    return "".join(out) + selector[i:]


def _check_scope(props: tuple[Property, ...], roots: set[str], marked: Marked, event: Event) -> None:
    names = {p.name for p in props}
    for prop in props:
        for index, path in enumerate(prop.source.paths):
            head = path.split(".", 1)[0].removesuffix("[]")
            ptr = prop.pointer + _path_pointer(prop, index)
            if head == "event":
                rest = path.split(".", 1)[1] if "." in path else ""
                target = rest.split(".", 1)[0].removesuffix("[]")
                if target not in names:
                    raise PlanError(
                        f"{path!r} reads event.{target}, which is not a property here",
                        where=marked.where(ptr),
                        hint=f"{_closest(target, names)}event. reads a sibling property of the same payload",
                    )
                if target == prop.name:
                    raise PlanError(f"{prop.name!r} reads itself", where=marked.where(ptr), hint="read the platform's object instead")
            elif head not in roots:
                where_hint = (
                    f"paths start with an input ({', '.join(sorted(roots - {'page', 'now', LINE_ROOT})) or 'none declared'}), "
                    f"page, now, event{', line' if LINE_ROOT in roots else ''}"
                )
                if head == LINE_ROOT:
                    where_hint = "line only exists inside a line_items property's item:"
                raise PlanError(
                    f"unknown path root {head!r} in {path!r}",
                    where=marked.where(ptr),
                    hint=f"{_closest(head, roots | {'event'})}{where_hint}; or add {head!r} to the event's inputs",
                )
            if head == "page" and "." in path and path.split(".")[1].removesuffix("[]") not in PAGE_FIELDS:
                raise PlanError(
                    f"{path!r}: page has no field {path.split('.')[1]!r}",
                    where=marked.where(ptr),
                    hint=f"{_closest(path.split('.')[1], PAGE_FIELDS)}page has {', '.join(PAGE_FIELDS)}",
                )
            if head in ("now",) and "." in path:
                raise PlanError("now is a number (unix seconds) and has no fields", where=marked.where(ptr), hint="write {now} or now")
        if prop.type == "line_items":
            _check_scope(prop.children, roots | {LINE_ROOT}, marked, event)
        elif prop.children:
            _check_scope(prop.children, roots, marked, event)
    _dependency_order(props, marked)  # raises on cycles


def _path_pointer(prop: Property, index: int) -> str:
    src = prop.source
    if src.kind == "path":
        return "/from" + (f"/{index}" if len(src.paths) > 1 else "")
    if src.op == "union":
        return f"/derive/union/{index}"
    if src.op:
        return f"/derive/{src.op}"
    return ""


def _dependency_order(props: tuple[Property, ...], marked: Marked | None = None) -> tuple[Property, ...]:
    """Properties in an order where ``event.X`` is computed before anything reading it (stable)."""
    if not any(prop.event_refs for prop in props):
        return props
    by_name = {p.name: p for p in props}
    done: list[Property] = []
    state: dict[str, int] = {}

    def visit(prop: Property, chain: list[str]) -> None:
        if state.get(prop.name) == 2:
            return
        if state.get(prop.name) == 1:
            cycle = " -> ".join(chain[chain.index(prop.name):] + [prop.name])
            raise PlanError(
                f"properties read each other in a circle: {cycle}",
                where=marked.where(prop.pointer) if marked else None,
                hint="one of them must read the platform's object instead of event.",
            )
        state[prop.name] = 1
        for ref in prop.event_refs:
            if ref in by_name:
                visit(by_name[ref], chain + [prop.name])
        state[prop.name] = 2
        done.append(prop)

    for prop in props:
        visit(prop, [])
    return tuple(done)


dependency_order = _dependency_order
