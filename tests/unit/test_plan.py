"""Tracking plans: the default plan is valid, and every kind of mistake is a `UserError` that names
the file, the line, the JSON pointer and a fix."""

from __future__ import annotations

import json
import textwrap

import jsonschema
import pytest

from generator import UserError, default_plan_path, generate, load_plan, schema_path

GOOD = """\
version: 1
public_key: AbC123
events:
  viewed_category:
    metric: Viewed Category
    inputs: [category]
    properties:
      CategoryName: {type: string, required: true, from: category.title}
      CategoryID: {type: string, from: category.id}
"""


def write(tmp_path, text: str):
    path = tmp_path / "plan.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def error_for(tmp_path, text: str) -> UserError:
    path = write(tmp_path, text)
    with pytest.raises(UserError) as info:
        load_plan(path)
    return info.value


def test_schema_is_a_valid_2020_12_schema_with_descriptions():
    schema = json.loads(schema_path().read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for name, definition in schema["$defs"].items():
        assert "description" in definition or name in ("dom_trigger",), name


def test_default_plan_validates_and_covers_the_guide():
    plan = load_plan()
    assert plan.is_default and plan.public_key == "XXXXXX"
    labels = {e.label for e in plan.events}
    assert labels == {
        "identify", "trackViewedItem", "Viewed Product", "Added to Cart", "Started Checkout", "Viewed Category",
        "Searched Site", "Clicked Banner", "Added Like", "Shared Article", "Referred Friend",
    }
    assert all(plan.sample_roots(e) for e in plan.events)
    raw = __import__("yaml").safe_load(default_plan_path().read_text())
    jsonschema.Draft202012Validator(json.loads(schema_path().read_text())).validate(raw)


def test_a_good_plan_loads(tmp_path):
    plan = load_plan(write(tmp_path, GOOD))
    event = plan.event("viewed_category")
    assert event.function == "viewedCategory" and event.metric == "Viewed Category"
    assert [p.name for p in event.properties] == ["CategoryName", "CategoryID"]
    assert not plan.is_default


def test_unknown_type(tmp_path):
    err = error_for(tmp_path, GOOD.replace("CategoryID: {type: string", "CategoryID: {type: strin"))
    assert "unknown type 'strin'" in err.message
    assert err.where == f"{tmp_path / 'plan.yaml'}:9:26 at /events/viewed_category/properties/CategoryID/type"
    assert "did you mean 'string'" in err.hint and "string_list" in err.hint


def test_missing_source(tmp_path):
    err = error_for(tmp_path, GOOD.replace("CategoryID: {type: string, from: category.id}", "CategoryID: {type: string}"))
    assert "has no source" in err.message
    assert ":9:" in err.where and err.where.endswith("/events/viewed_category/properties/CategoryID")
    assert "from:" in err.hint


def test_two_sources(tmp_path):
    err = error_for(tmp_path, GOOD.replace("from: category.id}", "from: category.id, value: x}"))
    assert "needs exactly one" in err.message and ":9:" in err.where


def test_duplicate_metric(tmp_path):
    err = error_for(tmp_path, GOOD + textwrap.indent(textwrap.dedent("""\
        category_again:
          metric: viewed category
          inputs: [category]
          properties:
            Name: {type: string, from: category.title}
        """), "  "))
    assert "duplicate metric" in err.message and "'viewed_category' (line 4)" in err.message
    assert ":11:" in err.where and err.where.endswith("/events/category_again/metric")
    assert "merge" in err.hint


def test_duplicate_yaml_key(tmp_path):
    err = error_for(tmp_path, GOOD + "      CategoryID: {type: string, from: category.code}\n")
    assert "duplicate key 'CategoryID' (first defined on line 9)" in err.message
    assert ":10:" in err.where


def test_yaml_syntax_error(tmp_path):
    err = error_for(tmp_path, GOOD.replace("inputs: [category]", "inputs: [category"))
    assert err.message.startswith("YAML syntax error")
    assert str(tmp_path / "plan.yaml") + ":" in err.where
    assert "indentation" in err.hint


def test_private_key_in_plan_is_refused(tmp_path):
    err = error_for(tmp_path, GOOD.replace("AbC123", "pk_0123456789abcdef0123456789abcdef"))
    assert "private API key" in err.message and "browser" in err.message
    assert ":2:" in err.where and err.where.endswith("/public_key")
    assert "never reach a browser" in err.hint


def test_private_key_on_the_command_line_is_refused(tmp_path):
    with pytest.raises(UserError) as info:
        generate(out_dir=tmp_path / "dist", public_key="pk_live_abcdef")
    assert "private API key" in str(info.value) and "--public-key" in str(info.value)
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("key", ["ABC12", "ABC1234", "ABC-12", "abc 12"])
def test_keys_that_are_not_company_ids(tmp_path, key):
    err = error_for(tmp_path, GOOD.replace("AbC123", json.dumps(key)))
    assert "not a Klaviyo public key" in err.message and "6 letters or digits" in err.message


def test_unknown_key_suggests_the_right_one(tmp_path):
    err = error_for(tmp_path, GOOD.replace("    inputs: [category]", "    input: [category]"))
    assert "unknown key 'input'" in err.message
    assert "did you mean 'inputs'" in err.hint
    assert ":6:5 at /events/viewed_category/input" in err.where


def test_unknown_path_root(tmp_path):
    err = error_for(tmp_path, GOOD.replace("from: category.id", "from: product.id"))
    assert "unknown path root 'product'" in err.message
    assert err.where.endswith("/events/viewed_category/properties/CategoryID/from")
    assert "add 'product' to the event's inputs" in err.hint


def test_event_reference_must_exist_and_not_loop(tmp_path):
    err = error_for(tmp_path, GOOD.replace("from: category.id", "from: event.Nope"))
    assert "reads event.Nope" in err.message
    looped = GOOD.replace("from: category.title}", "from: event.CategoryID}").replace("from: category.id}", "from: event.CategoryName}")
    err = error_for(tmp_path, looped)
    assert "in a circle" in err.message and "CategoryName" in err.message


def test_track_needs_a_metric_and_identify_takes_none(tmp_path):
    err = error_for(tmp_path, GOOD.replace("    metric: Viewed Category\n", ""))
    assert "needs a metric" in err.message and ":4:" in err.where
    err = error_for(tmp_path, GOOD.replace("    metric: Viewed Category\n", "    method: identify\n    metric: X\n"))
    assert "takes no metric" in err.message


def test_derive_type_must_match(tmp_path):
    err = error_for(tmp_path, GOOD.replace("CategoryID: {type: string, from: category.id}", "CategoryID: {type: string, derive: {sum: category.prices}}"))
    assert "gives a number" in err.message and "set type: number" in err.hint


def test_sample_must_name_a_defined_sample(tmp_path):
    err = error_for(tmp_path, GOOD + "    sample: {category: fantasy}\n")
    assert "sample 'fantasy' is not defined" in err.message


def test_reserved_words_cannot_name_inputs_or_functions(tmp_path):
    err = error_for(tmp_path, GOOD.replace("inputs: [category]", "inputs: [new]").replace("category.", "new."))
    assert "reserved word" in err.message
    err = error_for(tmp_path, GOOD.replace("  viewed_category:", "  delete:"))
    assert "reserved word" in err.message


def test_missing_plan_file(tmp_path):
    with pytest.raises(UserError) as info:
        load_plan(tmp_path / "nope.yaml")
    assert "no tracking plan at" in str(info.value)


def test_dates_stay_text(tmp_path):
    plan = load_plan(write(tmp_path, GOOD + "samples:\n  when: 2023-10-15\n"))
    assert plan.samples["when"] == "2023-10-15"
