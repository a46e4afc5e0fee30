"""pytest-playwright, launching the browser that `choose_browser` picks, with a desktop user agent.

Fixture overrides with pytest-playwright's own names, so its `browser`, `context` and `page` work
unchanged on a machine where Playwright never downloaded a browser. pytest lets the last
registered plugin's fixture win, so the overrides live on an object this module registers in
`pytest_configure`, after every entry-point plugin (pytest-playwright among them), however this
module itself was loaded. For `--browser-executable` to be accepted on the command line the
module (or its `pytest_addoption`) must be in before the command line is parsed: `-p`,
`pytest_plugins`, or a call from the main plugin's own `pytest_addoption`.
"""

from __future__ import annotations

import pytest

from klaviyo_snippets.harness.browser._choose import (
    BrowserChoice,
    BrowserUnavailable,
    choose_browser,
    context_options,
)

OPTION_GROUP = "klaviyo-snippets"
EXECUTABLE_OPTION = "--browser-executable"
_FIXTURES_PLUGIN = "klaviyo-snippets-browser-fixtures"
_PLAYWRIGHT_PLUGIN = "playwright"  # pytest-playwright's entry-point name
_CHOICES = pytest.StashKey[dict]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup(OPTION_GROUP, "klaviyo-snippets")
    if any(EXECUTABLE_OPTION in option.names() for option in group.options):
        return  # added already, by the main plugin's call or an earlier registration
    group.addoption(
        EXECUTABLE_OPTION,
        metavar="PATH",
        default=None,
        help="browser binary for pytest-playwright to launch (default: found automatically; "
        "see `klaviyo-snippets browsers which`)",
    )


WEBKIT_SMOKE_MARKER = (
    "webkit_smoke: drives Debian's WebKitGTK through Selenium under Xvfb (no Playwright WebKit "
    "needed); skipped with the reason where the driver or selenium is absent"
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", WEBKIT_SMOKE_MARKER)
    if not config.pluginmanager.has_plugin(_PLAYWRIGHT_PLUGIN):
        return
    if not config.pluginmanager.has_plugin(_FIXTURES_PLUGIN):
        config.pluginmanager.register(BrowserFixtures, _FIXTURES_PLUGIN)
    config.stash[_CHOICES] = {}
    explicit = _explicit(config)
    names = _browser_names(config)
    if explicit and len(names) > 1:
        raise pytest.UsageError(
            f"{EXECUTABLE_OPTION} names one binary, but {len(names)} browsers were asked for "
            f"({', '.join(names)}); run one --browser at a time"
        )
    # A wrong path in the user's own settings is a mistake to stop on, not a reason to skip.
    for name in names:
        result = choice_for(config, name, headed=_headed(config))
        if isinstance(result, BrowserUnavailable) and result.setting:
            where = f"{EXECUTABLE_OPTION} " if result.setting == "explicit path" else ""
            raise pytest.UsageError(f"{where}{result.message}" + _hint(result))


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    if _CHOICES not in config.stash:
        return None
    channel = config.getoption("--browser-channel", default=None)
    lines = []
    for name in _browser_names(config):
        if channel:
            lines.append(f"browser: {name}: channel {channel} (--browser-channel)")
            continue
        result = choice_for(config, name, headed=_headed(config))
        if isinstance(result, BrowserChoice):
            lines.append(f"browser: {result.describe()}")
        else:
            lines.append(f"browser: {name}: none, its tests will be skipped: {result.one_line()}")
    return lines


def choice_for(config: pytest.Config, name: str, *, headed: bool) -> BrowserChoice | BrowserUnavailable:
    """The browser chosen for `name` in this session (chosen once), or why there is none."""
    choices = config.stash.setdefault(_CHOICES, {})
    key = (name, headed)
    if key not in choices:
        try:
            choices[key] = choose_browser(name, headed=headed, explicit=_explicit(config))
        except BrowserUnavailable as error:
            choices[key] = error
    return choices[key]


class BrowserFixtures:
    """pytest-playwright's fixtures, each taking the one it overrides and adding to it.

    Registered as the class itself, holding static functions: pytest deprecates session
    fixtures that are methods of an instance.
    """

    @pytest.fixture(scope="session")
    @staticmethod
    def browser_type_launch_args(
        browser_type_launch_args: dict, browser_name: str, pytestconfig: pytest.Config
    ) -> dict:
        launch_args = dict(browser_type_launch_args)
        if launch_args.get("executable_path") or launch_args.get("channel"):
            return launch_args  # the user chose a browser: leave it to them
        headed = launch_args.get("headless") is False
        result = choice_for(pytestconfig, browser_name, headed=headed)
        if isinstance(result, BrowserUnavailable):
            pytest.skip(f"no {browser_name} to run: {result.one_line()}")
        return _merge(launch_args, result.launch_options(headless=not headed))

    @pytest.fixture(scope="session")
    @staticmethod
    def browser_context_args(browser_context_args: dict) -> dict:
        # Session scope like the fixture it overrides, so users' session-scoped overrides
        # (pytest-playwright's documented pattern) can still take this one.
        if "user_agent" in browser_context_args:  # --device, or the user's own
            return browser_context_args
        return context_options(**browser_context_args)


def _merge(launch_args: dict, chosen: dict) -> dict:
    merged = dict(launch_args)
    chosen = dict(chosen)
    chosen.pop("headless", None)
    for key in ("executable_path", "channel"):
        if key in chosen:
            merged[key] = chosen[key]
    if "args" in chosen:
        merged["args"] = [*chosen["args"], *[a for a in merged.get("args", []) if a not in chosen["args"]]]
    for key in ("firefox_user_prefs", "env"):
        if key in chosen:
            merged[key] = {**chosen[key], **(merged.get(key) or {})}
    return merged


def _browser_names(config: pytest.Config) -> list[str]:
    return list(config.getoption("--browser", default=None) or ["chromium"])


def _headed(config: pytest.Config) -> bool:
    return bool(config.getoption("--headed", default=False))


def _explicit(config: pytest.Config) -> str | None:
    return config.getoption("browser_executable", default=None)


def _hint(error: BrowserUnavailable) -> str:
    return f"\n  hint: {error.hint}" if error.hint else ""
