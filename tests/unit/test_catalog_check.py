"""`klaviyo-snippets catalog check`: the product ids events send must be the catalog's ids."""

from __future__ import annotations

import json
from pathlib import Path

from klaviyo_snippets.harness.cli import main

REPO = Path(__file__).resolve().parents[2]
PRODUCTS = REPO / "examples" / "products.jsonl"


def test_examples_and_generated_samples_use_catalog_ids(capsys):
    assert main(["catalog", "check", "--products", str(PRODUCTS), "--orders", str(REPO / "examples" / "orders.jsonl"),
                 "--samples", str(REPO / "dist" / "samples.json")]) == 0
    assert capsys.readouterr().out.rstrip().endswith("every product id is in the catalog")


def test_an_id_missing_from_the_catalog_is_named_with_where_it_was_sent(tmp_path, capsys):
    only_winnie = [line for line in PRODUCTS.read_text().splitlines() if '"1111"' in line]
    assert len(only_winnie) == 1
    (tmp_path / "products.jsonl").write_text(only_winnie[0] + "\n")
    export = {"events": [
        {"metric": "Added to Cart", "status": "dropped", "body": None,
         "properties": {"AddedItemProductID": "1112", "Items": [{"ProductID": "1111"}, {"ProductID": "1112"}]}},
    ]}
    (tmp_path / "events.json").write_text(json.dumps(export))
    assert main(["catalog", "check", "--products", str(tmp_path / "products.jsonl"),
                 "--events", str(tmp_path / "events.json")]) == 1
    out = capsys.readouterr().out
    assert "event 1 (Added to Cart) at /data/attributes/properties/AddedItemProductID: product id '1112'" in out
    assert "/data/attributes/properties/Items/1/ProductID: product id '1112' is not in the catalog" in out
    assert out.endswith("1 product id not in the catalog (2 references): 1112\n")


def test_check_needs_something_to_check(capsys, tmp_path):
    assert main(["catalog", "check", "--products", str(PRODUCTS)]) == 2
    assert "nothing to check" in capsys.readouterr().err
    (tmp_path / "x.json").write_text("[1, 2]")
    assert main(["catalog", "check", "--products", str(PRODUCTS), "--events", str(tmp_path / "x.json")]) == 2
    assert "not a samples.json nor a stand-in events export" in capsys.readouterr().err
