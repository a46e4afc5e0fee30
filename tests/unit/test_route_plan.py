"""Single-page apps without a browser (issue 15, item 2): the plan's `fire: {route: ...}` forms
and their errors (file, line, pointer, a fix), `once: {per: view}`, the generated route matcher
run in node on the pattern syntax of docs/spa.md, and a plan without either carrying none of the
route runtime. The browser proof is tests/browser/test_spa_routes.py."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate
from klaviyo_snippets.generator.plan import load_plan
from klaviyo_snippets.harness.cli import main
from tests.node import node_binary

PLAN = """\
version: 1
public_key: AbC123
events:
  viewed_product:
    metric: Viewed Product
    inputs: [{inputs}]
    fire: {fire}
    properties:
      ProductName: {{type: string, required: true, from: "product.title"}}
"""


def write(tmp_path: Path, fire: str, inputs: str = "product") -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(fire=fire, inputs=inputs), encoding="utf-8")
    return path


@pytest.mark.parametrize("fire, inputs, path, bound, islands", [
    ("{route: /products/:handle}", "product", "/products/:handle", None, ("product",)),  # every input from its island
    ('{route: "/collections/*"}', "product", "/collections/*", None, ("product",)),
    ("{route: {path: /products/:handle, input: route}}", "route, product", "/products/:handle", "route", ("product",)),
    ("{route: {path: /cart}}", "product", "/cart", None, ("product",)),
])
def test_the_two_forms_of_the_trigger(tmp_path, fire, inputs, path, bound, islands):
    [event] = load_plan(write(tmp_path, fire, inputs)).events
    trigger = event.trigger("route")
    assert (trigger.path, trigger.input) == (path, bound)
    assert event.island_inputs == islands


@pytest.mark.parametrize("fire, inputs, message", [
    ("{route: products/:handle}", "product",
     "plan.yaml:7:19 at /events/viewed_product/fire/route: 'products/:handle' is not a route pattern: it must start "
     "with /\n  hint: write the path as the shopper sees it, from /: /products/:handle (:name is one segment), "
     "/collections/* (* last: one or more segments), /cart\n"),
    ('{route: {path: "/products/*/reviews"}}', "product",
     "plan.yaml:7:26 at /events/viewed_product/fire/route/path: '/products/*/reviews' is not a route pattern: "
     "* can only be the last segment\n"),
    ("{route: /products/:handle?variant=1}", "product",
     "at /events/viewed_product/fire/route: '/products/:handle?variant=1' is not a route pattern: it holds a query "
     "('?'); a pattern matches the path only, written as the shopper sees it\n"),
    ('{route: "/products//:handle"}', "product", "is not a route pattern: it has an empty segment (//)\n"),
    ('{route: "/products/:"}', "product", "is not a route pattern: ':' is not a parameter: write :name (letters, "
                                          "digits, _)\n"),
    ('{route: "/p/:id/:id"}', "product", "is not a route pattern: the parameter ':id' appears twice\n"),
    ('{route: "/p/:__proto__"}', "product", "is not a route pattern: ':__proto__' cannot be a parameter's name\n"),
    ('{route: "/p/x:id"}', "product", "is not a route pattern: 'x:id' mixes text with * or :; each is a whole segment\n"),
    ('{route: "/collections/%C3%A9t%C3%A9"}', "product", "is not a route pattern: it holds a % escape ('%')"),
    ("{route: {path: /products/:handle, input: match}}", "product",
     "plan.yaml:7:52 at /events/viewed_product/fire/route/input: fire.route.input 'match' is not one of the event's "
     "inputs ['product']\n  hint: add 'match' to inputs:, or bind one of ['product']\n"),
    ("{route: [/products/:handle]}", "product",
     'plan.yaml:7:19 at /events/viewed_product/fire/route: ["/products/:handle"] is not a route trigger\n'
     "  hint: write the path pattern (route: /products/:handle), or bind its match to an input "
     "(route: {path: /products/:handle, input: route})\n"),
    ('{route: ""}', "product", 'at /events/viewed_product/fire/route: "" is not a route trigger\n'),
    ("{load: true, route: /products/:handle}", "product",
     "plan.yaml:7:18 at /events/viewed_product/fire/load: fire.load and fire.route both fire on the first page load: "
     "the event would be sent twice\n  hint: remove load: true; a route trigger fires on the first page load too, "
     "when the path matches\n"),
])
def test_a_wrong_trigger_says_where_and_how_to_fix_it(tmp_path, capsys, fire, inputs, message):
    plan = write(tmp_path, fire, inputs)
    assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + str(tmp_path) + "/") and message in err, err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


ONCE_PLAN = """\
version: 1
public_key: AbC123
events:
  viewed_product:
    metric: Viewed Product
    inputs: [product]
    once: {once}
    properties:
      ProductID: {{type: string, required: true, from: product.id}}
"""


def test_once_per_view_is_a_window_of_zero(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text(ONCE_PLAN.format(once="{key: [ProductID], per: view}"), encoding="utf-8")
    assert load_plan(path).events[0].once == (("ProductID",), 0.0)


@pytest.mark.parametrize("once, message", [
    ("{per: view, within: 2}", "plan.yaml:7:12 at /events/viewed_product/once/per: once takes within: (seconds) or "
                               "per: view, not both\n  hint: per: view sends once per route view of a single-page app; "
                               "remove within:\n"),
    ("{per: page}", 'at /events/viewed_product/once/per: once.per can only be view, not "page"\n'
                    "  hint: per: view (once per route view of a single-page app), or within: SECONDS\n"),
])
def test_a_wrong_once_per_says_where(tmp_path, capsys, once, message):
    path = tmp_path / "plan.yaml"
    path.write_text(ONCE_PLAN.format(once=once), encoding="utf-8")
    assert main(["generate", "--plan", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err, err


# -- the generated matcher, run in node ------------------------------------------------------------

CASES = [  # (pattern, path, params or None)
    ("/products/:handle", "/products/winnie", {"handle": "winnie"}),
    ("/products/:handle", "/products/winnie/", {"handle": "winnie"}),  # a trailing slash
    ("/products/:handle", "/products/caf%C3%A9", {"handle": "café"}),  # decoded
    ("/products/:handle", "/products/bad%E0", {"handle": "bad%E0"}),  # not UTF-8: kept as is
    ("/products/:handle", "/products", None),
    ("/products/:handle", "/products/", None),
    ("/products/:handle", "/products/a/b", None),
    ("/products/:handle", "/Products/a", None),  # case matters, as in URLs
    ("/products/:handle", "/products//a", None),
    ("/collections/*", "/collections/books", {}),
    ("/collections/*", "/collections/books/fiction", {}),
    ("/collections/*", "/collections", None),
    ("/collections/:c/products/:p", "/collections/books/products/pooh", {"c": "books", "p": "pooh"}),
    ("/cart", "/cart", {}),
    ("/cart", "/cart/", {}),
    ("/cart", "/cartx", None),
    ("/", "/", {}),
    ("/", "/x", None),
    ("/été", "/%C3%A9t%C3%A9", {}),
]

DRIVER = r"""
const fs = require("fs");
const [bundlePath, casesPath] = process.argv.slice(2);
const src = fs.readFileSync(bundlePath, "utf8");
const m = /function Rm\(p, s, o, a, b, i, x\) \{[\s\S]*?\n  \}\n/.exec(src);
const Rm = new Function("return " + m[0])();
const out = JSON.parse(fs.readFileSync(casesPath, "utf8")).map(([p, s]) => { const r = Rm(p, s); return r === undefined ? null : r; });
process.stdout.write(JSON.stringify(out));
"""


def test_the_generated_matcher_follows_the_pattern_syntax(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN.format(fire="{route: /products/:handle}", inputs="product"), encoding="utf-8")
    generate(plan, tmp_path / "dist")
    (tmp_path / "driver.js").write_text(DRIVER)
    (tmp_path / "cases.json").write_text(json.dumps([[p, s] for p, s, _ in CASES]))
    proc = subprocess.run([node_binary(), str(tmp_path / "driver.js"), str(tmp_path / "dist" / "klaviyo-snippets.js"),
                           str(tmp_path / "cases.json")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [expected for _, _, expected in CASES]


def test_a_plan_without_routes_carries_none_of_the_route_runtime(tmp_path):
    generate(None, tmp_path / "default", public_key="AbC123")
    plain = (tmp_path / "default" / "klaviyo-snippets.min.js").read_text()
    assert not re.search(r"pushState|popstate|MutationObserver|function R[a-z]\(", plain)
    path = tmp_path / "plan.yaml"
    path.write_text(ONCE_PLAN.format(once="{key: [ProductID], per: view}"), encoding="utf-8")
    generate(path, tmp_path / "per-view")
    per_view = (tmp_path / "per-view" / "klaviyo-snippets.min.js").read_text()
    # once per view needs the view count (history's changes), not the route triggers' waiting
    assert "pushState" in per_view and "MutationObserver" not in per_view and "function Rm(" not in per_view
