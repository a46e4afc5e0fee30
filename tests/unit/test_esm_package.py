"""The ES module on a server and the npm package in dist/ (issue 15, item 2; docs/headless.md).

Node imports klaviyo-snippets.mjs with no window and no document, as a server-rendered
storefront (Next.js, Remix, Astro, Hydrogen) does: the import must not throw, every export must
be a function that returns false and sends nothing. The generated package.json is exact and
deterministic; npm packs the files a storefront needs; npm installs the folder into a project,
node imports the package by its (scoped) name, and TypeScript checks a call through the package's
types, refusing a wrong argument. A bad package name or version is a plan error at its line.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from klaviyo_snippets.generator import default_plan_path, generate, load_plan
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.resources import version as generator_version
from tests.node import node_binary

ROOT = Path(__file__).resolve().parents[2]
SCOPED = "@my-shop/klaviyo"
FILES = ["README.md", "klaviyo-snippets.d.mts", "klaviyo-snippets.d.ts", "klaviyo-snippets.min.js",
         "klaviyo-snippets.mjs", "package.json"]

# Imports the module where there is no window or document, calls every export with its sample
# arguments, and reports what it saw. fetch, XMLHttpRequest and sendBeacon are recorded, and so
# is every global the import or a call would add (klaviyo, _klOnsite, klaviyoSnippets...).
SERVER = """
const sent = [];
globalThis.fetch = (...a) => { sent.push(["fetch", String(a[0])]); return new Promise(() => {}); };
globalThis.XMLHttpRequest = function () { sent.push(["xhr"]); };
globalThis.navigator ||= {};  // Node 21 and later have one
globalThis.navigator.sendBeacon = (...a) => { sent.push(["beacon", String(a[0])]); return true; };
const before = new Set(Object.getOwnPropertyNames(globalThis));
const [specifier, samples] = JSON.parse(process.argv[1]);
const m = await import(specifier);
const results = {};
for (const [name, value] of Object.entries(m))
  results[name] = typeof value == "function" ? value(...(samples[name] || [])) : typeof value;
const d = m.default;
console.log(JSON.stringify({
  results, sent, version: d.version, same: Object.keys(m).every(k => k == "default" || m[k] === d[k]),
  added: Object.getOwnPropertyNames(globalThis).filter(k => !before.has(k)),
  window: typeof window, document: typeof document,
}));
"""


def _samples(dist: Path) -> dict[str, list]:
    events = json.loads((dist / "samples.json").read_text(encoding="utf-8"))["events"]
    return {e["function"]: e["args"] for e in events.values()}


def _run_server_import(cwd: Path, specifier: str, samples: dict) -> dict:
    proc = subprocess.run([node_binary(), "--input-type=module", "-e", SERVER, json.dumps([specifier, samples])],
                          cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def _npm() -> str:
    npm = shutil.which("npm")
    if not npm:
        pytest.skip("NO NPM: install Node.js with npm to pack and install the generated package")
    return npm


def _npm_env(tmp: Path) -> dict[str, str]:
    """npm offline, with a cache and logs of its own; no registry is ever asked."""
    return {**os.environ, "npm_config_cache": str(tmp / "npm-cache"), "npm_config_offline": "true",
            "npm_config_audit": "false", "npm_config_fund": "false", "npm_config_update_notifier": "false"}


@pytest.fixture(scope="module")
def default_dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("esm") / "dist"
    generate(out_dir=out)
    return out


@pytest.fixture(scope="module")
def scoped_dist(tmp_path_factory) -> Path:
    """The default plan's events in a package named @my-shop/klaviyo, version 2.3.0."""
    folder = tmp_path_factory.mktemp("scoped")
    plan = folder / "plan.yaml"
    plan.write_text(f'package:\n  name: "{SCOPED}"\n  version: "2.3.0"\n'
                    + default_plan_path().read_text(encoding="utf-8"), encoding="utf-8")
    generate(plan, folder / "dist")
    return folder / "dist"


# --------------------------------------------------------------------------- the module on a server


def test_the_module_imports_on_a_server_and_every_export_returns_false_sending_nothing(default_dist):
    functions = [e.function for e in load_plan().events]
    got = _run_server_import(default_dist, (default_dist / "klaviyo-snippets.mjs").as_uri(), _samples(default_dist))
    assert (got["window"], got["document"]) == ("undefined", "undefined")
    assert got["results"] == {**{f: False for f in functions}, "default": "object"}
    assert got["sent"] == [] and got["added"] == []
    assert got["same"] and got["version"].startswith(generator_version() + "+")


def test_a_consent_plans_module_on_a_server_has_consent_too_and_it_decides_nothing(tmp_path):
    # The types declare consent() for a plan with consent:, so the server's object has it as well.
    plan = tmp_path / "plan.yaml"
    plan.write_text("consent: {signal: api, denied: nothing}\n" + default_plan_path().read_text(encoding="utf-8"),
                    encoding="utf-8")
    generate(plan, tmp_path / "dist")
    script = ("const m = await import(process.argv[1]); const c = m.default.consent;"
              "console.log(JSON.stringify([typeof c, c({tracking: true}), c()]));")
    proc = subprocess.run([node_binary(), "--input-type=module", "-e", script,
                           (tmp_path / "dist" / "klaviyo-snippets.mjs").as_uri()], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == ["function", {"tracking": None}, {"tracking": None}]


def test_in_a_browser_the_module_is_the_classic_code_and_its_one_shared_object(default_dist):
    """The module's page code is the classic bundle's, byte for byte, and what it exports is
    window.klaviyoSnippets (the classic script's when that came first)."""
    mjs = (default_dist / "klaviyo-snippets.mjs").read_text(encoding="utf-8")
    classic = (default_dist / "klaviyo-snippets.js").read_text(encoding="utf-8").split("\n", 1)[1]
    body = mjs.split("\nif (b) {\n", 1)[1].split("\n}\nfunction n() {", 1)[0] + "\n"
    assert body == classic
    assert "klaviyoSnippets = b ? window.klaviyoSnippets : {" in mjs


# --------------------------------------------------------------------------- package.json


def test_package_json_for_the_default_plan(default_dist):
    text = (default_dist / "package.json").read_text(encoding="utf-8")
    package = json.loads(text)
    notice = (default_dist / "klaviyo-snippets.mjs").read_text(encoding="utf-8").split("\n", 1)[0][3:-3]
    assert package == {
        "name": "klaviyo-snippets",
        "version": generator_version(),
        "description": notice,
        "private": True,  # the generator's version does not follow the plan: never published by mistake
        "type": "module",
        "exports": {
            ".": {"types": "./klaviyo-snippets.d.mts", "default": "./klaviyo-snippets.mjs"},
            "./classic": "./klaviyo-snippets.min.js",
            "./package.json": "./package.json",
        },
        "main": "./klaviyo-snippets.mjs",
        "types": "./klaviyo-snippets.d.mts",
        "sideEffects": True,  # importing registers the plan's triggers
        "files": ["klaviyo-snippets.d.mts", "klaviyo-snippets.d.ts", "klaviyo-snippets.min.js", "klaviyo-snippets.mjs"],
    }
    assert list(package) == ["name", "version", "description", "private", "type", "exports", "main", "types",
                             "sideEffects", "files"]  # npm's usual order, and no scripts, no dependencies
    assert "Generated by klaviyo-snippets" in text[:600]  # the writer's mark: it may replace the file


def test_package_json_takes_the_plans_name_and_version_and_can_then_be_published(scoped_dist, default_dist):
    package = json.loads((scoped_dist / "package.json").read_text(encoding="utf-8"))
    assert (package["name"], package["version"], "private" in package) == (SCOPED, "2.3.0", False)
    assert package["exports"] == json.loads((default_dist / "package.json").read_text())["exports"]


def test_generate_check_sees_an_edited_package_json(tmp_path):
    out = tmp_path / "dist"
    generate(out_dir=out)
    assert generate(out_dir=out, check=True).stale == []
    path = out / "package.json"
    path.write_text(path.read_text().replace('"private": true', '"private": false'))
    result = generate(out_dir=out, check=True)
    assert result.stale == ["package.json"] and '-  "private": false,' in result.diffs["package.json"]


@pytest.mark.parametrize("entry, message", [
    ('name: "@My-Shop/klaviyo"', "'@My-Shop/klaviyo' is not an npm package name: npm names are lower case"),
    ('name: "@my-shop"', "'@my-shop' is a scope without a name: a scoped name is @scope/name"),
    ('name: "@/klaviyo"', "'@/klaviyo' has an empty scope: a scoped name is @scope/name"),
    ('name: "my-shop/klaviyo"', "'my-shop/klaviyo' has a / but no @scope: a scoped name starts with @ (@scope/name)"),
    ('name: "@my shop/klaviyo"', "'@my shop/klaviyo': ' ' cannot be in an npm scope (letters, digits, - . _ only)"),
    ('name: "@my-shop/_klaviyo"', "'@my-shop/_klaviyo': the name cannot start with '_'"),
    ('name: "events"', "'events' is the name of one of Node's own modules"),
    (f'name: "{"k" * 215}"', "has 215 characters: npm allows 214"),
    ("name: 7", "the package name must be text, got 7"),
    ("version: 1.2", 'the package version must be text, got 1.2'),
    ('version: "1.2"', "'1.2' is not a semantic version: npm needs MAJOR.MINOR.PATCH"),
    ('version: "v1.2.0"', "'v1.2.0' is not a semantic version"),
])
def test_a_bad_package_name_or_version_is_a_plan_error_at_its_line(tmp_path, entry, message):
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"package:\n  {entry}\n" + default_plan_path().read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(UserError) as info:
        generate(plan, tmp_path / "dist")
    assert message in info.value.message
    key = entry.split(":")[0]
    assert info.value.where == f"{plan}:2:{len(key) + 5} at /package/{key}"  # the value's line and column
    assert not (tmp_path / "dist").exists()


def test_a_private_key_as_the_package_name_is_refused_and_never_echoed(tmp_path):
    secret = "pk_" + "0123456789abcdef" * 2 + "ab"
    plan = tmp_path / "plan.yaml"
    plan.write_text(f"package:\n  name: {secret}\n" + default_plan_path().read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(UserError) as info:
        generate(plan, tmp_path / "dist")
    assert "private API key" in info.value.message and secret not in str(info.value)
    assert not (tmp_path / "dist").exists()


# --------------------------------------------------------------------------- npm and TypeScript


def test_npm_packs_the_module_its_types_and_the_classic_script(default_dist, tmp_path):
    proc = subprocess.run([_npm(), "pack", "--dry-run", "--json", str(default_dist)], cwd=tmp_path,
                          env=_npm_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    [packed] = json.loads(proc.stdout)
    assert sorted(f["path"] for f in packed["files"]) == FILES
    assert packed["id"] == f"klaviyo-snippets@{generator_version()}"


def test_a_project_installs_the_folder_imports_it_by_name_and_typescript_checks_calls(scoped_dist, tmp_path):
    project = tmp_path / "shop"
    project.mkdir()
    (project / "package.json").write_text('{"name": "shop", "private": true, "type": "module"}\n')
    proc = subprocess.run([_npm(), "install", str(scoped_dist)], cwd=project, env=_npm_env(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    dependencies = json.loads((project / "package.json").read_text())["dependencies"]
    assert dependencies == {SCOPED: "file:" + os.path.relpath(scoped_dist, project)}

    # node, by the package's name, with no window: the server side of a storefront
    got = _run_server_import(project, SCOPED, _samples(scoped_dist))
    assert got["results"]["viewedProduct"] is False and got["sent"] == [] and got["added"] == []
    assert set(got["results"]) == {e.function for e in load_plan().events} | {"default"}
    resolve = subprocess.run([node_binary(), "-p", f"require.resolve({json.dumps(SCOPED + '/classic')})"], cwd=project,
                             capture_output=True, text=True, timeout=60)
    assert Path(resolve.stdout.strip()).resolve() == (scoped_dist / "klaviyo-snippets.min.js").resolve(), resolve.stderr

    # TypeScript, through the package's exports and types: a right call passes, a wrong one fails
    local = ROOT / ".venv" / "tools" / "node_modules" / ".bin" / "tsc"  # what ./bootstrap installs
    tsc = str(local) if local.exists() else shutil.which("tsc")
    if not tsc:
        pytest.skip("NO TSC: ./bootstrap installs TypeScript when npm is there (or npm i -g typescript)")
    (project / "good.mts").write_text(
        f'import snippets, {{viewedProduct}} from "{SCOPED}";\n'
        'const sent: boolean | Promise<boolean> = viewedProduct({title: "Winnie the Pooh", price: 9.99});\n'
        'snippets.identify({email: "ann@example.com"});\n')
    (project / "bad.mts").write_text(f'import {{viewedProduct}} from "{SCOPED}";\nviewedProduct({{title: ["a"]}});\n')
    check = subprocess.run([tsc, "--noEmit", "--strict", "--skipDefaultLibCheck", "--lib", "es2017,dom", "--module", "nodenext",
                            "--moduleResolution", "nodenext", "good.mts", "bad.mts"],
                           cwd=project, capture_output=True, text=True, timeout=120)
    errors = [line for line in check.stdout.splitlines() if ": error " in line]
    assert len(errors) == 1 and errors[0].startswith("bad.mts(2,16): error TS2322"), check.stdout + check.stderr
