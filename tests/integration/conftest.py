"""A fresh stand-in per test: sending tests tune its settings and must not share its state.
The built wheel (`wheel`, once per run) and a fresh environment with it installed (`fresh_venv`,
per module): tests/wheel.py says how they are made."""

from __future__ import annotations

from pathlib import Path

import pytest

from klaviyo_snippets.harness.standin import StubKlaviyo
from tests.wheel import build_wheel, install_wheel, make_venv


@pytest.fixture
def stub():
    with StubKlaviyo() as server:
        yield server
        server.check()


@pytest.fixture(scope="session")
def wheel(tmp_path_factory) -> Path:
    return build_wheel(tmp_path_factory.mktemp("source"), tmp_path_factory.mktemp("wheel"))


@pytest.fixture(scope="module")
def fresh_venv(wheel, tmp_path_factory) -> Path:
    home = make_venv(tmp_path_factory.mktemp("venv") / "venv")
    install_wheel(home, wheel)
    return home
