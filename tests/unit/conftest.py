"""A stand-in per test module, reset before each test (for tests that speak HTTP to it directly)."""

from __future__ import annotations

import pytest

from harness.stub import StubKlaviyo


@pytest.fixture(scope="module")
def server():
    with StubKlaviyo() as stub:
        yield stub


@pytest.fixture
def stub(server):
    server.reset()
    yield server
    server.check()
