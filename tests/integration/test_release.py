"""The built wheel, installed into a fresh virtual environment beside a theme project that has
packages of its own named `generator` and `harness` and a `tests/` folder, as a user installs it.

Our pytest plugin loads in every pytest run of that environment, so the project's own tests must
still import its own packages, and a test of ours (the `klaviyo_shop` fixture, a real browser)
must pass beside them. The wheel and the fresh environment (fixtures `wheel`, `fresh_venv`) come
from tests/integration/conftest.py; tests/wheel.py says how they are made.
"""

from __future__ import annotations

import json
import sys
import textwrap
import zipfile
from pathlib import Path

from tests.wheel import clean_env as _clean_env
from tests.wheel import run as _run

ROOT = Path(__file__).resolve().parents[2]

THEME_GENERATOR = '''
def build_theme():
    return "the theme's own generator"
'''
THEME_HARNESS = '''
NAME = "the theme's own harness"
'''
THEME_TESTS = '''
import generator
import harness
from generator import build_theme


def test_the_theme_keeps_its_own_packages():
    assert build_theme() == "the theme's own generator"
    assert harness.NAME == "the theme's own harness"
    assert generator.__file__.startswith({project!r})


def test_klaviyo_snippets_comes_from_the_wheel():
    import klaviyo_snippets
    from klaviyo_snippets import StubKlaviyo, generate, load_plan, verify

    assert klaviyo_snippets.__file__.startswith({venv!r}), klaviyo_snippets.__file__
    assert load_plan().events


def test_added_to_cart_with_our_fixtures(klaviyo_shop, klaviyo_stub):
    install = open({install!r}, encoding="utf-8").read()
    klaviyo_shop.open("<!doctype html><html><head>" + install + """</head><body><script>
        klaviyo.identify({{email: "ada@example.com"}});
        klaviyo.track("Added to Cart", {{$value: 29.98, AddedItemSKU: "TALEOFTWO"}});
      </script></body></html>""")
    klaviyo_stub.expect_event("Added to Cart", value=29.98, properties={{"AddedItemSKU": "TALEOFTWO"}})
'''


def test_the_wheel_installs_one_import_name_with_its_data(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"klaviyo_snippets"}
    for needed in ("klaviyo_snippets/snippets/plan.yaml", "klaviyo_snippets/snippets/plan.schema.json",
                   "klaviyo_snippets/snippets/templates/bundle.js.j2", "klaviyo_snippets/py.typed",
                   "klaviyo_snippets/harness/standin/onsite/klaviyo.js",
                   "klaviyo_snippets/harness/preview/static/inspector.js",
                   "klaviyo_snippets/harness/preview/templates/base.html"):
        assert needed in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    text = zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "klaviyo_snippets = klaviyo_snippets.harness.pytest_plugin" in text
    assert "klaviyo-snippets = klaviyo_snippets.harness.cli:main" in text


def test_a_theme_project_with_its_own_generator_and_harness_keeps_working(fresh_venv, tmp_path):
    project = tmp_path / "theme"
    for package, code in (("generator", THEME_GENERATOR), ("harness", THEME_HARNESS)):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(code)
    (project / "tests").mkdir()
    (project / "tests" / "test_theme.py").write_text(
        textwrap.dedent(THEME_TESTS).format(project=str(project), venv=str(fresh_venv),
                                             install=str(ROOT / "dist" / "install.html")))
    (project / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')

    done = _run(fresh_venv / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                "--browser", "chromium", cwd=project, env=_clean_env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "3 passed" in done.stdout, done.stdout


def test_the_installed_command_generates_from_the_built_in_plan(fresh_venv, tmp_path):
    done = _run(fresh_venv / "bin" / "klaviyo-snippets", "generate", "--out", tmp_path / "dist",
                cwd=tmp_path, env=_clean_env())
    assert done.returncode == 0, done.stderr
    manifest = json.loads((tmp_path / "dist" / "manifest.json").read_text())
    generated = {name: (tmp_path / "dist" / name).read_bytes() for name in manifest["files"]}
    committed = {name: (ROOT / "dist" / name).read_bytes() for name in manifest["files"]}
    assert generated == committed  # the wheel's templates and plan are the checkout's


def test_the_wheel_and_the_checkout_report_one_version_and_ship_the_guides(fresh_venv, tmp_path):
    installed = _run(fresh_venv / "bin" / "klaviyo-snippets", "--version", cwd=tmp_path, env=_clean_env())
    checkout = _run(Path(sys.executable).with_name("klaviyo-snippets"), "--version", cwd=tmp_path)
    assert installed.stdout == checkout.stdout and installed.stdout.startswith("klaviyo-snippets ")
    guide = _run(fresh_venv / "bin" / "klaviyo-snippets", "docs", "server-side", cwd=tmp_path, env=_clean_env())
    assert guide.returncode == 0 and guide.stdout == (ROOT / "docs" / "server-side.md").read_text(encoding="utf-8")
