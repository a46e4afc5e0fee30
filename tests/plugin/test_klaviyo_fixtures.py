"""The klaviyo-snippets pytest plugin as a user runs it: fixtures, the failure message, saved traffic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.guide import LOADER, SCRIPT_TAG

REPO = Path(__file__).resolve().parents[2]

PAGE = f"<!doctype html><body>{SCRIPT_TAG}<script>{LOADER}</script><script>%s</script></body>"

USER_TESTS = f'''
import json
PAGE = {PAGE!r}

def test_identified_event_arrives(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open(PAGE % "klaviyo.identify({{email: 'a@example.com'}}); klaviyo.track('Added to Cart', {{$value: 29.98}});")
    event = klaviyo_stub.expect_event("Added to Cart", value=29.98, profile={{"email": "a@example.com"}})
    assert event["status"] == "good"

def test_forgot_to_identify(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open(PAGE % "klaviyo.track('Added to Cart', {{$value: 29.98, AddedItemSKU: 'TALEOFTWO'}});")
    klaviyo_stub.expect_event("Added to Cart", value=29.98, timeout=2)

def test_stand_in_is_reset_between_tests(klaviyo_stub):
    assert klaviyo_stub.events() == []
'''


@pytest.mark.browser
def test_plugin_fixtures_and_the_failure_message(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makepyfile(test_user=USER_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--output", "out", timeout=120)
    result.assert_outcomes(passed=2, failed=1)
    # The message a user sees when a test forgot to identify the visitor: pinned.
    result.stdout.fnmatch_lines([
        '*AssertionError: expected a good "Added to Cart" event at the stand-in Klaviyo; none arrived within 2 s',
        "*expected:",
        "*  metric      Added to Cart",
        "*  status      good",
        "*  value       29.98",
        "*similar events received (1 of 1):",
        '*  #* "Added to Cart" dropped',
        "*     - status: expected good, got dropped",
        '*     ! "Added to Cart" was dropped: the visitor was never identified*',
        "*captured traffic saved to *klaviyo-traffic.json",
    ])
    [saved] = list(Path(pytester.path, "out").glob("*forgot*/klaviyo-traffic.json"))
    traffic = json.loads(saved.read_text())
    assert [e["status"] for e in traffic["events"]] == ["dropped"]
    assert traffic["diagnostics"][0]["type"] == "dropped"
    assert traffic["routing"]["blocked"] == []
    assert not list(Path(pytester.path, "out").glob("*arrives*/klaviyo-traffic.json"))  # only on failure


def test_plugin_is_registered_under_its_entry_point_name(pytester: pytest.Pytester):
    import harness.pytest_plugin

    config = pytester.parseconfigure()
    assert config.pluginmanager.get_plugin("klaviyo_snippets") is harness.pytest_plugin
    assert config.pluginmanager.get_plugin("klaviyo_snippets_browser") is not None
