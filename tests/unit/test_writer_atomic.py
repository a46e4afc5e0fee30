"""`generate` when the disk fills up: all old or all new, never a mix and never half a file.

A real write failure, not a mock: `generate` runs in a child process whose file-size limit
(RLIMIT_FSIZE) is below the size of the bundle, so the kernel refuses the write part-way (EFBIG,
as ENOSPC does on a full disk). The writer puts each file in a temporary file beside it and renames
them into place only when every one is written whole, so the failed run must leave the output
folder byte for byte as it was, with no temporary file behind."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate

pytest.importorskip("resource")  # POSIX: the child sets its file-size limit with it

SMALL_PLAN = """\
version: 1
public_key: AbC123
events:
  added_like:
    metric: Added Like
    inputs: [product]
    properties:
      ProductName: {type: string, from: product.title}
"""
LIMIT = 12_000  # bytes: more than every file of SMALL_PLAN, less than the default plan's bundle


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file and folder below `folder`, hidden ones included (a folder maps to b"/")."""
    return {p.relative_to(folder).as_posix(): (b"/" if p.is_dir() else p.read_bytes())
            for p in sorted(folder.rglob("*"))}


def generate_with_a_file_size_limit(out: Path, *argv: str) -> subprocess.CompletedProcess:
    code = (
        "import resource, sys\n"
        f"resource.setrlimit(resource.RLIMIT_FSIZE, ({LIMIT}, {LIMIT}))\n"
        "from klaviyo_snippets.harness.cli import main\n"
        f"sys.exit(main(['generate', '--out', {str(out)!r}, *{list(argv)!r}]))\n"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_write_that_fails_part_way_leaves_every_previous_file_as_it_was(tmp_path):
    plan = tmp_path / "small.yaml"
    plan.write_text(SMALL_PLAN)
    out = tmp_path / "dist"
    generate(plan, out)
    assert max(len(data) for data in snapshot(out).values()) < LIMIT
    before = snapshot(out)

    proc = generate_with_a_file_size_limit(out)  # the default plan: eleven events, a bigger bundle

    assert proc.returncode == 2, proc.stderr
    after = snapshot(out)
    assert sorted(set(after) ^ set(before)) == []  # no temporary file, no new file or folder
    assert [name for name in before if after[name] != before[name]] == []  # every file's old bytes
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: cannot write"), proc.stderr
    assert "File too large" in proc.stderr and "nothing was changed" in proc.stderr

    # and with room again, the same command writes the new output whole
    result = generate(None, out)
    assert not [name for name in snapshot(out) if name.endswith(".tmp")]
    assert (out / "klaviyo-snippets.js").read_bytes() == result.files["klaviyo-snippets.js"]


def test_a_first_generate_that_fails_leaves_no_partial_file(tmp_path):
    out = tmp_path / "dist"
    proc = generate_with_a_file_size_limit(out)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert not out.exists() or snapshot(out) == {}


def test_a_leftover_temporary_file_or_link_is_replaced_not_followed(tmp_path):
    out = tmp_path / "dist"
    generate(None, out)
    elsewhere = tmp_path / "elsewhere.txt"
    (out / ".klaviyo-snippets.js.tmp").write_text("left by a killed run")
    os.symlink(elsewhere, out / ".install.html.tmp")
    (out / "install.html").write_text((out / "install.html").read_text() + "<!-- edited -->\n")
    generate(None, out)
    assert not elsewhere.exists()
    assert not [name for name in snapshot(out) if name.endswith(".tmp")]


def test_a_relative_output_folder_is_created_with_its_parents(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    generate(None, Path("site/dist"))
    assert (tmp_path / "site" / "dist" / "snippets" / "identify.html").is_file()
