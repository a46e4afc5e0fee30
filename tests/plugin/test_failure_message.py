"""`expect_event`'s failure message over real HTTP to the stand-in (no browser): refused and
unanswered requests, and the similar-events list without the onsite script's Active on Site noise."""

from __future__ import annotations

import urllib.error

import pytest

from klaviyo_snippets.harness.standin._expect import REQUESTS_SHOWN
from tests.http_client import CLIENT_HEADERS, event_body, post

KNOWN = "XyZ123"
STUB_SETTINGS = {"company_ids": (KNOWN,)}  # the `stub` fixture's (tests/conftest.py)


def send_event(stub, body=None, *, company=KNOWN, path="/client/events/"):
    try:
        return post(f"{stub.url}{path}?company_id={company}", body or event_body("Added to Cart"), CLIENT_HEADERS).status
    except (urllib.error.URLError, ConnectionError):  # a dropped connection
        return 0


def miss(stub, metric="Added to Cart", **expected) -> str:
    with pytest.raises(AssertionError) as caught:
        stub.expect_event(metric, timeout=0.05, **expected)
    return str(caught.value)


def test_refused_requests_are_listed_grouped(stub):
    """A wrong company id: every request answered 400, and the message says so, not just "nothing"."""
    assert [send_event(stub, company="ZZZ999") for _ in range(4)] == [400] * 4
    message = miss(stub, value=29.98)
    assert "no events were received at all." in message
    assert (
        "\n4 requests were refused: POST /client/events/ 400 Invalid company_id 'ZZZ999': no such account.\n"
        in message + "\n"
    )


def test_several_kinds_of_refusal_one_line_each_at_most_a_few(stub):
    for _ in range(2):
        send_event(stub, company="ZZZ999")
    send_event(stub, company="ZZZ999", path="/client/profiles/")
    stub.inject_fault("500", 1)
    send_event(stub)
    stub.inject_fault("403", 1)
    send_event(stub)
    stub.inject_fault("429", 2, retry_after=3)
    send_event(stub)
    send_event(stub)
    message = miss(stub)
    lines = message.splitlines()
    start = lines.index("7 requests were refused:")
    listed = lines[start + 1:start + 1 + REQUESTS_SHOWN]
    assert listed == [
        "  POST /client/events/ 400 Invalid company_id 'ZZZ999': no such account. (2 times)",
        "  POST /client/profiles/ 400 Invalid company_id 'ZZZ999': no such account.",
        "  POST /client/events/ 500 scripted fault",
    ]
    assert lines[start + 1 + REQUESTS_SHOWN].startswith("  ... and 3 more requests (2 other answers;")


def test_a_scripted_drop_is_named(stub):
    stub.inject_fault("drop", 1, path="/client/events")
    assert send_event(stub) == 0
    [request] = stub.requests()
    assert request["response"]["status"] == 0
    message = miss(stub)
    assert "1 request got no answer (scripted drop fault): POST /client/events/" in message.splitlines()
    assert "refused" not in message


def test_accepted_requests_and_refusals_shown_as_events_are_not_repeated(stub):
    assert send_event(stub, event_body("Added to Cart", value=1.0)) == 202
    assert send_event(stub, event_body("Added to Cart", time="yesterday")) == 400  # a bad event, listed above
    message = miss(stub, value=29.98)
    assert "similar events received (2 of 2):" in message
    assert "refused" not in message and "no answer" not in message


def test_active_on_site_is_left_out_of_similar_events(stub):
    for page in ("/a", "/b", "/c"):
        assert send_event(stub, event_body("__activity__", properties={"page": page})) == 202
    assert send_event(stub, event_body("Added to Cart", value=1.0)) == 202
    message = miss(stub, value=29.98)
    assert "similar events received (1 of 1):" in message
    assert '"Added to Cart" good (HTTP 202)' in message
    assert "  (3 Active on Site events left out)" in message.splitlines()
    assert "__activity__" not in message
    assert '"Active on Site"' not in message


def test_only_active_on_site_says_so(stub):
    send_event(stub, event_body("__activity__", properties={"page": "/a"}))
    message = miss(stub)
    assert "no events were received apart from 1 Active on Site event (the onsite script's __activity__)." in message
    assert "no events were received at all" not in message


def test_expecting_active_on_site_shows_it_by_its_display_name(stub):
    send_event(stub, event_body("__activity__", properties={"page": "/a"}))
    message = miss(stub, "__activity__", properties={"page": "/b"})
    assert "similar events received (1 of 1):" in message
    assert '"Active on Site" good (HTTP 202)' in message
    assert '     - properties.page: expected "/b", got "/a"' in message
    assert "left out" not in message


def test_expecting_the_display_name_points_at_the_metric(stub):
    send_event(stub, event_body("__activity__", properties={"page": "/a"}))
    message = miss(stub, "Active on Site")
    assert 'expect_event("__activity__")' in message
    assert "similar events received (1 of 1):" in message


def test_an_identify_answered_but_judged_lost_is_named(stub):
    from tests.http_client import ONSITE_HEADERS, profile_body

    post(f"{stub.url}/client/profiles/?company_id={KNOWN}", profile_body(_kx="nobody.XyZ123"), ONSITE_HEADERS)
    text = miss(stub)
    assert "1 request was answered but will be lost: POST /client/profiles/ 202" in text
    assert "never issued" in text
