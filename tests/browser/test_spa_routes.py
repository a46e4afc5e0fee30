"""Single-page apps (issue 15, item 2) in every browser lane: route views, not page loads.

A small client-routed storefront, served by the test: one HTML page whose script renders the view
of `location.pathname` (a product, a category) with its data island, moves between views with
`history.pushState` on a link click and back on `popstate`, and renders each new view a little
after it changed the URL, as an app fetching the view's data does (so for a moment the page still
holds the previous view's island). The plan fires Viewed Product on `route: /products/:handle`
and Viewed Category on `route: {path: /collections/:handle, input: route}`; identify fires on
load from the shell's customer island.

Asserted exactly, on what reached the stand-in Klaviyo (after `klaviyo_shop.settle()`, so
absences count): one Viewed Product per product view with that view's product (never the stale
island of the view before), one Viewed Category per category view, nothing for a replaceState
to the same URL or a re-render, back = a new view; Active on Site once (the onsite script sends
it per page load, and a soft navigation is not one: docs/spa.md); no diagnostics.

React 18 in StrictMode (its UMD builds from ./bootstrap's .venv/tools; the test skips, NO REACT,
without them, and fails under KLAVIYO_SNIPPETS_STRICT=1): a product component calls
`klaviyoSnippets.viewedProduct(p)` from `useEffect` (run twice on mount) and re-renders; with
`once: {key: [ProductID], per: view}` one event is sent per route view.

A view whose island never comes is a `dropped` warning after 3 s, and so is a view left before
its island came: never a silent loss.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
REACT = REPO / ".venv" / "tools" / "node_modules"
EMAIL = "ann.lee@example.com"

PLAN = """\
version: 1
public_key: SpaT01
events:
  identify:
    method: identify
    inputs: [customer]
    fire: {load: true}
    properties:
      email: {type: string, required: true, from: customer.email}
  viewed_product:
    metric: Viewed Product
    inputs: [product]
    fire: {route: /products/:handle}
    properties:
      ProductName: {type: string, required: true, from: product.title}
      ProductID: {type: string, required: true, from: product.id}
      URL: {type: string, from: page.url}
  viewed_category:
    metric: Viewed Category
    inputs: [route, category]
    fire: {route: {path: "/collections/:handle", input: route}}
    properties:
      CategoryName: {type: string, required: true, from: category.title}
      CategoryHandle: {type: string, from: route.params.handle}
"""

VIEWS = {
    "/products/a": ("product", {"id": "A1", "title": "Winnie the Pooh"}),
    "/products/b": ("product", {"id": "B2", "title": "A Tale of Two Cities"}),
    "/collections/books": ("category", {"title": "Books"}),
    "/products/missing": None,  # the app renders no island for it
}

# The storefront: renders the view of the path `DELAY` ms after it changes (a data fetch), links
# navigate with pushState, back and forward re-render. window.render() re-renders the view.
APP = """<nav><a data-link href="/products/a">A</a> <a data-link href="/products/b">B</a>
<a data-link href="/collections/books">Books</a> <a data-link href="/products/missing">Missing</a></nav>
<main id=app></main>
<script>
var VIEWS = %s, DELAY = 150;
window.render = function (path) {
  var v = VIEWS[path || location.pathname], app = document.getElementById('app');
  app.innerHTML = v ? '<h1>' + v[1].title + '</h1><script type="application/json" data-klaviyo="' + v[0] + '">' +
    JSON.stringify(v[1]).replace(/</g, '\\\\u003c') + '<\\/script>' : '<h1>Not found</h1>';
};
document.addEventListener('click', function (e) {
  var a = e.target.closest('a[data-link]');
  if (!a) return;
  e.preventDefault();
  history.pushState({}, '', a.getAttribute('href'));
  setTimeout(render, DELAY);
});
addEventListener('popstate', function () { setTimeout(render, DELAY); });
render();
</script>"""

CAPTURE = """window.__warnings = [];
addEventListener("klaviyo-snippets:warning", function (e) { window.__warnings.push(e.detail); });"""
# A browser without the Navigation API (Safari before 26, Firefox before 147): only history's
# pushState/replaceState and popstate say that the view changed.
NO_NAVIGATION_API = "Object.defineProperty(window, 'navigation', {value: undefined, configurable: true});"


def shell(install: str, body: str) -> str:
    customer = f'<script type="application/json" data-klaviyo="customer">{{"email": "{EMAIL}"}}</script>'
    return f"<!doctype html><html><head><meta charset='utf-8'>{install}</head><body>{customer}{body}</body></html>"


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> str:
    folder: Path = tmp_path_factory.mktemp("spa")
    (folder / "plan.yaml").write_text(PLAN, encoding="utf-8")
    generate(folder / "plan.yaml", folder / "dist")
    return (folder / "dist" / "install.html").read_text(encoding="utf-8")


# What the onsite script adds to every event's properties (wire facts, "Event mapping").
ONSITE = {"$use_ip": True, "$is_session_activity": True}
BOOKS = {"CategoryName": "Books", "CategoryHandle": "books", **ONSITE}


def sent(klaviyo_stub, metric: str) -> list[dict]:
    """The properties of each `metric` event Klaviyo received, in order."""
    return [e["properties"] for e in klaviyo_stub.events(metric=metric) if e["status"] != "dropped"]


def product(p: dict, path: str) -> dict:
    return {"ProductName": p["title"], "ProductID": p["id"], "URL": "https://shop.test" + path, **ONSITE}


def open_app(klaviyo_shop, install: str, path: str, navigation_api: bool = True):
    page = klaviyo_shop.page
    page.add_init_script(CAPTURE)
    if not navigation_api:
        page.add_init_script(NO_NAVIGATION_API)
    app = APP % json.dumps({k: v for k, v in VIEWS.items() if v})
    page.goto(klaviyo_shop.add(path, shell(install, app)))
    assert page.evaluate("() => !!window.navigation") == navigation_api
    return page


def go(page, klaviyo_shop, href: str) -> None:
    """Click the app's link to href and wait until its view has rendered; settle."""
    page.click(f'a[href="{href}"]')
    page.wait_for_function("h => location.pathname == h && document.querySelector('#app h1')"
                           " && document.querySelector('#app h1').textContent != window.__was", arg=href)
    klaviyo_shop.settle()


def mark(page) -> None:
    page.evaluate("() => window.__was = document.querySelector('#app h1').textContent")


def test_product_category_product_and_back_send_one_event_per_route_view(klaviyo_shop, klaviyo_stub, install):
    a, b = VIEWS["/products/a"][1], VIEWS["/products/b"][1]
    page = open_app(klaviyo_shop, install, "/products/a", navigation_api=False)
    klaviyo_stub.expect_event("Viewed Product", properties=product(a, "/products/a"), profile={"email": EMAIL})
    klaviyo_shop.settle()

    mark(page)
    go(page, klaviyo_shop, "/collections/books")
    assert sent(klaviyo_stub, "Viewed Category") == [BOOKS]

    mark(page)
    go(page, klaviyo_shop, "/products/b")
    assert sent(klaviyo_stub, "Viewed Product") == [product(a, "/products/a"), product(b, "/products/b")]

    # The same view: a replaceState to the same URL, a query change, and a re-render send nothing.
    page.evaluate("() => { history.replaceState({}, '', location.href); history.replaceState({}, '', '?variant=2');"
                  " render(); render(); }")
    klaviyo_shop.settle()
    page.wait_for_timeout(300)
    klaviyo_shop.settle()
    assert len(sent(klaviyo_stub, "Viewed Product")) == 2

    # Straight to another product: for a moment the page holds product B's island, the stale one.
    mark(page)
    go(page, klaviyo_shop, "/products/a")
    # Back: a new view of product B (popstate), its island rendered after the URL changed.
    mark(page)
    page.go_back()
    page.wait_for_function("() => location.pathname == '/products/b' && document.querySelector('#app h1')"
                           ".textContent != window.__was")
    klaviyo_shop.settle()
    assert sent(klaviyo_stub, "Viewed Product") == [product(a, "/products/a"), product(b, "/products/b"),
                                                    product(a, "/products/a"), product(b, "/products/b?variant=2")]
    assert len(sent(klaviyo_stub, "Viewed Category")) == 1
    assert len(sent(klaviyo_stub, "__activity__")) == 1  # the onsite script's, per page load: one load
    assert klaviyo_stub.events(status="dropped") == []
    assert page.evaluate("() => window.__warnings") == []
    assert klaviyo_stub.diagnostics() == []


def test_a_view_whose_island_never_comes_is_a_dropped_warning(klaviyo_shop, klaviyo_stub, install):
    page = open_app(klaviyo_shop, install, "/collections/books")
    klaviyo_stub.expect_event("Viewed Category", properties={"CategoryName": "Books", "CategoryHandle": "books"})
    # A view left before its island came (the app had not rendered it yet), then one that never gets it.
    page.evaluate("() => { history.pushState({}, '', '/products/a'); history.pushState({}, '', '/products/missing');"
                  " setTimeout(render, 150); }")
    with contextlib.suppress(Exception):
        page.wait_for_function("() => window.__warnings.length >= 2", timeout=5000)
    assert page.evaluate("() => window.__warnings") == [
        {"event": "Viewed Product", "kind": "dropped", "property": None,
         "reason": "left the view /products/a before it got its data island product"},
        {"event": "Viewed Product", "kind": "dropped", "property": None,
         "reason": "the view /products/missing never got its data island product (waited 3 s)"},
    ]
    klaviyo_shop.settle()
    assert sent(klaviyo_stub, "Viewed Product") == []
    # The stand-in records each as a dropped Viewed Product, with the reason.
    assert [(e["metric"], e["reasons"][0]["detail"]) for e in klaviyo_stub.events(status="dropped")] == [
        ("Viewed Product", w["reason"]) for w in page.evaluate("() => window.__warnings")]


def test_an_app_routing_with_the_navigation_api_alone(klaviyo_shop, klaviyo_stub, install):
    """A router that intercepts navigate events (no pushState call): the entry change is the view."""
    a, b = VIEWS["/products/a"][1], VIEWS["/products/b"][1]
    page = open_app(klaviyo_shop, install, "/products/a")
    klaviyo_stub.expect_event("Viewed Product", properties=product(a, "/products/a"), profile={"email": EMAIL})
    mark(page)
    page.evaluate("""() => {
      navigation.addEventListener('navigate', e => e.intercept({handler: () => new Promise(r => setTimeout(r, 150)).then(render)}));
      navigation.navigate('/products/b');
    }""")
    page.wait_for_function("() => document.querySelector('#app h1').textContent != window.__was")
    klaviyo_shop.settle()
    assert sent(klaviyo_stub, "Viewed Product") == [product(a, "/products/a"), product(b, "/products/b")]
    assert page.evaluate("() => window.__warnings") == []


def test_an_app_that_renders_the_view_before_it_changes_the_url(klaviyo_shop, klaviyo_stub, install):
    """The new view's island is on the page as the URL changes: it is not the one the trigger
    last read, so it is the new view's (and the view fires at once, without waiting)."""
    a, b = VIEWS["/products/a"][1], VIEWS["/products/b"][1]
    page = open_app(klaviyo_shop, install, "/products/a")
    klaviyo_stub.expect_event("Viewed Product", properties=product(a, "/products/a"), profile={"email": EMAIL})
    page.evaluate("() => { render('/products/b'); history.pushState({}, '', '/products/b'); }")
    klaviyo_shop.settle()
    assert sent(klaviyo_stub, "Viewed Product") == [product(a, "/products/a"), product(b, "/products/b")]
    assert page.evaluate("() => window.__warnings") == []


# -- React 18 in StrictMode ----------------------------------------------------------------------

REACT_PLAN = """\
version: 1
public_key: SpaT02
events:
  identify:
    method: identify
    inputs: [customer]
    fire: {load: true}
    properties:
      email: {type: string, required: true, from: customer.email}
  viewed_product:
    metric: Viewed Product
    inputs: [product]
    once: {key: [ProductID], per: view}
    properties:
      ProductName: {type: string, required: true, from: product.title}
      ProductID: {type: string, required: true, from: product.id}
"""

# A React app without JSX: a Product view calls viewedProduct from an effect that runs after
# every render (twice on mount in StrictMode); its Like button re-renders it; links pushState.
REACT_APP = """<div id=root></div>
<script src="/react.js"></script><script src="/react-dom.js"></script>
<script>
var h = React.createElement, PRODUCTS = {a: {id: 'A1', title: 'Winnie the Pooh'}, b: {id: 'B2', title: 'A Tale of Two Cities'}};
window.__effects = 0;
function Product(props) {
  var likes = React.useState(0);
  React.useEffect(function () { window.__effects++; klaviyoSnippets.viewedProduct(props.p); });
  return h('div', null, h('h1', null, props.p.title),
    h('button', {id: 'like', onClick: function () { likes[1](likes[0] + 1); }}, 'Like ' + likes[0]));
}
function App() {
  var path = React.useState(location.pathname);
  React.useEffect(function () {
    var back = function () { path[1](location.pathname); };
    addEventListener('popstate', back);
    return function () { removeEventListener('popstate', back); };
  }, []);
  function go(e) { e.preventDefault(); history.pushState({}, '', e.target.getAttribute('href')); path[1](location.pathname); }
  var p = PRODUCTS[path[0].split('/')[2]];
  return h('div', null, h('a', {href: '/products/a', onClick: go}, 'A'), ' ', h('a', {href: '/products/b', onClick: go}, 'B'),
    p ? h(Product, {p: p, key: path[0]}) : h('h1', null, 'Home'));
}
// Rendered once the page is parsed, after identify (the onsite script drops an anonymous visitor's events).
addEventListener('DOMContentLoaded', function () {
  ReactDOM.createRoot(document.getElementById('root')).render(h(React.StrictMode, null, h(App)));
});
</script>"""


@pytest.fixture(scope="module")
def react_install(tmp_path_factory) -> str:
    folder: Path = tmp_path_factory.mktemp("spa-react")
    (folder / "plan.yaml").write_text(REACT_PLAN, encoding="utf-8")
    generate(folder / "plan.yaml", folder / "dist")
    return (folder / "dist" / "install.html").read_text(encoding="utf-8")


@pytest.fixture
def react_builds() -> tuple[str, str]:
    react, dom = REACT / "react" / "umd" / "react.development.js", REACT / "react-dom" / "umd" / "react-dom.development.js"
    if not (react.is_file() and dom.is_file()):
        pytest.skip("NO REACT: ./bootstrap installs react@18 and react-dom@18 (their UMD builds) into .venv/tools with npm")
    return react.read_text(encoding="utf-8"), dom.read_text(encoding="utf-8")


def test_react_strict_mode_double_effects_and_re_renders_send_one_event_per_view(
        klaviyo_shop, klaviyo_stub, react_install, react_builds):
    klaviyo_shop.add("/react.js", react_builds[0])
    klaviyo_shop.add("/react-dom.js", react_builds[1])
    page = klaviyo_shop.page
    page.add_init_script(CAPTURE)
    page.goto(klaviyo_shop.add("/products/a", shell(react_install, REACT_APP)))
    a = {"ProductName": "Winnie the Pooh", "ProductID": "A1", **ONSITE}
    b = {"ProductName": "A Tale of Two Cities", "ProductID": "B2", **ONSITE}
    klaviyo_stub.expect_event("Viewed Product", properties=a, profile={"email": EMAIL})
    page.click("#like")
    page.click("#like")
    page.wait_for_function("() => document.querySelector('#like').textContent == 'Like 2'")
    klaviyo_shop.settle()
    assert page.evaluate("() => window.__effects") == 4  # StrictMode ran the mount effect twice, then 2 re-renders
    assert sent(klaviyo_stub, "Viewed Product") == [a]

    page.click("a[href='/products/b']")
    page.wait_for_function("() => document.querySelector('h1').textContent == 'A Tale of Two Cities'")
    page.click("#like")
    klaviyo_shop.settle()
    page.go_back()
    page.wait_for_function("() => document.querySelector('h1').textContent == 'Winnie the Pooh'")
    klaviyo_shop.settle()
    assert sent(klaviyo_stub, "Viewed Product") == [a, b, a]  # back to A: a new view
    assert page.evaluate("() => window.__warnings") == []
    assert klaviyo_stub.diagnostics() == []
