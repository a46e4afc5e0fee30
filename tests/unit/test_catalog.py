"""The catalog: the feed in JSON and XML, its validation and splitting, API bodies, the id check."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from klaviyo_snippets.generator.server import catalog
from klaviyo_snippets.harness.cli import main
from klaviyo_snippets.generator.server import orders
from klaviyo_snippets.generator.errors import UserError

from tests.openapi_oracle import validate_request

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PRODUCTS = ROOT / "examples/products.jsonl"
EXAMPLE_ORDERS = ROOT / "examples/orders.jsonl"

HOSTILE = "<script>alert('x')</script> & \"quotes\" ]]> <![CDATA[ é 日本 🙂"


def _product(n: int = 1, **fields) -> dict:
    base = {"id": f"P{n}", "title": f"Product {n}", "link": f"https://shop.example.com/p/{n}",
            "description": f"The {n}th product.", "image_link": f"https://cdn.example.com/{n}.png",
            "price": 10 + n / 100, "categories": ["Books"]}
    return base | fields


def _example_products() -> list[dict]:
    return [json.loads(line) for line in EXAMPLE_PRODUCTS.read_text(encoding="utf-8").splitlines()
            if line.strip()]


# -- the feed ----------------------------------------------------------------------------------

def test_json_feed_is_an_array_of_the_flat_products():
    (feed,) = catalog.build_feed(catalog.read_products(EXAMPLE_PRODUCTS), "json")
    assert json.loads(feed) == _example_products()
    assert json.loads(feed)[0]["id"] == "1111" and json.loads(feed)[1]["title"] == "A Tale of Two Cities"


def test_xml_feed_is_klaviyos_template_and_parses_back():
    (feed,) = catalog.build_feed(catalog.read_products(EXAMPLE_PRODUCTS), "xml")
    root = ET.fromstring(feed)
    assert root.tag == "rss" and root.attrib == {"version": "2.0"}
    assert [child.tag for child in root] == ["Products"]
    products = root.find("Products")
    assert all(p.tag == "Product" for p in products)
    expected = _example_products()
    assert len(products) == len(expected)
    for element, product in zip(products, expected):
        assert all(len(field) == 0 for field in element), "one level deep"
        parsed = {field.tag: field.text for field in element}
        assert list(parsed)[:5] == ["id", "title", "link", "description", "image_link"]
        assert parsed["id"] == product["id"] and parsed["title"] == product["title"]
        assert parsed["description"] == product["description"]
        assert parsed["categories"] == ",".join(product["categories"])
        assert float(parsed["price"]) == product["price"]
    assert products[3].find("Illustrated").text == "true"
    assert b"Pride &amp; Prejudice" in feed and b"&lt;classic&gt;" in feed


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_hostile_strings_survive_the_round_trip(fmt):
    product = _product(title=HOSTILE, description=HOSTILE + "\nline two\ttab", Note=HOSTILE,
                       categories=["<b>Bold</b> & co", "日本"])
    (feed,) = catalog.build_feed([product], fmt)
    if fmt == "json":
        parsed = json.loads(feed)[0]
        assert parsed["title"] == HOSTILE and parsed["Note"] == HOSTILE
    else:
        assert b"<script>" not in feed
        element = ET.fromstring(feed).find("Products/Product")
        assert element.find("title").text == HOSTILE
        assert element.find("description").text == HOSTILE + "\nline two\ttab"
        assert element.find("Note").text == HOSTILE
        assert element.find("categories").text == "<b>Bold</b> & co,日本"


def test_xml_refuses_what_xml_cannot_carry():
    with pytest.raises(catalog.InvalidProducts) as caught:
        catalog.build_feed([_product(1, title="bell\x07"), _product(2, **{"Top Pick": True})], "xml")
    problems = {(p.where, p.field) for p in caught.value.problems}
    assert problems == {("products[0]", "title"), ("products[1]", "Top Pick")}
    assert "U+0007" in str(caught.value) and "not a valid XML element name" in str(caught.value)
    # JSON has no such limits
    catalog.build_feed([_product(1, title="bell\x07"), _product(2, **{"Top Pick": True})], "json")


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_a_feed_past_the_limit_is_split_into_complete_files(fmt):
    products = [_product(n, description="x" * 200) for n in range(1, 41)]
    (whole,) = catalog.build_feed(products, fmt)
    limit = len(whole) // 3
    files = catalog.build_feed(products, fmt, max_bytes=limit)
    assert len(files) >= 3
    assert all(len(f) <= limit for f in files)
    if fmt == "json":
        ids = [p["id"] for f in files for p in json.loads(f)]
    else:
        ids = [p.find("id").text for f in files for p in ET.fromstring(f).find("Products")]
    assert ids == [p["id"] for p in products]  # every product once, in order


def test_a_product_larger_than_the_limit_is_reported():
    products = [_product(1), _product(2, description="x" * 5000)]
    with pytest.raises(catalog.InvalidProducts) as caught:
        catalog.build_feed(products, "json", max_bytes=2000)
    (problem,) = caught.value.problems
    assert problem.product_id == "P2" and "exceeds the 2000-byte limit" in problem.reason and "the feed's own" in problem.reason


def test_the_limit_cannot_pass_klaviyos():
    with pytest.raises(ValueError, match="100 MB"):
        catalog.build_feed([_product()], max_bytes=catalog.MAX_FEED_BYTES + 1)
    with pytest.raises(ValueError, match="'json' or 'xml'"):
        catalog.build_feed([_product()], "csv")


# -- validation --------------------------------------------------------------------------------

BAD_PRODUCTS = [
    ({"title": None}, "title", "is required"),
    ({"description": "   "}, "description", "must not be blank"),
    ({"link": "/p/1"}, "link", "not an absolute http(s) URL"),
    ({"image_link": "cdn.example.com/1.png"}, "image_link", "not an absolute http(s) URL"),
    ({"link": "javascript:alert(1)"}, "link", "not an absolute http(s) URL"),
    ({"price": "9.99"}, "price", "bare number"),
    ({"price": "$9.99"}, "price", "bare number"),
    ({"price": -1}, "price", "≥ 0"),
    ({"Dimensions": {"w": 1}}, "Dimensions", "one level deep"),
    ({"Tags": ["a", "b"]}, "Tags", "one level deep"),
    ({"inventory_policy": 3}, "inventory_policy", "must be 1"),
    ({"inventory_quantity": 2.5}, "inventory_quantity", "whole number"),
    ({"categories": "Books"}, "categories", "list of category names"),
    ({"categories": ["Books, Used"]}, "categories/0", "contains a comma"),
    ({"id": True}, "id", "must be a string"),
]


@pytest.mark.parametrize("change, field, words", BAD_PRODUCTS, ids=[b[1] + ":" + b[2] for b in BAD_PRODUCTS])
def test_bad_products_are_reported_by_product_field_and_reason(change, field, words):
    products = [_product(1), _product(2, **change)]
    with pytest.raises(catalog.InvalidProducts) as caught:
        catalog.build_feed(products)
    assert isinstance(caught.value, UserError)  # the CLI prints it without a traceback, exit 2
    (problem,) = caught.value.problems
    assert (problem.where, problem.field) == ("products[1]", field)
    assert words in problem.reason
    assert "products[1]" in str(caught.value) and f"at {field}: " in str(caught.value)


def test_every_problem_of_every_product_is_reported_at_once(tmp_path):
    path = tmp_path / "products.jsonl"
    lines = [_product(1), _product(2, link="/p/2", price="2"), _product(3), _product(1, title="again")]
    path.write_text("\n".join(json.dumps(p) for p in lines) + "\n", encoding="utf-8")
    with pytest.raises(catalog.InvalidProducts) as caught:
        catalog.read_products(path)
    found = [(p.where, p.product_id, p.field) for p in caught.value.problems]
    assert found == [(f"{path}:2", "P2", "link"), (f"{path}:2", "P2", "price"),
                     (f"{path}:4", "P1", "id")]
    assert "duplicates the id of " + f"{path}:1" in str(caught.value)
    assert str(caught.value).startswith("2 products are not valid")


def test_a_json_array_file_is_read_too(tmp_path):
    path = tmp_path / "products.json"
    path.write_text(json.dumps([_product(1), _product(2, title="")]), encoding="utf-8")
    with pytest.raises(catalog.InvalidProducts) as caught:
        catalog.read_products(path)
    assert caught.value.problems[0].where == f"{path} [1]"


def test_integer_ids_become_text_and_nulls_are_dropped():
    (product,) = catalog.validate_products([_product(1, id=1111, Note=None)])
    assert product["id"] == "1111" and "Note" not in product


# -- the Catalogs API --------------------------------------------------------------------------

def test_catalog_item_body_maps_feed_fields_to_the_api():
    product = catalog.read_products(EXAMPLE_PRODUCTS)[0]
    body = catalog.catalog_item_body(product)
    validate_request("/api/catalog-items", body)
    data = body["data"]
    assert data["type"] == "catalog-item"
    attributes = data["attributes"]
    assert attributes["external_id"] == "1111"
    assert attributes["url"] == "http://www.example.com/path/to/product"
    assert attributes["image_full_url"] == "http://www.example.com/path/to/product/image.png"
    assert attributes["price"] == 9.99
    assert attributes["custom_metadata"] == {"Brand": "Kids Books", "SKU": "WINNIEPOOH", "CompareAtPrice": 14.99}
    assert "inventory_quantity" not in json.dumps(body)
    assert data["relationships"]["categories"]["data"] == [
        {"type": "catalog-category", "id": "$custom:::$default:::Fiction"},
        {"type": "catalog-category", "id": "$custom:::$default:::Children"}]


def test_bulk_jobs_hold_at_most_100_items_and_validate():
    products = [_product(n) for n in range(250)]
    bodies = catalog.bulk_create_job_bodies(products)
    assert [len(b["data"]["attributes"]["items"]["data"]) for b in bodies] == [100, 100, 50]
    external_ids = [i["attributes"]["external_id"] for b in bodies for i in b["data"]["attributes"]["items"]["data"]]
    assert external_ids == [p["id"] for p in products]
    for body in bodies:
        assert body["data"]["type"] == "catalog-item-bulk-create-job"
        validate_request("/api/catalog-item-bulk-create-jobs", body)
    with pytest.raises(ValueError, match="from 1 to 100"):
        catalog.bulk_create_job_bodies(products, batch_size=101)


def test_bulk_jobs_also_split_by_request_size():
    products = [_product(n, description="x" * 3000) for n in range(10)]
    bodies = catalog.bulk_create_job_bodies(products, max_bytes=10_000)
    assert len(bodies) > 1
    assert all(len(json.dumps(b).encode()) <= 10_000 for b in bodies)
    assert sum(len(b["data"]["attributes"]["items"]["data"]) for b in bodies) == 10


def test_api_metadata_over_100kb_is_refused():
    with pytest.raises(catalog.InvalidProducts, match="custom_metadata"):
        catalog.catalog_item_body(_product(1, Blurb="x" * 100_001))


# -- do events and catalog agree? --------------------------------------------------------------

def _event(metric: str, properties: dict) -> dict:
    return {"data": {"type": "event", "attributes": {
        "properties": properties,
        "metric": {"data": {"type": "metric", "attributes": {"name": metric}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}}}}}


def test_the_example_orders_use_only_catalog_ids():
    bodies = [b for o in orders.read_orders(EXAMPLE_ORDERS) for b in orders.order_events(o)]
    assert catalog.check_ids(bodies, catalog.read_products(EXAMPLE_PRODUCTS)) == []


def test_ids_missing_from_the_catalog_are_reported_with_where_they_were_sent():
    first_order = next(orders.read_orders(EXAMPLE_ORDERS))
    bodies = orders.order_events(first_order) + [
        _event("Viewed Product", {"ProductID": "9999", "ProductName": "Ghost"}),
        _event("Added to Cart", {"AddedItemProductID": 1112, "Items": [{"ProductID": "1112"}]}),
        _event("Searched Site", {"ProductID": "not-a-product-event"}),
    ]
    catalog_without_1112 = [p for p in catalog.read_products(EXAMPLE_PRODUCTS) if p["id"] != "1112"]
    found = catalog.check_ids(bodies, catalog_without_1112)
    assert [(f.product_id, f.metric) for f in found] == [
        ("1112", "Placed Order"), ("1112", "Ordered Product"), ("1112", "Fulfilled Order"),
        ("9999", "Viewed Product"), ("1112", "Added to Cart"), ("1112", "Added to Cart")]
    assert found[0].where == "event 1 (Placed Order, unique_id 1234) at /data/attributes/properties/Items/1/ProductID"
    assert str(found[3]) == ("event 5 (Viewed Product) at /data/attributes/properties/ProductID: "
                             "product id '9999' is not in the catalog")
    # bare ids work as the catalog too, and numbers match their text
    assert catalog.check_ids([_event("Viewed Product", {"ProductID": 1111})], ["1111"]) == []


# -- the command -------------------------------------------------------------------------------

def _run(argv: list[str]) -> int:
    return main(["catalog", *argv])


@pytest.mark.parametrize("fmt", ["json", "xml"])
def test_catalog_build_writes_the_feed(tmp_path, capsys, fmt):
    out = tmp_path / f"feed.{fmt}"
    code = _run(["build", "--products", str(EXAMPLE_PRODUCTS), "--format", fmt, "--out", str(out)])
    assert code == 0
    assert out.read_bytes() == catalog.build_feed(catalog.read_products(EXAMPLE_PRODUCTS), fmt)[0]
    assert out.stat().st_mode & 0o644 == 0o644
    assert f"wrote {out}" in capsys.readouterr().out


def test_catalog_build_takes_the_format_from_the_suffix_and_splits(tmp_path, capsys):
    out = tmp_path / "feed.xml"
    code = _run(["build", "--products", str(EXAMPLE_PRODUCTS), "--out", str(out), "--max-bytes", "1500"])
    assert code == 0
    parts = sorted(tmp_path.glob("feed-*.xml"))
    assert len(parts) >= 2 and not out.exists()
    ids = [p.find("id").text for part in parts for p in ET.fromstring(part.read_bytes()).find("Products")]
    assert ids == [p["id"] for p in _example_products()]
    assert all(part.stat().st_size <= 1500 for part in parts)
    assert "5 products in" in capsys.readouterr().out


def test_catalog_build_refuses_bad_products_with_a_clear_message(tmp_path, capsys):
    products = tmp_path / "products.jsonl"
    products.write_text(json.dumps(_product(1)) + "\n" + json.dumps(_product(2, price="9.99")) + "\n",
                        encoding="utf-8")
    out = tmp_path / "feed.json"
    code = _run(["build", "--products", str(products), "--out", str(out)])
    assert code == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.startswith("error: 1 product is not valid")
    assert f"{products}:2 (id 'P2') at price: must be a bare number" in captured.err
    assert not out.exists()


@pytest.mark.parametrize("argv_tail, words", [
    (["--max-bytes", "200000000"], "--max-bytes must be from 1 to 100000000"),
    (["--products", "/nonexistent/products.jsonl"], "cannot read the products file"),
])
def test_catalog_build_refuses_bad_options(tmp_path, capsys, argv_tail, words):
    argv = ["build", "--products", str(EXAMPLE_PRODUCTS), "--out", str(tmp_path / "feed.json"), *argv_tail]
    assert _run(argv) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
