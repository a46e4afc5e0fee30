"""The data layer trigger without a browser (issue 14): the plan's `fire: {datalayer: ...}` forms
and their errors, the `ga4` preset from `init --platform ga4` to a generated folder, what the
preset computes from GA4's documented pushes, and a hostile event name kept data. The browser
proof is tests/browser/test_datalayer.py."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from klaviyo_snippets.generator.codegen import generate, preset_path
from klaviyo_snippets.generator.plan import load_plan
from klaviyo_snippets.harness.cli import main
from tests.browser.test_datalayer import GUIDE
from tests.node import node_binary

REPO = Path(__file__).resolve().parents[2]

PLAN = """\
version: 1
public_key: AbC123
events:
  viewed_product:
    metric: Viewed Product
    inputs: [{inputs}]
    fire: {fire}
    properties:
      ProductName: {{type: string, required: true, from: "push.ecommerce.items[0].item_name"}}
"""


def write(tmp_path: Path, fire: str, inputs: str = "push") -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(fire=fire, inputs=inputs), encoding="utf-8")
    return path


@pytest.mark.parametrize("fire, inputs, bound", [
    ("{datalayer: view_item}", "push", "push"),
    ("{datalayer: view_item}", "push, customer", "push"),  # the first input by default
    ("{datalayer: {event: view_item, input: push}}", "customer, push", "push"),
])
def test_the_two_forms_of_the_trigger(tmp_path, fire, inputs, bound):
    [event] = load_plan(write(tmp_path, fire, inputs)).events
    trigger = event.trigger("datalayer")
    assert (trigger.event, trigger.input) == ("view_item", bound)
    assert event.island_inputs == tuple(n for n in event.inputs if n != bound)


@pytest.mark.parametrize("fire, inputs, message", [
    ("{datalayer: {event: view_item, input: cart}}", "push",
     "plan.yaml:7:49 at /events/viewed_product/fire/datalayer/input: fire.datalayer.input 'cart' is not one of the "
     "event's inputs ['push']\n  hint: add 'cart' to inputs:, or bind one of ['push']\n"),
    ("{datalayer: view_item}", "",
     "plan.yaml:7:23 at /events/viewed_product/fire/datalayer: fire.datalayer needs an input: the data layer's push is "
     "handed to the event as one\n  hint: add inputs: [push], and read the push's fields as "
     "push.ecommerce.items[0].item_name\n"),
    ("{datalayer: [view_item]}", "push",
     'plan.yaml:7:23 at /events/viewed_product/fire/datalayer: ["view_item"] is not a data layer trigger\n'
     "  hint: name the pushed event (datalayer: view_item), or bind it to an input "
     "(datalayer: {event: view_item, input: push})\n"),
    ('{datalayer: ""}', "push",
     'plan.yaml:7:23 at /events/viewed_product/fire/datalayer: "" is not a data layer trigger\n'),
])
def test_a_wrong_trigger_says_where_and_how_to_fix_it(tmp_path, capsys, fire, inputs, message):
    plan = write(tmp_path, fire, inputs)
    assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: " + str(tmp_path) + "/") and message in err, err
    assert not (tmp_path / "out").exists()


def test_init_platform_ga4_writes_a_preset_for_the_plain_output(tmp_path, capsys):
    plan = tmp_path / "plan.yaml"
    assert main(["init", "--platform", "ga4", str(plan)]) == 0
    out = capsys.readouterr().out
    assert f"next: klaviyo-snippets generate --plan {plan} --public-key <YOUR_PUBLIC_KEY>\n" in out
    assert "--target" not in out and "klaviyo-snippets docs ga4" in out
    assert main(["generate", "--plan", str(plan), "--public-key", "AbC123", "--out", str(tmp_path / "dist")]) == 0
    assert main(["generate", "--plan", str(plan), "--public-key", "AbC123", "--out", str(tmp_path / "dist"),
                 "--check"]) == 0
    capsys.readouterr()
    assert main(["docs", "ga4"]) == 0
    assert capsys.readouterr().out.startswith("# The GA4 data layer as a source\n")


def test_the_preset_computes_the_guides_payloads_as_far_as_ga4_carries_them(tmp_path):
    """The preset's samples are GA4's documented pushes of the guide's example; what it computes
    from them (the generator's evaluator) is the guide's payload, less what GA4 does not carry."""
    generate(preset_path("ga4"), tmp_path / "dist", public_key="AbC123")
    samples = json.loads((tmp_path / "dist" / "samples.json").read_text())["events"]
    payload = {e["call"][1]: e["call"][2] for e in samples.values() if e["call"][0] == "track"}
    left_out = {  # GA4 items have no image, product URL, SKU or compare-at price; no line totals
        "Viewed Product": {"SKU", "ImageURL", "CompareAtPrice"},
        "Started Checkout": set(),
        "Viewed Category": {"ImageURL"},
        "Searched Site": {"SearchTerm (autocorrected)", "ReturnedResults"},
    }
    for metric, missing in left_out.items():
        guide = GUIDE[metric]
        assert set(guide) - set(payload[metric]) == missing, metric
        same = {k for k in payload[metric] if k not in ("URL", "CheckoutURL", "Items", "$event_id")}
        assert {k: payload[metric][k] for k in same} == {k: guide[k] for k in same}, metric
    assert payload["Viewed Product"]["URL"] == "http://www.example.com/path/to/product"  # the page's URL
    keep = ("ProductID", "ProductName", "Quantity", "ItemPrice", "ProductCategories")
    assert payload["Started Checkout"]["Items"] == [{k: line[k] for k in keep} for line in GUIDE["Started Checkout"]["Items"]]
    # add_to_cart carries the added item only: its fields are the guide's, the cart's are not
    added = payload["Added to Cart"]
    assert {k: added[k] for k in ("AddedItemProductName", "AddedItemProductID", "AddedItemPrice", "AddedItemQuantity")} \
        == {k: GUIDE["Added to Cart"][k] for k in ("AddedItemProductName", "AddedItemProductID", "AddedItemPrice",
                                                   "AddedItemQuantity")}
    assert (added["$value"], added["ItemNames"]) == (19.99, ["A Tale of Two Cities"])


DRIVER = r"""
const fs = require("fs");
const [bundlePath, name] = process.argv.slice(2);
global.window = global;
global.addEventListener = () => {};
const calls = [];
global.location = {href: "https://shop.test/p"};
global.document = {readyState: "complete", title: "", referrer: "", addEventListener() {}, querySelector() { return null; }};
global.klaviyo = {track: (...a) => { calls.push(a); return true; }};
global.dataLayer = [{event: name, ecommerce: {items: [{item_name: "replayed"}]}}];
(0, eval)(fs.readFileSync(bundlePath, "utf8"));
dataLayer.push({event: name, ecommerce: {items: [{item_name: "pushed"}]}}, {event: "other"});
process.stdout.write(JSON.stringify(calls));
"""


def test_a_hostile_event_name_stays_data_in_every_file(tmp_path):
    """An event name that would close a script or a comment reaches the bundle, the HTML snippet
    and the docs as text; node runs the bundle and the trigger still matches that exact name, for
    a push made before the bundle (replayed once) and one after."""
    name = "</script><!-- --><script>alert(1)</script>'\"\u2028"
    generate(write(tmp_path, json.dumps({"datalayer": name})), tmp_path / "dist")
    for path in ("install.html", "snippets/viewed-product.html", "docs/viewed-product.md"):
        text = (tmp_path / "dist" / path).read_text(encoding="utf-8")
        scripts = [part.split("</script>", 1)[0] for part in text.split("<script")[1:]]
        assert "<script>alert(1)" not in text and not any("\u2028" in code for code in scripts), path
    (tmp_path / "driver.js").write_text(DRIVER)
    result = subprocess.run([node_binary(), str(tmp_path / "driver.js"), str(tmp_path / "dist" / "klaviyo-snippets.min.js"),
                             name], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [["Viewed Product", {"ProductName": "replayed"}],
                                         ["Viewed Product", {"ProductName": "pushed"}]]


def test_a_data_layer_that_is_not_an_array_is_said_once_not_lost_in_silence(tmp_path):
    """verify fails on a warning: a page whose dataLayer is an object would otherwise pass with
    every data layer event missing."""
    generate(write(tmp_path, "{datalayer: view_item}"), tmp_path / "dist")
    driver = DRIVER.replace("global.dataLayer = [{", "global.dataLayer = {notAnArray: [{").replace(
        '"replayed"}]}}];', '"replayed"}]}}]};').replace("dataLayer.push({event: name", "0 && dataLayer.push({event: name")
    driver = driver.replace("const calls = [];", "const calls = []; console.warn = (m) => calls.push(['warn', m]);")
    (tmp_path / "driver.js").write_text(driver)
    result = subprocess.run([node_binary(), str(tmp_path / "driver.js"), str(tmp_path / "dist" / "klaviyo-snippets.min.js"),
                             "view_item"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        ["warn", "klaviyo-snippets: window.dataLayer is not an array: the data layer triggers cannot read it"]]


def test_a_plan_without_a_data_layer_trigger_carries_none_of_its_code():
    bundle = (REPO / "dist" / "klaviyo-snippets.min.js").read_text(encoding="utf-8")
    assert "dataLayer" not in bundle
