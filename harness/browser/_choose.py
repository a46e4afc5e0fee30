"""Pick the browser the harness drives and say which, or why there is none.

Playwright normally drives browsers it downloads itself; where that download is impossible (an
offline CI machine) we drive the distribution's packages instead: Debian's
`chromium-headless-shell` (what Playwright itself uses headless), its full `chromium` for headed
runs, and `firefox-esr` over WebDriver BiDi. `choose_browser` returns a `BrowserChoice` that says
which binary and why; installing a missing one is `_install.py` (`klaviyo-snippets browsers ensure`).
Playwright's WebKit cannot be had offline: `find_webkitgtk` finds Debian's WebKitGTK WebDriver
instead, for a smoke lane driven by Selenium under Xvfb (no request routing there).
"""

from __future__ import annotations

import functools
import glob
import importlib.metadata
import os
import shutil
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from klaviyo_snippets.generator.errors import UserError

__all__ = [
    "BROWSER_NAMES",
    "CHROMIUM_ENV",
    "DESKTOP_USER_AGENT",
    "FIREFOX_ENV",
    "BrowserChoice",
    "BrowserUnavailable",
    "WebKitGTK",
    "choose_browser",
    "context_options",
    "find_webkitgtk",
]

BROWSER_NAMES = ("chromium", "firefox", "webkit")
CHROMIUM_ENV = "KLAVIYO_SNIPPETS_CHROMIUM"
FIREFOX_ENV = "KLAVIYO_SNIPPETS_FIREFOX"

# Headless Chromium says "HeadlessChrome" in its user agent, and the real Klaviyo onsite script
# takes that for a robot and tracks nothing. This is what a desktop Chrome on Linux sends
# (Chrome reports only the major version).
DESKTOP_USER_AGENT = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/156.0.0.0 Safari/537.36"
)

# The full Chromium calls Google (sign-in, component updates) even headless and even with
# Playwright's own flags; send those to the discard port instead. The headless shell doesn't.
QUIET_CHROMIUM_ARGS = (
    "--gaia-url=http://127.0.0.1:9/",
    "--component-updater=url-source=http://127.0.0.1:9/",
)
# Firefox fetches remote settings at start (firefox.settings.services.mozilla.com, over a hundred
# connections in the first seconds). Measured with a recording proxy: the variable alone stops it;
# the pref sends anything left to the discard port. tests/browser/test_matrix.py checks.
QUIET_FIREFOX_PREFS = {"services.settings.server": "http://127.0.0.1:9/v1"}
QUIET_FIREFOX_ENV = {"MOZ_REMOTE_SETTINGS_DEVTOOLS": "1"}

# Playwright 1.65 fails at new_context on a BiDi Firefox (emulation.setMediaFeaturesOverride).
FIREFOX_BIDI_BROKEN_FROM = (1, 65)
BIDI_CHANNEL = "moz-firefox"

# Where Debian puts the real binaries (/usr/bin/chromium is a shell wrapper).
DEBIAN_HEADLESS_SHELL = "/usr/lib/chromium/chromium-headless-shell"
DEBIAN_CHROMIUM = "/usr/lib/chromium/chromium"
DEBIAN_FIREFOX = "/usr/bin/firefox-esr"
# Debian's WebKitGTK: the WebDriver (webkit2gtk-driver), the browser it drives (libwebkit2gtk-4.1-0,
# pulled in by the driver) and a display for it (xvfb).
WEBKITGTK_DRIVER = "WebKitWebDriver"
WEBKITGTK_BROWSER_GLOBS = ("/usr/lib/*/webkit2gtk-4.1/MiniBrowser", "/usr/lib/*/webkit2gtk-4.0/MiniBrowser")
WEBKITGTK_PACKAGES = ("webkit2gtk-driver", "xvfb")

# (package, binary: a path, or a command looked up on PATH, headless only?) in order of preference.
_SYSTEM_CHROMIUMS = (
    ("chromium-headless-shell", DEBIAN_HEADLESS_SHELL, True),
    ("chromium", DEBIAN_CHROMIUM, False),
    ("chromium-browser", "chromium-browser", False),
    ("google-chrome", "google-chrome-stable", False),
    ("google-chrome", "google-chrome", False),
)
_SYSTEM_FIREFOXES = (
    ("firefox-esr", DEBIAN_FIREFOX),
    ("firefox", "firefox"),
)

_PLAYWRIGHT_SOURCE = "Playwright's downloaded browser"


class BrowserUnavailable(UserError):
    """No browser of the kind asked for can run here; the message says why, the hint how to fix it.

    `setting` names the user's own setting (an environment variable, an explicit path) when that is
    what is wrong, so callers can treat it as a mistake to report rather than a browser to skip.
    """

    def __init__(self, message: str, *, hint: str | None = None, setting: str | None = None):
        super().__init__(message, hint=hint)
        self.setting = setting

    def one_line(self) -> str:
        """The message and hint on one line, for a skip reason or a log line."""
        return f"{self.message} (fix: {self.hint})" if self.hint else self.message


@dataclass(frozen=True)
class BrowserChoice:
    """One browser to launch: which engine, which binary, and where that binary came from."""

    name: str
    executable: str | None  # None: the build Playwright downloaded for itself
    channel: str | None = None
    source: str = _PLAYWRIGHT_SOURCE
    args: tuple[str, ...] = ()
    firefox_user_prefs: Mapping[str, object] | None = None
    env: Mapping[str, str] | None = None

    def describe(self) -> str:
        where = self.executable or "Playwright's own build"
        return f"{self.name}: {where} ({self.source})"

    @property
    def routed_posts_have_body(self) -> bool:
        """False over WebDriver BiDi: a routed POST arrives without its body there."""
        return self.channel != BIDI_CHANNEL

    def launch_options(self, headless: bool = True) -> dict:
        """Keyword arguments for `browser_type.launch(**options)`."""
        options: dict = {"headless": headless}
        if self.executable:
            options["executable_path"] = self.executable
        if self.channel:
            options["channel"] = self.channel
        if self.args:
            options["args"] = list(self.args)
        if self.firefox_user_prefs:
            options["firefox_user_prefs"] = dict(self.firefox_user_prefs)
        if self.env:
            # Playwright's `env` replaces the browser's whole environment: keep ours under it.
            options["env"] = {**os.environ, **self.env}
        return options


def context_options(**overrides) -> dict:
    """Defaults for `browser.new_context(**options)`; `overrides` win."""
    return {"user_agent": DESKTOP_USER_AGENT, **overrides}


def choose_browser(
    name: str = "chromium", *, headed: bool = False, explicit: str | os.PathLike | None = None
) -> BrowserChoice:
    """The browser to launch for engine `name`, or `BrowserUnavailable` saying why there is none.

    Chromium: `explicit`, then $KLAVIYO_SNIPPETS_CHROMIUM, then a system package (headless:
    Debian's headless shell first), then Playwright's download. Firefox: `explicit`, then
    $KLAVIYO_SNIPPETS_FIREFOX, then Debian's firefox-esr over BiDi, then Playwright's download.
    WebKit: Playwright's download only.
    """
    if name not in BROWSER_NAMES:
        raise BrowserUnavailable(
            f"unknown browser {name!r}", hint=f"choose one of {', '.join(BROWSER_NAMES)}"
        )
    if explicit is not None and str(explicit) != "":
        return _from_path(name, str(explicit), source="explicit path", setting="explicit path")
    if name == "chromium":
        return _choose_chromium(headed)
    if name == "firefox":
        return _choose_firefox()
    return _choose_webkit()


# -- Chromium ---------------------------------------------------------------------------------


def _choose_chromium(headed: bool) -> BrowserChoice:
    configured = os.environ.get(CHROMIUM_ENV)
    if configured:
        return _from_path("chromium", configured, source=CHROMIUM_ENV, setting=CHROMIUM_ENV)
    looked_at = []
    for package, binary, headless_only in _SYSTEM_CHROMIUMS:
        if headless_only and headed:
            continue
        path = _usable_binary(binary)
        looked_at.append(binary)
        if path:
            return _chromium_choice(path, source=f"system package {package}")
    own = _playwright_chromium(headed)
    if own:
        return own
    looked_at.append(f"Playwright's download ({_playwright_location('chromium')})")
    kind = "a headed Chromium" if headed else "Chromium"
    packages = "chromium" if headed else "chromium-headless-shell"
    raise BrowserUnavailable(
        f"no {kind} found; looked for {', '.join(looked_at)}",
        hint=f"run `klaviyo-snippets browsers ensure{' --headed' if headed else ''}` as root to install Debian's "
        f"{packages}, or `{_playwright_command()} install chromium`, "
        f"or set {CHROMIUM_ENV} to a Chromium binary",
    )


def _chromium_choice(path: str, *, source: str) -> BrowserChoice:
    headless_shell = "headless" in Path(path).name
    return BrowserChoice(
        name="chromium",
        executable=path,
        source=source,
        args=() if headless_shell else QUIET_CHROMIUM_ARGS,
    )


def _playwright_chromium(headed: bool) -> BrowserChoice | None:
    full = _playwright_executables().get("chromium")
    if not full:
        return None
    full_exists = Path(full).is_file()
    shell = None if headed else _headless_shell_beside(Path(full))
    if shell:
        # Playwright picks its headless shell by itself when no executable is given.
        return BrowserChoice("chromium", None, source=f"{_PLAYWRIGHT_SOURCE}, {shell}")
    if full_exists:
        # Downloaded with --no-shell: the full build runs headless too, if we name it.
        return BrowserChoice("chromium", None if headed else full, source=_PLAYWRIGHT_SOURCE)
    return None


def _headless_shell_beside(full: Path) -> Path | None:
    # <browsers>/chromium-<rev>/chrome-linux64/chrome  ->  <browsers>/chromium_headless_shell-<rev>/*/
    try:
        revision_dir = full.parents[1]
    except IndexError:
        return None
    revision = revision_dir.name.rpartition("-")[2]
    shell_dir = revision_dir.parent / f"chromium_headless_shell-{revision}"
    for candidate in sorted(shell_dir.glob("*/*headless*shell*")):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


# -- Firefox and WebKit -----------------------------------------------------------------------


def _choose_firefox() -> BrowserChoice:
    configured = os.environ.get(FIREFOX_ENV)
    if configured:
        return _from_path("firefox", configured, source=FIREFOX_ENV, setting=FIREFOX_ENV)
    reasons = []
    for package, binary in _SYSTEM_FIREFOXES:
        path = _usable_binary(binary)
        if not path:
            continue
        too_new = _bidi_blocker()
        if too_new:
            reasons.append(f"{path} found but {too_new}")
            break
        return _firefox_bidi_choice(path, source=f"system package {package}")
    else:
        reasons.append(f"no {' or '.join(binary for _, binary in _SYSTEM_FIREFOXES)}")
    own = _playwright_executables().get("firefox")
    if own and Path(own).is_file():
        return BrowserChoice("firefox", None, source=_PLAYWRIGHT_SOURCE)
    reasons.append(f"no Playwright download ({_playwright_location('firefox')})")
    raise BrowserUnavailable(
        f"no Firefox found: {'; '.join(reasons)}",
        hint=f"run `klaviyo-snippets browsers ensure --firefox` as root to install Debian's firefox-esr, "
        f"or `{_playwright_command()} install firefox`",
    )


def _firefox_bidi_choice(path: str, *, source: str) -> BrowserChoice:
    return BrowserChoice(
        name="firefox",
        executable=path,
        channel=BIDI_CHANNEL,
        source=f"{source}, WebDriver BiDi",
        firefox_user_prefs=dict(QUIET_FIREFOX_PREFS),
        env=dict(QUIET_FIREFOX_ENV),
    )


def _choose_webkit() -> BrowserChoice:
    own = _playwright_executables().get("webkit")
    if own and Path(own).is_file():
        return BrowserChoice("webkit", None, source=_PLAYWRIGHT_SOURCE)
    raise BrowserUnavailable(
        "no WebKit found: only Playwright's own WebKit build can be driven, and it is not "
        f"downloaded ({_playwright_location('webkit')}); it cannot be had offline",
        hint=f"`{_playwright_command()} install webkit` on a machine that can download it; "
        "without it, the WebKit smoke lane (`klaviyo-snippets browsers ensure --webkit`, Selenium + WebKitGTK) still runs",
    )


@dataclass(frozen=True)
class WebKitGTK:
    """Debian's WebKitGTK for Selenium: the WebDriver, the browser it starts, and Xvfb for a display."""

    driver: str
    browser: str
    xvfb: str

    def describe(self) -> str:
        return f"webkitgtk: {self.browser} via {self.driver}, on Xvfb (Selenium smoke lane, no routing)"


def find_webkitgtk() -> WebKitGTK:
    """The WebKitGTK smoke lane's binaries, or `BrowserUnavailable` naming what is missing."""
    driver = shutil.which(WEBKITGTK_DRIVER)
    browser = next((path for pattern in WEBKITGTK_BROWSER_GLOBS for path in sorted(glob.glob(pattern))
                    if os.access(path, os.X_OK)), None)
    xvfb = shutil.which("Xvfb")
    missing = [
        what for what, found in (
            (f"{WEBKITGTK_DRIVER} (package webkit2gtk-driver)", driver),
            ("MiniBrowser (package libwebkit2gtk-4.1-0)", browser),
            ("Xvfb (package xvfb)", xvfb),
        ) if not found
    ]
    if missing:
        raise BrowserUnavailable(
            f"no WebKitGTK smoke lane: no {', no '.join(missing)}",
            hint=f"run `klaviyo-snippets browsers ensure --webkit` as root, or apt-get install {' '.join(WEBKITGTK_PACKAGES)}",
        )
    return WebKitGTK(driver, browser, xvfb)


def _bidi_blocker() -> str | None:
    """Why Playwright cannot drive a stock Firefox here, or None when it can."""
    version = _playwright_version()
    if version >= FIREFOX_BIDI_BROKEN_FROM:
        pinned = ".".join(map(str, FIREFOX_BIDI_BROKEN_FROM))
        return (
            f"playwright {'.'.join(map(str, version))} cannot drive it over WebDriver BiDi "
            f"(broken from {pinned}; install playwright<{pinned})"
        )
    return None


def _playwright_version() -> tuple[int, ...]:
    try:
        text = importlib.metadata.version("playwright")
    except importlib.metadata.PackageNotFoundError:
        return (0,)
    parts = []
    for piece in text.split(".")[:3]:
        digits = "".join(ch for ch in piece if ch.isdigit())
        parts.append(int(digits or 0))
    return tuple(parts)


# -- Paths ------------------------------------------------------------------------------------


def _from_path(name: str, given: str, *, source: str, setting: str) -> BrowserChoice:
    path = _resolve_given(given)
    label = f"{setting}={given}" if setting.isupper() else given
    if path is None:
        raise BrowserUnavailable(
            f"{label}: no such file",
            hint=f"give the path of a {name} binary",
            setting=setting,
        )
    if not os.access(path, os.X_OK):
        raise BrowserUnavailable(
            f"{label}: not executable", hint=f"give the path of a {name} binary", setting=setting
        )
    if name == "chromium":
        return _chromium_choice(path, source=source)
    if name == "firefox":
        if "ms-playwright" in Path(path).parts or "ms-playwright" in path:
            return BrowserChoice("firefox", path, source=source)
        blocker = _bidi_blocker()
        if blocker:
            raise BrowserUnavailable(f"{label}: {blocker}", setting=setting)
        return _firefox_bidi_choice(path, source=source)
    return BrowserChoice(name, path, source=source)


def _resolve_given(given: str) -> str | None:
    expanded = os.path.expanduser(given)
    if os.sep not in expanded:
        found = shutil.which(expanded)
        return found
    return expanded if os.path.isfile(expanded) else None


def _usable_binary(binary: str) -> str | None:
    """`binary`'s path if it exists, is executable and is not a launcher for a snap package."""
    path = binary if os.sep in binary else shutil.which(binary)
    if not path or not os.path.isfile(path) or not os.access(path, os.X_OK):
        return None
    if _is_snap_launcher(path):
        return None
    return path


def _is_snap_launcher(path: str) -> bool:
    # Ubuntu's chromium-browser and firefox are scripts that start a snap, which Playwright
    # can't drive (the snap's confinement hides Playwright's profile directory).
    if os.path.realpath(path).startswith("/snap/"):
        return True
    try:
        with open(path, "rb") as file:
            head = file.read(4096)
    except OSError:
        return False
    return head.startswith(b"#!") and b"snap" in head


@functools.cache
def _playwright_executables() -> dict[str, str]:
    """Where Playwright expects its own downloads, per engine (asked of its driver, once).

    Runs on a thread of its own: the sync API refuses to start inside a running event loop, and
    the caller may be in one.
    """
    found: dict[str, str] = {}

    def ask() -> None:
        try:
            from playwright.sync_api import sync_playwright

            with sync_playwright() as playwright:
                for name in BROWSER_NAMES:
                    found[name] = getattr(playwright, name).executable_path
        except Exception as error:  # no driver, or it would not start: no Playwright browsers
            found.clear()
            found["error"] = f"{type(error).__name__}: {error}".splitlines()[0]

    thread = threading.Thread(target=ask, name="playwright-executables", daemon=True)
    thread.start()
    thread.join(timeout=60)
    return found


def _playwright_location(name: str) -> str:
    found = _playwright_executables()
    if name in found:
        return f"not at {found[name]}"
    return f"Playwright's driver did not answer: {found.get('error', 'timed out')}"


def _playwright_command() -> str:
    """The shortest command that runs this environment's `playwright`."""
    script = Path(sys.executable).parent / "playwright"
    if script.is_file():
        try:
            return str(script.relative_to(Path.cwd()))
        except ValueError:
            return str(script)
    return f"{sys.executable} -m playwright"
