"""Once per action (issue 15): `once: {key, within}` in the plan, its errors, and the generated
code in node on a fake clock. The browser proof (a theme that submits a form and calls its cart
API for one add; a double click) is tests/browser/test_once_per_action.py."""

from __future__ import annotations

from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate
from klaviyo_snippets.generator.plan import load_plan
from klaviyo_snippets.harness.cli import main
from tests.unit.test_generator import run_bundle

PLAN = """\
version: 1
public_key: AbC123
events:
  added_to_cart:
    metric: Added to Cart
    inputs: [item]
    once: {once}
    properties:
      AddedItemProductID: {{type: string, required: true, from: item.id}}
      AddedItemQuantity: {{type: number, from: item.quantity}}
"""


def write(tmp_path: Path, once: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(once=once), encoding="utf-8")
    return path


def test_the_key_and_the_window_default_to_the_whole_payload_and_two_seconds(tmp_path):
    assert load_plan(write(tmp_path, "{}")).events[0].once == ((), 2.0)
    assert load_plan(write(tmp_path, "{key: [AddedItemProductID], within: 0.5}")).events[0].once == (
        ("AddedItemProductID",), 0.5)


@pytest.mark.parametrize("once, message", [
    ("{key: [AddedItemProductId]}",
     "plan.yaml:7:18 at /events/added_to_cart/once/key/0: once.key 'AddedItemProductId' is not one of the event's "
     "properties\n  hint: did you mean 'AddedItemProductID'? properties: AddedItemProductID, AddedItemQuantity\n"),
    ("{within: 0}", "plan.yaml:7:20 at /events/added_to_cart/once/within: once.within is seconds, more than 0 and "
                    "at most 3600: not 0\n  hint: e.g. within: 2 (a double click, or a form and a cart call of one add)\n"),
    ("{key: AddedItemProductID}",
     'plan.yaml:7:17 at /events/added_to_cart/once/key: expected array, got text ("AddedItemProductID")\n'),
])
def test_a_wrong_once_says_where(tmp_path, capsys, once, message):
    assert main(["generate", "--plan", str(write(tmp_path, once)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_a_repeat_within_the_window_is_not_sent_and_returns_the_first_result(tmp_path):
    generate(write(tmp_path, "{key: [AddedItemProductID], within: 2}"), tmp_path / "dist")
    bundle = tmp_path / "dist" / "klaviyo-snippets.min.js"
    a1, a2, b1 = {"id": "A", "quantity": 1}, {"id": "A", "quantity": 2}, {"id": "B", "quantity": 1}
    cases = [
        {"fresh": True, "now": 1000, "fn": "addedToCart", "args": [a1]},
        {"now": 1001, "fn": "addedToCart", "args": [a2]},  # the same product within 2 s: one action
        {"now": 1001, "fn": "addedToCart", "args": [b1]},  # another product: sent
        {"now": 1002, "fn": "addedToCart", "args": [a2]},  # 2 s after the first A: a new action
    ]
    got = run_bundle(bundle, cases, tmp_path)
    assert [g["calls"] for g in got] == [
        [["track", "Added to Cart", {"AddedItemProductID": "A", "AddedItemQuantity": 1}]],
        [],
        [["track", "Added to Cart", {"AddedItemProductID": "B", "AddedItemQuantity": 1}]],
        [["track", "Added to Cart", {"AddedItemProductID": "A", "AddedItemQuantity": 2}]],
    ]
    assert [g["result"] for g in got] == ["sent:track"] * 4 and all(g["warnings"] == [] for g in got)


def test_without_a_key_only_the_same_payload_is_one_action(tmp_path):
    generate(write(tmp_path, "{}"), tmp_path / "dist")
    cases = [{"fresh": True, "now": 1000, "fn": "addedToCart", "args": [{"id": "A", "quantity": 1}]},
             {"now": 1000, "fn": "addedToCart", "args": [{"id": "A", "quantity": 1}]},
             {"now": 1000, "fn": "addedToCart", "args": [{"id": "A", "quantity": 2}]}]
    got = run_bundle(tmp_path / "dist" / "klaviyo-snippets.min.js", cases, tmp_path)
    assert [len(g["calls"]) for g in got] == [1, 0, 1]


def test_a_plan_without_once_carries_none_of_its_code():
    bundle = (Path(__file__).resolve().parents[2] / "dist" / "klaviyo-snippets.min.js").read_text(encoding="utf-8")
    assert "Os(" not in bundle
