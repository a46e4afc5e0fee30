"""Shared fixtures. `server`/`stub`: a stand-in Klaviyo per test module, reset before each test,
for tests that speak HTTP to it directly; a module sets `STUB_SETTINGS = {...}` (StubSettings
fields) to configure its own. tests/integration overrides `stub` with a fresh one per test."""

from __future__ import annotations

import pytest

from klaviyo_snippets.harness.standin import StubKlaviyo

pytest_plugins = ["pytester"]


@pytest.fixture(scope="module")
def server(request):
    with StubKlaviyo(**getattr(request.module, "STUB_SETTINGS", {})) as stub:
        yield stub


@pytest.fixture
def stub(server):
    server.reset()
    yield server
    server.check()
