"""Shopify's own linter on the generated Liquid: theme-check (`@shopify/theme-check-node`, which
`shopify theme check` runs; ./bootstrap installs it into .venv/tools), run by node on the Shopify
preset generated into the Dawn-like theme of tests/shopify_theme.py, whose layout renders
'klaviyo-install' as the docs ask (so no generated snippet is orphaned). Its default checks
(`theme-check:recommended`, as `shopify theme check` without a .theme-check.yml).

Only the generated files are held to zero offences. The stand-in theme's own files (make_theme)
are a cut-down Dawn, not a complete theme: theme-check reports them (the layout has no
`content_for_header`, the product template names a section the folder does not have, ...), and
they are not what a user gets from us.

Offline and repeatable: theme-check reads Shopify's Liquid docs (filters, objects, tags) from the
copy bundled with the installed package; its download of the newest copy from GitHub is pointed
at a folder that does not exist (`SHOPIFY_TLD_ROOT`), its cache (on Linux) at the test's folder.
Missing linter: the tests skip with NO THEME-CHECK (a failure under KLAVIYO_SNIPPETS_STRICT=1).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from klaviyo_snippets.generator.codegen import generate, preset_path
from tests.node import node_binary
from tests.shopify_theme import make_theme

ROOT = Path(__file__).resolve().parents[2]
LINTER = ROOT / ".venv" / "tools" / "node_modules" / "@shopify" / "theme-check-node"

_SCRIPT = r"""
const path = require('path'), {fileURLToPath} = require('url');
const [linter, root] = process.argv.slice(2);
const relative = (uri) => path.relative(root, fileURLToPath(uri)).split(path.sep).join('/');
require(linter).themeCheckRun(root).then(({theme, offenses}) => process.stdout.write(JSON.stringify({
  files: theme.map((source) => relative(source.uri)),
  offenses: offenses.map((o) => ({check: o.check, severity: o.severity, file: relative(o.uri),
                                  line: o.start.line + 1, message: o.message})),
})), (e) => { process.stderr.write(String(e && e.stack) + '\n'); process.exit(1); });
"""


def linter() -> Path:
    """theme-check's folder; skips (NO THEME-CHECK) when ./bootstrap did not install it."""
    if not (LINTER / "package.json").is_file():
        pytest.skip("NO THEME-CHECK: run ./bootstrap (npm installs @shopify/theme-check-node into "
                    ".venv/tools) to lint the generated Liquid")
    return LINTER


def theme_check(theme: Path) -> dict:
    """{files: [checked, relative to theme], offenses: [{check, severity (0 error, 1 warning,
    2 info), file, line (1-based), message}]}."""
    work = theme.parent / f"{theme.name}-theme-check"
    work.mkdir(exist_ok=True)
    script = work / "theme-check.js"
    script.write_text(_SCRIPT, encoding="utf-8")
    env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache"), "SHOPIFY_TLD_ROOT": str(work / "no-download")}
    done = subprocess.run([node_binary(), str(script), str(linter()), str(theme)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def offences_in(result: dict, files: set[str]) -> list[str]:
    """The offences in `files`, one readable line each."""
    return [f"{o['check']} (severity {o['severity']}) {o['file']}:{o['line']}: {o['message']}"
            for o in result["offenses"] if o["file"] in files]


@pytest.fixture(scope="module")
def theme(tmp_path_factory) -> tuple[Path, set[str]]:
    """The Dawn-like theme with the preset generated into it, and the generated files."""
    linter()  # skip before generating when there is nothing to lint with
    folder = tmp_path_factory.mktemp("dawn")
    make_theme(folder)
    # A theme has its locales; without one theme-check logs a missing-folder error (not an offence).
    (folder / "locales").mkdir()
    (folder / "locales" / "en.default.json").write_text("{}\n", encoding="utf-8")
    written = generate(preset_path("shopify"), folder, target="shopify", public_key="ShpT01").written
    return folder, set(written)


def test_theme_check_reports_no_offence_on_the_generated_liquid(theme):
    folder, generated = theme
    result = theme_check(folder)
    liquid = {name for name in generated if name.endswith(".liquid")}
    assert liquid and liquid <= set(result["files"]), "theme-check did not read every generated snippet"
    offences = offences_in(result, generated)
    assert not offences, "theme-check's offences in generated files:\n" + "\n".join(offences)


def test_theme_check_reports_a_deprecated_filter_in_a_generated_snippet(theme, tmp_path):
    """The linter runs and its offences in generated files are seen: a copy of the theme with
    one generated snippet using `img_url` (deprecated for `image_url`) fails as it should."""
    folder, generated = theme
    broken = tmp_path / "broken"
    shutil.copytree(folder, broken)
    snippet = broken / "snippets" / "klaviyo-product.liquid"
    text = snippet.read_text(encoding="utf-8").rstrip("\n") + "\n"
    snippet.write_text(text + "{{ product.featured_image | img_url }}\n", encoding="utf-8")
    line = text.count("\n") + 1

    offences = offences_in(theme_check(broken), generated)
    assert len(offences) == 1 and offences[0].startswith(
        f"DeprecatedFilter (severity 1) snippets/klaviyo-product.liquid:{line}: "), offences
