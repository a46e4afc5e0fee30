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
    klaviyo_stub.expect_event("Added to Cart", value=29.98, timeout=30)  # it stops once the stand-in is idle

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
        '*AssertionError: expected a good "Added to Cart" event at the stand-in Klaviyo; '
        '1 "Added to Cart" event recorded (1 dropped), none matches',
        "*(stopped after * s of the 30 s timeout: nothing new reached the stand-in for 1.5 s, "
        "and no request was being answered or may be retried)",
        "*expected:",
        "*  metric      Added to Cart",
        "*  status      good",
        "*  value       29.98",
        "*similar events received (1 of 1):",
        '*  #* "Added to Cart" dropped by the onsite script',
        '*     properties: AddedItemSKU "TALEOFTWO"',
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
    import klaviyo_snippets.harness.pytest_plugin

    config = pytester.parseconfigure()
    assert config.pluginmanager.get_plugin("klaviyo_snippets") is klaviyo_snippets.harness.pytest_plugin
    assert config.pluginmanager.get_plugin("klaviyo_snippets_browser") is not None


TRIAL_CONFTEST = '''
import pytest
from klaviyo_snippets.harness.standin import StubSettings

@pytest.fixture(scope="session")
def klaviyo_stub_settings():
    return StubSettings(company_ids=("ABC999",))  # the page's XyZ123 is not this account's
'''

TRIAL_TESTS = f'''
PAGE = {PAGE!r}
IDENTIFY = "klaviyo.identify({{email: 'a@example.com'}});"
BUTTON = "<button id='add' onclick=\\"klaviyo.track('Added to Cart', {{$value: 29.98}})\\">Add</button>"

def test_wrong_company_id(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open(PAGE % (IDENTIFY + "klaviyo.track('Added to Cart', {{$value: 29.98}});"))
    klaviyo_stub.wait_for(lambda: len(klaviyo_stub.requests()) >= 2, 5)
    klaviyo_stub.expect_event("Added to Cart", value=29.98, timeout=1)

def test_dropped_by_a_fault(klaviyo_shop, klaviyo_page, klaviyo_stub):
    page = klaviyo_shop.open(BUTTON + (PAGE % IDENTIFY).replace("XyZ123", "ABC999"))  # the right account
    assert page is klaviyo_page
    klaviyo_stub.wait_for(lambda: klaviyo_stub.events(metric="__activity__"), 5)
    klaviyo_stub.inject_fault("drop", 1, path="/client/events")
    page.click("#add")
    klaviyo_stub.wait_for(lambda: [r for r in klaviyo_stub.requests() if (r["response"] or {{}}).get("status") == 0], 5)
    klaviyo_stub.expect_event("Added to Cart", value=29.98, timeout=1)
'''


@pytest.mark.browser
def test_failure_message_names_refused_and_unanswered_requests(pytester: pytest.Pytester, monkeypatch):
    """The user trial: a wrong company id, and a scripted drop, each said in the failure message."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makeconftest(TRIAL_CONFTEST)
    pytester.makepyfile(test_trial=TRIAL_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "--output", "out",
                                           timeout=120)
    result.assert_outcomes(failed=2)
    wrong, _, dropped = result.stdout.str().partition("_ test_dropped_by_a_fault")
    assert "E       no events were received at all." in wrong
    assert "E       3 requests were refused:" in wrong  # two events and an identify, no retries
    assert "E         POST /client/events/ 400 Invalid company_id 'XyZ123': no such account. (2 times)" in wrong
    assert "E         POST /client/profiles/ 400 Invalid company_id 'XyZ123': no such account." in wrong
    assert "E       no events were received apart from 1 Active on Site event" in dropped
    assert "E       1 request got no answer (scripted drop fault): POST /client/events/" in dropped
