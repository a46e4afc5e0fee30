"""Loading a tracking plan: read the YAML with its line marks, check it against the schema
(explaining the first error in words a theme developer can act on), build the model's objects,
and apply the rules the schema cannot express (`_rules`).

Every mistake becomes a `PlanError` (a `UserError`) naming file, line, JSON pointer and a fix.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from klaviyo_snippets.generator.resources import default_plan_path, schema_path
from klaviyo_snippets.generator.plan._consent import onsite_settings
from klaviyo_snippets.generator.plan._currencies import CURRENCIES, minor_digits
from klaviyo_snippets.generator.plan._package import check_package
from klaviyo_snippets.generator.plan._model import DERIVED_TYPES, METHODS, ONCE_SECONDS, TYPES, Event, Plan, PlanError, Property, Source, Trigger
from klaviyo_snippets.generator.plan._paths import SYNTAX, parse_path, shown
from klaviyo_snippets.generator.plan._rules import (
    check_names, check_public_key, check_semantics, check_values, closest, distinct_functions, format_parts,
)
from klaviyo_snippets.generator.plan._runtime import convert
from klaviyo_snippets.generator.plan._schemafast import Unsupported, compile_schema
from klaviyo_snippets.generator.plan._yamlmarks import Marked, escape_pointer, load_yaml

__all__ = ["load_plan"]


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
    check_values(data, "", marked)
    package_name, package_version = check_package(data.get("package"), marked)
    _validate_schema(data, marked)
    currency = data.get("currency")
    if currency is not None:
        _known_currency(currency, "/currency", marked)
    events = tuple(
        _event(key, spec, marked, currency) for key, spec in distinct_functions(data["events"], marked)
    )
    onsite_load, consent = onsite_settings(data, events, marked)
    plan = Plan(
        path=plan_path,
        sha256=hashlib.sha256(marked.text.encode("utf-8")).hexdigest(),
        public_key=data.get("public_key"),
        events=events,
        samples=dict(data.get("samples") or {}),
        is_default=_same_file(plan_path, default),
        marked=marked,
        currency=currency,
        onsite_load=onsite_load,
        consent=consent,
        package_name=package_name,
        package_version=package_version,
    )
    check_semantics(plan, marked)
    return plan


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "text", bool: "true/false", type(None): "nothing",
            int: "a number", float: "a number"}.get(
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
            f"{closest(err.instance, TYPES)}use one of: {', '.join(TYPES)}",
        )
    if validator == "enum" and last == "method":
        return _Found(f"unknown method {err.instance!r}", ptr, f"{closest(err.instance, METHODS)}use one of: {', '.join(METHODS)}")
    if validator == "enum":
        return _Found(f"{err.instance!r} is not allowed here", ptr, f"use one of: {', '.join(map(str, schema['enum']))}")
    if validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(schema.get("properties", {})), key=str)
        allowed = list(schema.get("properties", {}))
        word = extra[0] if extra else "?"
        return _Found(
            f"unknown key {word!r}",
            _ptr(parts + [word]),
            f"{closest(word, allowed)}allowed keys here: {', '.join(allowed)}",
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
    if "propertyNames" in err.relative_schema_path and isinstance(err.instance, str):
        return _property_name(err.instance, validator, parts)
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
        return _path_found(err.instance, ptr)
    if validator == "oneOf" and last in ("from", "minor_units", "absolute_url"):
        return _paths_found(last, err.instance, ptr)
    if last == "within" and validator in ("exclusiveMinimum", "maximum", "type"):
        return _Found(f"once.within is seconds, more than 0 and at most 3600: not {json.dumps(err.instance, default=str)[:40]}",
                      ptr, "e.g. within: 2 (a double click, or a form and a cart call of one add)")
    if validator == "oneOf" and last == "route":
        return _Found(f"{json.dumps(err.instance, default=str)[:60]} is not a route trigger", ptr,
                      "write the path pattern (route: /products/:handle), or bind its match to an input "
                      "(route: {path: /products/:handle, input: route})")
    if last == "per" and validator == "const":
        return _Found(f"once.per can only be view, not {json.dumps(err.instance, default=str)[:40]}", ptr,
                      "per: view (once per route view of a single-page app), or within: SECONDS")
    if validator == "oneOf" and last == "require" and "consent" in parts:
        return _Found(f"{json.dumps(err.instance, default=str)[:60]} is not what consent requires", ptr,
                      "one name or a list of names (letters, digits, - and _): require: C0004, "
                      "require: [analytics, marketing], require: [analytics_storage]")
    if validator == "oneOf" and last == "datalayer":
        return _Found(f"{json.dumps(err.instance, default=str)[:60]} is not a data layer trigger", ptr,
                      "name the pushed event (datalayer: view_item), or bind it to an input "
                      "(datalayer: {event: view_item, input: push})")
    if last == "currency" and validator in ("anyOf", "pattern"):
        return _Found(f"{err.instance!r} is not a currency", ptr,
                      "write an ISO 4217 code in capitals (USD, EUR, JPY)"
                      + (", or a path to the page's code (cart.currency)" if validator == "anyOf" else ""))
    if validator == "const" and last == "version":
        return _Found(f"unsupported plan version {err.instance!r}", ptr, "set version: 1")
    if validator == "type":
        want = err.validator_value
        return _Found(f"expected {want}, got {_kind(err.instance)} ({json.dumps(err.instance, default=str)[:60]})", ptr, None)
    if validator == "minProperties" and last == "derive":
        return _Found(f"derive needs one of {', '.join(DERIVED_TYPES)}", ptr, "e.g. derive: {sum: event.Items[].RowTotal}")
    if validator == "minProperties":
        return _Found(f"{'/'.join(map(str, parts)) or 'the plan'} is empty", ptr, None)
    return _Found(err.message, ptr, None)


def _path_found(text: Any, ptr: str) -> _Found:
    """Why a text is not a path, pointing at it, with the syntax."""
    try:
        parse_path(text)
        why = "a part cannot contain '.', '[', ']' or '|'"
    except ValueError as err:
        why = str(err)
    return _Found(f"{text!r} is not a path: {why}", ptr, SYNTAX)


def _paths_found(key: str, value: Any, ptr: str) -> _Found:
    """Why a `from:` (or another path-or-list key) is neither a path nor a list of paths."""
    if isinstance(value, str):
        return _path_found(value, ptr)
    for index, item in enumerate(value if isinstance(value, list) else ()):
        if not isinstance(item, str):
            return _Found(f"{json.dumps(item, default=str)[:60]} in '{key}' is not a path: a path is text", f"{ptr}/{index}", SYNTAX)
        try:
            parse_path(item)
        except ValueError:
            return _path_found(item, f"{ptr}/{index}")
    what = "an empty list" if value == [] else _kind(value)
    return _Found(f"'{key}' must be a path or a list of paths, got {what}", ptr, f"e.g. {key}: product.title; {SYNTAX}")


def _property_name(name: str, validator: str, parts: list) -> _Found:
    """Why a property's name is refused, pointing at the name."""
    ptr = _ptr(parts + [name])
    if name == "__proto__":
        return _Found(
            "'__proto__' cannot be a property name: in JavaScript it is every object's prototype, "
            "so the payload would never carry it", ptr, "rename the property", key=True)
    if validator == "minLength":
        return _Found("a property name cannot be empty", _ptr(parts), "name the property (or remove the empty key)", key=True)
    if validator == "maxLength":
        return _Found(f"the property name {name[:40]!r}... is longer than 255 characters, the most Klaviyo keeps",
                      ptr, "use a shorter name", key=True)
    return _Found(f"{name!r} cannot be a property name", ptr, None, key=True)


# --------------------------------------------------------------------------- building


def _event(key: str, spec: dict, marked: Marked, currency: str | None) -> Event:
    ptr = f"/events/{escape_pointer(key)}"
    method = spec.get("method", "track")
    inputs = tuple(spec.get("inputs") or ())
    check_names(key, inputs, ptr, marked)
    fire = spec.get("fire") or {}
    triggers = [Trigger("call")]
    if fire.get("load"):
        triggers.append(Trigger("load"))
    for kind in ("click", "submit"):
        if kind in fire:
            triggers.append(Trigger(kind, fire[kind]["selector"], fire[kind].get("input")))
    if "datalayer" in fire:
        layer = fire["datalayer"] if isinstance(fire["datalayer"], dict) else {"event": fire["datalayer"]}
        bound = layer.get("input") or (inputs[0] if inputs else None)
        triggers.append(Trigger("datalayer", input=bound, event=layer["event"]))
    if "route" in fire:
        route = fire["route"] if isinstance(fire["route"], dict) else {"path": fire["route"]}
        triggers.append(Trigger("route", input=route.get("input"), path=route["path"]))
    properties = _properties(spec["properties"], f"{ptr}/properties", marked, currency)
    return Event(
        key=key,
        method=method,
        metric=spec.get("metric"),
        description=(spec.get("description") or "").strip(),
        inputs=inputs,
        triggers=tuple(triggers),
        properties=properties,
        also=tuple(spec.get("also") or ()),
        once=_once(spec["once"], properties, f"{ptr}/once", marked) if "once" in spec else None,
        sample=tuple((spec.get("sample") or {}).items()),
        pointer=ptr,
    )


def _once(spec: dict, properties: tuple[Property, ...], ptr: str, marked: Marked) -> tuple[tuple[str, ...], float]:
    """``once: {key, within}``: the payload properties keying a send (each one of the event's), seconds
    (0 for ``per: view``: once per route view)."""
    names = [prop.name for prop in properties]
    if "per" in spec and "within" in spec:
        raise PlanError("once takes within: (seconds) or per: view, not both", where=marked.where(f"{ptr}/per", key=True),
                        hint="per: view sends once per route view of a single-page app; remove within:")
    for index, name in enumerate(spec.get("key") or ()):
        if name not in names:
            raise PlanError(f"once.key {name!r} is not one of the event's properties",
                            where=marked.where(f"{ptr}/key/{index}"), hint=f"{closest(name, names)}properties: {', '.join(names)}")
    return tuple(spec.get("key") or ()), 0.0 if "per" in spec else float(spec.get("within", ONCE_SECONDS))


def _properties(specs: dict, ptr: str, marked: Marked, currency: str | None) -> tuple[Property, ...]:
    return tuple(_property(name, spec, f"{ptr}/{escape_pointer(name)}", marked, currency) for name, spec in specs.items())


def _paths(value: str | list, ptr: str, marked: Marked) -> tuple[str, ...]:
    """A path or a list of paths as written, in canonical form; a `PlanError` at the bad one."""
    texts = value if isinstance(value, list) else [value]
    out = []
    for index, text in enumerate(texts):
        try:
            out.append(parse_path(text))
        except ValueError as err:
            where = f"{ptr}/{index}" if isinstance(value, list) else ptr
            raise PlanError(f"{text!r} is not a path: {err}", where=marked.where(where), hint=SYNTAX) from None
    return tuple(out)


def _known_currency(code: str, ptr: str, marked: Marked) -> None:
    if code not in CURRENCIES:
        same_start = sorted(c for c in CURRENCIES if c[:2] == code[:2])  # the country's code: KWT -> KWD
        raise PlanError(
            f"{code!r} is not an ISO 4217 currency code", where=marked.where(ptr),
            hint=f"{closest(code, same_start or sorted(CURRENCIES))}write the shop's code, such as USD, EUR or JPY",
        )


def _minor_units(name: str, derive: dict, ptr: str, marked: Marked, plan_currency: str | None) -> Source:
    """``derive: {minor_units: ...}``: the digits from ``digits:``, a currency code, or the plan's
    currency; with a path as the currency, those are the fallback when the page gives no code."""
    paths = _paths(derive["minor_units"], f"{ptr}/derive/minor_units", marked)
    currency, digits = derive.get("currency"), derive.get("digits")
    if isinstance(currency, str) and re.fullmatch("[A-Z]{3}", currency):
        _known_currency(currency, f"{ptr}/derive/currency", marked)
        if digits is not None:
            raise PlanError(
                f"digits: {digits} and currency: {currency} both say how many digits {name!r} has",
                where=marked.where(f"{ptr}/derive/digits", key=True),
                hint=f"keep one ({currency} has {minor_digits(currency)})",
            )
        return Source("derive", op="minor_units", paths=paths, digits=minor_digits(currency), currency=currency)
    currency_path = _paths(currency, f"{ptr}/derive/currency", marked)[0] if currency is not None else None
    if currency_path and "[]" in currency_path:  # a list is no code: the digits would fall back unseen
        raise PlanError(
            f"currency: {shown(currency_path)!r} maps over a list ([]), but one amount has one currency",
            where=marked.where(f"{ptr}/derive/currency"),
            hint="read one code: cart.currency, cart.items[0].currency, or line.currency inside line items",
        )
    if digits is not None:
        return Source("derive", op="minor_units", paths=paths, digits=int(digits), currency_path=currency_path)
    if plan_currency is not None:
        return Source("derive", op="minor_units", paths=paths, digits=minor_digits(plan_currency),
                      currency=plan_currency, currency_path=currency_path)
    if currency_path is None:
        raise PlanError(
            f"{name!r} is in minor units of which currency? (JPY has none, USD cents, KWD thousandths)",
            where=marked.where(f"{ptr}/derive"),
            hint="add currency: USD at the top of the plan, or here currency: JPY (a code), "
                 "currency: cart.currency (a path to the page's code) or digits: 2; "
                 "Shopify's amounts are hundredths in every currency, JPY too (digits: 2)",
        )
    return Source("derive", op="minor_units", paths=paths, digits=2, currency_path=currency_path)


def _property(name: str, spec: dict, ptr: str, marked: Marked, currency: str | None) -> Property:
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
        children = _properties(spec["item"], f"{ptr}/item", marked, currency)
    if kind == "object" and "properties" in spec:
        children = _properties(spec["properties"], f"{ptr}/properties", marked, currency)
    source_key = sources[0]
    if source_key == "from":
        source = Source("path", paths=_paths(spec["from"], f"{ptr}/from", marked))
    elif source_key == "value":
        source = Source("value", value=spec["value"])
    elif source_key == "properties":
        source = Source("properties")
    else:
        derive = spec["derive"]
        ops = [op for op in DERIVED_TYPES if op in derive]
        if len(ops) != 1:
            raise PlanError(
                f"derive needs exactly one of {', '.join(DERIVED_TYPES)}" + (f" (found {', '.join(ops)})" if ops else ""),
                where=marked.where(f"{ptr}/derive"),
                hint="e.g. derive: {union: [event.Items[].ProductCategories]}",
            )
        op = ops[0]
        if "digits" in derive and op not in ("sum", "minor_units"):
            raise PlanError("digits: only applies to sum and minor_units", where=marked.where(f"{ptr}/derive/digits", key=True), hint="remove digits:")
        if "currency" in derive and op != "minor_units":
            raise PlanError("currency: only applies to minor_units", where=marked.where(f"{ptr}/derive/currency", key=True), hint="remove currency:")
        if DERIVED_TYPES[op] != kind:
            raise PlanError(
                f"derive {op} gives a {DERIVED_TYPES[op]}, but {name!r} is declared {kind}",
                where=marked.where(f"{ptr}/type"),
                hint=f"set type: {DERIVED_TYPES[op]}",
            )
        if op == "format":
            template = derive["format"]
            parts = format_parts(template, f"{ptr}/derive/format", marked)
            source = Source("derive", op="format", template=template, parts=parts,
                            paths=tuple(p for k, p in parts if k == "path"))
        elif op == "union":
            source = Source("derive", op="union", paths=_paths(derive["union"], f"{ptr}/derive/union", marked))
        elif op == "minor_units":
            source = _minor_units(name, derive, ptr, marked, currency)
        elif op == "absolute_url":
            source = Source("derive", op=op, paths=_paths(derive[op], f"{ptr}/derive/{op}", marked))
        else:
            source = Source("derive", op=op, paths=_paths(derive[op], f"{ptr}/derive/{op}", marked),
                            digits=int(derive.get("digits", 2)))
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
    return value is None or convert(kind, value) is not None


