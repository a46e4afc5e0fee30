"""The pytest plugin (entry point `klaviyo_snippets`): a stand-in Klaviyo and pages routed to it.

Fixtures, thin layers over `StubKlaviyo` and `route_to_stub`, built on pytest-playwright's
chain so its options (`--browser`, `--headed`, `--tracing`, `--output`) keep working:

* `klaviyo_stub_server` (session): the stand-in, started once.
* `klaviyo_stub`: the same stand-in, reset before each test; after a failed test the captured
  traffic is saved as `klaviyo-traffic.json` in the test's output folder.
* `klaviyo_routing_options` (session): hosts let through and URL prefixes served from folders
  (`--klaviyo-allow-host`, `--klaviyo-serve`); override it to set them in code.
* `klaviyo_routing`: the test's browser context routed to the stand-in (production Klaviyo URLs
  keep working; any other non-local request is blocked and listed, unless let through or
  served); the generated code's warnings on its pages reach the stand-in as diagnostics.
* `klaviyo_page`: pytest-playwright's `page`, routed.
* `klaviyo_shop`: open HTML on the storefront origin `https://shop.test`; `open()` returns the
  page it opened, which is `klaviyo_page`; `settle()` waits until the onsite script there has
  nothing left to send.
* `klaviyo_identify`: `klaviyo_identify(email)` identifies the visitor on every page opened after
  it, before the page's own code runs; the marker `@pytest.mark.klaviyo_identify(email)` does it
  for a whole test.
* `@pytest.mark.klaviyo_conditions("csp-strict", "email-visit", ...)` (or `"all"`): the test runs
  once per real page condition (`verify --condition`, docs/conditions.md), which the routing and
  `klaviyo_shop` apply; its `klaviyo_condition` fixture names it and `assert_honoured()` judges
  the test's pages as verify does. A test without the marker pays nothing for it.

A failed test's `klaviyo-traffic.json` lists its `findings` first: events dropped or bad, and
warnings (the generated code left something out, the stand-in's lint), each with its reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from klaviyo_snippets.harness.standin import StubKlaviyo, StubSettings

# This module is loaded in every pytest run of an environment that has klaviyo-snippets
# installed, Klaviyo or not: it imports only pytest at load, everything else in the fixtures.

_REPORTS = pytest.StashKey[dict]()
_PLAYWRIGHT = "playwright"  # pytest-playwright's plugin name


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("klaviyo-snippets", "klaviyo-snippets stand-in Klaviyo")
    group.addoption(
        "--klaviyo-rate-limits",
        action="store_true",
        default=False,
        help="enforce Klaviyo's rate limits at the stand-in (off by default).",
    )
    group.addoption(
        "--klaviyo-allow-host",
        action="append",
        default=[],
        metavar="HOST",
        help="let the pages' requests to HOST through (a theme's CDN; *.example.com for its subdomains); "
        "repeatable. Other hosts but Klaviyo's and local ones are blocked.",
    )
    group.addoption(
        "--klaviyo-serve",
        action="append",
        default=[],
        metavar="URL_PREFIX=DIR",
        help="answer every URL under URL_PREFIX from the folder DIR (a theme's CDN, offline); repeatable.",
    )
    group.addoption(
        "--browser-executable",
        default=None,
        metavar="PATH",
        help="browser binary to launch instead of the automatic choice "
        "(also: KLAVIYO_SNIPPETS_CHROMIUM / KLAVIYO_SNIPPETS_FIREFOX).",
    )


IDENTIFY_MARKER = "klaviyo_identify"
CONDITIONS_MARKER = "klaviyo_conditions"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: runs a real headless browser against the stand-in")
    config.addinivalue_line("markers", f"{IDENTIFY_MARKER}(email): identify the visitor by email on every page "
                                       "of the test, before the page's own code runs")
    config.addinivalue_line("markers", f"{CONDITIONS_MARKER}(*names): run the test once per real page condition "
                                       "(verify --condition's names, or \"all\"); the test takes klaviyo_condition")
    if config.getoption("klaviyo_allow_host", None) or config.getoption("klaviyo_serve", None):
        _routing_options(config)  # a wrong value stops the run at once, before any test
    # Registered now, after pytest-playwright, so these fixtures override its same-named ones.
    from klaviyo_snippets.harness.browser import pytest_fixtures

    if not config.pluginmanager.is_registered(pytest_fixtures):
        config.pluginmanager.register(pytest_fixtures, "klaviyo_snippets_browser")
    # pytest-xdist: each worker would run pytest-playwright's `delete_output_dir` at its first
    # test, and a worker started late (one replacing a crashed worker) would delete the traffic
    # and traces the others had saved. The controller clears the folder once instead.
    if hasattr(config, "workerinput") and config.pluginmanager.has_plugin(_PLAYWRIGHT):
        config.pluginmanager.register(_KeepOutputOnWorkers, "klaviyo_snippets_xdist_output")


def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if config.pluginmanager.has_plugin("dsession") and config.pluginmanager.has_plugin(_PLAYWRIGHT):
        import shutil  # the xdist controller, which runs no tests: pytest-playwright's clean-up, once

        shutil.rmtree(config.getoption("--output"), ignore_errors=True)


class _KeepOutputOnWorkers:
    """On an xdist worker, pytest-playwright's `delete_output_dir` (same name, registered later)
    does nothing: the controller has cleared the folder before any worker started."""

    @pytest.fixture(scope="session", autouse=True)
    @staticmethod
    def delete_output_dir() -> None:
        return None


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker(CONDITIONS_MARKER)
    if marker is not None:
        from klaviyo_snippets.harness._plugin_conditions import parametrize

        parametrize(metafunc, marker)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call):
    outcome = yield
    report = outcome.get_result()
    item.stash.setdefault(_REPORTS, {})[report.when] = report


def _failed(node: pytest.Item) -> bool:
    reports = node.stash.get(_REPORTS, {})
    return any(r.failed for r in reports.values())


@pytest.fixture(scope="session")
def klaviyo_stub_settings(pytestconfig: pytest.Config) -> StubSettings:
    """Override to configure the stand-in (keys, rate limits, onsite account settings)."""
    from klaviyo_snippets.harness.standin import RateLimits, StubSettings

    limits = RateLimits.klaviyo() if pytestconfig.getoption("klaviyo_rate_limits") else None
    return StubSettings(rate_limits=limits)


@pytest.fixture(scope="session")
def klaviyo_stub_server(klaviyo_stub_settings: StubSettings):
    from klaviyo_snippets.harness.standin import StubKlaviyo

    with StubKlaviyo(settings=klaviyo_stub_settings) as stub:
        yield stub


@pytest.fixture
def klaviyo_stub(klaviyo_stub_server: StubKlaviyo, request: pytest.FixtureRequest):
    klaviyo_stub_server.reset()
    folder = _traffic_folder(request)  # now: pytest gives no fixture first asked for in teardown
    yield klaviyo_stub_server
    if _failed(request.node):
        _save_traffic(request, klaviyo_stub_server, folder)
    klaviyo_stub_server.check()


def _folder_name(nodeid: str) -> str:
    """A file name for one test id: test names repeat across files, and xdist workers write at once."""
    import hashlib
    import re

    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", nodeid).strip("-")
    return name if len(name) <= 120 else f"{name[:100]}-{hashlib.sha256(nodeid.encode()).hexdigest()[:16]}"


def _traffic_folder(request: pytest.FixtureRequest) -> Path:
    try:
        return Path(request.getfixturevalue("output_path"))
    except pytest.FixtureLookupError:  # no pytest-playwright: a folder per test id, as its own
        return Path(request.config.rootpath, "test-results", _folder_name(request.node.nodeid))


def _save_traffic(request: pytest.FixtureRequest, stub: StubKlaviyo, folder: Path) -> None:
    from klaviyo_snippets.harness.verify import findings

    folder.mkdir(parents=True, exist_ok=True)
    traffic = stub.traffic()
    found = findings(traffic["events"], traffic["diagnostics"])
    traffic = {"findings": found, **traffic}
    routing = getattr(request.node, "_klaviyo_routing", None)
    if routing is not None:
        traffic["routing"] = routing.to_dict()
    path = folder / "klaviyo-traffic.json"
    path.write_text(json.dumps(traffic, indent=2, ensure_ascii=False), encoding="utf-8")
    lines = [f"{f['kind']}: {f['event'] or '(no event)'}: {f['reason']}" + (f" (fix: {f['fix']})" if f.get("fix") else "")
             for f in found]
    if traffic["counts"].get("forgotten") and any(traffic["counts"]["forgotten"].values()):
        lines.append(f"the stand-in forgot records (its log is bounded): {traffic['counts']['forgotten']}")
    request.node.add_report_section("teardown", "klaviyo-snippets", "\n".join([*lines, f"captured traffic saved to {path}"]))


def _routing_options(config: pytest.Config) -> dict:
    """--klaviyo-allow-host and --klaviyo-serve, checked: a mistake is a usage error."""
    from klaviyo_snippets.generator.errors import UserError
    from klaviyo_snippets.harness.browser import allowed_host, served_prefix

    try:
        hosts = [allowed_host(h) for h in config.getoption("klaviyo_allow_host") or []]
        served = dict(served_prefix(s) for s in config.getoption("klaviyo_serve") or [])
    except UserError as error:
        raise pytest.UsageError(f"klaviyo-snippets: {error}" + (f" ({error.hint})" if error.hint else "")) from None
    return {"allow_hosts": hosts, "serve": served}


@pytest.fixture(scope="session")
def klaviyo_routing_options(pytestconfig: pytest.Config) -> dict:
    """`{"allow_hosts": [...], "serve": {url_prefix: folder}}` for every test's routing; from
    --klaviyo-allow-host and --klaviyo-serve. Override (session scope) to set them in code."""
    return _routing_options(pytestconfig)


@pytest.fixture
def klaviyo_routing(context, klaviyo_stub: StubKlaviyo, browser_name: str, request: pytest.FixtureRequest,
                    klaviyo_routing_options: dict):
    from klaviyo_snippets.harness.browser import identify_visitor, pumping_sleep, route_to_stub

    # Over WebDriver BiDi (Firefox) a routed POST carries no body: there the onsite script
    # posts straight to the stand-in instead (docs/design.md, "Browsers").
    try:
        log = route_to_stub(context, klaviyo_stub.url, direct=browser_name == "firefox",
                            allow_hosts=klaviyo_routing_options.get("allow_hosts") or (),
                            serve=klaviyo_routing_options.get("serve") or None)
    except ValueError as error:
        raise pytest.UsageError(f"klaviyo_routing_options: {error}") from None
    for marker in request.node.iter_markers(IDENTIFY_MARKER):
        identify_visitor(context, _marker_email(marker))
    request.node._klaviyo_routing = log
    if CONDITIONS_MARKER in request.keywords:
        from klaviyo_snippets.harness._plugin_conditions import ConditionRun, condition_of

        name = condition_of(request)
        if name is not None:
            request.node._klaviyo_condition = ConditionRun(name, context, log, klaviyo_stub, browser_name)
    klaviyo_stub.sleep = pumping_sleep(context)
    yield log
    klaviyo_stub.sleep = None
    context.unroute_all(behavior="ignoreErrors")  # requests still in flight must not fail the close


def _marker_email(marker) -> str:
    email = marker.args[0] if marker.args else marker.kwargs.get("email")
    if not isinstance(email, str) or not email.strip():
        raise pytest.UsageError(f"@pytest.mark.{IDENTIFY_MARKER} needs an email, e.g. "
                                f"@pytest.mark.{IDENTIFY_MARKER}(\"ann@example.com\"); got {marker.args or marker.kwargs}")
    return email


@pytest.fixture
def klaviyo_identify(context, klaviyo_routing):
    """`klaviyo_identify(email)`: identify the visitor by `email` on every page opened (or
    reloaded) after the call, before the page's own code runs, as `verify --identify` does."""
    from klaviyo_snippets.harness.browser import identify_visitor

    def identify(email: str) -> None:
        identify_visitor(context, email)

    return identify


@pytest.fixture
def klaviyo_condition(request: pytest.FixtureRequest):
    """The condition this run of a `@pytest.mark.klaviyo_conditions(...)` test is under: `.name`,
    `.condition` (what the harness does, what a failure means, the fix, the docs page),
    `.assert_honoured()`. The routing (`klaviyo_routing`) applies it."""
    if getattr(request, "param", None) is None:
        pytest.fail(f"klaviyo_condition is given by @pytest.mark.{CONDITIONS_MARKER}(...): mark the test, e.g. "
                    f'@pytest.mark.{CONDITIONS_MARKER}("csp-strict", "email-visit")', pytrace=False)
    request.getfixturevalue("klaviyo_routing")
    return request.node._klaviyo_condition


@pytest.fixture
def klaviyo_page(page, klaviyo_routing):
    return page


class Shop:
    """Serves HTML on the storefront origin and opens it in the routed page."""

    def __init__(self, page, routing, condition=None):
        from klaviyo_snippets.harness.browser import SITE_ORIGIN

        self.origin = SITE_ORIGIN
        self.page = page
        self.routing = routing
        self.condition = condition  # a `klaviyo_conditions` test's: `open` and `settle` apply it

    def add(self, path: str, html: str) -> str:
        self.routing.add_page(path, html)
        return self.origin + path

    def open(self, html: str, path: str = "/index.html", **goto):
        if self.condition is not None:
            return self.condition.open(self.page, self.add(path, html), html, goto)
        self.page.goto(self.add(path, html), **goto)
        return self.page

    def settle(self, page=None, timeout: float = 10) -> None:
        """Wait until the stand-in onsite script on `page` (default: the one `open` opened) has
        nothing left to send: every request answered (diagnostics too, and the generated code's
        warnings the harness posts), no 429 retry or identify debounce pending. Then what has not
        arrived will not: assert absences after this. Under consent-granted-late the first call
        lets the page run undecided until then, and the visitor grants (`klaviyo_condition`);
        under consent-denied it waits for the page only (klaviyo.js may never load)."""
        from playwright.sync_api import TimeoutError as PlaywrightTimeout

        from klaviyo_snippets.harness.browser import IDLE_JS

        page = page or self.page
        if self.condition is not None and not self.condition.settle(page, timeout):
            return
        try:
            page.wait_for_function("() => window.__klaviyoStub && window.__klaviyoStub.idle", timeout=timeout * 1000)
        except PlaywrightTimeout:
            raise AssertionError(f"the stand-in onsite script never loaded on {page.url} "
                                 f"within {timeout:g} s") from None
        # Also every warning of the generated code posted to the stand-in (the harness's own posts).
        still = page.evaluate(f"({IDLE_JS})", timeout * 1000)["pending"]
        if still:
            raise AssertionError(f"the stand-in onsite script on {page.url} still had work after "
                                 f"{timeout:g} s: {', '.join(f'{n} × {what}' if n > 1 else what for what, n in still.items())}")


@pytest.fixture
def klaviyo_shop(klaviyo_page, klaviyo_routing, request: pytest.FixtureRequest) -> Shop:
    return Shop(klaviyo_page, klaviyo_routing, getattr(request.node, "_klaviyo_condition", None))
