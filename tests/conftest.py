"""Shared fixtures. `server`/`stub`: a stand-in Klaviyo per test module, reset before each test,
for tests that speak HTTP to it directly; a module sets `STUB_SETTINGS = {...}` (StubSettings
fields) to configure its own. tests/integration overrides `stub` with a fresh one per test.

Strict mode (`KLAVIYO_SNIPPETS_STRICT=1`, set by .ci/run): a test skipped because a tool or an
oracle is missing (the OpenAPI extract, node, tsc, Stencil's renderer, PHP, jQuery, Shopify's
theme-check, React's UMD builds, the integration guide's text, Chromium or Firefox) fails instead, so CI cannot go green with a check that never ran. Lanes that a machine
may lack by design (WebKit, headed Chromium) still skip with their reason.
"""

from __future__ import annotations

import os
import re

import pytest

from klaviyo_snippets.harness.standin import StubKlaviyo

pytest_plugins = ["pytester"]


@pytest.fixture(autouse=True)
def _oracle_checks_come_last():
    """A test whose bodies the OpenAPI oracle could not check is skipped at its end, after its
    own assertions ran, so a missing oracle never hides them (and fails under strict mode)."""
    from tests.openapi_oracle import skip_reason, take_unchecked

    take_unchecked()
    yield
    if unchecked := take_unchecked():
        pytest.skip(f"{skip_reason()} ({len(unchecked)} bodies unchecked)")


@pytest.fixture(scope="module")
def server(request):
    with StubKlaviyo(**getattr(request.module, "STUB_SETTINGS", {})) as stub:
        yield stub


@pytest.fixture
def stub(server):
    server.reset()
    yield server
    server.check()


#: The skip reasons that mean "a required tool or oracle is missing" (each skip site says one).
MISSING = re.compile(r"OPENAPI ORACLE UNAVAILABLE|GUIDE UNAVAILABLE|NO NODE|NO NPM|NO STENCIL|NO THEME-CHECK|NO TSC|NO PHP|NO JQUERY|NO REACT|no (chromium|firefox) to run")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and os.environ.get("KLAVIYO_SNIPPETS_STRICT") == "1" and isinstance(report.longrepr, tuple):
        reason = str(report.longrepr[2])
        if MISSING.search(reason):
            report.outcome = "failed"
            report.longrepr = (f"KLAVIYO_SNIPPETS_STRICT=1: this check did not run because something it needs "
                               f"is missing; install it (./bootstrap provides each) or unset the switch.\n{reason}")
