"""`klaviyo-snippets generate` with bad input: a clear error (exit 2, what, where, how to fix),
no traceback, nothing written and nothing of the user's lost."""

from __future__ import annotations

import contextlib
import io
import os
import shutil
from pathlib import Path

import pytest

from klaviyo_snippets.harness.cli import main

SECRET = "pk_" + "0123456789abcdef" * 2 + "ab"  # shaped like a Klaviyo private key

PLAN = """\
version: 1
public_key: AbC123
samples:
  a_product: {id: "1", title: Book, price: 9.99}
events:
  added_like:
    metric: Added Like
    description: A shopper likes a product.
    inputs: [product]
    fire:
      click: {selector: "#Like"}
    properties:
      ProductName: {type: string, from: product.title}
      Price: {type: number, from: product.price}
    sample: {product: a_product}
"""


def run_cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["generate", *argv])
    return code, out.getvalue(), err.getvalue()


def refused(code: int, out: str, err: str, *words: str) -> None:
    assert code == 2, (out, err)
    assert out == "" and "Traceback" not in err and err.startswith("error: ")
    for word in words:
        assert word in err, (word, err)


def plan_file(tmp_path: Path, text: str = PLAN) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(text)
    return path


def files_of(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- the writer loses nothing


def test_generating_into_a_site_folder_leaves_its_other_folders_alone(tmp_path):
    site = tmp_path / "site"
    assert run_cli("--out", str(site))[0] == 0
    # A hand-edited copy of a snippet, an old build and a stray generated file: all the user's now.
    (site / "templates").mkdir()
    (site / "templates" / "identify.html").write_text((site / "snippets" / "identify.html").read_text() + "<!-- mine -->\n")
    (site / "dist").mkdir()
    shutil.copy(site / "klaviyo-snippets.js", site / "dist" / "klaviyo-snippets.js")
    shutil.copy(site / "loader.js", site / "old-loader.js")
    before = {name: data for name, data in files_of(site).items() if name.startswith(("templates/", "dist/", "old-"))}

    code, out, err = run_cli("--out", str(site))
    assert code == 0, err
    assert "removed" not in out
    after = files_of(site)
    assert {name: after.get(name) for name in before} == before


def test_a_file_edited_since_it_was_generated_is_kept_and_reported(tmp_path):
    out_dir = tmp_path / "dist"
    assert run_cli("--out", str(out_dir))[0] == 0  # the default plan: eleven events
    edited = out_dir / "docs" / "identify.md"  # not in PLAN
    edited.write_text(edited.read_text() + "\nmy notes\n")

    code, out, err = run_cli("--plan", str(plan_file(tmp_path)), "--out", str(out_dir))
    assert code == 0, err
    assert edited.read_text().endswith("my notes\n")
    assert "kept    docs/identify.md" in out and "edited" in out
    assert "removed docs/added-to-cart.md" in out  # unedited, no longer generated: removed
    assert not (out_dir / "docs" / "added-to-cart.md").exists()


# --------------------------------------------------------------------------- private keys


@pytest.mark.parametrize("edit, pointer", [
    (("      Price:", f"      ApiKey: {{type: string, value: {SECRET}}}\n      Price:"), "/events/added_like/properties/ApiKey/value"),
    (("from: product.price}", f"from: product.price, default: 0, description: 'key {SECRET}'}}"), "/events/added_like/properties/Price/description"),
    (("title: Book", f"title: {SECRET}"), "/samples/a_product/title"),
    (('"#Like"', f'"#{SECRET}"'), "/events/added_like/fire/click/selector"),
    (("      ProductName:", f"      {SECRET}:"), "/events/added_like/properties"),
])
def test_a_private_key_anywhere_in_the_plan_is_refused_without_repeating_it(tmp_path, edit, pointer):
    plan = plan_file(tmp_path, PLAN.replace(*edit))
    code, out, err = run_cli("--plan", str(plan), "--out", str(tmp_path / "dist"))
    refused(code, out, err, "private API key", "browser", f"{plan}:", f"at {pointer}", "hint:")
    assert SECRET not in err and SECRET[:12] not in err
    assert not (tmp_path / "dist").exists()


# --------------------------------------------------------------------------- paths that are not what they should be


def test_plan_that_is_a_folder(tmp_path):
    refused(*run_cli("--plan", str(tmp_path), "--out", str(tmp_path / "dist")), "is a folder", "--plan")
    assert not (tmp_path / "dist").exists()


def test_empty_plan_path(tmp_path):
    refused(*run_cli("--plan", "", "--out", str(tmp_path / "dist")), "--plan", "empty")
    assert not (tmp_path / "dist").exists()


def test_unreadable_plan(tmp_path, monkeypatch):
    plan = plan_file(tmp_path)
    plan.chmod(0)
    if os.access(plan, os.R_OK):  # root reads anything: make the read fail as it would for anyone else
        real = Path.read_text

        def read_text(self, *args, **kwargs):
            if self == plan:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *args, **kwargs)

        monkeypatch.setattr(Path, "read_text", read_text)
    try:
        refused(*run_cli("--plan", str(plan), "--out", str(tmp_path / "dist")), "cannot read", str(plan), "Permission denied", "permissions")
    finally:
        plan.chmod(0o644)
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("check", [False, True])
@pytest.mark.parametrize("below", ["", "sub"])
def test_out_that_is_a_file(tmp_path, check, below):
    afile = tmp_path / "afile"
    afile.write_text("mine\n")
    argv = ["--out", str(afile / below if below else afile)] + (["--check"] if check else [])
    refused(*run_cli(*argv), "--out", f"{afile} is a file, not a folder")
    assert afile.read_text() == "mine\n"


def test_out_that_cannot_be_written(tmp_path, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    real = os.access
    if real(locked, os.W_OK):  # root writes anywhere: answer as the kernel would for anyone else
        monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if Path(path) == locked else real(path, mode, **kw))
    try:
        refused(*run_cli("--out", str(locked)), "cannot write in", str(locked), "permission denied")
        refused(*run_cli("--out", str(locked / "dist")), "cannot write in", str(locked))
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o755)


# --------------------------------------------------------------------------- values and selectors


@pytest.mark.parametrize("number", [".inf", "-.inf", ".nan", "1.0e+400"])
def test_numbers_json_cannot_carry_are_refused(tmp_path, number):
    plan = plan_file(tmp_path, PLAN.replace("price: 9.99", f"price: {number}"))
    code, out, err = run_cli("--plan", str(plan), "--out", str(tmp_path / "dist"))
    refused(code, out, err, f"{plan}:4:", "at /samples/a_product/price", "not a number JSON can carry", "finite")
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("selector", ["[data-klaviyo-banner", "##Like", "a >", "a, ,b", "button:not(.x"])
def test_bad_css_selectors_are_refused_at_generate_time(tmp_path, selector):
    plan = plan_file(tmp_path, PLAN.replace('"#Like"', f'"{selector}"'))
    code, out, err = run_cli("--plan", str(plan), "--out", str(tmp_path / "dist"))
    refused(code, out, err, f"{plan}:11:", "at /events/added_like/fire/click/selector", "not a valid CSS selector", repr(selector))
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("selector", ["a[href^='https://shop'] > img:not(.x)", "[data-note='{}']", "li:nth-child(2n+1)"])
def test_valid_css_selectors_are_accepted(tmp_path, selector):
    plan = plan_file(tmp_path, PLAN.replace('"#Like"', f'"{selector}"'))
    code, _, err = run_cli("--plan", str(plan), "--out", str(tmp_path / "dist"))
    assert code == 0, err


# --------------------------------------------------------------------------- options


@pytest.mark.parametrize("url", ["javascript:alert(1)", 'not a url "', "//cdn.example.com/kl", "cdn.example.com/kl", "ftp://cdn.example.com/"])
def test_assets_url_must_be_an_http_url_or_a_path(tmp_path, url):
    refused(*run_cli("--no-inline", "--assets-url", url, "--out", str(tmp_path / "dist")), "--assets-url", repr(url), "https://")
    assert not (tmp_path / "dist").exists()


def test_assets_url_without_no_inline_is_an_error(tmp_path):
    refused(*run_cli("--assets-url", "https://cdn.example.com/kl/", "--out", str(tmp_path / "dist")), "--assets-url", "--no-inline")
    assert not (tmp_path / "dist").exists()


@pytest.mark.parametrize("url", ["https://cdn.example.com/kl/", "/assets"])
def test_good_assets_urls_are_used(tmp_path, url):
    code, _, err = run_cli("--no-inline", "--assets-url", url, "--out", str(tmp_path / "dist"))
    assert code == 0, err
    assert f'src="{url.rstrip("/")}/klaviyo-snippets.min.js"' in (tmp_path / "dist" / "install.html").read_text()


# --------------------------------------------------------------------------- YAML


def test_a_tab_in_the_indentation_is_named(tmp_path):
    plan = plan_file(tmp_path, PLAN.replace("    description: A shopper", "\tdescription: A shopper"))
    code, out, err = run_cli("--plan", str(plan), "--out", str(tmp_path / "dist"))
    refused(code, out, err, f"{plan}:8:", "tabs are not allowed for indentation", "use spaces")
    assert not (tmp_path / "dist").exists()


def test_the_writer_never_writes_or_deletes_through_a_symbolic_link(tmp_path):
    from klaviyo_snippets.generator import generate

    out = tmp_path / "dist"
    generate(out_dir=out)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("mine")
    shutil.rmtree(out / "docs")
    (out / "docs").symlink_to(elsewhere, target_is_directory=True)
    code, _, err = run_cli("--out", str(out))
    assert code == 2 and "is a symbolic link" in err and "Traceback" not in err
    assert sorted(p.name for p in elsewhere.iterdir()) == ["keep.txt"]
    (out / "docs").unlink()
    (out / "install.html").unlink()
    (out / "install.html").symlink_to(elsewhere / "pwned.txt")
    code, _, err = run_cli("--out", str(out))
    assert code == 2 and "install.html is a symbolic link" in err
    assert not (elsewhere / "pwned.txt").exists()


@pytest.mark.parametrize("selector", ["a:not(.x, .y)", "div:is(#a, .b) > span", "li:has(> a)", "a:not(:is(.x, .y), .z)"])
def test_selectors_browsers_accept_are_accepted(selector):
    from klaviyo_snippets.generator.plan import selector_problem

    assert selector_problem(selector) is None


@pytest.mark.parametrize("selector", ["a:not(.x, .y", "a:not(##x)", "[data-klaviyo-banner", "##Like"])
def test_broken_selectors_are_refused(selector):
    from klaviyo_snippets.generator.plan import selector_problem

    assert selector_problem(selector)


@pytest.mark.parametrize("ids, words", [
    (("step_2", "step2"), "event ids 'step_2' and 'step2' both name the JavaScript function 'step2'"),
    (("version",), "klaviyoSnippets.version, which the bundle uses itself"),
    (("klaviyo_snippets",), "klaviyoSnippets.klaviyoSnippets, which the bundle uses itself"),
])
def test_event_ids_that_would_clash_in_javascript_are_refused(tmp_path, ids, words):
    events = "".join(f"  {key}:\n    metric: M {n}\n    inputs: [x]\n    properties:\n"
                     f"      A: {{type: string, from: x.a}}\n" for n, key in enumerate(ids))
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"version: 1\npublic_key: AbC123\nevents:\n{events}")
    code, _, err = run_cli("--plan", str(plan), "--out", str(tmp_path / "dist"))
    assert code == 2 and words in err and "Traceback" not in err
    assert not (tmp_path / "dist").exists()
