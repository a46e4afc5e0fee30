"""Platform-shaped data in the plan (issue 13): money in minor units, URLs made absolute against
the page, array indexes in paths, TypeScript types that fit real data, samples kept honest, and a
NUL in a plan refused with its place.

The generated JavaScript runs in node and the Python evaluator computes the same calls: each test
that compares them runs both over many values."""

from __future__ import annotations

import contextlib
import io
import json
import re
import shutil
import subprocess
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from klaviyo_snippets.generator import UserError, evaluate, generate, load_plan
from klaviyo_snippets.harness.cli import main
from tests.node import node_binary

ROOT = Path(__file__).resolve().parents[2]
SHOPIFY_PLAN = ROOT / "examples" / "shopify-plan.yaml"

# A small driver: each case sets the page's URL, calls one function with its arguments, and
# records the klaviyo calls and the warnings.
DRIVER = r"""
const fs = require("fs");
const [bundlePath, casesPath] = process.argv.slice(2);
global.window = global;
const calls = [], warnings = [];
console.warn = (m) => warnings.push(String(m).replace(/^klaviyo-snippets: /, ""));
global.location = {href: "", pathname: "/"};
global.document = {readyState: "complete", title: "", referrer: "", addEventListener() {},
  querySelector() { return null; }, querySelectorAll() { return []; }};
const record = (name) => (...args) => { calls.push([name, ...args]); return true; };
global.klaviyo = {track: record("track"), identify: record("identify"), trackViewedItem: record("trackViewedItem")};
(0, eval)(fs.readFileSync(bundlePath, "utf8"));
const out = [];
for (const c of JSON.parse(fs.readFileSync(casesPath, "utf8"))) {
  calls.length = 0; warnings.length = 0;
  location.href = c.url || "";
  global.klaviyoSnippets[c.fn](...c.args);
  out.push({calls: calls.slice(), warnings: warnings.slice()});
}
process.stdout.write(JSON.stringify(out));
"""


def write_plan(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def in_node(plan_path: Path, cases: list[dict], tmp_path: Path) -> list[dict]:
    generate(plan_path, tmp_path / "dist")
    (tmp_path / "driver.js").write_text(DRIVER)
    (tmp_path / "cases.json").write_text(json.dumps(cases))
    proc = subprocess.run([node_binary(), str(tmp_path / "driver.js"), str(tmp_path / "dist" / "klaviyo-snippets.min.js"),
                           str(tmp_path / "cases.json")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout, parse_int=_javascript_int)


def _javascript_int(text: str) -> int | float:
    """A whole number as JavaScript holds it: JSON.stringify writes 1.2345678901234567e19 as
    12345678901234567000, which Python would read as an exact int."""
    n = int(text)
    return float(n) if abs(n) >= 2**53 else n


def in_both(plan_path: Path, cases: list[dict], tmp_path: Path) -> list[tuple[dict, dict]]:
    """(what node did, what the evaluator says) per case, each as {"call": ..., "warnings": [...]}."""
    plan = load_plan(plan_path)
    pairs = []
    for case, got in zip(cases, in_node(plan_path, cases, tmp_path), strict=True):
        event = next(e for e in plan.events if e.function == case["fn"])
        outcome = evaluate(event, {**dict(zip(event.inputs, case["args"])), "page": {"url": case.get("url", "")}}, now=0)
        pairs.append(({"call": got["calls"][0] if got["calls"] else None, "warnings": got["warnings"]},
                      {"call": outcome.call if outcome.sent else None, "warnings": outcome.warnings}))
    return pairs


def assert_agree(pairs) -> None:
    differ = [(node, python) for node, python in pairs if node != python]
    assert not differ, f"{len(differ)} of {len(pairs)} differ, e.g. node {differ[0][0]} / evaluator {differ[0][1]}"


# --------------------------------------------------------------------------- money in minor units

MONEY_PLAN = """\
version: 1
public_key: AbC123
currency: JPY
events:
  money:
    metric: Money
    inputs: [thing]
    properties:
      Cents: {type: number, derive: {minor_units: thing.v, digits: 2}}
      Yen: {type: number, derive: {minor_units: thing.v}}
      Fils: {type: number, derive: {minor_units: thing.v, currency: KWD}}
      Four: {type: number, derive: {minor_units: thing.v, currency: CLF}}
      Six: {type: number, derive: {minor_units: thing.v, digits: 6}}
      Page: {type: number, derive: {minor_units: thing.v, currency: thing.cur}}
      Fallback: {type: number, derive: {minor_units: [thing.missing, thing.v], digits: 2}}
"""

AMOUNTS = (
    list(range(0, 2001)) + [-1, -10, -1999, 12345678, 999999999999, 2**53, 2**53 + 1, 10**21, 1234567890123456789012]
    + [0.1, 0.2, 0.3, 1.1, 2.675, 12.3, 999.5, 19.99, 1e-7, 1.5e-7, 1e-300, 5e-324, 1.7976931348623157e308, -0.5]
    + ["1999", " 1999 ", "19.99", "-5", "007", "1e3", "abc", "1,299.00", "", "   ", None, True, [], {}, [1]]
)
CODES = ["USD", "jpy", " KWD ", "", None, 5, ["JPY"], "XYZ", "CLF", "constructor", "ſ", "ıqd"]


def test_minor_units_agree_in_node_and_the_evaluator_over_many_values(tmp_path):
    plan = write_plan(tmp_path, MONEY_PLAN)
    cases = [{"fn": "money", "args": [{"v": v, "cur": CODES[i % len(CODES)]}]} for i, v in enumerate(AMOUNTS)]
    pairs = in_both(plan, cases, tmp_path)
    assert_agree(pairs)
    got = {json.dumps(v): node["call"][2] if node["call"] else {} for v, (node, _) in zip(AMOUNTS, pairs)}

    # Exact: the number nearest the decimal the digits say, never a binary quotient or product.
    assert got["1999"]["Cents"] == 19.99 and got["1"]["Cents"] == 0.01 and got["10"]["Cents"] == 0.1
    assert got["1.1"]["Cents"] == 0.011 and got["0.1"]["Cents"] == 0.001 and got['"19.99"']["Cents"] == 0.1999
    for n in range(0, 2001):
        assert got[str(n)]["Cents"] == float(Decimal(n).scaleb(-2)), n
        assert got[str(n)]["Six"] == float(Decimal(n).scaleb(-6)), n
    # The currency's ISO 4217 digits: the plan's JPY (0), KWD (3), CLF (4).
    assert (got["1999"]["Yen"], got["1999"]["Fils"], got["1999"]["Four"]) == (1999, 1.999, 0.1999)
    assert got["1999"]["Fallback"] == 19.99  # the first path with a value
    # Empty values are missing, not 0; text that is not a number is the wrong type, with a warning.
    assert got['""'] == {} and got["null"] == {}
    assert "Cents" not in got['"1,299.00"']
    assert "Money: Cents has the wrong type" in pairs[AMOUNTS.index("1,299.00")][0]["warnings"]


def test_a_fractional_minor_units_value_is_a_warning_in_node_and_the_evaluator(tmp_path):
    # A price already in major units (19.99) read as cents sends 0.1999: said, not silent.
    plan = write_plan(tmp_path, MONEY_PLAN)
    pairs = in_both(plan, [{"fn": "money", "args": [{"v": v}]} for v in (19.99, "19.99", 1999, "1999")], tmp_path)
    assert_agree(pairs)
    warned = [node["warnings"] for node, _ in pairs]
    assert ("Money: Cents reads 19.99 as minor units, which are whole numbers (if it is already in major units, "
            "read it without minor_units)") in warned[0]
    assert len(warned[0]) == len(warned[1]) == 7  # each of the seven properties reads it
    assert warned[2] == warned[3] == []


def test_minor_units_take_the_digits_of_the_currency_the_page_gives(tmp_path):
    plan = write_plan(tmp_path, MONEY_PLAN)
    codes = ["USD", "jpy", " KWD ", "", None, 5, ["JPY"], "XYZ", "CLF", "constructor"]
    cases = [{"fn": "money", "args": [{"v": 1999, "cur": code}]} for code in codes]
    pairs = in_both(plan, cases, tmp_path)
    assert_agree(pairs)
    # A code in any case and spacing is looked up; an unknown one has ISO's usual 2 digits; no
    # code (missing, empty, not text) falls back to the plan's currency, JPY: 0 digits.
    assert [node["call"][2]["Page"] for node, _ in pairs] == [19.99, 1999, 1.999, 1999, 1999, 1999, 1999, 19.99, 0.1999, 19.99]


def test_minor_units_converted_then_summed_have_no_float_drift(tmp_path):
    plan = write_plan(tmp_path, """\
        version: 1
        public_key: AbC123
        events:
          cart:
            metric: Cart
            inputs: [cart]
            properties:
              $value: {type: number, derive: {sum: "event.Items[].RowTotal"}}
              Items:
                type: line_items
                from: cart.items
                item:
                  RowTotal: {type: number, derive: {minor_units: line.final_line_price, digits: 2}}
        """)
    cases = [{"fn": "cart", "args": [{"items": [{"final_line_price": a}, {"final_line_price": b}]}]}
             for a, b in [(10, 20), (999, 1998), (1, 2), (1999, 1)]]
    pairs = in_both(plan, cases, tmp_path)
    assert_agree(pairs)
    assert [node["call"][2]["$value"] for node, _ in pairs] == [0.3, 29.97, 0.03, 20]


def test_minor_units_need_a_currency_or_digits_and_know_iso_codes(tmp_path):
    base = MONEY_PLAN.replace("currency: JPY\n", "")
    with pytest.raises(UserError) as info:
        load_plan(write_plan(tmp_path, base))
    text = str(info.value)
    assert "plan.yaml:9:35 at /events/money/properties/Yen/derive" in text
    assert "in minor units of which currency?" in text and "currency: USD" in text and "digits: 2" in text

    with pytest.raises(UserError) as info:
        load_plan(write_plan(tmp_path, MONEY_PLAN.replace("currency: KWD", "currency: KWT")))
    assert "'KWT' is not an ISO 4217 currency code" in str(info.value) and "did you mean 'KWD'?" in str(info.value)

    with pytest.raises(UserError) as info:
        load_plan(write_plan(tmp_path, MONEY_PLAN.replace("currency: JPY", "currency: yen")))
    assert "'yen' is not a currency" in str(info.value) and "plan.yaml:3:" in str(info.value)

    with pytest.raises(UserError) as info:
        load_plan(write_plan(tmp_path, MONEY_PLAN.replace("currency: KWD}", "currency: KWD, digits: 2}")))
    assert "both say how many digits" in str(info.value) and "KWD has 3" in str(info.value)

    with pytest.raises(UserError) as info:
        load_plan(write_plan(tmp_path, MONEY_PLAN.replace("currency: thing.cur", "currency: shop.cur")))
    assert "currency: 'shop.cur' is neither an ISO 4217 code nor a path" in str(info.value)

    # A code read from a list would be a list at run time, which counts as no code: refused here.
    with pytest.raises(UserError) as info:
        load_plan(write_plan(tmp_path, MONEY_PLAN.replace("currency: thing.cur", 'currency: "thing.lines[].cur"')))
    assert str(info.value).splitlines()[0].endswith(
        "plan.yaml:14:69 at /events/money/properties/Page/derive/currency: "
        "currency: 'thing.lines[].cur' maps over a list ([]), but one amount has one currency")


def test_the_shopify_example_converts_cents_urls_and_variants(tmp_path):
    """The documented example: Shopify's objects as Liquid's json filter gives them."""
    plan = load_plan(SHOPIFY_PLAN)
    [viewed, added] = plan.events
    product = plan.samples["ceramic_mug"]
    page = {"url": "https://shop.example/products/ceramic-mug"}
    payload = evaluate(viewed, {"product": product, "page": page}).payload
    assert payload["Price"] == 9.99 and payload["CompareAtPrice"] == 12.99 and payload["SKU"] == "MUG-WHITE"
    assert payload["URL"] == "https://shop.example/products/ceramic-mug"
    assert payload["ImageURL"] == "https://cdn.shopify.com/s/files/1/0000/0001/products/mug.png"
    cart = plan.samples["mug_cart"]
    outcome = evaluate(added, {"cart": cart, "item": cart["items"][0], "page": page})
    assert outcome.payload["$value"] == 19.98 and outcome.payload["Items"][0]["RowTotal"] == 19.98
    cases = [{"fn": "viewedProduct", "args": [product], "url": page["url"]},
             {"fn": "addedToCart", "args": [cart, cart["items"][0]], "url": page["url"]}]
    assert_agree(in_both(SHOPIFY_PLAN, cases, tmp_path))


# --------------------------------------------------------------------------- absolute URLs

URL_PLAN = """\
version: 1
public_key: AbC123
events:
  link:
    metric: Link
    inputs: [thing]
    properties:
      URL: {type: string, derive: {absolute_url: thing.url}, default: none}
"""
PAGES = ["https://shop.test/products/mug?x=1#f", "https://shop.test", "http://127.0.0.1:8000/a/b/",
         "HTTPS://Shop.Test/a/b", "file:///tmp/x.html", "about:blank", ""]
URLS = ["/products/mug", "//cdn.example.com/mug.png", "mug.png", "../x", "./y", "?q=1", "#top",
        "https://x.com/a", "HTTP://X.COM", "mailto:a@b.c", "localhost:3000/x", "  /p  ", "", "   ",
        None, 12, True, {}, [], "\\\\evil", "ſ:x", "/ü ber", "\u2028/x"]


def test_absolute_urls_agree_in_node_and_the_evaluator(tmp_path):
    plan = write_plan(tmp_path, URL_PLAN)
    cases = [{"fn": "link", "args": [{"url": u}], "url": p} for p in PAGES for u in URLS]
    pairs = in_both(plan, cases, tmp_path)
    assert_agree(pairs)
    got = {(c["url"], c["args"][0]["url"]): (n["call"][2].get("URL") if n["call"] else None)
           for c, (n, _) in zip(cases, pairs) if isinstance(c["args"][0]["url"], (str, type(None)))}
    page = PAGES[0]
    assert got[page, "/products/mug"] == "https://shop.test/products/mug"
    assert got[page, "//cdn.example.com/mug.png"] == "https://cdn.example.com/mug.png"
    assert got[page, "mug.png"] == "https://shop.test/products/mug.png"
    assert got[page, "?q=1"] == "https://shop.test/products/mug?q=1"
    assert got[page, "#top"] == "https://shop.test/products/mug?x=1#top"
    assert got[page, "https://x.com/a"] == "https://x.com/a" and got[page, "mailto:a@b.c"] == "mailto:a@b.c"
    assert got[page, "  /p  "] == "https://shop.test/p"
    assert got["https://shop.test", "mug.png"] == "https://shop.test/mug.png"
    assert got["http://127.0.0.1:8000/a/b/", "//cdn.example.com/mug.png"] == "http://cdn.example.com/mug.png"
    assert got["http://127.0.0.1:8000/a/b/", "mug.png"] == "http://127.0.0.1:8000/a/b/mug.png"
    assert got[page, ""] == "none" and got[page, None] == "none"  # missing: the default
    assert got["", "/products/mug"] == "/products/mug"  # no page to resolve against (not a browser)


# --------------------------------------------------------------------------- array index paths

INDEX_PLAN = """\
version: 1
public_key: AbC123
events:
  viewed:
    metric: Viewed
    inputs: [product]
    properties:
      SKU: {type: string, from: "product.variants[0].sku"}
      Alias: {type: string, from: product.variants.1.sku}
      Nested: {type: string, from: "product.options[1].values[0]"}
      EveryFirst: {type: string_list, from: "product.options[].values[0]"}
      Label: {type: string, derive: {format: "{product.variants[1].sku}-{product.id}"}}
"""


def test_array_index_paths_in_both_spellings(tmp_path):
    plan = write_plan(tmp_path, INDEX_PLAN)
    product = {"id": 7, "variants": [{"sku": "A"}, {"sku": "B"}],
               "options": [{"values": ["S", "M"]}, {"values": ["Red"]}]}
    cases = [{"fn": "viewed", "args": [product]}, {"fn": "viewed", "args": [{"variants": {"0": {"sku": "K"}}}]},
             {"fn": "viewed", "args": [{"variants": [], "options": [None, {"values": []}]}]}]
    pairs = in_both(plan, cases, tmp_path)
    assert_agree(pairs)
    assert pairs[0][0]["call"][2] == {"SKU": "A", "Alias": "B", "Nested": "Red", "EveryFirst": ["S", "Red"], "Label": "B-7"}
    bundle = (tmp_path / "dist" / "klaviyo-snippets.js").read_text()
    assert '".variants.0.sku"' in bundle and '".variants.1.sku"' in bundle  # one form for the runtime
    doc = (tmp_path / "dist" / "docs" / "viewed.md").read_text()
    assert "`product.variants[0].sku`" in doc and "`product.variants[1].sku`" in doc  # one form for people


@pytest.mark.parametrize("written, reason", [
    ("product.variants[0.sku", "the [ at character 17 is never closed"),
    ("product.variants[x].sku", "[x] is not an index"),
    ("product.variants[-1].sku", "[-1] is not an index"),
    ("product.variants[01].sku", "[01] is not an index"),
    ("product.variants[0]sku", "a dot comes between parts"),
    ("product.variants.[0].sku", "an index follows its list's name directly"),
    ("product..sku", "two dots in a row"),
    ("product.variants[][]", "[] maps over one list at a time"),
    ("product.title|product.name", "for a fallback, list the paths"),
])
def test_a_bad_path_says_why_and_shows_the_syntax(tmp_path, written, reason):
    text = INDEX_PLAN.replace('"product.variants[0].sku"', json.dumps(written))
    with pytest.raises(UserError) as info:
        load_plan(write_plan(tmp_path, text))
    message = str(info.value)
    assert "plan.yaml:8:" in message and "/events/viewed/properties/SKU/from" in message
    assert f"{written!r} is not a path: " in message and reason in message
    assert "product.variants[0].sku (element 0 of a list)" in message and "cart.items[].title" in message
    assert "got text" not in message


def test_an_unquoted_index_in_a_flow_mapping_gets_the_quoting_hint(tmp_path):
    """YAML reads [ inside {...} as a list: the syntax error's hint says to quote the path."""
    text = INDEX_PLAN.replace('"product.variants[0].sku"', "product.variants[0].sku")
    with pytest.raises(UserError) as info:
        load_plan(write_plan(tmp_path, text))
    assert "plan.yaml:8:" in str(info.value) and 'from: "product.variants[0].sku"}' in str(info.value)


@pytest.mark.parametrize("where, written", [
    ("from list", 'from: [product.title, "product.x[y]"]'),
    ("union", 'derive: {union: ["product.x[y]"]}'),
    ("sum", 'derive: {sum: "product.x[y]"}'),
    ("format", 'derive: {format: "{product.x[y]}"}'),
    ("minor_units", 'derive: {minor_units: "product.x[y]", digits: 2}'),
    ("absolute_url", 'derive: {absolute_url: "product.x[y]"}'),
])
def test_every_kind_of_path_shows_the_syntax(tmp_path, where, written):
    kind = {"union": "string_list", "sum": "number", "minor_units": "number"}.get(where, "string")
    text = INDEX_PLAN.replace('SKU: {type: string, from: "product.variants[0].sku"}', f"SKU: {{type: {kind}, {written}}}")
    with pytest.raises(UserError) as info:
        load_plan(write_plan(tmp_path, text))
    message = str(info.value)
    assert "is not a path: [y] is not an index" in message, message
    assert "product.variants[0].sku (element 0 of a list)" in message


# --------------------------------------------------------------------------- TypeScript

TS_PLAN = """\
version: 1
public_key: AbC123
events:
  viewed:
    metric: Viewed
    inputs: [product]
    properties:
      Name: {type: string, required: true, from: product.title}
      SKU: {type: string, from: "product.variants[0].sku"}
      Sizes: {type: string_list, from: "product.variants[].size"}
      Price: {type: number, derive: {minor_units: product.price, currency: product.currency, digits: 2}}
      URL: {type: string, derive: {absolute_url: product.url}}
      Extra: {type: object, from: product.meta}
"""

TS_GOOD = """\
interface Variant { sku: string; size: string; weight: number }
interface Product { title: string; variants: Variant[]; price: number; currency: string; url: string; meta: Variant; tags: string[] }
declare const product: Product;
declare const readonlyVariants: readonly Variant[];
klaviyoSnippets.viewed(product);                                              // an interface-typed value
klaviyoSnippets.viewed({title: "Mug", variants: [{sku: "A", size: "S"}, {sku: "B"}]});  // a real array
klaviyoSnippets.viewed({title: "Mug", variants: readonlyVariants});
klaviyoSnippets.viewed({title: "Mug", variants: [null, {sku: null}], price: null, url: null});  // null
klaviyoSnippets.viewed(null);
klaviyoSnippets.viewed({title: "Mug", price: "999", currency: "USD", meta: {any: "thing"}});
"""

TS_BAD = [
    'klaviyoSnippets.viewed({titel: "Mug"});',                        # a misspelt key
    'klaviyoSnippets.viewed({title: "Mug", variants: [{skew: "A"}]});',  # misspelt inside a list
    'klaviyoSnippets.viewed({title: "Mug", variants: {0: {sku: "A"}}});',  # not an array
    'klaviyoSnippets.viewed({title: "Mug", price: [999]});',           # a list is not an amount
]


def tsc_binary() -> str:
    local = ROOT / ".venv" / "tools" / "node_modules" / ".bin" / "tsc"  # what ./bootstrap installs
    tsc = str(local) if local.exists() else shutil.which("tsc")
    if not tsc:
        pytest.skip("NO TSC: ./bootstrap installs TypeScript when npm is there (or npm i -g typescript)")
    return tsc


def test_input_types_take_arrays_null_and_interfaces_and_refuse_misspelt_keys(tmp_path):
    tsc = tsc_binary()
    generate(write_plan(tmp_path, TS_PLAN), tmp_path / "dist")
    types = (tmp_path / "dist" / "klaviyo-snippets.d.ts").read_text()
    assert "variants?: ReadonlyArray<{" in types and "[field: string]" not in types
    (tmp_path / "good.ts").write_text(TS_GOOD)
    (tmp_path / "bad.ts").write_text("\n".join(TS_BAD) + "\n")
    proc = subprocess.run([tsc, "--noEmit", "--strict", "--lib", "es2017,dom", "dist/klaviyo-snippets.d.ts", "good.ts", "bad.ts"],
                          cwd=tmp_path, capture_output=True, text=True)
    errors = re.findall(r"^(good|bad)\.ts\((\d+),\d+\): error (TS\d+)", proc.stdout, re.M)
    assert [e for e in errors if e[0] == "good"] == [], proc.stdout
    assert sorted({int(line) for name, line, _ in errors if name == "bad"}) == list(range(1, len(TS_BAD) + 1)), proc.stdout
    assert ("bad", "1", "TS2561") in errors  # "Object literal may only specify known properties... Did you mean 'title'?"


# --------------------------------------------------------------------------- samples kept honest

def run_generate(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["generate", *argv])
    return code, out.getvalue(), err.getvalue()


def test_generate_warns_when_a_sample_no_longer_gives_a_mapped_property(tmp_path):
    text = SHOPIFY_PLAN.read_text()
    text = text.replace('SKU: {type: string, from: "product.variants[0].sku"}', 'SKU: {type: string, from: "product.variant[0].sku"}')
    text = text.replace("SKU: {type: string, from: line.sku}", "SKU: {type: string, from: line.sku_code}")
    text = text.replace("Brand: {type: string, from: product.vendor}", "Brand: {type: string, from: product.brand, default: none}")
    text = text.replace("price: 999\n    compare", "price: n/a\n    compare")
    plan = tmp_path / "plan.yaml"
    plan.write_text(text)
    code, out, err = run_generate("--plan", str(plan), "--out", str(tmp_path / "dist"))
    assert code == 0 and "generated" in out
    assert err.splitlines()[:4] == [
        "warning: Viewed Product: sample gives nothing for SKU (product.variant[0].sku)",
        "warning: Viewed Product: sample gives nothing for Brand (product.brand)",  # a default does not count
        "warning: Viewed Product: sample gives the wrong type for Price (product.price)",
        "warning: Added to Cart: sample gives nothing for Items[0].SKU (line.sku_code)",
    ]
    assert len(err.splitlines()) == 5 and "hint: the samples (under samples:) and the plan's paths disagree" in err
    code, _, err = run_generate("--plan", str(plan), "--out", str(tmp_path / "dist"), "--check")
    assert code == 0 and "sample gives nothing for SKU" in err


def test_the_default_plan_and_the_shopify_example_say_nothing(tmp_path):
    for plan in (None, SHOPIFY_PLAN):
        code, _, err = run_generate(*(["--plan", str(plan)] if plan else []), "--out", str(tmp_path / "dist"))
        assert (code, err) == (0, "")


# --------------------------------------------------------------------------- NUL

def test_a_nul_in_the_plan_is_an_error_with_its_place(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\nevents:\n  a\0b: {}\n")
    code, out, err = run_generate("--plan", str(plan), "--out", str(tmp_path / "dist"))
    assert code == 2 and out == "" and "Traceback" not in err
    assert f"{plan}:3:4: the character U+0000 is not allowed in YAML" in err
    code, _, err = run_generate("--plan", "my\0plan.yaml", "--out", str(tmp_path / "dist"))
    assert code == 2 and "the plan's path my\\x00plan.yaml holds a NUL character (at character 3)" in err
    assert not (tmp_path / "dist").exists()
