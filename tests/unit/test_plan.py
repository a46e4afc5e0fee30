"""Tracking plans: the default plan is valid, and every kind of mistake is a `UserError` that names
the file, the line, the JSON pointer and a fix."""

from __future__ import annotations

import json
import textwrap

import jsonschema
import pytest

from klaviyo_snippets.generator import UserError, default_plan_path, generate, load_plan, schema_path

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


# --------------------------------------------------------------------------- the fast paths

YAML_DOCUMENTS = [
    "a: 1\nb: [x, 'y', \"z\", 2.5, -3, true, null, ~, yes, 2023-10-15, 0x1f, .inf]\n",
    "base: &b {x: 1, y: 2}\nother: {<<: *b, y: 3, z: 4}\nlist: [*b, *b]\n",
    "a: &a {k: 1}\nb: &b {k: 2, m: 3}\nc:\n  <<: [*a, *b]\n  n: 4\n",
    "deep: &d\n  <<: {p: 1}\n  q: 2\nuse: {<<: *d, r: 3}\n",
    "s: !!str 123\nm: !!map {a: 1}\nq: !!seq [1]\n",
    "k: |\n  two\n  lines\nf: >-\n  folded\n  text\n",
    "'1': one\n2: two\n",
    "empty: {}\nnone: []\nblank: ''\n",
]
BAD_DOCUMENTS = [
    "a: 1\na: 2\n",                  # duplicate key
    "a: 1\n'a': 2\n",                # the same key, quoted
    "yes: 1\ntrue: 2\n",             # different in the file, the same as data
    "a: [1, 2\n",                    # syntax
    "",                              # empty
    "a: 1\n---\nb: 2\n",             # two documents
    "? [a, b]\n: c\n",               # a complex key
    "a: !!python/name:os.system x\n",  # an unsafe tag
    "lone: \"\\ud800\"\n",           # a lone surrogate
    "emoji: \"\\ud83d\\ude00\"\n",  # libyaml refuses surrogate escapes, even in pairs
    "a: &x [*x]\n",                  # a recursive alias
    "a: &x 1\nb: &x 2\nc: *x\n",      # an anchor defined twice
    "a: *nope\n",                    # an undefined alias
    "1: a\n'1': b\n",               # the same key as text, once quoted
]


def _general(path):
    """What the general loader makes of a document: its data, or the error it raises."""
    import klaviyo_snippets.generator.plan._yamlmarks as ym

    real = ym._fast_load
    ym._fast_load = lambda text: (_ for _ in ()).throw(ym._Unusual())
    try:
        return ("data", ym.load_yaml(path).data)
    except UserError as err:
        return ("error", str(err))
    finally:
        ym._fast_load = real


@pytest.mark.parametrize("text", YAML_DOCUMENTS + BAD_DOCUMENTS)
def test_fast_yaml_loading_gives_what_the_general_loader_gives(tmp_path, text):
    from klaviyo_snippets.generator.plan._yamlmarks import load_yaml

    path = tmp_path / "doc.yaml"
    path.write_text(text, encoding="utf-8")
    try:
        fast = ("data", load_yaml(path).data)
    except UserError as err:
        fast = ("error", str(err))
    general = _general(path)
    assert fast == general
    assert json.dumps(fast, default=str) == json.dumps(general, default=str)  # key order too
    if text in YAML_DOCUMENTS:
        assert fast[0] == "data"


def test_marks_are_found_after_a_fast_load(tmp_path):
    from klaviyo_snippets.generator.plan._yamlmarks import load_yaml

    marked = load_yaml(default_plan_path())
    assert marked._node is None  # loaded the fast way: no node graph yet
    assert marked.where("/events/started_checkout/properties/Items/from").endswith(
        "/events/started_checkout/properties/Items/from")
    assert ":205:" in marked.where("/events/started_checkout/properties/Items/from")


def _mutations(plan: dict, rng) -> list:
    """Small, plausible mistakes (and harmless changes) at random places of a valid plan."""
    import copy

    def containers(node, out):
        if isinstance(node, dict):
            out.append(node)
            for v in node.values():
                containers(v, out)
        elif isinstance(node, list):
            out.append(node)
            for v in node:
                containers(v, out)
        return out

    replacements = [None, True, 1, 1.5, "", "x", "strin", [], {}, ["a"], {"k": 1}, "a.b[]", "a..b", "-1", 0]
    mutated = []
    for _ in range(400):
        doc = copy.deepcopy(plan)
        node = rng.choice(containers(doc, []))
        if isinstance(node, dict) and node:
            key = rng.choice(list(node))
            action = rng.random()
            if action < 0.5:
                node[key] = rng.choice(replacements)
            elif action < 0.7:
                del node[key]
            else:
                node[rng.choice(["metric", "type", "from", "zz", "required", "load", "digits", "__proto__"])] = rng.choice(replacements)
        elif isinstance(node, list) and node:
            node[rng.randrange(len(node))] = rng.choice(replacements)
            if rng.random() < 0.3:
                node.append(node[0])
        mutated.append(doc)
    return mutated


def test_fast_schema_check_agrees_with_jsonschema():
    """The compiled yes/no check (which lets valid plans skip jsonschema) accepts exactly what
    jsonschema accepts: the default plan, and hundreds of mutations of it."""
    import random

    import yaml

    from klaviyo_snippets.generator.plan._load import _fast_check, _validator

    fast = _fast_check()
    assert fast is not None, "the schema uses a keyword generator/plan/_schemafast.py does not implement"
    plan = yaml.load(default_plan_path().read_text(), Loader=__import__("klaviyo_snippets.generator.plan._yamlmarks", fromlist=["_"])._Loader)
    rng = random.Random(3)
    docs = [plan] + _mutations(plan, rng)
    for once in ({}, {"within": 0.5}, {"within": 0}, {"within": -1}, {"within": 3601}, {"key": []},
                 {"key": ["ProductName"], "within": 2}, {"key": "ProductName"}, {"within": True}):
        docs.append({**plan, "events": {**plan["events"], "viewed_product": {**plan["events"]["viewed_product"], "once": once}}})
    verdicts = {"valid": 0, "invalid": 0}
    for doc in docs:
        expected = _validator().is_valid(doc)
        assert fast(doc) == expected, json.dumps(doc)[:300]
        verdicts["valid" if expected else "invalid"] += 1
    assert verdicts["valid"] > 20 and verdicts["invalid"] > 150
