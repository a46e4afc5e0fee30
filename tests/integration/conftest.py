"""A fresh stand-in per test: sending tests tune its settings and must not share its state."""

from __future__ import annotations

import pytest

from klaviyo_snippets.harness.standin import StubKlaviyo


@pytest.fixture
def stub():
    with StubKlaviyo() as server:
        yield server
        server.check()
