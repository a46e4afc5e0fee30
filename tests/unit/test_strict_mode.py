"""Strict mode (tests/conftest.py): in CI a skip for a missing tool or oracle is a failure."""

from __future__ import annotations

import pytest

SKIPS = '''
import pytest

def test_oracle():
    pytest.skip("OPENAPI ORACLE UNAVAILABLE: the extract is missing")

def test_node():
    pytest.skip("NO NODE: install node")

def test_firefox():
    pytest.skip("no firefox to run: not installed")

def test_webkit():
    pytest.skip("no webkit to run: the lane needs WebKitGTK")

def test_runs():
    assert True
'''

# In process, without the browser plugins: this is about the hook alone.
QUIET = ("-p", "no:randomly", "-p", "no:playwright", "-p", "no:klaviyo_snippets")


@pytest.fixture
def project(pytester):
    pytester.makeconftest("from tests.conftest import pytest_runtest_makereport  # noqa: F401")
    pytester.makepyfile(test_skips=SKIPS)
    return pytester


def test_without_the_switch_missing_tools_skip(project, monkeypatch):
    monkeypatch.delenv("KLAVIYO_SNIPPETS_STRICT", raising=False)
    project.runpytest_inprocess(*QUIET).assert_outcomes(passed=1, skipped=4)


def test_under_the_switch_missing_tools_fail_and_optional_lanes_still_skip(project, monkeypatch):
    monkeypatch.setenv("KLAVIYO_SNIPPETS_STRICT", "1")
    result = project.runpytest_inprocess(*QUIET)
    result.assert_outcomes(passed=1, failed=3, skipped=1)
    result.stdout.fnmatch_lines(["*KLAVIYO_SNIPPETS_STRICT=1: this check did not run*"])
