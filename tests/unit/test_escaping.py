"""Escaping, proved with hostile strings: what the escapers produce parses in node and gives back
exactly the original string, and nothing can close a <script> element or open an HTML comment.

At least 10,000 strings go through, checked in node in batches (one process per batch)."""

from __future__ import annotations

import json
import re
import html
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klaviyo_snippets.generator import generate, load_plan
from klaviyo_snippets.generator.codegen._escape import html_attr, html_comment, js_comment, js_literal, json_island, ts_key
from tests.node import node_binary

HOSTILE = [
    "</script>", "</SCRIPT >", "</script", "<script>", "<!--", "-->", "--!>", "<!-", "]]>", "*/", "/*", "//",
    '"', "'", "`", "${", "\\", "\\u2028", "\u2028", "\u2029", "\x00", "\x1f", "\x7f", "\ud800", "\udfff",
    "\ud83d\ude00", "😀", "é", "\ufeff", "<", ">", "&", "&amp;", "\n", "\r", "\t", "<\\/script>",
]
hostile_text = st.one_of(
    st.text(),
    st.lists(st.one_of(st.sampled_from(HOSTILE), st.text(max_size=3)), max_size=8).map("".join),
)
BATCH = 2500
EXAMPLES = 10_000


def same(a: str, b: str) -> bool:
    """Equal as JavaScript sees strings: the same UTF-16 code units (Python keeps a surrogate pair
    written as two escapes apart from the character they make)."""
    return a.encode("utf-16-le", "surrogatepass") == b.encode("utf-16-le", "surrogatepass")


def run_node(script: str, tmp_path: Path, name: str) -> str:
    path = tmp_path / name
    path.write_text(script, encoding="ascii")  # the escapers' output is plain ASCII
    proc = subprocess.run([node_binary(), str(path)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def test_ten_thousand_hostile_strings_round_trip_through_node(tmp_path):
    node_binary()
    seen: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(hostile_text)
    def collect(value: str) -> None:
        literal = js_literal(value)
        island = json_island({"v": value, "list": [value]})
        for out in (literal, island):
            lowered = out.lower()
            assert "</script" not in lowered and "<!--" not in lowered and "-->" not in lowered
            assert "\u2028" not in out and "\u2029" not in out
            assert out.isascii()
        assert same(json.loads(island)["v"], value) and same(json.loads(island)["list"][0], value)
        seen.append(value)

    collect()
    seen += HOSTILE
    assert len(seen) >= EXAMPLES
    for start in range(0, len(seen), BATCH):
        batch = seen[start:start + BATCH]
        # Each string as a JS literal in a script, and as a data island read with JSON.parse.
        lines = ["var out = [];"]
        for value in batch:
            lines.append(f"out.push([{js_literal(value)}, JSON.parse({js_literal(json_island(value))})]);")
        lines.append("process.stdout.write(JSON.stringify(out));")
        got = json.loads(run_node("\n".join(lines), tmp_path, f"batch{start}.js"))
        assert len(got) == len(batch)
        for value, (from_literal, from_island) in zip(batch, got):
            assert same(from_literal, value) and same(from_island, value), repr(value)


@settings(max_examples=500, deadline=None)
@given(hostile_text)
def test_comment_and_attribute_escapers_cannot_break_out(value):
    comment = js_comment(value)
    assert "*/" not in comment and "<" not in comment and comment.isascii()
    assert not re.search("[\n\r\u2028\u2029]", comment)
    html = html_comment(value)
    assert "<" not in html and ">" not in html
    attr = html_attr(value)
    assert '"' not in attr and "<" not in attr and ">" not in attr
    key = ts_key(value) if value else '""'
    assert key == (value if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", value) else js_literal(value))


NASTY = "</script><!-- \u2028'\"\\ ${x} */ 😀"


def yq(value: str) -> str:
    """A YAML double-quoted scalar: JSON escapes, but astral characters written as themselves
    (libyaml refuses surrogate escapes like \\ud83d)."""
    return re.sub(
        r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})",
        lambda m: chr(0x10000 + ((int(m.group(1), 16) - 0xD800) << 10) + int(m.group(2), 16) - 0xDC00),
        json.dumps(value),
    )


class TextOfElements(HTMLParser):
    """(tag, its text) for each element outside comments; entities decoded, as a browser reads them."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        self.texts.append((tag, ""))

    def handle_data(self, data):
        if self.texts and data.strip():
            tag, text = self.texts[-1]
            self.texts[-1] = (tag, text + data)


def test_hostile_plan_values_arrive_byte_exact(tmp_path):
    """Metric, property names, constants, selectors and descriptions from the plan: every file
    parses, no inline script can be closed early, and the values reach klaviyo unchanged."""
    node = node_binary()
    plan = tmp_path / "plan.yaml"
    selector = yq('[data-x="</script>"]')
    field = NASTY.replace(".", "")
    plan.write_text(
        "version: 1\npublic_key: AbC123\nevents:\n"
        "  odd:\n"
        f"    metric: {yq('Odd ' + NASTY)}\n"
        f"    description: {yq(NASTY)}\n"
        "    inputs: [thing]\n"
        f"    fire: {{click: {{selector: {selector}}}}}\n"
        "    properties:\n"
        f"      {yq(NASTY)}: {{type: string, value: {yq(NASTY)}, description: {yq(NASTY)}}}\n"
        f"      Name: {{type: string, from: {yq('thing.' + field)}}}\n"
        "    sample: {thing: nasty}\n"
        f"samples:\n  nasty: {{{yq(field)}: {yq(NASTY)}}}\n",
        encoding="utf-8",
    )
    out = tmp_path / "dist"
    generate(plan, out)
    # As text, in HTML and in Markdown: the example button reads the metric, and is the only element.
    snippet = (out / "snippets" / "odd.html").read_text(encoding="utf-8")
    element = TextOfElements()
    element.feed(re.sub(r"<script[^>]*>.*?</script>", "", snippet, flags=re.S))
    assert element.texts == [("button", "Odd " + NASTY)]
    [row] = [line for line in (out / "README.md").read_text(encoding="utf-8").split("\n") if line.startswith("| Odd")]
    assert "<" not in row and "\u2028" not in row  # a line separator would end the table row
    assert html.unescape(row).startswith("| Odd </script><!-- ")
    for path in out.rglob("*"):
        if path.suffix in (".js", ".mjs", ".html"):
            text = path.read_text()
            scripts = re.findall(r"<script[^>]*>(.*?)</script>", text, re.S) if path.suffix == ".html" else [text]
            for body in scripts:
                assert "</script" not in body.lower() and "<!--" not in body, path.name
        if path.suffix == ".js":
            proc = subprocess.run([node, "--check", str(path)], capture_output=True, text=True)
            assert proc.returncode == 0, proc.stderr
    driver = tmp_path / "run.js"
    driver.write_text(
        "global.window = global; global.location = {href: ''};"
        "global.document = {readyState: 'complete', title: '', querySelector: () => null, addEventListener() {}};"
        "var calls = []; global.klaviyo = {track: function (m, p) { calls.push([m, p]); return true; }};"
        f"require({json.dumps(str(out / 'klaviyo-snippets.min.js'))});"
        f"klaviyoSnippets.odd({json.dumps({field: NASTY})});"
        "process.stdout.write(JSON.stringify(calls));"
    )
    proc = subprocess.run([node, str(driver)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [["Odd " + NASTY, {NASTY: NASTY, "Name": NASTY}]]
    assert load_plan(plan).events[0].metric == "Odd " + NASTY


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | hostile_text,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(hostile_text, children, max_size=4),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None)
@given(json_values)
def test_js_literal_is_json_dumps_made_script_safe(value):
    """js_literal keeps encoders and an indented-form cache for speed: its output is still
    exactly json.dumps (ASCII) with <, > and & written as \\u escapes, in every layout."""
    def expected(**layout):
        text = json.dumps(value, ensure_ascii=True, allow_nan=False, **layout)
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")

    assert js_literal(value) == expected(separators=(",", ":"))
    assert js_literal(value, spaced=True) == expected(separators=(", ", ": "))
    assert js_literal(value, indent=2) == expected(indent=2, separators=(",", ": "))
    assert js_literal(value, indent=2) == js_literal(value, indent=2)  # from the cache, the same


@pytest.mark.parametrize("href, shown", [
    ("javascript:alert(1)", "#"), (" JavaScript:alert(1)", "#"), ("data:text/html,<b>x</b>", "#"),
    ("https://www.example.com/deals", "https://www.example.com/deals"), ("/deals?x=1", "/deals?x=1"),
])
def test_a_sample_link_in_the_example_markup_is_never_code(tmp_path, href, shown):
    from klaviyo_snippets.generator.codegen._markup import example_element

    plan = load_plan()
    banner = next(e for e in plan.events if e.metric == "Clicked Banner")
    [trigger] = [t for t in banner.triggers if t.kind == "click"]
    element = example_element(banner, trigger, {"banner": {"href": href}})
    assert f'href="{html_attr(shown)}"' in element


def test_verify_generated_storefront_escapes_metric_names_in_its_pages(tmp_path):
    from klaviyo_snippets.harness.verify import generated_storefront

    hostile = "Viewed Product</title><script>alert(1)</script>"
    plan = tmp_path / "plan.yaml"
    default = Path(__file__).resolve().parents[2] / "snippets" / "plan.yaml"
    plan.write_text(default.read_text(encoding="utf-8").replace(
        "metric: Viewed Product", f"metric: {yq(hostile)}"), encoding="utf-8")
    generate(plan, tmp_path / "dist")
    _, pages = generated_storefront(tmp_path / "dist", plan)
    page = pages["/viewed-product.html"]
    assert "<title>Viewed Product&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;</title>" in page


def test_the_example_element_carries_the_samples_whole_dataset():
    from klaviyo_snippets.generator.codegen._markup import example_element

    banner = next(e for e in load_plan().events if e.metric == "Clicked Banner")
    [trigger] = [t for t in banner.triggers if t.kind == "click"]
    sample = {"banner": {"href": "/deals", "dataset": {"klaviyoBanner": "Sale", "productId": "1111"}}}
    element = example_element(banner, trigger, sample)
    assert 'data-klaviyo-banner="Sale"' in element and 'data-product-id="1111"' in element
