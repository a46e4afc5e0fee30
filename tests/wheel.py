"""The built wheel and fresh virtual environments, as a user installs klaviyo-snippets: shared by
tests/integration/test_release.py and tests/integration/test_ci_examples.py (their fixtures are in
tests/integration/conftest.py).

The wheel is built from a copy of the tracked files (`git ls-files`), so the checkout stays clean.
A fresh environment gets the other dependencies (aiohttp, Playwright, pytest, ...) from this one's
site-packages through a `.pth` path, which adds folders without running their `.pth` files, so the
checkout's editable install stays out of it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run(*args: str | Path, cwd: Path, timeout: float = 300, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          env=env, stdin=subprocess.DEVNULL)


def clean_env() -> dict:
    """This process's environment without what would steer a nested pytest or Python."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    return env


def build_wheel(source: Path, out: Path) -> Path:
    """Copy the tracked files to `source`, build the wheel into `out`, return its path."""
    tracked = run("git", "ls-files", "-z", cwd=ROOT).stdout.split("\0")
    if not any(tracked):
        pytest.fail("git ls-files listed nothing: the release test needs the git checkout")
    for name in filter(None, tracked):
        if (ROOT / name).is_file():
            (source / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, source / name)
    built = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
                "-q", "-w", out, source, cwd=source)
    assert built.returncode == 0, built.stderr
    (path,) = out.glob("klaviyo_snippets-*.whl")
    return path


def make_venv(home: Path) -> Path:
    """A new virtual environment at `home` with this one's dependencies, without klaviyo-snippets.

    Its pip is this environment's too, through the `.pth` (it installs into the environment that runs
    it): ensurepip would take seconds of CPU per environment for the same pip.
    """
    venv.EnvBuilder(with_pip=False).create(home)
    python = home / "bin" / "python"
    site = Path(run(python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=home).stdout.strip())
    (site / "dependencies-from-the-test-environment.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return home


def install_wheel(home: Path, wheel: Path) -> None:
    installed = run(home / "bin" / "python", "-m", "pip", "install", "--no-deps", "--no-index", "-q", wheel, cwd=home)
    assert installed.returncode == 0, installed.stderr
