"""examples/ci/ run as CI runs them, so the examples cannot rot.

Each file is parsed (PyYAML) and its `run:` / `script:` steps run in order, in bash with
`-eo pipefail` as both CI systems run them, in a throw-away theme repository (a plan made by
`klaviyo-snippets init`, its generated output, one pytest test with our fixtures) inside a fresh
virtual environment, with the install step pointed at the locally built wheel. Steps that cannot
run here are skipped by name, each with its reason (NOT_HERE), and what they would cache or upload
is checked; any other step, job key or CI expression fails the test, so an edited example cannot
silently skip work. The Chromium job runs in full. The Firefox job is the same job of the matrix:
its test command only collects here. A second run of the test command, with a failing test, shows
that the captured traffic and the trace land under the path the example uploads.
"""

from __future__ import annotations

import importlib.metadata
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from klaviyo_snippets.harness.browser import BrowserUnavailable, choose_browser
from tests.wheel import ROOT, clean_env, make_venv, run

EXAMPLES = ROOT / "examples" / "ci"
BROWSERS = ["chromium", "firefox"]

# What cannot run here, and why. Anything not named here or run is an error.
NOT_HERE = {
    "actions/checkout": "the throw-away theme repository is the checkout",
    "actions/setup-python": "the fresh virtual environment is the Python",
    "actions/cache": "nothing to restore here; the folder it keeps and its key are checked",
    "actions/upload-artifact": "nothing to upload here; that a failing run's files are under its path is checked",
    "image": "the fresh virtual environment stands in for the image",
    "cache": "nothing to restore here; the folder it keeps and its key are checked",
    "artifacts": "nothing to upload here; that a failing run's files are under its path is checked",
}

# The install step, pointed at the wheel instead of the package index.
INSTALL = re.compile(r'python -m pip install "klaviyo-snippets==\$KLAVIYO_SNIPPETS_VERSION"')
TEST_COMMAND = re.compile(r'python -m pytest --browser "\$BROWSER"')
# The work each example must do, in this order (a line each).
REQUIRED = [
    ("install klaviyo-snippets", INSTALL),
    ("install or find both browsers", re.compile(r"klaviyo-snippets browsers ensure --firefox")),
    ("check the committed output", re.compile(r"klaviyo-snippets generate --plan klaviyo/plan\.yaml --out klaviyo/dist --check")),
    ("run the tests in the job's browser", TEST_COMMAND),
]

THEME_TEST = '''
from pathlib import Path

INSTALL = (Path(__file__).parents[1] / "klaviyo" / "dist" / "install.html").read_text(encoding="utf-8")


def test_added_to_cart(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open("<!doctype html><html><head>" + INSTALL + """</head><body><script>
        klaviyo.identify({email: "ada@example.com"});
        klaviyo.track("Added to Cart", {$value: 29.98, AddedItemSKU: "TALEOFTWO"});
      </script></body></html>""")
    klaviyo_stub.expect_event("Added to Cart", value=29.98, properties={"AddedItemSKU": "TALEOFTWO"})
'''
BROKEN = ('properties={"AddedItemSKU": "TALEOFTWO"})', 'properties={"AddedItemSKU": "NOT-IN-THE-CART"}, timeout=1)')


@dataclass
class Step:
    kind: str  # "run", or what it would use (an action, a GitLab key)
    script: str = ""
    id: str | None = None
    options: dict = field(default_factory=dict)  # `with:`, or the GitLab key's value


@dataclass
class Job:
    matrix: list[str]
    env: dict[str, str]
    steps: list[Step]
    keep: tuple[str, str]  # (kind, path expression) of the folder kept between runs
    upload: tuple[str, bool]  # (path expression, only when the job failed)
    expand: object  # expand(text, outputs) -> text: the CI system's variables and expressions resolved


def _known(mapping: dict, allowed: set, where: str) -> None:
    unknown = set(mapping) - allowed
    assert not unknown, f"{where}: {sorted(map(str, unknown))} not known to this test; teach it (NOT_HERE) or remove"


def _github_expand(text: str, browser: str, env: dict, outputs: dict) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1)
        scope, _, rest = name.partition(".")
        known = {"runner": {"os": "Linux"}, "env": env, "steps": outputs, "matrix": {"browser": browser}}
        assert scope in known and rest, f"the expression ${{{{ {name} }}}} is not known to this test"
        if scope == "steps":
            step, _, output = rest.partition(".outputs.")
            assert output in outputs.get(step, {}), f"${{{{ {name} }}}}: no step {step!r} set output {output!r}"
            return outputs[step][output]
        assert known[scope].get(rest) is not None, f"${{{{ {name} }}}} has no value here"
        return known[scope][rest]

    return re.sub(r"\$\{\{\s*([\w.-]+)\s*\}\}", value, str(text))


def github_job(browser: str) -> Job:
    doc = yaml.safe_load((EXAMPLES / "github-actions.yml").read_text(encoding="utf-8"))
    _known(doc, {"name", "on", True, "jobs"}, "github-actions.yml")  # PyYAML reads `on:` as True
    (job,) = doc["jobs"].values()
    _known(job, {"runs-on", "strategy", "env", "steps"}, "the job")
    _known(job["strategy"], {"fail-fast", "matrix"}, "strategy")
    matrix = job["strategy"]["matrix"]["browser"]
    env = {key: _github_expand(value, browser, {}, {}) for key, value in job.get("env", {}).items()}
    steps = []
    for step in job["steps"]:
        _known(step, {"name", "id", "run", "uses", "with", "if"}, f"step {step}")
        if "run" in step:
            assert "if" not in step, f"a conditional step would not always run: {step}"
            steps.append(Step("run", step["run"], step.get("id")))
        else:
            action = step["uses"].partition("@")[0]
            assert action in NOT_HERE, f"step {step} is not known to this test; teach it (NOT_HERE) or remove"
            options = dict(step.get("with", {}), **({"if": step["if"]} if "if" in step else {}))
            steps.append(Step(action, options=options))
    keep = next(s.options["path"] for s in steps if s.kind == "actions/cache")
    (upload,) = [s.options for s in steps if s.kind == "actions/upload-artifact"]
    return Job(matrix, env, steps, ("~", keep), (upload["path"], upload.get("if") == "failure()"),
               lambda text, outputs: _github_expand(text, browser, env, outputs))


def _gitlab_expand(text: str, env: dict) -> str:
    def value(match: re.Match) -> str:
        name = match.group(1) or match.group(2)
        assert name in env, f"${name} has no value here"
        return env[name]

    return re.sub(r"\$\{(\w+)\}|\$(\w+)", value, str(text))


def gitlab_job(browser: str, project: Path) -> Job:
    doc = yaml.safe_load((EXAMPLES / "gitlab-ci.yml").read_text(encoding="utf-8"))
    jobs = {name: job for name, job in doc.items() if name != "variables"}
    assert len(jobs) == 1, f"gitlab-ci.yml: {sorted(jobs)} not known to this test (one job, and variables)"
    (job,) = jobs.values()
    _known(job, {"image", "parallel", "cache", "script", "artifacts"}, "the job")
    (matrix,) = job["parallel"]["matrix"]
    _known(matrix, {"BROWSER"}, "parallel:matrix")
    env = {"CI_PROJECT_DIR": str(project), "BROWSER": browser}
    for key, value in doc.get("variables", {}).items():
        env[key] = _gitlab_expand(value, env)
    _known(job["cache"], {"key", "paths"}, "cache")
    _known(job["artifacts"], {"when", "paths", "expire_in"}, "artifacts")
    steps = [Step("image"), Step("cache", options=job["cache"]),
             Step("run", "\n".join(job["script"])), Step("artifacts", options=job["artifacts"])]
    (kept,) = job["cache"]["paths"]
    (uploaded,) = job["artifacts"]["paths"]
    return Job(matrix["BROWSER"], env, steps, ("project", kept), (uploaded, job["artifacts"]["when"] == "on_failure"),
               lambda text, outputs: _gitlab_expand(text, env))


@pytest.fixture(scope="module")
def browsers_here() -> None:
    for name in BROWSERS:
        try:
            choose_browser(name)
        except BrowserUnavailable as error:
            pytest.skip(f"no {name} to run: {error.one_line()} (the examples' ensure step would install it)")


@pytest.fixture
def theme(tmp_path) -> Path:
    """A theme repository as a developer commits it: the plan, its generated output, a test."""
    project = tmp_path / "theme"
    (project / "klaviyo").mkdir(parents=True)
    cli = Path(sys.executable).with_name("klaviyo-snippets")
    for args in (["init", "klaviyo/plan.yaml"], ["generate", "--plan", "klaviyo/plan.yaml", "--out", "klaviyo/dist"]):
        done = run(cli, *args, cwd=project)
        assert done.returncode == 0, done.stdout + done.stderr
    (project / "tests").mkdir()
    (project / "tests" / "test_klaviyo.py").write_text(THEME_TEST, encoding="utf-8")
    return project


def _bash(script: str, *, cwd: Path, env: dict):
    return run("bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script, cwd=cwd, env=env)


def _test_command(job: Job) -> str:
    lines = [line for s in job.steps if s.kind == "run" for line in s.script.splitlines() if TEST_COMMAND.search(line)]
    assert len(lines) == 1, f"expected one test command, found {lines}"
    return lines[0]


@pytest.mark.timeout(300)
@pytest.mark.parametrize("example", ["github-actions.yml", "gitlab-ci.yml"])
def test_the_ci_example_runs_in_a_theme_repository(example, wheel, theme, tmp_path, browsers_here):
    make_job = github_job if example.startswith("github") else (lambda browser: gitlab_job(browser, theme))
    job = make_job("chromium")
    assert sorted(job.matrix) == sorted(BROWSERS), f"{example}: a job per browser, got {job.matrix}"
    version = wheel.name.split("-")[1]
    assert job.env["KLAVIYO_SNIPPETS_VERSION"] == version, f"{example} pins another release than this one"

    lines = [line for s in job.steps if s.kind == "run" for line in s.script.splitlines()]
    at = 0
    for what, pattern in REQUIRED:
        found = [i for i, line in enumerate(lines) if pattern.search(line) and i >= at]
        assert found, f"{example}: no step to {what} (after line {at}: {lines[at:]})"
        at = found[0] + 1

    venv = make_venv(tmp_path / "venv")
    base = clean_env()
    base.pop("PLAYWRIGHT_BROWSERS_PATH", None)
    base["PATH"] = f"{venv / 'bin'}:{base['PATH']}"  # setup-python and the image put their Python first
    env = base | job.env | {"CI": "true"}
    outputs: dict[str, dict[str, str]] = {}
    installs = 0
    done = {}
    for number, step in enumerate(job.steps):
        if step.kind != "run":
            assert step.kind in NOT_HERE
            continue
        assert "${{" not in step.script, f"keep CI expressions in env:, not in the script: {step.script}"
        script, n = INSTALL.subn(f"python -m pip install --no-deps --no-index {wheel}", step.script)
        installs += n
        output_file = tmp_path / f"github-output-{number}"
        output_file.touch()
        done[number] = _bash(script, cwd=theme, env=env | {"GITHUB_OUTPUT": str(output_file)})
        assert done[number].returncode == 0, f"{example}, step {script!r} failed:\n{done[number].stdout}{done[number].stderr}"
        if step.id:
            outputs[step.id] = dict(line.split("=", 1) for line in output_file.read_text().splitlines())
    assert installs == 1, f"{example}: the install step was not found to point at the wheel"

    # The tests ran, with klaviyo-snippets from the wheel the install step installed.
    tests_ran = next(p for n, p in done.items() if TEST_COMMAND.search(job.steps[n].script))
    assert re.search(r"\b1 passed\b", tests_ran.stdout), tests_ran.stdout
    where = run(venv / "bin" / "python", "-c", "import klaviyo_snippets; print(klaviyo_snippets.__file__)",
                cwd=theme, env=env)
    assert where.stdout.startswith(str(venv)), where.stdout + where.stderr

    # The kept folder is where Playwright downloads browsers in this job, under a key naming the versions.
    kind, kept = job.keep
    kept = job.expand(kept, outputs)
    kept_path = Path(kept).expanduser() if kind == "~" else theme / kept
    downloads = run(venv / "bin" / "python", "-c",
                    "from playwright.sync_api import sync_playwright\n"
                    "with sync_playwright() as p: print(p.chromium.executable_path)", cwd=theme, env=env)
    assert Path(downloads.stdout.strip()).is_relative_to(kept_path), (kept_path, downloads.stdout, downloads.stderr)
    cache = next(s for s in job.steps if s.kind in ("actions/cache", "cache"))
    key = job.expand(cache.options["key"], outputs)
    assert version in key, key
    if kind == "~":  # a GitHub cache is never overwritten: the key must change with Playwright's version
        assert importlib.metadata.version("playwright") in key, key  # the venv's, through its .pth

    # The Firefox job: the same steps; its test command runs the tests in Firefox (collected only here).
    firefox = make_job("firefox")
    assert [(s.kind, s.script) for s in firefox.steps] == [(s.kind, s.script) for s in job.steps]
    collected = _bash(_test_command(firefox), cwd=theme,
                      env=base | firefox.env | {"PYTEST_ADDOPTS": "--collect-only -q"})
    assert collected.returncode == 0, collected.stdout + collected.stderr
    assert "tests/test_klaviyo.py::test_added_to_cart[firefox]" in collected.stdout.splitlines(), collected.stdout

    # A failing test: the upload, on failure only, keeps the captured traffic and the trace.
    uploaded, on_failure_only = job.upload
    assert on_failure_only, f"{example}: upload {uploaded} when the job failed"
    test_file = theme / "tests" / "test_klaviyo.py"
    test_file.write_text(test_file.read_text().replace(*BROKEN))
    failed = _bash(_test_command(job), cwd=theme, env=env)
    assert failed.returncode == 1, failed.stdout + failed.stderr
    kept_on_failure = theme / job.expand(uploaded, outputs)
    saved = sorted(p.relative_to(theme).as_posix() for p in theme.glob("**/*") if p.is_file() and p.name in
                   ("klaviyo-traffic.json", "trace.zip"))
    assert len(saved) == 2 and all((theme / p).is_relative_to(kept_on_failure) for p in saved), \
        f"{example} uploads {uploaded}, but the failing run saved {saved}"
