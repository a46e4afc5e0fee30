"""The generator's output: golden files, determinism, --check, the writer's manners, every file
parsing, and the generated JavaScript doing in node what the plan (and the guide) says."""

from __future__ import annotations

import contextlib
import base64
import difflib
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klaviyo_snippets.generator import default_plan_path, evaluate, generate, load_plan
from klaviyo_snippets.harness.cli import main
from tests.node import node_binary
from tests.reference import guide_text

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "tests" / "golden"
GUIDE_PAYLOADS = json.loads((GOLDEN / "guide" / "payloads.json").read_text())
DIST = ROOT / "dist"
#: Only tests/golden/no-inline is updated this way; dist/ (the default plan's golden output) is
#: updated by `klaviyo-snippets generate`, like any output folder.
UPDATE = os.environ.get("KLAVIYO_SNIPPETS_UPDATE_GOLDEN") == "1"
UPDATE_COMMAND = "KLAVIYO_SNIPPETS_UPDATE_GOLDEN=1 python -m pytest tests/unit/test_generator.py -k golden"

def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["generate", *argv])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def default_dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gen") / "dist"
    generate(out_dir=out)
    return out


# --------------------------------------------------------------------------- golden files


def _differences(expected: dict[str, bytes], actual: dict[str, bytes], where: str) -> list[str]:
    """One entry per file that differs: a unified diff (at most 60 lines), or what is missing."""
    problems = []
    for rel in sorted(set(expected) | set(actual)):
        if rel not in actual:
            problems.append(f"{rel}: in {where} but not generated any more")
        elif rel not in expected:
            problems.append(f"{rel}: generated but not in {where}")
        elif actual[rel] != expected[rel]:
            diff = difflib.unified_diff(
                expected[rel].decode().splitlines(), actual[rel].decode().splitlines(),
                f"{where}/{rel}", f"generated {rel}", lineterm="", n=2,
            )
            problems.append("\n".join(list(diff)[:60]))
    return problems


def _compare_golden(actual: dict[str, bytes], name: str) -> None:
    expected_dir = GOLDEN / name
    problems = _differences(files_of(expected_dir), actual, f"tests/golden/{name}")
    if UPDATE and problems:
        # Written, and still a failure: the variable can update the files, never make a run pass.
        shutil.rmtree(expected_dir, ignore_errors=True)
        for rel, data in actual.items():
            (expected_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            (expected_dir / rel).write_bytes(data)
        pytest.fail(f"updated tests/golden/{name} ({len(problems)} differences); review the diff "
                    "and run again without KLAVIYO_SNIPPETS_UPDATE_GOLDEN")
    assert not problems, (
        f"generated output differs from tests/golden/{name}:\n\n" + "\n\n".join(problems)
        + f"\n\nIf the change is intended, update the golden files with:\n  {UPDATE_COMMAND}"
    )


def test_committed_dist_is_the_default_plans_golden_output(default_dist):
    """dist/ is committed, and it is the golden output of the default plan: what the generator
    makes now must be byte-for-byte what is there."""
    problems = _differences(files_of(DIST), files_of(default_dist), "dist")
    assert not problems, (
        "dist/ differs from what the default plan generates:\n\n" + "\n\n".join(problems)
        + "\n\nIf the change is intended, regenerate dist/ with:\n  klaviyo-snippets generate"
    )


def test_golden_default_plan_without_inline_code(tmp_path):
    out = tmp_path / "dist"
    generate(out_dir=out, inline=False, csp_nonce="{{ csp_nonce }}", assets_url="https://cdn.example.com/kl/")
    actual = {k: v for k, v in files_of(out).items() if k.endswith(".html") or k == "manifest.json"}
    _compare_golden(actual, "no-inline")


def test_output_is_byte_deterministic(tmp_path):
    generate(out_dir=tmp_path / "a" / "dist")
    generate(out_dir=tmp_path / "b" / "dist")
    a, b = files_of(tmp_path / "a" / "dist"), files_of(tmp_path / "b" / "dist")
    assert a.keys() == b.keys()
    assert [k for k in a if a[k] != b[k]] == []


# --------------------------------------------------------------------------- --check and the writer


def test_check_exit_codes_and_summary(tmp_path):
    out = tmp_path / "dist"
    code, text, _ = run_cli("--out", str(out))
    assert code == 0 and "wrote" in text and "loader.min.js" in text
    code, text, _ = run_cli("--out", str(out), "--check")
    assert code == 0 and "is current" in text

    (out / "loader.js").write_text((out / "loader.js").read_text() + "// hand edit\n")
    (out / "docs" / "identify.md").unlink()
    code, text, _ = run_cli("--out", str(out), "--check")
    assert code == 1
    assert "2 of" in text and "changed" in text and "loader.js" in text
    assert "missing" in text and "docs/identify.md" in text
    assert "-// hand edit" in text  # the diff is shown
    assert "regenerate with: klaviyo-snippets generate" in text
    # --check wrote nothing
    assert not (out / "docs" / "identify.md").exists()
    assert run_cli("--out", str(out))[0] == 0
    assert run_cli("--out", str(out), "--check")[0] == 0


def test_writer_keeps_user_files_and_removes_only_its_own(tmp_path):
    out = tmp_path / "dist"
    generate(out_dir=out)
    (out / "my-notes.txt").write_text("mine")
    (out / "docs" / "my-page.md").write_text("# mine, no header")
    small = tmp_path / "plan.yaml"
    small.write_text(
        "version: 1\npublic_key: AbC123\nevents:\n"
        "  viewed_category:\n    metric: Viewed Category\n    inputs: [category]\n"
        "    properties:\n      CategoryName: {type: string, from: category.title}\n"
    )
    result = generate(small, out)
    assert "docs/added-to-cart.md" in result.removed
    assert "loader.min.js" not in result.removed  # still generated
    assert (out / "my-notes.txt").read_text() == "mine"
    assert (out / "docs" / "my-page.md").exists()
    assert not (out / "snippets" / "added-to-cart.html").exists()


def test_writer_refuses_to_overwrite_a_users_file(tmp_path):
    out = tmp_path / "dist"
    out.mkdir()
    (out / "loader.js").write_text("// my own loader\n")
    code, _, err = run_cli("--out", str(out))
    assert code == 2
    assert "not generated by klaviyo-snippets" in err and "Traceback" not in err
    assert (out / "loader.js").read_text() == "// my own loader\n"


# --------------------------------------------------------------------------- the files themselves


def test_headers_on_readable_files_and_minified_files_bare(default_dist):
    files = files_of(default_dist)
    for name, data in files.items():
        text = data.decode()
        if name.endswith(".min.js"):
            assert "Generated by" not in text and not text.startswith("/*"), name
        elif name == "package.json":  # npm's own fields only: the notice is its description
            assert json.loads(text)["description"].startswith("Generated by klaviyo-snippets"), name
        elif name.endswith(".json"):
            assert json.loads(text)["_generated"].startswith("Generated by klaviyo-snippets"), name
        else:
            first = text.splitlines()[0]
            assert "Generated by klaviyo-snippets" in first and "Do not edit" in first, name
            assert "klaviyo-snippets generate" in first, name


def test_manifest_describes_every_file(default_dist):
    manifest = json.loads((default_dist / "manifest.json").read_text())
    files = files_of(default_dist)
    assert set(manifest["files"]) == set(files) - {"manifest.json"}
    for name, facts in manifest["files"].items():
        data = files[name]
        assert facts["bytes"] == len(data)
        assert facts["gzip_bytes"] == len(gzip.compress(data, compresslevel=9, mtime=0))
        assert facts["sha256"] == hashlib.sha256(data).hexdigest()
        assert facts["integrity"] == "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()
    assert manifest["plan"]["sha256"] == hashlib.sha256(default_plan_path().read_bytes()).hexdigest()
    assert manifest["generator"]["version"]
    assert manifest["options"]["public_key"] == "XXXXXX"


def test_loader_min_is_derived_from_the_readable_loader_and_within_budget(default_dist):
    import rjsmin

    readable = (default_dist / "loader.js").read_text().split("*/", 1)[1]  # drop the header
    minified = (default_dist / "loader.min.js").read_bytes()
    assert minified.decode() == rjsmin.jsmin(readable.lstrip("\n")) + "\n"
    assert len(minified) <= 480
    assert len(gzip.compress(minified, 9, mtime=0)) <= 280


def test_script_tag_uses_the_public_key(default_dist, tmp_path):
    assert 'src="https://static.klaviyo.com/onsite/js/XXXXXX/klaviyo.js"' in (default_dist / "script-tag.html").read_text()
    generate(out_dir=tmp_path / "dist", public_key="AbC123")
    assert "/onsite/js/AbC123/klaviyo.js" in (tmp_path / "dist" / "install.html").read_text()


def _node_check(node: str, path: Path, module: bool = False) -> None:
    if module:
        proc = subprocess.run([node, "--check", "--input-type=module"], input=path.read_text(), capture_output=True, text=True)
    else:
        proc = subprocess.run([node, "--check", str(path)], capture_output=True, text=True)
    assert proc.returncode == 0, f"{path.name} does not parse:\n{proc.stderr}"


def _inline_scripts(html: str) -> list[str]:
    return [
        body for attrs, body in re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
        if "application/json" not in attrs and "src=" not in attrs
    ]


def test_every_generated_script_parses(default_dist, tmp_path):
    node = node_binary()
    checked = 0
    for path in sorted(default_dist.rglob("*")):
        if path.suffix == ".js":
            _node_check(node, path)
            checked += 1
        elif path.suffix == ".mjs":
            _node_check(node, path, module=True)
            checked += 1
        elif path.suffix == ".html":
            for index, body in enumerate(_inline_scripts(path.read_text())):
                snippet = tmp_path / f"{path.stem}-{index}.js"
                snippet.write_text(body)
                _node_check(node, snippet)
                checked += 1
    assert checked >= 6


def test_inline_scripts_cannot_be_closed_early(default_dist):
    for name in ("klaviyo-snippets.min.js", "loader.min.js", "install.html"):
        text = (default_dist / name).read_text().lower()
        body = "".join(_inline_scripts(text)) if name.endswith(".html") else text
        assert "</script" not in body and "<!--" not in body, name


def test_csp_nonce_on_every_inline_script(tmp_path):
    out = tmp_path / "dist"
    generate(out_dir=out, csp_nonce="{{ csp_nonce }}")
    seen = 0
    for path in out.rglob("*.html"):
        for attrs in re.findall(r"<script([^>]*)>", path.read_text()):
            if "application/json" in attrs:
                continue
            assert 'nonce="{{ csp_nonce }}"' in attrs, f"{path.name}: <script{attrs}>"
            seen += 1
    assert seen >= 3


def test_no_inline_mode_has_no_inline_code_and_pins_the_bundle(tmp_path):
    out = tmp_path / "dist"
    generate(out_dir=out, inline=False, assets_url="https://cdn.example.com/kl")
    manifest = json.loads((out / "manifest.json").read_text())
    for path in out.rglob("*.html"):
        assert _inline_scripts(path.read_text()) == [], path.name
    install = (out / "install.html").read_text()
    integrity = manifest["files"]["klaviyo-snippets.min.js"]["integrity"]
    assert f'src="https://cdn.example.com/kl/klaviyo-snippets.min.js" integrity="{integrity}" crossorigin="anonymous"' in install


def test_a_custom_event_appears_in_bundle_types_and_docs(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        default_plan_path().read_text()
        + "\n  wishlist_added:\n"
        "    metric: Added to Wishlist\n"
        "    description: A shopper saves a product for later.\n"
        "    inputs: [product, wishlist]\n"
        "    fire:\n      click: {selector: \"button.wishlist\"}\n"
        "    properties:\n"
        "      ProductID: {type: string, required: true, from: product.id}\n"
        "      WishlistSize: {type: number, from: wishlist.size}\n"
        "      Public: {type: boolean, from: wishlist.public}\n"
        "      SavedAt: {type: date, from: now}\n"
        "      Source: {type: string, value: theme}\n"
        "    sample: {product: winnie_the_pooh, now: checkout_time}\n"
    )
    out = tmp_path / "dist"
    generate(plan, out)
    bundle = (out / "klaviyo-snippets.js").read_text()
    assert 'S.wishlistAdded = F("Added to Wishlist"' in bundle
    assert '"button.wishlist"' in bundle
    assert "export var wishlistAdded" in (out / "klaviyo-snippets.mjs").read_text()
    types = (out / "klaviyo-snippets.d.ts").read_text()
    assert "interface WishlistAddedPayload" in types and "WishlistSize?: number;" in types
    assert 'track(event: "Added to Wishlist", properties?: WishlistAddedPayload' in types
    assert "wishlistAdded(product?: WishlistAddedProductInput, wishlist?: WishlistAddedWishlistInput)" in types
    doc = (out / "docs" / "wishlist-added.md").read_text()
    assert "# Added to Wishlist" in doc and "| WishlistSize | number | no |" in doc
    assert '"SavedAt": "2013-12-17T16:57:03.000Z"' in doc  # the sample's clock, as a date
    assert (out / "snippets" / "wishlist-added.html").exists()
    node = node_binary()
    _node_check(node, out / "klaviyo-snippets.min.js")


# --------------------------------------------------------------------------- the JavaScript, run in node

DRIVER = r"""
const fs = require("fs");
const [bundlePath, casesPath] = process.argv.slice(2);
const RealDate = Date;
let clock = null;
global.Date = class extends RealDate { constructor(...a) { if (a.length || clock === null) super(...a); else super(clock * 1000); } };
global.window = global;
const calls = [], warnings = [];
console.warn = (m) => warnings.push(String(m));
const islands = {};
global.location = {href: "", pathname: "/"};
global.document = {readyState: "complete", title: "", referrer: "", addEventListener() {},
  querySelector(sel) { const m = /data-klaviyo="([^"]+)"/.exec(sel); return m && islands[m[1]] !== undefined ? {textContent: islands[m[1]]} : null; }};
const record = (name) => (...args) => { calls.push([name, ...args]); return "sent:" + name; };
const cases = JSON.parse(fs.readFileSync(casesPath, "utf8"));
const out = [];
for (const c of cases) {
  calls.length = 0; warnings.length = 0;
  for (const k of Object.keys(islands)) delete islands[k];
  Object.assign(islands, c.islands || {});
  clock = c.now === undefined ? null : c.now;
  location.href = (c.page && c.page.url) || "";
  document.title = (c.page && c.page.title) || "";
  if (c.fresh) { delete global.klaviyoSnippets; }
  global.klaviyo = c.proxyless ? undefined : {track: record("track"), identify: record("identify"), trackViewedItem: record("trackViewedItem")};
  if (c.proxyless) { global._klOnsite = []; global.Proxy = undefined; }
  if (c.load || c.fresh) (0, eval)(fs.readFileSync(bundlePath, "utf8"));
  const result = c.fn ? global.klaviyoSnippets[c.fn](...c.args) : null;
  out.push({result, calls: calls.slice(), warnings: warnings.slice(), queue: c.proxyless ? global._klOnsite : null});
}
process.stdout.write(JSON.stringify(out));
"""


def run_bundle(bundle: Path, cases: list[dict], tmp_path: Path) -> list[dict]:
    node = node_binary()
    driver = tmp_path / "driver.js"
    driver.write_text(DRIVER)
    cases_file = tmp_path / "cases.json"
    cases_file.write_text(json.dumps(cases))
    proc = subprocess.run([node, str(driver), str(bundle), str(cases_file)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def sample_cases(plan) -> list[dict]:
    cases = []
    for index, event in enumerate(plan.events):
        roots = plan.sample_roots(event)
        cases.append({
            "fresh": index == 0, "fn": event.function, "args": [roots.get(n) for n in event.inputs],
            "now": roots.get("now"), "page": roots.get("page"),
        })
    return cases


@pytest.mark.parametrize("bundle", ["klaviyo-snippets.js", "klaviyo-snippets.min.js"])
def test_guide_samples_give_the_guides_payloads_in_node(default_dist, tmp_path, bundle):
    plan = load_plan()
    results = run_bundle(default_dist / bundle, sample_cases(plan), tmp_path)
    for event, got in zip(plan.events, results):
        expected = GUIDE_PAYLOADS[event.label]
        outcome = evaluate(event, plan.sample_roots(event))
        assert got["warnings"] == [], (event.key, got["warnings"])
        calls = got["calls"]
        # viewed_product also fires recently_viewed, with the same product
        assert calls[0] == outcome.call, event.key
        payload = calls[0][-1]
        assert payload == expected, f"{event.label}: {payload} != the guide's {expected}"
        assert list(payload) == list(expected), f"{event.label}: keys out of the guide's order"
        if event.also:
            assert [c[0] for c in calls[1:]] == ["trackViewedItem"]
        assert got["result"] == f"sent:{event.method}"


def test_runtime_checks_and_converts_values(default_dist, tmp_path):
    product = {"id": 1111, "title": "Mug", "price": "12.50", "compare_at_price": "n/a", "categories": "Kitchen, Gifts\nSale"}
    cart = {"lines": [{"product_id": "1", "title": "A", "line_price": "9.99"}, {"title": "B", "line_price": 19.99}]}
    cases = [
        {"fresh": True, "fn": "viewedCategory", "args": [{"title": "Books"}]},        # CategoryID missing
        {"fn": "viewedProduct", "args": [product]},                                   # conversions
        {"fn": "addedToCart", "args": [cart, {"title": "B", "product_id": "2"}]},     # a line lacks ProductID
        {"fn": "referredFriend", "args": [{"recipients": "a@example.com,\n b@example.com ,"}]},
        {"load": True, "fn": None, "args": []},                                       # a second include
    ]
    got = run_bundle(default_dist / "klaviyo-snippets.min.js", cases, tmp_path)
    plan = load_plan()

    assert got[0]["result"] is False and got[0]["calls"] == []
    assert got[0]["warnings"] == ["klaviyo-snippets: Viewed Category: not sent, missing CategoryID"]

    sent = got[1]["calls"][0][2]
    assert sent["ProductID"] == "1111" and sent["Price"] == 12.5
    assert sent["Categories"] == ["Kitchen", "Gifts", "Sale"]
    assert "CompareAtPrice" not in sent
    assert "klaviyo-snippets: Viewed Product: CompareAtPrice has the wrong type" in got[1]["warnings"]

    assert got[2]["calls"] == []
    assert got[2]["warnings"] == ["klaviyo-snippets: Added to Cart: not sent, missing Items[1].ProductID"]

    assert got[3]["calls"][0][2] == {"Recipients": ["a@example.com", "b@example.com"], "Quantity": 2}
    assert got[4]["calls"] == [] and got[4]["warnings"] == []

    # The Python evaluator (used for the docs) agrees with the browser code on all of it.
    for case, result in zip(cases[:4], got[:4]):
        event = next(e for e in plan.events if e.function == case["fn"])
        outcome = evaluate(event, dict(zip(event.inputs, case["args"])))
        own = [w.replace("klaviyo-snippets: ", "") for w in result["warnings"] if w.startswith(f"klaviyo-snippets: {event.label}:")]
        assert own == outcome.warnings
        assert (result["calls"][0] if result["calls"] else None) == (outcome.call if outcome.sent else None)


def test_load_trigger_reads_data_islands_and_proxyless_queue(default_dist, tmp_path):
    plan = load_plan()
    product = plan.samples["winnie_the_pooh"]
    cases = [
        {"fresh": True, "load": True, "islands": {"product": json.dumps(product)}, "fn": None, "args": []},
        {"fresh": True, "proxyless": True, "fn": "viewedCategory", "args": [plan.samples["fantasy_books"]]},
    ]
    got = run_bundle(default_dist / "klaviyo-snippets.js", cases, tmp_path)
    assert [c[:2] for c in got[0]["calls"]] == [["track", "Viewed Product"], ["trackViewedItem", got[0]["calls"][1][1]]]
    assert got[0]["calls"][0][2] == GUIDE_PAYLOADS["Viewed Product"]
    # Without Proxy the loader makes klaviyo an array: the call is queued for klaviyo.js.
    assert got[1]["result"] is True
    assert got[1]["queue"] == [["track", "Viewed Category", GUIDE_PAYLOADS["Viewed Category"]]]


EDGE_PLAN = """\
version: 1
public_key: AbC123
events:
  edge:
    metric: Edge Cases
    inputs: [thing, extra]
    properties:
      Const: {type: string, value: theme}
      ConstObject: {type: object, value: {a: [1, "<b>"]}}
      Defaulted: {type: number, from: thing.price, default: 0}
      Nickname: {type: string, from: thing.nick, default: friend}
      Flag: {type: boolean, from: thing.flag}
      When: {type: date, from: [thing.when, now]}
      Where: {type: string, from: page.path}
      Tags: {type: string_list, derive: {union: [thing.tags, "thing.lines[].tags", extra.tags]}}
      Total: {type: number, derive: {sum: "thing.lines[].price", digits: 0}}
      Exact: {type: number, derive: {sum: "event.Lines[].Price", digits: 3}}
      HowMany: {type: number, derive: {count: thing.lines}}
      Label: {type: string, derive: {format: "{thing.id}-{extra.code}!"}}
      Lines:
        type: line_items
        from: thing.lines
        default: []
        item:
          Price: {type: number, from: line.price}
          Meta:
            type: object
            properties:
              Name: {type: string, required: true, from: [line.name, thing.name]}
"""

EDGE_INPUTS = [
    ({"price": "12.5", "flag": "true", "when": 1387299423, "tags": "a, b\nc", "id": 7, "name": "N", "nick": "",
      "lines": [{"price": 1.005, "tags": ["b", "d"]}, {"price": "2", "name": "L", "tags": "e"}]},
     {"tags": ["a", 1, True], "code": "X"}),
    ({"price": "abc", "flag": "yes", "lines": "oops", "tags": [], "id": None}, {"code": None}),
    ({"lines": [{"price": 3}], "flag": False, "when": "2013-12-17"}, None),
    ({}, {}),
    (None, None),
]


def test_constants_defaults_and_derived_values_agree_with_the_evaluator(tmp_path):
    """Every source kind and every helper of the runtime, in node, against the Python evaluator
    (the docs' sample payloads come from it): the same payloads, the same warnings."""
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(EDGE_PLAN)
    out = tmp_path / "dist"
    generate(plan_path, out)
    event = load_plan(plan_path).events[0]
    cases = [{"fresh": i == 0, "fn": "edge", "args": list(args), "now": 1387299423,
              "page": {"url": "https://shop.example/x"}} for i, args in enumerate(EDGE_INPUTS)]
    for bundle in ("klaviyo-snippets.js", "klaviyo-snippets.min.js"):
        got = run_bundle(out / bundle, cases, tmp_path)
        for args, result in zip(EDGE_INPUTS, got):
            roots = dict(zip(event.inputs, args), page={"path": "/"}, now=1387299423)
            outcome = evaluate(event, roots)
            assert [w.removeprefix("klaviyo-snippets: ") for w in result["warnings"]] == outcome.warnings, args
            assert (result["calls"][0] if result["calls"] else None) == (outcome.call if outcome.sent else None), args
    first = got[0]["calls"][0][2]
    assert first["ConstObject"] == {"a": [1, "<b>"]} and first["Total"] == 3 and first["Exact"] == 3.005
    assert first["Tags"] == ["a, b\nc", "b", "d", "e", "a", "1", "true"] and first["Label"] == "7-X!"
    assert first["Lines"][1] == {"Price": 2, "Meta": {"Name": "L"}} and first["Flag"] is True
    assert first["Nickname"] == "friend"  # empty text counts as missing: the default applies
    assert got[3]["calls"][0][2] == {"Const": "theme", "ConstObject": {"a": [1, "<b>"]}, "Defaulted": 0, "Nickname": "friend",
                                     "When": "2013-12-17T16:57:03.000Z", "Where": "/"}  # a sum of no lines is missing


# Values a theme may hand the runtime, leaning on the edges of its conversions: numeric text with
# spaces, exponents, hex, non-ASCII digits and 400 digits; "true"/"yes"; epoch seconds and date
# text; lists written as text; the JavaScript line terminators; empty text and empty lists (which
# count as missing); objects with a `length` key (never empty for it); numbers up to the largest
# double, whose sums overflow; nested lists and objects.
TRICKY = st.sampled_from([
    " ", "12.5", " 12.50 ", "\t7\t", "12.", ".5", "1e3", "-0", "0x10", "\u0661\u0662", "\u00a012\u00a0", "true", "false",
    "yes", "1", "0", "n/a", "a, b\nc", ",,", " \u2028x\u3000", "\ufeffy\u1680", "2013-12-17", "1387299423",
    "-62135596801", "253402300800", "1" + "0" * 400, 1.005, -0.0, 0.1, 1e21, 1e-7, 2**53, 1387299423, -62135596801,
    253402300800, "", [], {"length": 0}, {"length": 2, "0": "a"}, 1.7976931348623157e308, -1.7976931348623155e308])
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-(2**53), 2**53),
                    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=6), TRICKY)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.sampled_from(["price", "tags", "name", "0", "length"]), inner, max_size=3),
                      max_leaves=5)
FIELD = st.one_of(TRICKY, SCALARS, VALUES)  # a third of the time a value from the tricky list
LINES = st.lists(st.fixed_dictionaries({}, optional={"price": FIELD, "name": FIELD, "tags": FIELD}), max_size=3)
THINGS = st.none() | st.fixed_dictionaries({}, optional={
    **{key: FIELD for key in ("price", "flag", "when", "tags", "id", "name", "nick")}, "lines": LINES | VALUES})
EXTRAS = st.none() | st.fixed_dictionaries({}, optional={"tags": FIELD, "code": FIELD})
GENERATED_INPUTS = 300


def as_javascript_numbers(value):
    """Whole numbers beyond 2**53 as the float they are in JavaScript (JSON.stringify writes
    -2.459524898742707e16 as -24595248987427070, which Python reads back as an exact int)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**53:
        return float(value)
    if isinstance(value, list):
        return [as_javascript_numbers(v) for v in value]
    if isinstance(value, dict):
        return {k: as_javascript_numbers(v) for k, v in value.items()}
    return value


def edge_plan_in_both_runtimes(tmp_path: Path, inputs: list[list]) -> list[tuple]:
    """(what node did, what the evaluator says) for each [thing, extra] on EDGE_PLAN, as
    ((warnings, [call] or []), same) pairs."""
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(EDGE_PLAN)
    generate(plan_path, tmp_path / "dist")
    event = load_plan(plan_path).events[0]
    cases = [{"fresh": i == 0, "fn": "edge", "args": args, "now": 1387299423, "page": {"url": "https://shop.example/x"}}
             for i, args in enumerate(inputs)]
    got = run_bundle(tmp_path / "dist" / "klaviyo-snippets.min.js", cases, tmp_path)
    assert len(got) == len(inputs)
    pairs = []
    for args, result in zip(inputs, got):
        outcome = evaluate(event, dict(zip(event.inputs, args), page={"path": "/"}, now=1387299423))
        node = ([w.removeprefix("klaviyo-snippets: ") for w in result["warnings"]], as_javascript_numbers(result["calls"][:1]))
        pairs.append((node, (outcome.warnings, [outcome.call] if outcome.sent else [])))
    return pairs


def test_generated_inputs_give_the_same_payloads_and_warnings_in_node_and_the_evaluator(tmp_path):
    """EDGE_PLAN again, on 300 generated (thing, extra) pairs instead of hand-picked ones: the
    generated bundle in node and the Python evaluator give the same call and the same warnings."""
    inputs: list[list] = []

    @settings(max_examples=GENERATED_INPUTS, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(THINGS, EXTRAS)
    def collect(thing, extra):
        inputs.append(json.loads(json.dumps([thing, extra])))  # exactly what node receives

    collect()
    assert len(inputs) >= GENERATED_INPUTS // 2
    pairs = edge_plan_in_both_runtimes(tmp_path, inputs)
    for args, (node, python) in zip(inputs, pairs):
        assert node == python, f"node and the evaluator disagree on {json.dumps(args)}"
    sent = sum(bool(python[1]) for _, python in pairs)
    warned = sum(bool(python[0]) for _, python in pairs)
    assert 0 < sent < len(inputs) and warned > len(inputs) // 4, (sent, warned)  # all branches reached


#: Where node (snippets/templates/bundle.js.j2) and the evaluator (generator/plan/_runtime.py)
#: once disagreed, each settled the way docs/tracking-plan.md documents: the input (thing, extra)
#: on EDGE_PLAN, and the warnings both runtimes give.
SETTLED_DISAGREEMENTS = {
    # Empty text or an empty list from a property's last path counts as missing (node used to
    # convert it and warn "has the wrong type": Flag is a boolean).
    "empty-text": ([{"flag": ""}, None], []),
    "empty-list": ([{"flag": []}, None], []),
    # An object is never empty, whatever its length says (node used to apply the default).
    "object-with-length-0": ([{"nick": {"length": 0}}, None], ["Edge Cases: Nickname has the wrong type"]),
    # A sum that overflows is left out with a warning (the evaluator used to raise OverflowError).
    "sum-overflow": ([{"lines": [{"price": -1.7976931348623155e308, "name": "L"}]}, None], ["Edge Cases: Exact has the wrong type"]),
    # Numeric text of 400 digits is Infinity, not a number (node used to send null, the evaluator Infinity).
    "numeric-text-overflow": ([{"price": "1" + "0" * 400}, None], ["Edge Cases: Defaulted has the wrong type"]),
}


@pytest.mark.parametrize("name", SETTLED_DISAGREEMENTS)
def test_the_runtimes_settle_former_disagreements_the_documented_way(tmp_path, name):
    args, warnings = SETTLED_DISAGREEMENTS[name]
    [(node, python)] = edge_plan_in_both_runtimes(tmp_path, [args])
    assert node == python
    assert python[0] == warnings


OWN_MEMBERS_PLAN = """\
version: 1
public_key: AbC123
events:
  own:
    metric: Own Members
    inputs: [category]
    properties:
      Constructor: {type: object, from: category.constructor.prototype}
      Proto: {type: object, from: category.__proto__}
      ToString: {type: string, from: category.toString.name}
      Mapper: {type: string, from: category.items.map.name}
      Items: {type: number, from: category.items.length}
      First: {type: string, from: category.items.0}
      Letter: {type: string, from: category.title.0}
      TitleLength: {type: number, from: category.title.length}
      Titles: {type: string_list, from: "category.items[].constructor.name"}
      Own: {type: string, from: category.owner.constructor}
"""


def test_paths_read_own_members_only_in_node_and_the_evaluator(tmp_path):
    """Paths read data, not what JavaScript objects inherit: `category.constructor.prototype`
    used to send Object.prototype (as {}), `category.items.map.name` "map"."""
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(OWN_MEMBERS_PLAN)
    generate(plan_path, tmp_path / "dist")
    event = load_plan(plan_path).events[0]
    inputs = [
        {"title": "Books", "items": ["a", "b"], "owner": {"constructor": "own text"}},
        json.loads('{"__proto__": {"x": 1}, "constructor": {"prototype": {"y": 2}}, "items": []}'),
    ]
    cases = [{"fresh": i == 0, "fn": "own", "args": [arg], "now": 1, "page": {}} for i, arg in enumerate(inputs)]
    got = run_bundle(tmp_path / "dist" / "klaviyo-snippets.min.js", cases, tmp_path)
    for arg, result in zip(inputs, got):
        outcome = evaluate(event, {"category": arg, "now": 1})
        assert result["warnings"] == [] and outcome.warnings == []
        assert result["calls"] == [outcome.call]
    assert got[0]["calls"][0][2] == {"Items": 2, "First": "a", "TitleLength": 5, "Own": "own text"}
    assert got[1]["calls"][0][2] == {"Constructor": {"y": 2}, "Proto": {"x": 1}, "Items": 0}  # own keys of those names


def test_esm_exports_every_event_function(default_dist, tmp_path):
    node = node_binary()
    script = (
        "global.window = global; global.location = {href: ''};"
        "global.document = {readyState: 'complete', title: '', querySelector: () => null, addEventListener() {}};"
        f"import({json.dumps((default_dist / 'klaviyo-snippets.mjs').as_uri())}).then(m => "
        "console.log(JSON.stringify(Object.keys(m).sort())));"
    )
    proc = subprocess.run([node, "--input-type=module", "-e", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    names = json.loads(proc.stdout)
    assert set(e.function for e in load_plan().events) | {"default"} == set(names)


def test_samples_json_matches_the_python_evaluator(default_dist):
    samples = json.loads((default_dist / "samples.json").read_text())["events"]
    plan = load_plan()
    for event in plan.events:
        assert samples[event.key]["call"][-1] == GUIDE_PAYLOADS[event.label]


# --------------------------------------------------------------------------- the CLI


def test_run_reports_bad_plans_without_traceback(tmp_path):
    bad = tmp_path / "plan.yaml"
    bad.write_text("version: 1\nevents:\n  x:\n    metric: X\n    properties:\n      A: {type: strng, from: p.a}\n")
    code, out, err = run_cli("--plan", str(bad), "--out", str(tmp_path / "dist"))
    assert code == 2 and out == ""
    assert f"{bad}:6:" in err and "unknown type 'strng'" in err and "did you mean 'string'" in err
    assert "Traceback" not in err
    assert not (tmp_path / "dist").exists()


def test_run_prints_sizes(tmp_path):
    code, out, _ = run_cli("--out", str(tmp_path / "dist"), "--public-key", "AbC123")
    assert code == 0
    assert re.search(r"loader\.min\.js +\d+ B +\d+ B gz", out)
    assert "klaviyo-snippets.min.js" in out and "gzip" in out


def test_typescript_declarations_compile(default_dist, tmp_path):
    local = ROOT / ".venv" / "tools" / "node_modules" / ".bin" / "tsc"  # what ./bootstrap installs
    tsc = str(local) if local.exists() else shutil.which("tsc")
    if not tsc:
        pytest.skip("NO TSC: ./bootstrap installs TypeScript when npm is there (or npm i -g typescript)")
    for name in ("klaviyo-snippets.d.ts", "klaviyo-snippets.d.mts"):
        shutil.copy(default_dist / name, tmp_path / name)
    (tmp_path / "klaviyo-snippets.mjs").write_text("")
    (tmp_path / "use.mts").write_text(
        'import s, { addedToCart } from "./klaviyo-snippets.mjs";\n'
        'addedToCart({lines: [{product_id: 1, title: "A", line_price: "9.99"}]}, {title: "A"});\n'
        'klaviyo.track("Viewed Product", {ProductName: "A", ProductID: "1"});\n'
        "const r: boolean | Promise<boolean> = s.viewedProduct({title: 'x'});\n"
    )
    (tmp_path / "bad.ts").write_text('klaviyoSnippets.addedToCart({lines: "not a list"});\n')
    common = ["--noEmit", "--strict", "--lib", "es2017,dom", "--module", "nodenext", "--moduleResolution", "nodenext"]
    good = subprocess.run([tsc, *common, "klaviyo-snippets.d.ts", "use.mts"], cwd=tmp_path, capture_output=True, text=True)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = subprocess.run([tsc, *common, "klaviyo-snippets.d.ts", "bad.ts"], cwd=tmp_path, capture_output=True, text=True)
    assert bad.returncode != 0 and "bad.ts(1,30): error TS2322" in bad.stdout


EMPTY_PLAN = """\
version: 1
public_key: AbC123
events:
  empties:
    metric: Empties
    inputs: [thing]
    properties:
      Name: {type: string, from: [thing.title, thing.name]}
      Code: {type: string, derive: {format: "{thing.id}_x"}}
      Tags: {type: string_list, derive: {union: [thing.tags]}}
      Total: {type: number, derive: {sum: "thing.lines[].total"}}
"""


def test_empty_values_count_as_missing_in_fallbacks_formats_unions_and_sums(tmp_path):
    """Empty text falls through to the next path, an empty placeholder leaves a format missing,
    a union keeps each trimmed value once, and a sum of nothing is missing, not 0: in node and in
    the Python evaluator alike."""
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(EMPTY_PLAN)
    generate(plan_path, tmp_path / "dist")
    thing = {"title": "", "name": "N", "id": "", "tags": ["a", " a", "  ", "b"], "lines": [{"x": 1}]}
    [got] = run_bundle(tmp_path / "dist" / "klaviyo-snippets.js", [{"fresh": True, "fn": "empties", "args": [thing]}], tmp_path)
    assert got["calls"][0][2] == {"Name": "N", "Tags": ["a", "b"]} and got["warnings"] == []
    outcome = evaluate(load_plan(plan_path).events[0], {"thing": thing, "page": {}, "now": 0})
    assert (outcome.call, outcome.warnings) == (got["calls"][0], [])


def test_numbers_become_text_exactly_as_javascript_writes_them(tmp_path):
    from klaviyo_snippets.generator.plan import js_number_string

    numbers = [0, 7, -3, 0.1, 123.5, 1e-6, 1e-7, 1.5e-7, -2.5e-8, 1e20, 1e21, 1.5e300, 2**53, 2**53 + 1,
               12345678901234567890, 123456789012345678901, 29.979999999999997]
    script = tmp_path / "numbers.js"
    script.write_text(f"console.log(JSON.stringify({json.dumps(numbers)}.map(String)))")
    run = subprocess.run([node_binary(), str(script)], capture_output=True, text=True, check=True)
    assert [js_number_string(n) for n in numbers] == json.loads(run.stdout)


def test_the_guides_payloads_are_copied_verbatim():
    """tests/golden/guide/payloads.json is what many tests expect: every payload the guide writes
    out literally (klaviyo.track("Metric", {...})) must be in it unchanged."""
    text = guide_text()
    literal = {}
    for metric, body in re.findall(r'klaviyo\.track\("([^"]+)",\s*(\{.*?\})\);', text, re.S):
        try:
            literal[metric] = json.loads(body)
        except ValueError:
            continue  # built from the page's objects (item.ProductName...), not a literal payload
    assert len(literal) >= 7, sorted(literal)
    for metric, payload in literal.items():
        assert GUIDE_PAYLOADS[metric] == payload, metric
