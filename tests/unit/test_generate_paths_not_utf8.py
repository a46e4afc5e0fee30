"""`generate` where a path the generated files quote (the output folder's name, the plan's path)
has bytes that are not UTF-8 (a name made on another system): a clear error saying which path
and how to fix it, nothing written; it used to be a UnicodeEncodeError (found by the CLI fuzz)."""

from __future__ import annotations

import contextlib
import io
import os
import shutil

from klaviyo_snippets.generator.resources import snippets_dir
from klaviyo_snippets.harness.cli import main

NOT_UTF8 = os.fsdecode(b"caf\xe9")  # Latin-1 "café": on Linux, "caf\udce9"


def run_cli(*argv: str) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["generate", *argv])
    return code, out.getvalue() + err.getvalue()


def test_an_output_folder_named_in_another_encoding_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, output = run_cli("--out", NOT_UTF8)
    assert code == 2 and "Traceback" not in output
    assert output.startswith('error: --out: the output folder\'s name "caf\\xe9" cannot be encoded as UTF-8')
    assert "hint: choose an output folder whose name is UTF-8, e.g. --out dist" in output
    assert os.listdir(tmp_path) == []


def test_a_plan_named_in_another_encoding_is_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shutil.copy(snippets_dir() / "plan.yaml", tmp_path / f"{NOT_UTF8}.yaml")
    code, output = run_cli("--plan", f"{NOT_UTF8}.yaml", "--out", "site")
    assert code == 2 and "Traceback" not in output
    assert output.startswith('error: --plan: the plan\'s path "caf\\xe9.yaml" cannot be encoded as UTF-8')
    assert "hint: rename the plan file (or its folders) to a name in UTF-8" in output
    assert not (tmp_path / "site").exists()


def test_a_utf8_name_that_is_not_ascii_is_fine(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    code, output = run_cli("--out", "café")
    assert code == 0, output
    assert "generate --out 'caf\\u00e9'`" in (tmp_path / "café" / "loader.js").read_text(encoding="utf-8")
