"""`klaviyo-snippets docs`: the guides every message points at, for pip users too."""

from __future__ import annotations

import re
from pathlib import Path

from klaviyo_snippets.harness.cli import main
from klaviyo_snippets.harness.cli.docs import topics

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [*ROOT.joinpath("generator").rglob("*.py"), *ROOT.joinpath("harness").rglob("*.py"),
           *ROOT.joinpath("harness").rglob("*.html")]


def test_lists_every_guide_with_its_title(capsys):
    assert main(["docs"]) == 0
    out = capsys.readouterr().out
    for path in sorted((ROOT / "docs").glob("*.md")):
        title = path.read_text(encoding="utf-8").split("\n", 1)[0].lstrip("# ")
        assert re.search(rf"^{re.escape(path.stem)} +{re.escape(title)}$", out, re.M)


def test_prints_one_guide_and_suggests_a_close_name(capsys):
    assert main(["docs", "tracking-plan"]) == 0
    assert capsys.readouterr().out == (ROOT / "docs" / "tracking-plan.md").read_text(encoding="utf-8")
    assert main(["docs", "server-sid"]) == 2
    err = capsys.readouterr().err
    assert "no guide named 'server-sid'" in err and "did you mean server-side?" in err


def test_every_guide_a_message_names_exists():
    """What the commands and the library tell a user to read must be there for a pip user: a
    topic of `klaviyo-snippets docs`, never a path into a source checkout."""
    named = set()
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        named |= set(re.findall(r"klaviyo-snippets docs ([a-z-]+)", text))
        for line in text.splitlines():
            stripped = line.strip()
            if stripped.startswith(("#", '"""')) or not re.search(r"hint=|help=|raise |print\(|<p", line):
                continue
            assert not re.search(r"docs/[a-z-]+\.md|\./bootstrap", line), f"{path.name}: {stripped}"
    assert named and named <= set(topics()), named - set(topics())
