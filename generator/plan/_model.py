"""The tracking plan as data: the words a plan may use (types, methods, page fields, reserved
names), the frozen dataclasses the renderer and the evaluator walk, the order in which an event's
properties are computed, and `PlanError`.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.errors import printable
from klaviyo_snippets.generator.plan._yamlmarks import Marked

__all__ = [
    "Plan", "Consent", "Event", "Property", "Source", "Trigger", "PlanError", "dependency_order",
    "TYPES", "METHODS", "PAGE_FIELDS",
]

#: `once:` without `within`: a double click, or a form and a cart call of one add, fall inside it
ONCE_SECONDS = 2.0
TYPES = ("string", "number", "boolean", "date", "string_list", "line_items", "object")
METHODS = ("track", "identify", "trackViewedItem")
#: Roots a path may start with besides the event's inputs.
RUNTIME_ROOTS = ("page", "now", "event")
LINE_ROOT = "line"
#: The fields of the `page` root, from the browser's location and document.
PAGE_FIELDS = ("url", "path", "title", "referrer")
RESERVED_INPUTS = frozenset(RUNTIME_ROOTS + (LINE_ROOT, "constructor"))  # constructor: every JS object has one
#: What each derivation yields, to check it against the declared type.
DERIVED_TYPES = {
    "union": "string_list", "sum": "number", "count": "number", "format": "string",
    "minor_units": "number", "absolute_url": "string",
}
PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
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
    """A mistake in a tracking plan. Its text is `printable`: a name holding a right-to-left
    override or an escape sequence is shown escaped, never acted on by the terminal."""

    def __str__(self) -> str:
        return printable(super().__str__())


# --------------------------------------------------------------------------- the model


@dataclass(frozen=True)
class Source:
    """Where a property's value comes from. ``kind`` is path, value, derive or properties."""

    kind: str
    #: canonical paths (``product.variants.0.sku``; `_paths.shown` writes them as the plan does)
    paths: tuple[str, ...] = ()
    value: Any = None
    op: str | None = None  # union, sum, count, format, minor_units, absolute_url
    #: sum: the digits each value is rounded to; minor_units: the minor unit's digits (the
    #: fallback when a currency path gives no code)
    digits: int = 2
    template: str | None = None
    #: format: the template split into ("text", s) and ("path", p) parts
    parts: tuple[tuple[str, str], ...] = ()
    #: minor_units: the ISO 4217 code the digits come from, or a path to the page's code
    currency: str | None = None
    currency_path: str | None = None

    @property
    def read_paths(self) -> tuple[str, ...]:
        """Every path the source reads: its values', then the currency code's."""
        return self.paths + ((self.currency_path,) if self.currency_path else ())


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
        for path in self.source.read_paths:
            head, _, rest = path.partition(".")
            if head == "event" and rest:
                refs.append(rest.split(".", 1)[0].removesuffix("[]"))
        return tuple(dict.fromkeys(refs))


@dataclass(frozen=True)
class Trigger:
    kind: str  # call, load, click, submit, datalayer, route
    selector: str | None = None  # click, submit
    input: str | None = None  # the input bound to the element, the form's fields, the push or the route's match
    event: str | None = None  # datalayer: the event name pushed
    path: str | None = None  # route: the path pattern (/products/:handle)


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
    #: once per action: (the payload properties that key a send, () for the whole payload; seconds,
    #: or 0: once per route view, ``once: {per: view}``)
    once: tuple[tuple[str, ...], float] | None = None
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

    @functools.cached_property
    def island_inputs(self) -> tuple[str, ...]:
        """The inputs a trigger reads from data islands, in input order: all of them for a
        page-load trigger; for a click, submit, data layer or route trigger, those not bound to the
        element, the form's fields, the push or the route's match."""
        names: set[str] = set()
        for trigger in self.triggers:
            if trigger.kind == "load":
                names |= set(self.inputs)
            elif trigger.kind in ("click", "submit", "datalayer", "route"):
                names |= {name for name in self.inputs if name != trigger.input}
        return tuple(name for name in self.inputs if name in names)


@dataclass(frozen=True)
class Consent:
    """``consent:``: where the decision comes from, what runs without it, what the signal must allow
    (``require``: Shopify purposes, Google consent types or OneTrust groups) and, for a cookie
    signal, its name and granted value (docs/consent.md)."""

    signal: str  # api, shopify, google, onetrust, cookie
    denied: str = "nothing"  # or forms-only
    require: tuple[str, ...] = ()
    cookie: tuple[str, str] | None = None


@dataclass(frozen=True)
class Plan:
    path: Path
    sha256: str
    public_key: str | None
    events: tuple[Event, ...]
    samples: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    #: the plan's ISO 4217 code (``currency:``): the digits of its minor_units derivations
    currency: str | None = None
    #: the npm name and version of the package in dist/ (``package:``), None when not given
    package_name: str | None = None
    package_version: str | None = None
    #: how Klaviyo's onsite script loads (``onsite_script.load``): tag, now, idle or interaction
    onsite_load: str = "tag"
    #: ``consent:``, or None: the plan tracks without waiting for consent
    consent: Consent | None = None
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


def dependency_order(props: tuple[Property, ...], marked: Marked | None = None) -> tuple[Property, ...]:
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
