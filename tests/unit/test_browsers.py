"""How `klaviyo_snippets.harness.browser` chooses and installs a browser, on stand-in file trees (no browser is launched).

System candidates are pointed at files made in tmp_path, and Playwright's downloads at a
PLAYWRIGHT_BROWSERS_PATH of our own, where Playwright's driver itself says the binaries go.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.browser import _choose as browsers
from klaviyo_snippets.harness.browser import _install as install
from klaviyo_snippets.harness.browser._choose import (
    DESKTOP_USER_AGENT,
    QUIET_CHROMIUM_ARGS,
    BrowserChoice,
    BrowserUnavailable,
    choose_browser,
    context_options,
)
from klaviyo_snippets.harness.cli import main


def _executable(path: Path, text: str = "#!/bin/sh\nexit 0\n") -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return str(path)


@pytest.fixture
def no_system(monkeypatch):
    """No system browsers, no settings: only what a test adds."""
    monkeypatch.setattr(browsers, "_SYSTEM_CHROMIUMS", ())
    monkeypatch.setattr(browsers, "_SYSTEM_FIREFOXES", ())
    monkeypatch.delenv(browsers.CHROMIUM_ENV, raising=False)
    monkeypatch.delenv(browsers.FIREFOX_ENV, raising=False)


@pytest.fixture
def downloads(tmp_path, monkeypatch):
    """An empty Playwright browsers folder; returns where the driver expects each engine."""
    root = tmp_path / "ms-playwright"
    root.mkdir()
    monkeypatch.setenv("PLAYWRIGHT_BROWSERS_PATH", str(root))
    browsers._playwright_executables.cache_clear()
    expected = dict(browsers._playwright_executables())
    assert set(expected) == {"chromium", "firefox", "webkit"}, expected
    assert all(path.startswith(str(root)) for path in expected.values())
    yield expected
    browsers._playwright_executables.cache_clear()


# -- defaults ---------------------------------------------------------------------------------


def test_desktop_user_agent_is_not_headless():
    assert "Headless" not in DESKTOP_USER_AGENT
    assert "Chrome/" in DESKTOP_USER_AGENT and "X11; Linux x86_64" in DESKTOP_USER_AGENT


def test_context_options():
    assert context_options() == {"user_agent": DESKTOP_USER_AGENT}
    assert context_options(locale="de-DE", user_agent="x") == {"locale": "de-DE", "user_agent": "x"}


def test_launch_options_and_describe(monkeypatch):
    monkeypatch.setenv("KEEP_ME", "1")
    choice = BrowserChoice(
        "firefox",
        "/usr/bin/firefox-esr",
        channel="moz-firefox",
        source="system package firefox-esr",
        args=("--a",),
        firefox_user_prefs={"p": 1},
        env={"MOZ_X": "1"},
    )
    options = choice.launch_options(headless=False)
    assert options["headless"] is False
    assert options["executable_path"] == "/usr/bin/firefox-esr"
    assert options["channel"] == "moz-firefox"
    assert options["args"] == ["--a"]
    assert options["firefox_user_prefs"] == {"p": 1}
    assert options["env"]["MOZ_X"] == "1" and options["env"]["KEEP_ME"] == "1"
    assert choice.describe() == "firefox: /usr/bin/firefox-esr (system package firefox-esr)"
    assert not choice.routed_posts_have_body
    own = BrowserChoice("webkit", None)
    assert own.launch_options() == {"headless": True}
    assert own.describe() == "webkit: Playwright's own build (Playwright's downloaded browser)"
    assert own.routed_posts_have_body


def test_unavailable_is_a_user_error():
    with pytest.raises(UserError) as caught:
        choose_browser("netscape")
    assert isinstance(caught.value, BrowserUnavailable)
    assert "chromium, firefox, webkit" in str(caught.value)


# -- Chromium ---------------------------------------------------------------------------------


def test_explicit_path_wins(tmp_path, monkeypatch):
    given = _executable(tmp_path / "my-chrome")
    monkeypatch.setenv(browsers.CHROMIUM_ENV, _executable(tmp_path / "env-chrome"))
    choice = choose_browser("chromium", explicit=given)
    assert (choice.executable, choice.source) == (given, "explicit path")
    assert choice.args == QUIET_CHROMIUM_ARGS


def test_explicit_path_must_exist_and_run(tmp_path):
    with pytest.raises(BrowserUnavailable, match="/nonexistent: no such file") as caught:
        choose_browser("chromium", explicit="/nonexistent")
    assert caught.value.setting == "explicit path"
    (tmp_path / "plain").write_text("")
    with pytest.raises(BrowserUnavailable, match="not executable"):
        choose_browser("chromium", explicit=tmp_path / "plain")


def test_environment_variable_before_system(tmp_path, monkeypatch):
    shell = _executable(tmp_path / "lib" / "chromium-headless-shell")
    monkeypatch.setattr(browsers, "_SYSTEM_CHROMIUMS", (("chromium-headless-shell", shell, True),))
    mine = _executable(tmp_path / "bin" / "headless_shell")
    monkeypatch.setenv(browsers.CHROMIUM_ENV, mine)
    choice = choose_browser("chromium")
    assert (choice.executable, choice.source, choice.args) == (mine, browsers.CHROMIUM_ENV, ())


def test_environment_variable_may_name_a_command(tmp_path, monkeypatch):
    found = _executable(tmp_path / "bin" / "chromium-dev")
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv(browsers.CHROMIUM_ENV, "chromium-dev")
    assert choose_browser("chromium").executable == found


def test_a_wrong_environment_variable_is_reported_not_skipped(no_system, monkeypatch):
    monkeypatch.setenv(browsers.CHROMIUM_ENV, "/nope/chrome")
    with pytest.raises(BrowserUnavailable) as caught:
        choose_browser("chromium")
    assert caught.value.setting == browsers.CHROMIUM_ENV
    assert caught.value.message == "KLAVIYO_SNIPPETS_CHROMIUM=/nope/chrome: no such file"


def test_system_order_headless_and_headed(tmp_path, no_system, monkeypatch):
    shell = _executable(tmp_path / "chromium-headless-shell")
    full = _executable(tmp_path / "chromium")
    monkeypatch.setattr(
        browsers,
        "_SYSTEM_CHROMIUMS",
        (("chromium-headless-shell", shell, True), ("chromium", full, False)),
    )
    headless = choose_browser("chromium")
    assert headless == BrowserChoice(
        "chromium", shell, source="system package chromium-headless-shell", args=()
    )
    headed = choose_browser("chromium", headed=True)
    assert headed.executable == full
    assert headed.source == "system package chromium"
    assert headed.args == QUIET_CHROMIUM_ARGS  # the full browser phones Google otherwise
    assert headed.describe() == f"chromium: {full} (system package chromium)"


def test_snap_launchers_are_passed_over(tmp_path, no_system, monkeypatch):
    stub = _executable(tmp_path / "chromium-browser", "#!/bin/sh\nexec /snap/bin/chromium \"$@\"\n")
    real = _executable(tmp_path / "google-chrome")
    monkeypatch.setattr(
        browsers,
        "_SYSTEM_CHROMIUMS",
        (("chromium-browser", stub, False), ("google-chrome", real, False)),
    )
    assert choose_browser("chromium").executable == real


def test_playwright_download_when_no_system_browser(no_system, downloads):
    full = Path(downloads["chromium"])
    with pytest.raises(BrowserUnavailable) as caught:
        choose_browser("chromium")
    assert "playwright install chromium" in caught.value.hint
    assert "`klaviyo-snippets browsers ensure` as root" in caught.value.hint
    assert browsers.CHROMIUM_ENV in caught.value.hint

    # Only the full build (playwright install --no-shell): headless must name it.
    _executable(full)
    assert choose_browser("chromium").executable == str(full)
    assert choose_browser("chromium", headed=True).executable is None

    # With its headless shell, Playwright picks the binary itself.
    revision = full.parents[1].name.rpartition("-")[2]
    shell_dir = full.parents[2] / f"chromium_headless_shell-{revision}" / "chrome-headless-shell-linux64"
    shell = _executable(shell_dir / "chrome-headless-shell")
    choice = choose_browser("chromium")
    assert choice.executable is None
    assert choice.source == f"Playwright's downloaded browser, {shell}"
    assert choice.launch_options() == {"headless": True}


# -- Firefox and WebKit -----------------------------------------------------------------------


def test_system_firefox_over_bidi(tmp_path, no_system, monkeypatch):
    esr = _executable(tmp_path / "firefox-esr")
    monkeypatch.setattr(browsers, "_SYSTEM_FIREFOXES", (("firefox-esr", esr),))
    monkeypatch.setattr(browsers, "_playwright_version", lambda: (1, 64, 1))
    choice = choose_browser("firefox")
    assert (choice.executable, choice.channel) == (esr, "moz-firefox")
    assert choice.source == "system package firefox-esr, WebDriver BiDi"
    options = choice.launch_options()
    assert options["firefox_user_prefs"] == {"services.settings.server": "http://127.0.0.1:9/v1"}
    assert options["env"]["MOZ_REMOTE_SETTINGS_DEVTOOLS"] == "1"


def test_firefox_over_bidi_needs_playwright_below_1_65(tmp_path, no_system, downloads, monkeypatch):
    esr = _executable(tmp_path / "firefox-esr")
    monkeypatch.setattr(browsers, "_SYSTEM_FIREFOXES", (("firefox-esr", esr),))
    monkeypatch.setattr(browsers, "_playwright_version", lambda: (1, 65, 2))
    with pytest.raises(BrowserUnavailable, match=r"playwright 1\.65\.2 cannot drive it over WebDriver BiDi"):
        choose_browser("firefox")
    _executable(Path(downloads["firefox"]))
    assert choose_browser("firefox") == BrowserChoice("firefox", None)
    with pytest.raises(BrowserUnavailable, match="install playwright<1.65"):
        choose_browser("firefox", explicit=esr)


def test_firefox_from_the_environment(tmp_path, no_system, monkeypatch):
    mine = _executable(tmp_path / "firefox")
    monkeypatch.setenv(browsers.FIREFOX_ENV, mine)
    monkeypatch.setattr(browsers, "_playwright_version", lambda: (1, 64, 1))
    choice = choose_browser("firefox")
    assert (choice.executable, choice.channel) == (mine, "moz-firefox")
    assert choice.source.startswith(browsers.FIREFOX_ENV)


def test_explicit_playwright_firefox_is_not_bidi(tmp_path):
    own = _executable(tmp_path / "ms-playwright" / "firefox-1555" / "firefox" / "firefox")
    choice = choose_browser("firefox", explicit=own)
    assert (choice.executable, choice.channel) == (own, None)


def test_webkit_only_from_playwright(no_system, downloads):
    with pytest.raises(BrowserUnavailable, match="cannot be had offline") as caught:
        choose_browser("webkit")
    assert "playwright install webkit" in caught.value.hint
    _executable(Path(downloads["webkit"]))
    assert choose_browser("webkit") == BrowserChoice("webkit", None)


# -- this machine -----------------------------------------------------------------------------


def test_this_machine_prefers_debians_headless_shell(monkeypatch):
    monkeypatch.delenv(browsers.CHROMIUM_ENV, raising=False)
    if not os.access(browsers.DEBIAN_HEADLESS_SHELL, os.X_OK):
        pytest.skip("Debian's chromium-headless-shell is not installed here")
    choice = choose_browser("chromium")
    assert choice.executable == browsers.DEBIAN_HEADLESS_SHELL
    assert choice.describe() == (
        "chromium: /usr/lib/chromium/chromium-headless-shell (system package chromium-headless-shell)"
    )
    if os.access(browsers.DEBIAN_CHROMIUM, os.X_OK):
        assert choose_browser("chromium", headed=True).executable == "/usr/lib/chromium/chromium"


# -- ensure and the command line --------------------------------------------------------------


def test_ensure_reports_what_it_found(tmp_path, no_system, monkeypatch):
    shell = _executable(tmp_path / "chromium-headless-shell")
    monkeypatch.setattr(browsers, "_SYSTEM_CHROMIUMS", (("chromium-headless-shell", shell, True),))
    lines: list[str] = []
    assert install.ensure(out=lines.append) == 0
    assert lines == [f"browser: chromium: {shell} (system package chromium-headless-shell)"]


OFFLINE = "error: `playwright install chromium` failed (1):\nError: getaddrinfo ENOTFOUND"


def test_ensure_without_root_says_what_to_run(no_system, downloads, monkeypatch):
    monkeypatch.setattr(install, "_is_root", lambda: False)
    tried: list[list[str]] = []
    monkeypatch.setattr(install, "_playwright_install", lambda engines: tried.append(list(engines)) or OFFLINE)
    lines: list[str] = []
    assert install.ensure(out=lines.append) == 1
    assert tried == [["chromium"]]  # Playwright's own download first: the way for this machine
    text = "\n".join(lines)
    assert OFFLINE in text
    assert "sudo apt-get install -y chromium-headless-shell fonts-liberation" in text
    assert f"{browsers._playwright_command()} install chromium" in text


def test_without_root_ensure_downloads_playwrights_browsers(no_system, downloads, monkeypatch):
    monkeypatch.setattr(browsers, "_playwright_version", lambda: (1, 64, 1))
    monkeypatch.setattr(install, "_is_root", lambda: False)

    def download(engines):  # what `playwright install` leaves behind: the executables it names
        for engine in engines:
            _executable(Path(downloads[engine]))

    monkeypatch.setattr(install, "_playwright_install", download)
    lines: list[str] = []
    assert install.ensure(firefox=True, out=lines.append) == 0
    assert lines[0] == "installing Playwright's chromium and firefox (playwright install chromium firefox)"
    assert lines[1:] == [f"browser: {choose_browser('chromium').describe()}",
                         f"browser: {choose_browser('firefox').describe()}"]
    assert "Playwright" in lines[1]


def test_ensure_without_root_warns_for_a_missing_firefox_and_strict_fails(tmp_path, no_system, downloads, monkeypatch):
    shell = _executable(tmp_path / "chromium-headless-shell")
    monkeypatch.setattr(browsers, "_SYSTEM_CHROMIUMS", (("chromium-headless-shell", shell, True),))
    monkeypatch.setattr(browsers, "_playwright_version", lambda: (1, 64, 1))
    monkeypatch.setattr(install, "_is_root", lambda: False)
    monkeypatch.setattr(install, "_playwright_install", lambda engines: OFFLINE)
    lines: list[str] = []
    assert install.ensure(firefox=True, out=lines.append) == 0
    assert any(line.startswith("warning: ") and "Firefox tests will be skipped" in line for line in lines)
    lines.clear()
    assert install.ensure(firefox=True, strict=True, out=lines.append) == 1  # CI: no lane lost quietly
    text = "\n".join(lines)
    assert "error: " in text and "sudo apt-get install -y firefox-esr" in text
    assert "warning" not in text
    # A Playwright that breaks Firefox over BiDi: installing cannot help, and strict says so.
    monkeypatch.setattr(browsers, "_playwright_version", lambda: (1, 65, 0))
    lines.clear()
    assert install.ensure(firefox=True, strict=True, out=lines.append) == 1
    assert lines[-1].startswith("error: ") and "Firefox" in lines[-1]


def test_ensure_as_root_installs_and_checks_again(tmp_path, no_system, downloads, monkeypatch):
    shell = tmp_path / "lib" / "chromium-headless-shell"
    firefox = tmp_path / "bin" / "firefox-esr"
    monkeypatch.setattr(browsers, "_SYSTEM_CHROMIUMS", (("chromium-headless-shell", str(shell), True),))
    monkeypatch.setattr(browsers, "_SYSTEM_FIREFOXES", (("firefox-esr", str(firefox)),))
    monkeypatch.setattr(browsers, "_playwright_version", lambda: (1, 64, 1))
    monkeypatch.setattr(install, "_is_root", lambda: True)
    monkeypatch.setattr(browsers.shutil, "which", lambda name: "/usr/bin/apt-get")
    installed: list[list[str]] = []

    def fake_apt(packages):  # installing for real is the set-up script's business
        installed.append(list(packages))
        _executable(shell)
        _executable(firefox)

    monkeypatch.setattr(install, "_apt_install", fake_apt)
    lines: list[str] = []
    assert install.ensure(firefox=True, out=lines.append) == 0
    assert installed == [["chromium-headless-shell", "fonts-liberation", "firefox-esr"]]
    assert lines == [
        "installing Debian packages: chromium-headless-shell fonts-liberation firefox-esr (apt-get)",
        f"browser: chromium: {shell} (system package chromium-headless-shell)",
        f"browser: firefox: {firefox} (system package firefox-esr, WebDriver BiDi)",
    ]


def test_ensure_stops_on_a_wrong_setting(no_system, monkeypatch):
    monkeypatch.setenv(browsers.CHROMIUM_ENV, "/nope")
    monkeypatch.setattr(install, "_apt_install", lambda packages: pytest.fail("must not install"))
    lines: list[str] = []
    assert install.ensure(out=lines.append) == 1
    assert lines[0].startswith("error: KLAVIYO_SNIPPETS_CHROMIUM=/nope: no such file")


def test_which_command(tmp_path, capsys):
    given = _executable(tmp_path / "chrome")
    assert main(["browsers", "which", "--executable", given]) == 0
    assert capsys.readouterr().out == f"chromium: {given} (explicit path)\n"
    assert main(["browsers", "which", "--executable", "/nonexistent"]) == 1
    assert "error: /nonexistent: no such file" in capsys.readouterr().err


@pytest.fixture
def no_webkitgtk(monkeypatch):
    def missing():
        raise BrowserUnavailable("no WebKitGTK smoke lane: no Xvfb (package xvfb)", hint="run ./bootstrap --webkit")

    monkeypatch.setattr(install, "find_webkitgtk", missing)


def test_which_reports_every_lane(tmp_path, no_system, downloads, monkeypatch):
    shell = _executable(tmp_path / "chromium-headless-shell")
    firefox = _executable(tmp_path / "firefox-esr")
    monkeypatch.setattr(browsers, "_SYSTEM_CHROMIUMS", (("chromium-headless-shell", shell, True),))
    monkeypatch.setattr(browsers, "_SYSTEM_FIREFOXES", (("firefox-esr", firefox),))
    monkeypatch.setattr(browsers, "_playwright_version", lambda: (1, 64, 1))
    _executable(Path(downloads["webkit"]))
    gtk = browsers.WebKitGTK("/usr/bin/WebKitWebDriver", "/usr/lib/MiniBrowser", "/usr/bin/Xvfb")
    monkeypatch.setattr(install, "find_webkitgtk", lambda: gtk)
    lines: list[str] = []
    assert install.which_lanes(out=lines.append) == 0
    assert lines == [
        f"chromium: {shell} (system package chromium-headless-shell)",  # as `which --browser chromium` says it
        f"firefox: {firefox} (system package firefox-esr, WebDriver BiDi)",
        "webkit: Playwright's own build (Playwright's downloaded browser)",
        gtk.describe(),
    ]


def test_which_says_why_a_lane_is_missing(tmp_path, capsys, no_system, downloads, no_webkitgtk, monkeypatch):
    shell = _executable(tmp_path / "chromium-headless-shell")
    monkeypatch.setattr(browsers, "_SYSTEM_CHROMIUMS", (("chromium-headless-shell", shell, True),))
    assert main(["browsers", "which"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"chromium: {shell} (system package chromium-headless-shell)"
    assert lines[1].startswith("firefox: none, its tests will be skipped: no Firefox found: ")
    assert lines[2].startswith("webkit: none, its tests will be skipped: no WebKit found: ")
    assert "(fix: " in lines[2]
    assert lines[3] == ("webkitgtk: none, its tests will be skipped: no WebKitGTK smoke lane: no Xvfb "
                        "(package xvfb) (fix: run ./bootstrap --webkit)")
    assert len(lines) == 4


def test_which_without_chromium_or_with_a_wrong_setting_fails(no_system, downloads, no_webkitgtk, capsys,
                                                             monkeypatch):
    assert main(["browsers", "which"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error: no Chromium found")
    assert captured.out.splitlines()[0].startswith("firefox: none")  # the other lanes still reported
    monkeypatch.setenv(browsers.FIREFOX_ENV, "/nope")
    assert main(["browsers", "which"]) == 1
    assert "error: KLAVIYO_SNIPPETS_FIREFOX=/nope: no such file" in capsys.readouterr().err


def test_which_one_lane(tmp_path, capsys, no_system, monkeypatch):
    firefox = _executable(tmp_path / "firefox-esr")
    monkeypatch.setattr(browsers, "_SYSTEM_FIREFOXES", (("firefox-esr", firefox),))
    monkeypatch.setattr(browsers, "_playwright_version", lambda: (1, 64, 1))
    assert main(["browsers", "which", "--browser", "firefox"]) == 0
    assert capsys.readouterr().out == f"firefox: {firefox} (system package firefox-esr, WebDriver BiDi)\n"


def test_module_runs_as_a_script(tmp_path):
    given = _executable(tmp_path / "chrome")
    result = subprocess.run(
        [sys.executable, "-m", "klaviyo_snippets", "browsers", "which", "--executable", given],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert (result.returncode, result.stdout) == (0, f"chromium: {given} (explicit path)\n"), result.stderr


def test_choice_is_json_friendly():
    choice = BrowserChoice("chromium", "/x", source="s", args=QUIET_CHROMIUM_ARGS)
    json.dumps(choice.launch_options())
