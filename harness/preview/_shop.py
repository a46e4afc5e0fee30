"""The preview's sample storefront: pages built from a plan's sample data and its generated snippets.

Each event of the plan is placed on a page where a shopper would fire it: the guide's events on
the pages a store has (product, category, search, cart, checkout, an article, a referral page, a
sign-in page, a banner on the home page), every other event on a page of its own. A page carries
`install.html` (its onsite script URL pointed at the stand-in), the data islands its events read,
and, for each event, what fires it the way a shopper would:

* a click or submit trigger: the element from the event's generated snippet (the same markup a
  theme pastes), with a visible label added to each form field;
* a page-load trigger: the data islands, from the plan's sample data (samples.json);
* neither (an event your own code calls, like Added to Cart): a button that calls
  `klaviyoSnippets.<event>(...)` with the plan's sample, as an add-to-cart handler would.

Everything that reaches HTML is escaped by Jinja's autoescape, except the generated snippets'
markup and install.html, which the generator escaped itself.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup

from klaviyo_snippets.harness.preview._session import METHOD_LABELS

TEMPLATES = Path(__file__).parent / "templates"
PRODUCTION_SCRIPT_ORIGIN = "https://static.klaviyo.com/"


@dataclass(frozen=True)
class PageSpec:
    slug: str  # "" is the home page
    nav: str
    title: str
    template: str
    keys: tuple[str, ...] = ()  # the guide's event ids placed here
    metrics: tuple[str, ...] = ()  # ... or their metrics, lower-cased


PAGES: tuple[PageSpec, ...] = (
    PageSpec("", "Home", "Home", "home.html", ("clicked_banner",), ("clicked banner",)),
    PageSpec("category", "Category", "Category", "category.html", ("viewed_category",), ("viewed category",)),
    PageSpec("product", "Product", "Product", "product.html",
             ("viewed_product", "added_like", "added_to_cart"), ("viewed product", "added like", "added to cart")),
    PageSpec("search", "Search", "Search", "search.html", ("searched_site",), ("searched site",)),
    PageSpec("cart", "Cart", "Cart", "cart.html"),
    PageSpec("checkout", "Checkout", "Checkout", "checkout.html", ("started_checkout",), ("started checkout",)),
    PageSpec("article", "Article", "Article", "article.html", ("shared_article",), ("shared article",)),
    PageSpec("refer", "Refer a friend", "Refer a friend", "refer.html", ("referred_friend",), ("referred friend",)),
    PageSpec("account", "Sign in", "Sign in", "account.html", ("identify",)),
)

SUBMIT_LABELS = {
    "identify": "Sign in",
    "searched_site": "Search",
    "shared_article": "Share",
    "referred_friend": "Send invitations",
}
CALL_LABELS = {"added_to_cart": "Add to cart"}
FIELD_LABELS = {
    "email": "Email",
    "first_name": "First name",
    "last_name": "Last name",
    "phone_number": "Phone number",
    "term": "Search for",
    "corrected": "Autocorrected term",
    "results": "Results found",
    "recipients": "Friends' emails (comma or new line separated)",
}


@dataclass
class Widget:
    """One way to fire one event on a page."""

    event: str  # the plan's event id
    label: str  # metric or method
    method: str  # track, identify, trackViewedItem
    kind: str  # click, submit, call
    how: str  # what the shopper does, in words
    markup: Markup | None = None  # click / submit: the generated element
    function: str | None = None  # call: klaviyoSnippets.<function>
    args_json: Markup | None = None  # call: the arguments, as a data island body
    text: str = ""  # call: the button's text
    note: str | None = None


@dataclass
class ShopPage:
    spec: PageSpec
    events: list[str] = field(default_factory=list)
    islands: dict[str, Any] = field(default_factory=dict)  # input name -> sample value
    widgets: list[Widget] = field(default_factory=list)
    fires: list[tuple[str, str]] = field(default_factory=list)  # (label, how)
    notes: list[str] = field(default_factory=list)
    description: str = ""

    @property
    def slug(self) -> str:
        return self.spec.slug

    @property
    def path(self) -> str:
        return "/shop/" + self.spec.slug

    @property
    def nav(self) -> str:
        return self.spec.nav

    @property
    def title(self) -> str:
        return self.spec.title


def label(event) -> str:
    """What the preview calls an event: its metric, or Identify / Recently Viewed Items."""
    return event.metric if event.method == "track" else METHOD_LABELS.get(event.method, event.label)


def island_json(value: Any) -> Markup:
    """JSON that cannot close its script element: <, >, & and the JS line separators escaped."""
    text = json.dumps(value, ensure_ascii=False, indent=2)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                         ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(raw, escaped)
    return Markup(text)


_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL | re.IGNORECASE)
_INPUT = re.compile(r"<input\b[^>]*>")
_TEXTAREA = re.compile(r"<textarea\b[^>]*>.*?</textarea>", re.DOTALL)
_NAME = re.compile(r'\bname="([^"]*)"')
_SUBMIT = re.compile(r'(<button type="submit">)Send(</button>)')


def snippet_markup(snippet: str) -> str:
    """The elements of a generated snippet: what is left without its comments and scripts."""
    return _SCRIPT.sub("", _COMMENT.sub("", snippet)).strip()


def field_label(name: str) -> str:
    return FIELD_LABELS.get(name) or name.replace("_", " ").replace("-", " ").strip().capitalize() or name


def label_fields(markup: str, submit_text: str | None = None) -> str:
    """Wrap each generated form field in a visible <label> naming it; name the submit button."""

    def wrap(match: re.Match) -> str:
        name = _NAME.search(match.group(0))
        if not name:
            return match.group(0)
        text = html.escape(field_label(html.unescape(name.group(1))))
        return f'<label class="field"><span class="field-label">{text}</span>{match.group(0)}</label>'

    markup = _INPUT.sub(wrap, markup)
    markup = _TEXTAREA.sub(wrap, markup)
    if submit_text:
        markup = _SUBMIT.sub(lambda m: m.group(1) + html.escape(submit_text) + m.group(2), markup)
    return markup


def rewrite_script_url(install: str, stub_url: str) -> str:
    """install.html with Klaviyo's onsite script loaded from the stand-in instead of static.klaviyo.com."""
    return install.replace(PRODUCTION_SCRIPT_ORIGIN, stub_url.rstrip("/") + "/")


class Storefront:
    """One plan version's storefront: pages, the snippets by event, and rendering."""

    def __init__(self, plan, files: dict[str, bytes], stub_url: str, *, version: int = 1, public_key: str = ""):
        self.plan = plan
        self.version = version
        self.public_key = public_key
        self.text = {name: data.decode("utf-8") for name, data in files.items()
                     if name.endswith((".html", ".json", ".js", ".md"))}
        self.samples: dict[str, dict] = json.loads(self.text.get("samples.json", "{}")).get("events", {})
        self.stub_url = stub_url
        self.install = Markup(rewrite_script_url(self.text.get("install.html", ""), stub_url))
        self.events = {e.key: e for e in plan.events}
        self.pages: dict[str, ShopPage] = {}
        self.placement: dict[str, str | None] = {}
        self._build()

    # -- what is where -----------------------------------------------------------------------

    def _spec_for(self, event) -> PageSpec | None:
        for spec in PAGES:
            if event.key in spec.keys or (event.metric or "").lower() in spec.metrics:
                return spec
        if event.method == "identify":
            return PAGES[-1]
        return None

    def _fired_by_others(self, key: str) -> list[str]:
        return [e.key for e in self.plan.events if key in e.also]

    def _build(self) -> None:
        for spec in PAGES:
            self.pages[spec.slug] = ShopPage(spec)
        for event in self.plan.events:
            kinds = {t.kind for t in event.triggers}
            parents = self._fired_by_others(event.key)
            if not kinds & {"load", "click", "submit"} and parents:
                self.placement[event.key] = None  # fires with its parent (Recently Viewed Items)
                continue
            spec = self._spec_for(event)
            if spec is None:
                spec = PageSpec(f"event/{event.slug}", label(event), label(event), "event.html")
                self.pages[spec.slug] = ShopPage(spec, description=event.description)
            page = self.pages[spec.slug]
            page.events.append(event.key)
            self.placement[event.key] = spec.slug
            self._place(page, event)
        for page in self.pages.values():
            self._fires(page)

    def _args(self, key: str) -> list | None:
        entry = self.samples.get(key)
        return entry.get("args") if isinstance(entry, dict) else None

    def _place(self, page: ShopPage, event) -> None:
        args = self._args(event.key)
        kinds = {t.kind for t in event.triggers}
        shopper = [t for t in event.triggers if t.kind in ("click", "submit")]
        # Inputs read from data islands: for a click or submit, those not bound to the element or
        # form; a load-only event reads them all. An event a shopper fires (identify by its form)
        # gets no islands for its load trigger: the page would fire it on every visit.
        needed: list[str] = []
        if shopper:
            bound = {t.input for t in shopper}
            needed = [name for name in event.inputs if name not in bound]
        elif "load" in kinds:
            needed = list(event.inputs)
        for name in needed:
            if args is None:
                page.notes.append(f"{label(event)}: the plan has no sample for this event, so the page has no "
                                  f"`{name}` data island (add sample: to the event).")
                continue
            page.islands.setdefault(name, args[event.inputs.index(name)])
        if shopper:
            markup = snippet_markup(self.text.get(f"snippets/{event.slug}.html", ""))
            if markup:
                if any(t.kind == "submit" for t in shopper):
                    markup = label_fields(markup, SUBMIT_LABELS.get(event.key, "Submit"))
                how = "; ".join(
                    f"{'click' if t.kind == 'click' else 'submit'} {t.selector}" for t in shopper)
                page.widgets.append(Widget(event.key, label(event), event.method, shopper[0].kind, how, markup=Markup(markup)))
                return
            note = (f"the selector {shopper[0].selector} is too complex to draw an element for; this button "
                    f"calls klaviyoSnippets.{event.function}() instead")
            page.widgets.append(self._call_widget(event, args, note))
            return
        if "load" in kinds:
            return  # its islands fire it
        page.widgets.append(self._call_widget(event, args))

    def _call_widget(self, event, args: list | None, note: str | None = None) -> Widget:
        if args is None:
            note = (note + "; " if note else "") + "the plan has no sample for this event, so it is called without data"
        return Widget(
            event.key, label(event), event.method, "call",
            f"calls klaviyoSnippets.{event.function}() with the plan's sample, as your own code would",
            function=event.function,
            args_json=island_json(args or []),
            text=CALL_LABELS.get(event.key) or f"Fire {label(event)}",
            note=note,
        )

    def _fires(self, page: ShopPage) -> None:
        """What fires on this page: load triggers whose inputs all have islands here, their `also`
        events, and each widget."""
        fires: list[tuple[str, str]] = []
        for event in self.plan.events:
            if event.trigger("load") and event.inputs and all(n in page.islands for n in event.inputs):
                fires.append((label(event), "on page load"))
                for other in event.also:
                    if other in self.events:
                        fires.append((label(self.events[other]), f"with {label(event)}"))
        for w in page.widgets:
            fires.append((w.label, w.how))
        page.fires = fires

    # -- lookups -----------------------------------------------------------------------------

    def nav(self) -> tuple[list[ShopPage], list[ShopPage]]:
        """(the store's pages, the pages of the plan's own events)."""
        guide = [self.pages[s.slug] for s in PAGES]
        extra = [p for slug, p in self.pages.items() if slug.startswith("event/")]
        return guide, extra

    def snippet_for(self, kind: str, name: str | None) -> dict | None:
        """The generated snippet behind an entry: kind "track" with a metric, "identify",
        "trackViewedItem" (by method) or "activity" (Active on Site: the script tag)."""
        if kind == "activity":
            return self._snippet_ref(None, "script-tag.html")
        for event in self.plan.events:
            if kind == "track" and event.method == "track" and name and (event.metric or "").lower() == name.lower():
                return self._snippet_ref(event.key, f"snippets/{event.slug}.html")
            if kind != "track" and event.method == kind:
                return self._snippet_ref(event.key, f"snippets/{event.slug}.html")
        return None

    def _snippet_ref(self, key: str | None, file: str) -> dict | None:
        text = self.text.get(file)
        if text is None:
            return None
        return {"event": key, "file": file, "text": text, "plan_version": self.version}

    def events_summary(self) -> list[dict]:
        out = []
        for event in self.plan.events:
            slug = self.placement.get(event.key)
            out.append({
                "key": event.key,
                "label": label(event),
                "method": event.method,
                "metric": event.metric,
                "page": None if slug is None else "/shop/" + slug,
                "triggers": [t.kind for t in event.triggers if t.kind != "call"],
            })
        return out

    # -- rendering ---------------------------------------------------------------------------

    def render(self, slug: str) -> str | None:
        page = self.pages.get(slug)
        if page is None:
            return None
        guide, extra = self.nav()
        return _env().get_template(page.spec.template).render(
            page=page,
            nav=guide,
            extra_nav=extra,
            install=self.install,
            islands=page.islands,
            store=self,
            cart=self.cart(),
            product=self.first_island(page, "product"),
            plan_name=Path(str(self.plan.path)).name,
        )

    def cart(self) -> dict | None:
        """The sample cart: the first event input named cart or checkout that has a sample."""
        for wanted in ("cart", "checkout"):
            for event in self.plan.events:
                args = self._args(event.key)
                if args and wanted in event.inputs and isinstance(args[event.inputs.index(wanted)], dict):
                    return args[event.inputs.index(wanted)]
        return None

    def first_island(self, page: ShopPage, name: str) -> Any:
        if name in page.islands:
            return page.islands[name]
        for value in page.islands.values():
            if isinstance(value, dict):
                return value
        return None


def pick(data: Any, *names: str, default: Any = None) -> Any:
    """The first of `names` that `data` has (not None, not empty)."""
    if not isinstance(data, dict):
        return default
    for name in names:
        value = data.get(name)
        if value not in (None, "", [], {}):
            return value
    return default


def lines_of(cart: Any) -> list[dict]:
    """A cart's lines: its `lines` or `items`, else its first list of objects."""
    if not isinstance(cart, dict):
        return []
    for name in ("lines", "items", "line_items"):
        if isinstance(cart.get(name), list):
            return [x for x in cart[name] if isinstance(x, dict)]
    for value in cart.values():
        if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
            return value
    return []


def money(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    if isinstance(value, (int, float)):
        return f"{value:,.2f}"
    return str(value)


def text_list(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def initials(value: Any) -> str:
    words = [w for w in re.split(r"\W+", str(value or "")) if w]
    return "".join(w[0] for w in words[:2]).upper() or "?"


@lru_cache(maxsize=1)
def _env():
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals.update(pick=pick, lines_of=lines_of, money=money, text_list=text_list, initials=initials,
                       island_json=island_json)
    return env


def error_page(message: str) -> str:
    """The storefront while the plan has never loaded."""
    return _env().get_template("error.html").render(message=message)
