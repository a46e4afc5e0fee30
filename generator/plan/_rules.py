"""The plan's rules that the schema cannot express: no private key anywhere and a valid public
key, event ids and inputs JavaScript can use, format placeholders, valid CSS selectors, paths that
start at a known root, properties that do not read each other in a circle, and the links between
events and samples. Each refusal is a `PlanError` with file:line and a fix.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from typing import Any

from klaviyo_snippets.generator.keys import PRIVATE_KEY_IN_TEXT, is_public_key, looks_private
from klaviyo_snippets.generator.plan._model import (
    BUNDLE_NAMES, JS_RESERVED, LINE_ROOT, PAGE_FIELDS, PLACEHOLDER, RESERVED_INPUTS,
    Event, Plan, PlanError, Property, dependency_order,
)
from klaviyo_snippets.generator.plan._paths import SYNTAX, parse_path, shown
from klaviyo_snippets.generator.plan._runtime import js_finite
from klaviyo_snippets.generator.plan._yamlmarks import Marked, escape_pointer

__all__ = [
    "check_public_key", "check_values", "check_names", "distinct_functions", "format_parts",
    "check_semantics", "selector_problem", "closest",
]

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


def check_values(value: Any, ptr: str, marked: Marked) -> None:
    """Refuse, before anything else reads or echoes them, a private key in any text of the plan
    (keys included: everything may end up in browser code) and numbers JSON cannot carry."""
    if isinstance(value, str):
        if PRIVATE_KEY_IN_TEXT.search(value):
            raise _private_key_error(marked.where(ptr), fix=_IN_PLAN)
    elif isinstance(value, (float, int)) and not isinstance(value, bool):
        if not js_finite(value):
            raise PlanError(
                f"{value if isinstance(value, float) else f'a whole number of {len(str(abs(value)))} digits'} "
                "is not a number JSON can carry",
                where=marked.where(ptr),
                hint="write a finite number; YAML reads .inf, .nan and exponents such as 1e+400 as infinity or NaN, "
                     "and JavaScript reads whole numbers past 1.8e308 as infinity",
            )
    elif isinstance(value, dict):
        for key, item in value.items():
            child = f"{ptr}/{escape_pointer(key)}"
            if isinstance(key, str) and PRIVATE_KEY_IN_TEXT.search(key):  # the pointer would show it
                raise _private_key_error(marked.where(child, key=True, shown=ptr or "/"), "a key here", _IN_PLAN)
            if not isinstance(key, str):
                check_values(key, child, marked)
            check_values(item, child, marked)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            check_values(item, f"{ptr}/{index}", marked)


# --------------------------------------------------------------------------- names


def _function_name(key: str) -> str:
    """An event id as its JavaScript function: added_to_cart -> addedToCart."""
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest if part)


def distinct_functions(events: dict, marked: Marked):
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


def check_names(key: str, inputs: tuple[str, ...], ptr: str, marked: Marked) -> None:
    """Refuse an event id or input name that JavaScript or the bundle already uses."""
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


# --------------------------------------------------------------------------- format templates


def format_parts(template: str, ptr: str, marked: Marked) -> tuple[tuple[str, str], ...]:
    """A ``derive: {format: ...}`` template split into ("text", s) and ("path", p) parts."""
    parts: list[tuple[str, str]] = []
    pos = 0
    for match in PLACEHOLDER.finditer(template):
        if match.start() > pos:
            parts.append(("text", template[pos:match.start()]))
        try:
            path = parse_path(match.group(1).strip())
        except ValueError as err:
            raise PlanError(f"{{{match.group(1)}}} is not a path: {err}", where=marked.where(ptr),
                            hint=f"write placeholders like {{checkout.id}} or {{now}}; {SYNTAX}") from None
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


# --------------------------------------------------------------------------- events, paths and samples


def check_semantics(plan: Plan, marked: Marked) -> None:
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
        layer = event.trigger("datalayer")
        if layer and not event.inputs:
            raise PlanError(
                "fire.datalayer needs an input: the data layer's push is handed to the event as one",
                where=marked.where(f"{event.pointer}/fire/datalayer"),
                hint="add inputs: [push], and read the push's fields as push.ecommerce.items[0].item_name",
            )
        if layer and layer.input not in event.inputs:
            raise PlanError(
                f"fire.datalayer.input {layer.input!r} is not one of the event's inputs {list(event.inputs)}",
                where=marked.where(f"{event.pointer}/fire/datalayer/input"),
                hint=f"add {layer.input!r} to inputs:, or bind one of {list(event.inputs)}",
            )
        route = event.trigger("route")
        if route and route.input and route.input not in event.inputs:
            raise PlanError(
                f"fire.route.input {route.input!r} is not one of the event's inputs {list(event.inputs)}",
                where=marked.where(f"{event.pointer}/fire/route/input"),
                hint=f"add {route.input!r} to inputs:, or bind one of {list(event.inputs)}",
            )
        if route and event.trigger("load"):
            raise PlanError(
                "fire.load and fire.route both fire on the first page load: the event would be sent twice",
                where=marked.where(f"{event.pointer}/fire/load"),
                hint="remove load: true; a route trigger fires on the first page load too, when the path matches",
            )
        problem = route and route_problem(route.path)
        if problem:
            raise PlanError(
                f"{route.path!r} is not a route pattern: {problem}",
                where=marked.where(f"{event.pointer}/fire/route" + ("/path" if isinstance(
                    marked.data["events"][event.key]["fire"]["route"], dict) else "")),
                hint="write the path as the shopper sees it, from /: /products/:handle (:name is one segment), "
                     "/collections/* (* last: one or more segments), /cart",
            )
        if event.trigger("load") and not event.inputs:
            raise PlanError(
                "fire.load needs at least one input: the event fires when the inputs' data islands are on the page",
                where=marked.where(f"{event.pointer}/fire/load"),
                hint="add inputs: [product], and render <script type=\"application/json\" data-klaviyo=\"product\"> in your theme",
            )
        for index, target in enumerate(event.also):
            if target not in keys:
                raise PlanError(f"also: unknown event {target!r}", where=marked.where(f"{event.pointer}/also/{index}"), hint=f"{closest(target, keys)}events: {', '.join(keys)}")
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
                raise PlanError(f"sample {name!r} is not defined under samples:", where=marked.where(ptr), hint=f"{closest(name, plan.samples)}add it to the top-level samples:")


def route_problem(pattern: str) -> str | None:
    """What is wrong with a route pattern (docs/spa.md), or None: it starts with /; its segments are
    text, `:name` (one segment) or a last `*`; no empty segment, query, hash, % escape or space."""
    if not pattern.startswith("/"):
        return "it must start with /"
    bad = re.search(r"[?#%\s\x00-\x1f\x7f]", pattern)
    if bad:
        what = {"?": "a query", "#": "a hash", "%": "a % escape"}.get(bad.group(), "a space or control character")
        return f"it holds {what} ({bad.group()!r}); a pattern matches the path only, written as the shopper sees it"
    parts = pattern.rstrip("/").split("/")[1:] if pattern != "/" else []
    names: set[str] = set()
    for index, part in enumerate(parts):
        if not part:
            return "it has an empty segment (//)"
        if part == "*":
            if index != len(parts) - 1:
                return "* can only be the last segment"
        elif part.startswith(":"):
            if not re.fullmatch(r":[A-Za-z_][A-Za-z0-9_]*", part):
                return f"{part!r} is not a parameter: write :name (letters, digits, _)"
            if part == ":__proto__":
                return "':__proto__' cannot be a parameter's name"
            if part[1:] in names:
                return f"the parameter {part!r} appears twice"
            names.add(part[1:])
        elif "*" in part or ":" in part:
            return f"{part!r} mixes text with * or :; each is a whole segment"
    return None


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
        paths = prop.source.read_paths
        for index, path in enumerate(paths):
            head = path.split(".", 1)[0].removesuffix("[]")
            ptr = prop.pointer + _path_pointer(prop, index)
            if index == len(prop.source.paths) and head not in roots | {"event"}:  # a currency path
                raise PlanError(
                    f"currency: {shown(path)!r} is neither an ISO 4217 code nor a path",
                    where=marked.where(ptr),
                    hint="write a code in capitals (USD, JPY), or a path starting with an input (cart.currency)",
                )
            if head == "event":
                rest = path.split(".", 1)[1] if "." in path else ""
                target = rest.split(".", 1)[0].removesuffix("[]")
                if target not in names:
                    raise PlanError(
                        f"{shown(path)!r} reads event.{target}, which is not a property here",
                        where=marked.where(ptr),
                        hint=f"{closest(target, names)}event. reads a sibling property of the same payload",
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
                    f"unknown path root {head!r} in {shown(path)!r}",
                    where=marked.where(ptr),
                    hint=f"{closest(head, roots | {'event'})}{where_hint}; or add {head!r} to the event's inputs. {SYNTAX}",
                )
            if head == "page" and "." in path and path.split(".")[1].removesuffix("[]") not in PAGE_FIELDS:
                raise PlanError(
                    f"{shown(path)!r}: page has no field {path.split('.')[1]!r}",
                    where=marked.where(ptr),
                    hint=f"{closest(path.split('.')[1], PAGE_FIELDS)}page has {', '.join(PAGE_FIELDS)}",
                )
            if head in ("now",) and "." in path:
                raise PlanError("now is a number (unix seconds) and has no fields", where=marked.where(ptr), hint="write {now} or now")
        if prop.type == "line_items":
            _check_scope(prop.children, roots | {LINE_ROOT}, marked, event)
        elif prop.children:
            _check_scope(prop.children, roots, marked, event)
    dependency_order(props, marked)  # raises on cycles


def _path_pointer(prop: Property, index: int) -> str:
    src = prop.source
    if index == len(src.paths):
        return "/derive/currency"
    if src.kind == "path":
        return "/from" + (f"/{index}" if len(src.paths) > 1 else "")
    if src.op == "union":
        return f"/derive/union/{index}"
    if src.op in ("minor_units", "absolute_url"):
        return f"/derive/{src.op}" + (f"/{index}" if len(src.paths) > 1 else "")
    if src.op:
        return f"/derive/{src.op}"
    return ""


def closest(word: str, options) -> str:
    """The start of a hint: the option nearest to a misspelt word, if one is near enough."""
    match = difflib.get_close_matches(str(word), list(options), n=1, cutoff=0.6)
    return f"did you mean {match[0]!r}? " if match else ""
