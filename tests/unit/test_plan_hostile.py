"""Tracking plans written to hurt: YAML that expands without end (an alias bomb), nests deeper
than anything can walk, or carries tags a plan never uses; names JavaScript treats specially; and
characters that would rewrite the terminal. Each is a clear error (file:line, what, how to fix)
from `generate`, at once, never a hang or a traceback.

The timeouts are a bound, not a performance target: the alias bomb took 35 minutes of CPU."""

from __future__ import annotations

import contextlib
import io
import re
import textwrap
from pathlib import Path

import pytest

from klaviyo_snippets.generator import UserError, load_plan
from klaviyo_snippets.generator.plan._yamlmarks import MAX_ALIAS_VALUES, MAX_DEPTH
from klaviyo_snippets.harness.cli import main

EVENTS = """\
events:
  added_like:
    metric: Added Like
    inputs: [product]
    properties:
      ProductName: {type: string, from: product.title}
"""


def run_generate(tmp_path: Path, text: str) -> tuple[int, str, str, Path]:
    plan = tmp_path / "plan.yaml"
    plan.write_text(text, encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["generate", "--plan", str(plan), "--out", str(tmp_path / "dist")])
    return code, out.getvalue(), err.getvalue(), plan


def refused(tmp_path: Path, text: str, *words: str) -> str:
    code, out, err, plan = run_generate(tmp_path, text)
    assert code == 2, (out, err)
    assert out == "" and "Traceback" not in err and err.startswith("error: "), err
    for word in words:
        assert word.replace("PLAN", str(plan)) in err, (word, err)
    assert not (tmp_path / "dist").exists()
    return err


def general_way_only(monkeypatch) -> None:
    """Make every document take the general loader (compose, check, construct)."""
    import klaviyo_snippets.generator.plan._yamlmarks as ym

    monkeypatch.setattr(ym, "_fast_load", lambda text: (_ for _ in ()).throw(ym._Unusual()))


def bomb(levels: int = 10, width: int = 9, merge: bool = False) -> str:
    """The billion laughs in YAML: each level lists the one before `width` times (9**10 values
    from 12 lines), or with merge, each mapping merges the one before `width` times."""
    lines = ["version: 1", "public_key: AbC123", "samples:"]
    if merge:
        lines.append("  l0: &l0 {k0: x}")
        for i in range(1, levels + 1):
            merges = ", ".join(f"*l{i - 1}" for _ in range(width))
            lines.append(f"  l{i}: &l{i} {{<<: [{merges}], k{i}: [{merges}]}}")
    else:
        lines.append("  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]")
        for i in range(1, levels + 1):
            lines.append(f"  l{i}: &l{i} [" + ", ".join(f"*l{i - 1}" for _ in range(width)) + "]")
    return "\n".join(lines) + "\n" + EVENTS


# --------------------------------------------------------------------------- aliases


def _alias_line(text: str, limit: int) -> int:
    """The 1-based line of the alias with which the values aliases repeat pass `limit`."""
    sizes: dict[str, int] = {}
    total = 0
    for number, line in enumerate(text.splitlines(), 1):
        match = re.match(r"  (l\d+): &\1 \[(.*)\]$", line)
        if not match:
            continue
        size = 1
        for item in match.group(2).split(", "):
            if item.startswith("*"):
                total += sizes[item[1:]]
                size += sizes[item[1:]]
                if total > limit:
                    return number
            else:
                size += 1
        sizes[match.group(1)] = size
    raise AssertionError("the document stays within the limit")


@pytest.mark.timeout(30)
@pytest.mark.parametrize("way", ["fast", "general"])
def test_an_alias_bomb_is_refused_at_once_at_the_alias_that_passes_the_limit(tmp_path, monkeypatch, way):
    if way == "general":
        general_way_only(monkeypatch)
    text = bomb()
    line = _alias_line(text, MAX_ALIAS_VALUES)
    refused(tmp_path, text, f"PLAN:{line}:", "aliases repeat more than", f"{MAX_ALIAS_VALUES:,} values",
            "hint:", "anchor")


@pytest.mark.timeout(30)
def test_an_alias_bomb_of_merge_keys_is_refused(tmp_path):
    refused(tmp_path, bomb(merge=True), "aliases repeat more than", f"{MAX_ALIAS_VALUES:,} values")


def test_aliases_within_the_limit_load_as_copies(tmp_path):
    # 3 levels of 9 lists of 9 texts: 7,371 values repeated, well within the limit.
    plan = tmp_path / "plan.yaml"
    plan.write_text(bomb(levels=3), encoding="utf-8")
    samples = load_plan(plan).samples
    assert samples["l3"][8][8][8] == ["lol"] * 9 and len(samples["l3"]) == 9


@pytest.mark.timeout(30)
@pytest.mark.parametrize("way", ["fast", "general"])
def test_an_alias_chain_deeper_than_the_limit_is_refused(tmp_path, monkeypatch, way):
    """Each anchor wraps the one before in a list: small, but as deep as the chain is long (3,000
    levels once made a RecursionError traceback)."""
    if way == "general":
        general_way_only(monkeypatch)
    chain = ["  c0: &c0 [x]"] + [f"  c{i}: &c{i} [*c{i - 1}]" for i in range(1, 3000)]
    text = "version: 1\npublic_key: AbC123\nsamples:\n" + "\n".join(chain) + "\n" + EVENTS
    # c{n} sits 2 levels down (the document, samples) and holds n + 1 lists: too deep once
    # 2 + n + 1 passes the limit, at c{MAX_DEPTH - 2}'s alias (line 4 is c0).
    refused(tmp_path, text, f"PLAN:{4 + MAX_DEPTH - 2}:", f"more than {MAX_DEPTH} levels", "hint:")


@pytest.mark.timeout(30)
def test_properties_nested_deeper_than_the_limit_are_refused(tmp_path):
    """100 objects inside each other (300 YAML levels) once ended in a RecursionError traceback."""
    inner = "{type: string, from: product.title}"
    for _ in range(100):
        inner = "{type: object, properties: {P: " + inner + "}}"
    text = EVENTS.replace("{type: string, from: product.title}", inner)
    refused(tmp_path, "version: 1\npublic_key: AbC123\n" + text, "PLAN:8:", f"more than {MAX_DEPTH} levels")


def test_nesting_within_the_limit_loads(tmp_path):
    inner = "{type: string, from: product.title}"
    for _ in range(20):  # twice Klaviyo's 10 levels of nesting
        inner = "{type: object, properties: {P: " + inner + "}}"
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\npublic_key: AbC123\n" + EVENTS.replace("{type: string, from: product.title}", inner))
    assert load_plan(plan).events[0].properties[0].children[0].name == "P"


# --------------------------------------------------------------------------- tags


@pytest.mark.parametrize("value, shown", [
    ("!!set {a, b}", "!!set"),
    ("!!binary aGVsbG8=", "!!binary"),
    ("!!timestamp 2020-01-01", "!!timestamp"),
    ("!!omap [a: 1]", "!!omap"),
    ("!!pairs [a: 1]", "!!pairs"),
    ("!!python/tuple [1]", "!!python/tuple"),
    ("!shop.product {id: 1}", "!shop.product"),
])
@pytest.mark.parametrize("where", ["value", "sample"])
def test_yaml_tags_a_plan_does_not_use_are_refused_where_they_are(tmp_path, value, shown, where):
    if where == "value":
        text = "version: 1\npublic_key: AbC123\n" + EVENTS + f"      Extra: {{type: object, value: {{k: {value}}}}}\n"
    else:
        text = f"version: 1\npublic_key: AbC123\nsamples:\n  s: {{k: {value}}}\n" + EVENTS
    line = next(n for n, row in enumerate(text.splitlines(), 1) if value in row)
    at = f"PLAN:{line}:{text.splitlines()[line - 1].index(value) + 1}:"  # where the tag is written
    refused(tmp_path, text, at, f"YAML tag {shown} is not used in a tracking plan", "hint:", "remove the tag")


def test_tags_of_plain_values_are_accepted(tmp_path):
    text = ("version: 1\npublic_key: AbC123\nsamples:\n  s: !!map {a: !!str 123, b: !!int '7', c: !!float '2.5', "
            "d: !!bool 'true', e: !!null '', f: !!seq [1], g: ! text, h: =}\n" + EVENTS)
    plan = tmp_path / "plan.yaml"
    plan.write_text(text)
    assert load_plan(plan).samples["s"] == {"a": "123", "b": 7, "c": 2.5, "d": True, "e": None, "f": [1],
                                             "g": "text", "h": "="}


# --------------------------------------------------------------------------- names and characters


def test_a_proto_property_name_is_explained(tmp_path):
    text = "version: 1\npublic_key: AbC123\n" + EVENTS + "      __proto__: {type: string, from: product.id}\n"
    err = refused(tmp_path, text, "PLAN:9:", "'__proto__' cannot be a property name", "hint:")
    assert "should not be valid" not in err and "{'const'" not in err


@pytest.mark.parametrize("char", ["\u202e", "\x1b", "\u2066", "\x07", "\x85"])
def test_control_and_bidi_characters_in_names_are_escaped_in_messages(tmp_path, char):
    """A right-to-left override (or an escape sequence) in a name must not reach the terminal raw:
    it would reorder or rewrite what the user reads."""
    written = {"\x1b": "\\e", "\x07": "\\a", "\x85": "\\N"}.get(char, char.encode("unicode_escape").decode())
    text = textwrap.dedent(f"""\
        version: 1
        public_key: AbC123
        events:
          added_like:
            metric: "Added{written}Like"
            inputs: [product]
            properties:
              "Product{written}Name": {{type: strng, from: product.title}}
        """)
    err = refused(tmp_path, text, "PLAN:8:", "unknown type 'strng'")
    assert char not in err
    escaped = char.encode("unicode_escape").decode()
    assert f"/properties/Product{escaped}Name/type" in err


@pytest.mark.parametrize("digits", [400, 5000])
def test_a_number_javascript_cannot_hold_is_refused(tmp_path, digits):
    """A whole number of 401 digits: JSON can write it, but JavaScript reads it as Infinity (the
    docs' evaluator crashed on it with an OverflowError traceback); of 5,001 digits, more than
    Python converts to an int (a ValueError traceback)."""
    text = ("version: 1\npublic_key: AbC123\nsamples:\n  a_product: {title: Book, price: 1" + "0" * digits + "}\n"
            + EVENTS.replace("ProductName: {type: string, from: product.title}",
                             "ProductName: {type: string, from: product.title}\n      Price: {type: number, from: product.price}")
            + "    sample: {product: a_product}\n")
    refused(tmp_path, text, "PLAN:4:", "at /samples/a_product/price", "not a number JSON can carry")


def test_the_message_escapes_what_the_plan_error_holds_but_keeps_its_lines(tmp_path):
    with pytest.raises(UserError) as info:
        plan = tmp_path / "plan.yaml"
        plan.write_text("version: 1\npublic_key: AbC123\nevents:\n  a:\n    metric: M\n    inputs: [p]\n"
                        "    properties:\n      \"\\e[2J\\u202e\": {type: strng, from: p.a}\n")
        load_plan(plan)
    text = str(info.value)
    assert "\x1b" not in text and "\u202e" not in text and "\\x1b[2J\\u202e" in text
    assert "\n  hint: " in text
