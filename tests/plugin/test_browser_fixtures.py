"""pytest-playwright's fixtures with `klaviyo_snippets.harness.browser.pytest_fixtures` on top, run in pytester subprocesses.

Each run loads the overrides with `-p klaviyo_snippets.harness.browser.pytest_fixtures` and keeps the main plugin out
(`-p no:klaviyo_snippets`), except the last test, which checks the two together.
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

from klaviyo_snippets.harness.browser import DESKTOP_USER_AGENT, BrowserUnavailable, choose_browser

REPO = Path(__file__).resolve().parents[2]
ALONE = ("-p", "klaviyo_snippets.harness.browser.pytest_fixtures", "-p", "no:klaviyo_snippets", "-p", "no:cacheprovider")


@pytest.fixture
def run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    monkeypatch.delenv("KLAVIYO_SNIPPETS_CHROMIUM", raising=False)
    monkeypatch.delenv("KLAVIYO_SNIPPETS_FIREFOX", raising=False)

    def run(*args: str, plugins=ALONE) -> pytest.RunResult:
        return pytester.runpytest_subprocess(*plugins, "-s", "-rs", *args, timeout=120)

    return run


def _choice_or_skip(name: str, **kwargs):
    try:
        return choose_browser(name, **kwargs)
    except BrowserUnavailable as error:
        pytest.skip(error.one_line())


PAGE_TEST = """
def test_page(page, browser, browser_type_launch_args):
    page.set_content("<p>hi</p>")
    print("UA", page.evaluate("navigator.userAgent"))
    print("EXE", browser_type_launch_args.get("executable_path"))
    print("ARGS", browser_type_launch_args.get("args"))
"""


@pytest.mark.browser
def test_page_runs_in_the_chosen_chromium_with_a_desktop_user_agent(pytester, run):
    choice = _choice_or_skip("chromium")
    pytester.makepyfile(PAGE_TEST)
    result = run()
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"browser: {choice.describe()}", f"*UA {DESKTOP_USER_AGENT}"])
    result.stdout.fnmatch_lines([f"*EXE {choice.executable}"])
    assert "HeadlessChrome" not in result.stdout.str()
    assert result.stdout.str().count("browser: chromium") == 1  # said once


@pytest.mark.browser
def test_firefox_lane(pytester, run):
    choice = _choice_or_skip("firefox")
    pytester.makepyfile(PAGE_TEST)
    result = run("--browser", "firefox")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"browser: {choice.describe()}", f"*EXE {choice.executable}"])


@pytest.mark.browser
def test_both_browsers_in_one_run(pytester, run):
    chromium, firefox = _choice_or_skip("chromium"), _choice_or_skip("firefox")
    pytester.makepyfile(PAGE_TEST)
    result = run("--browser", "chromium", "--browser", "firefox")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines([f"browser: {chromium.describe()}", f"browser: {firefox.describe()}"])
    result.stdout.fnmatch_lines(["*UA Mozilla/5.0 (X11; Linux x86_64)*Chrome/*"])


@pytest.mark.browser
def test_a_browser_that_cannot_run_is_skipped_with_the_reason(pytester, run):
    """No Firefox anywhere: its tests are skipped, saying why and how to fix it; Chromium's run."""
    _choice_or_skip("chromium")
    pytester.makeconftest(
        """
        from klaviyo_snippets.harness.browser import _choose as browsers

        browsers._SYSTEM_FIREFOXES = (("firefox-esr", "/nonexistent/firefox-esr"),)
        real = browsers._playwright_executables
        browsers._playwright_executables = lambda: {**real(), "firefox": "/nonexistent/firefox"}
        """
    )
    pytester.makepyfile(PAGE_TEST)
    result = run("--browser", "chromium", "--browser", "firefox")
    result.assert_outcomes(passed=1, skipped=1)
    result.stdout.fnmatch_lines([
        "browser: firefox: none, its tests will be skipped: no Firefox found: *",
        "SKIPPED*no firefox to run: no Firefox found: no /nonexistent/firefox-esr; *(fix: run `klaviyo-snippets browsers ensure --firefox` as root*",
    ])


def test_a_missing_executable_is_an_error(pytester, run):
    pytester.makepyfile(PAGE_TEST)
    result = run("--browser-executable", "/nonexistent")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--browser-executable /nonexistent: no such file*"])


def test_a_missing_executable_in_the_environment_is_an_error(pytester, run, monkeypatch):
    monkeypatch.setenv("KLAVIYO_SNIPPETS_CHROMIUM", "/nonexistent/chrome")
    pytester.makepyfile(PAGE_TEST)
    result = run()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*KLAVIYO_SNIPPETS_CHROMIUM=/nonexistent/chrome: no such file*"])


def test_one_executable_for_two_browsers_is_an_error(pytester, run):
    pytester.makepyfile(PAGE_TEST)
    result = run("--browser", "chromium", "--browser", "firefox", "--browser-executable", "/bin/true")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*names one binary*"])


def test_webkit_without_a_download_skips_with_the_reason(pytester, run):
    try:
        choose_browser("webkit")
    except BrowserUnavailable:
        pass
    else:
        pytest.skip("Playwright's WebKit is downloaded here")
    pytester.makepyfile(PAGE_TEST)
    result = run("--browser", "webkit")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["browser: webkit: none, its tests will be skipped: *", "SKIPPED*no webkit to run: no WebKit found*"]
    )


def test_headed_maps_to_the_full_chromium(pytester, run):
    choice = _choice_or_skip("chromium", headed=True)
    pytester.makepyfile(
        """
        def test_args(browser_type_launch_args):
            print("HEADLESS", browser_type_launch_args["headless"])
            print("EXE", browser_type_launch_args.get("executable_path"))
            print("ARGS", browser_type_launch_args.get("args"))
        """
    )
    result = run("--headed")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        [f"browser: {choice.describe()}", "*HEADLESS False", f"*EXE {choice.executable}"]
    )
    assert "headless-shell" not in (choice.executable or "")
    if choice.executable:
        result.stdout.fnmatch_lines(["*ARGS [[]'--gaia-url=http://127.0.0.1:9/', *"])


def test_the_users_own_choices_win(pytester, run):
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session")
        def browser_context_args(browser_context_args):
            return {**browser_context_args, "locale": "fr-FR"}
        """
    )
    pytester.makepyfile(
        """
        import pytest

        def test_channel(browser_type_launch_args, browser_context_args):
            assert browser_type_launch_args["channel"] == "chrome"
            assert "executable_path" not in browser_type_launch_args
            assert browser_context_args["locale"] == "fr-FR"
            assert "HeadlessChrome" not in browser_context_args["user_agent"]

        @pytest.mark.parametrize("browser_type_launch_args", [{"args": ["--mute-audio"]}], indirect=True)
        def test_param(browser_type_launch_args):
            assert browser_type_launch_args["args"] == ["--mute-audio"]
        """
    )
    result = run("--browser-channel", "chrome")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["browser: chromium: channel chrome (--browser-channel)"])


def test_device_user_agent_is_kept(pytester, run):
    pytester.makepyfile(
        """
        def test_ua(browser_context_args):
            assert "iPhone" in browser_context_args["user_agent"]
        """
    )
    run("--device", "iPhone 13").assert_outcomes(passed=1)


@pytest.mark.browser
def test_with_the_main_plugin(pytester, run):
    """Registered by klaviyo_snippets.harness.pytest_plugin in its pytest_configure, as in real use."""
    choice = _choice_or_skip("chromium")
    pytester.makepyfile(PAGE_TEST)
    installed = any(
        ep.name == "klaviyo_snippets" for ep in importlib.metadata.entry_points(group="pytest11")
    )
    main_plugin = () if installed else ("-p", "klaviyo_snippets.harness.pytest_plugin")
    result = run(plugins=main_plugin)
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([f"browser: {choice.describe()}", f"*UA {DESKTOP_USER_AGENT}"])
    result = run("--browser-executable", "/nonexistent", plugins=main_plugin)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
