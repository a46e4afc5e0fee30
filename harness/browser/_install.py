"""Install the browsers the harness needs and report each lane's: `ensure` (the set-up step,
`klaviyo-snippets browsers ensure`, run by ./bootstrap) installs Debian's packages as root where
one is missing; `which_lanes` (`klaviyo-snippets browsers which`) prints what every lane would
launch, or why its tests will be skipped. Choosing the browser itself is `_choose.py`.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence

from klaviyo_snippets.harness.browser import _choose
from klaviyo_snippets.harness.browser._choose import (
    BROWSER_NAMES,
    WEBKITGTK_PACKAGES,
    BrowserUnavailable,
    _bidi_blocker,
    _playwright_command,
    choose_browser,
    find_webkitgtk,
)

__all__ = ["ensure", "which_lanes"]


def ensure(*, headed: bool = False, firefox: bool = False, webkit: bool = False, strict: bool = False,
           out=print) -> int:
    """Make sure the browsers are there, installing Debian's packages as root; 0 when they are.

    Chromium is required. Firefox and the WebKitGTK smoke lane (`webkit`) are optional where
    nothing can be installed (not root, no apt-get): a warning says their tests will be skipped
    and why. Where apt-get is usable, a failed install of any of them is an error: CI must not go
    green without a lane it asked for. With `strict` (CI), a lane that cannot be provided is an
    error everywhere, never a warning.
    """
    wanted = [("chromium", headed)] + ([("firefox", False)] if firefox else [])
    missing: dict[str, BrowserUnavailable] = {}
    for name, name_headed in wanted:
        try:
            out(f"browser: {choose_browser(name, headed=name_headed).describe()}")
        except BrowserUnavailable as error:
            missing[name] = error
    if webkit:
        try:
            out(f"browser: {find_webkitgtk().describe()}")
        except BrowserUnavailable as error:
            missing["webkitgtk"] = error
    if not missing:
        return 0
    for error in missing.values():
        if error.setting:  # the user's own setting is wrong: installing won't help
            out(f"error: {error}")
            return 1
    if "firefox" in missing and _bidi_blocker():  # installing won't help either
        if "chromium" in missing or strict:
            out(f"error: {missing.get('chromium') or missing['firefox']}")
            return 1
        out(f"warning: {missing['firefox'].one_line()}; Firefox tests will be skipped")
        del missing["firefox"]
        if not missing:
            return 0

    packages = []
    if "chromium" in missing:
        packages += ["chromium-headless-shell", "fonts-liberation"] + (["chromium"] if headed else [])
    if "firefox" in missing:
        packages += ["firefox-esr"]
    if "webkitgtk" in missing:
        packages += list(WEBKITGTK_PACKAGES)
    if not (_is_root() and shutil.which("apt-get")):
        # Not a machine we can install system packages on: Playwright's own download, the way
        # Playwright's users get browsers (it needs the network; WebKitGTK has no such download).
        engines = [name for name in ("chromium", "firefox") if name in missing]
        if engines and not headed:
            out(f"installing Playwright's {' and '.join(engines)} (playwright install {' '.join(engines)})")
            failure = _playwright_install(engines)
            if failure:
                out(failure)
            else:
                _choose._playwright_executables.cache_clear()
                for name in engines:
                    try:
                        out(f"browser: {choose_browser(name).describe()}")
                        del missing[name]
                    except BrowserUnavailable as error:
                        out(f"error: still unavailable after installing: {error}")
            if not missing:
                return 0
        if "chromium" in missing or strict:
            out(_manual_fix(missing, packages))
            return 1
        for name, error in missing.items():
            lane = "WebKit smoke" if name == "webkitgtk" else name.capitalize()
            out(f"warning: {error.message}; {lane} tests will be skipped "
                f"(to run them: {_install_hint(name, headed)})")
        return 0

    out(f"installing Debian packages: {' '.join(packages)} (apt-get)")
    failure = _apt_install(packages)
    if failure:
        out(failure)
        out(_manual_fix(missing, packages, apt=False))
        return 1
    status = 0
    for name in missing:
        try:
            if name == "webkitgtk":
                out(f"browser: {find_webkitgtk().describe()}")
            else:
                out(f"browser: {choose_browser(name, headed=name == 'chromium' and headed).describe()}")
        except BrowserUnavailable as error:
            out(f"error: still unavailable after installing: {error}")
            status = 1
    return status


def _install_hint(name: str, headed: bool) -> str:
    if name == "webkitgtk":
        return f"sudo apt-get install -y {' '.join(WEBKITGTK_PACKAGES)}"
    if name == "firefox":
        return f"sudo apt-get install -y firefox-esr, or {_playwright_command()} install firefox"
    packages = "chromium" if headed else "chromium-headless-shell"
    return f"sudo apt-get install -y {packages}, or {_playwright_command()} install chromium"


def _is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _apt_install(packages: Sequence[str]) -> str | None:
    """Install `packages` with apt-get; None when it worked, else what went wrong."""
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    with tempfile.TemporaryFile("w+") as log:
        steps = [
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", *packages],
        ]
        for command in steps:
            result = subprocess.run(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
            if result.returncode != 0:
                log.seek(0)
                tail = "".join(log.readlines()[-15:])
                return f"error: `{' '.join(command)}` failed ({result.returncode}):\n{tail.rstrip()}"
    return None


def _playwright_install(engines: Sequence[str]) -> str | None:
    """`playwright install ENGINE...` into Playwright's own folder; None when it worked, else
    what went wrong (its last lines)."""
    result = subprocess.run([sys.executable, "-m", "playwright", "install", *engines], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if result.returncode == 0:
        return None
    tail = "\n".join(result.stdout.splitlines()[-15:])
    return f"error: `playwright install {' '.join(engines)}` failed ({result.returncode}):\n{tail}"


def _manual_fix(missing: Mapping[str, BrowserUnavailable], packages: Sequence[str], apt=True) -> str:
    lines = [f"error: {error.message}" for error in missing.values()]
    lines.append("to fix, run one of:")
    if apt:
        lines.append(f"  sudo apt-get install -y {' '.join(packages)}    # Debian")
    names = " ".join(name for name in missing if name != "webkitgtk")
    if names:
        lines.append(f"  {_playwright_command()} install {names}    # Playwright's own download")
    return "\n".join(lines)


def which_lanes(*, headed: bool = False, out=print, err=None) -> int:
    """Print every lane's browser, one line each as `which --browser NAME` prints it, or
    `NAME: none, its tests will be skipped: <why> (fix: <how>)` as pytest's header says it.

    1 when Chromium (required) is missing or a setting of the user's names no browser, else 0.
    """
    err = err or (lambda line: print(line, file=sys.stderr))
    status = 0
    lanes = [(name, functools.partial(choose_browser, name, headed=headed and name == "chromium"))
             for name in BROWSER_NAMES]
    lanes.append(("webkitgtk", find_webkitgtk))
    for name, find in lanes:
        try:
            out(find().describe())
        except BrowserUnavailable as error:
            if error.setting or name == "chromium":
                err(f"error: {error}")
                status = 1
            else:
                out(f"{name}: none, its tests will be skipped: {error.one_line()}")
    return status
