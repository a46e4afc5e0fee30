"""The stand-in onsite script's own behaviours, in a real browser against the stand-in Klaviyo.

What klaviyo-wire-facts.md §2 and harness/standin/onsite/README.md say the script does, and that
no other browser test covers: anonymous backfill, identification from the URL, the answer's
`should_clear_cookie`, `account()`, `cookieDomain()`, refusing a second account, the identify
debounce, `__kla_viewed`, and what an error answer or a dropped connection does to a request.
Absences are asserted after `klaviyo_shop.settle()`: the script has nothing left to send.
"""

from __future__ import annotations

import base64
import json
import re
import time
from datetime import datetime
from urllib.parse import quote, unquote

import pytest

from tests.browser.guide import PUBLIC_KEY, VISITOR, identified_profile, page
from tests.openapi_oracle import validate_request

pytestmark = pytest.mark.browser

IDENTIFY = f"window.identified = klaviyo.identify({json.dumps(VISITOR)});"
EMAIL = VISITOR["email"]
OTHER_KEY = "AbC456"
BACKFILL = "kl-post-identification-sync"
DAY = 86400


def _requests(stub, path: str) -> list[dict]:
    """Requests to one Klaviyo endpoint, e.g. "/client/events"."""
    return [r for r in stub.requests() if r["path"].rstrip("/") == path]


def _identified(klaviyo_shop, klaviyo_stub, *scripts: str):
    """Open a page that identifies the visitor, with every answer in; returns (page, _kx)."""
    p = klaviyo_shop.open(page(IDENTIFY, *scripts))
    p.evaluate("() => window.identified")
    klaviyo_shop.settle()
    [profile] = klaviyo_stub.profiles()
    return p, profile["exchange_ids"][PUBLIC_KEY]


def _kla_id(p) -> dict:
    [cookie] = [c for c in p.context.cookies() if c["name"] == "__kla_id"]
    raw = unquote(cookie["value"])
    return json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))


def _metric(event_body: dict) -> str:
    return event_body["attributes"]["metric"]["data"]["attributes"]["name"]


def _held(p) -> list[dict]:
    return json.loads(p.evaluate(f"() => localStorage.getItem('{BACKFILL}')") or "[]")


@pytest.fixture
def backfill(klaviyo_stub):
    """The account's anonymous-backfill setting on, for this test (served in the script's config)."""
    before = klaviyo_stub.settings.backfill_anonymous
    klaviyo_stub.settings.backfill_anonymous = True
    yield
    klaviyo_stub.settings.backfill_anonymous = before


# -- anonymous backfill ----------------------------------------------------------------------------


def test_anonymous_events_are_held_then_sent_in_bulk_after_identify(klaviyo_shop, klaviyo_stub, backfill):
    p = klaviyo_shop.open(page("klaviyo.track('Viewed Category', {CategoryID: '01'});",
                               "klaviyo.track('Added to Cart', {$value: 29.98, $event_id: 'cart-1'});"))
    klaviyo_shop.settle()
    assert klaviyo_stub.requests() == []  # held in the browser, not sent
    assert [_metric(e["event"]) for e in _held(p)] == ["Viewed Category", "Added to Cart"]
    dropped = klaviyo_stub.events(status="dropped")
    assert len(dropped) == 2 and all("anonymous backfill on" in e["reasons"][0]["detail"] for e in dropped)

    p.evaluate(f"() => klaviyo.identify({json.dumps(VISITOR)})")
    klaviyo_shop.settle()
    [profile] = klaviyo_stub.profiles()
    kx = profile["exchange_ids"][PUBLIC_KEY]
    [bulk] = _requests(klaviyo_stub, "/client/event-bulk-create")
    assert bulk["query"] == {"company_id": PUBLIC_KEY}
    assert bulk["headers"]["revision"] == "2025-01-15"
    assert bulk["response"]["status"] == 202
    validate_request("/client/event-bulk-create", bulk["body"])
    data = bulk["body"]["data"]
    assert data["type"] == "event-bulk-create"
    assert data["attributes"]["profile"] == identified_profile(kx)  # sent after the identify answer
    events = [e["attributes"] for e in data["attributes"]["events"]["data"]]
    assert [e["metric"]["data"]["attributes"]["name"] for e in events] == ["Viewed Category", "Added to Cart"]
    assert (events[1]["value"], events[1]["unique_id"]) == (29.98, "cart-1")
    assert [e["status"] for e in klaviyo_stub.events() if e["endpoint"] == "/client/event-bulk-create"] == ["good"] * 2
    assert _held(p) == []


def test_held_events_older_than_14_days_are_not_sent(klaviyo_shop, klaviyo_stub, backfill):
    now = time.time()
    p = klaviyo_shop.page
    p.clock.set_fixed_time(now - 15 * DAY)
    klaviyo_shop.open(page("klaviyo.track('Viewed Category', {CategoryID: 'old'});"))
    p.clock.set_fixed_time(now - 13 * DAY)
    p.evaluate("() => { klaviyo.track('Viewed Category', {CategoryID: 'recent'}); }")
    assert len(_held(p)) == 2
    p.clock.set_fixed_time(now)
    p.evaluate(f"() => klaviyo.identify({json.dumps(VISITOR)})")
    klaviyo_shop.settle()
    [bulk] = _requests(klaviyo_stub, "/client/event-bulk-create")
    [event] = [e["attributes"] for e in bulk["body"]["data"]["attributes"]["events"]["data"]]
    assert event["properties"]["CategoryID"] == "recent"
    # Sent with the time it was tracked, not the time it was flushed.
    tracked = datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()
    assert abs(tracked - (now - 13 * DAY)) < 2
    assert _held(p) == []


def test_a_refused_bulk_request_is_held_again_and_sent_on_the_next_page(klaviyo_shop, klaviyo_stub, backfill):
    p = klaviyo_shop.open(page("klaviyo.track('Viewed Category', {CategoryID: 'retry'});"))
    klaviyo_shop.settle()
    klaviyo_stub.inject_fault("503", 1, path="/client/event-bulk-create")
    p.evaluate(f"() => klaviyo.identify({json.dumps(VISITOR)})")
    klaviyo_shop.settle()
    assert [r["response"]["status"] for r in _requests(klaviyo_stub, "/client/event-bulk-create")] == [503]
    assert [e["event"]["attributes"]["properties"]["CategoryID"] for e in _held(p)] == ["retry"]

    p.goto(klaviyo_shop.add("/next.html", page()))  # identified by the cookie: flushed on load
    klaviyo_shop.settle()
    first, second = _requests(klaviyo_stub, "/client/event-bulk-create")
    assert second["response"]["status"] == 202
    assert second["body"]["data"]["attributes"]["events"] == first["body"]["data"]["attributes"]["events"]
    [good] = [e for e in klaviyo_stub.events(metric="Viewed Category") if e["status"] == "good"]
    assert good["properties"]["CategoryID"] == "retry" and good["profile"]["email"] == EMAIL
    assert _held(p) == []


# -- identification from the URL ----------------------------------------------------------------


def test_kx_in_the_url_identifies_the_visitor_without_a_request(klaviyo_shop, klaviyo_stub):
    p, kx = _identified(klaviyo_shop, klaviyo_stub)
    identifies = len(_requests(klaviyo_stub, "/client/profiles"))
    # The same shopper, later, in a browser that knows nothing of them, from an email link.
    p.context.clear_cookies()
    p.evaluate("() => sessionStorage.clear()")
    before = len(klaviyo_stub.requests())
    foreign = kx.split(".")[0] + "." + OTHER_KEY  # another account's exchange id is ignored
    p.goto(klaviyo_shop.add("/landing.html", page()) + "?_kx=" + quote(foreign, safe=""))
    klaviyo_shop.settle()
    assert p.evaluate("() => klaviyo.isIdentified()") is False
    assert len(klaviyo_stub.requests()) == before  # anonymous: not even Active on Site

    p.goto(klaviyo_shop.origin + "/landing.html?_kx=" + quote(kx, safe=""))
    klaviyo_shop.settle()
    assert p.evaluate("() => klaviyo.isIdentified()") is True
    assert _kla_id(p)["$exchange_id"] == kx
    assert p.evaluate("() => sessionStorage.getItem('_kx')") == kx
    activity = klaviyo_stub.events(metric="__activity__")[-1]
    assert activity["properties"]["page"].startswith(klaviyo_shop.origin + "/landing.html?_kx=")
    assert activity["body"]["data"]["attributes"]["profile"] == identified_profile(kx)
    assert activity["profile"]["email"] == EMAIL  # (a duplicate when in the first page's second)
    assert len(_requests(klaviyo_stub, "/client/profiles")) == identifies  # stored, nothing sent


def _ke(**fields) -> str:
    return quote(base64.b64encode(json.dumps(fields).encode()).decode(), safe="")


def test_ke_in_the_url_identifies_by_email_for_this_account_only(klaviyo_shop, klaviyo_stub):
    p = klaviyo_shop.page
    p.goto(klaviyo_shop.add("/landing.html", page()) + "?_ke=" + _ke(kl_email=EMAIL, kl_company_id=OTHER_KEY))
    klaviyo_shop.settle()
    assert klaviyo_stub.requests() == []  # another account's link: nothing

    p.goto(klaviyo_shop.origin + "/landing.html?_ke=" + _ke(kl_email=EMAIL, kl_company_id=PUBLIC_KEY))
    klaviyo_shop.settle()
    [identify] = _requests(klaviyo_stub, "/client/profiles")
    assert identify["body"] == {"data": {"type": "profile", "attributes": {"email": EMAIL}}}
    activity = klaviyo_stub.expect_event("__activity__", profile={"email": EMAIL})
    assert activity["body"]["data"]["attributes"]["profile"]["data"]["attributes"] == {"email": EMAIL}


# -- identity --------------------------------------------------------------------------------------

PROFILES_ANSWER = re.compile(r"/client/profiles/?\?")


def test_should_clear_cookie_in_the_answer_forgets_the_visitor(klaviyo_shop, klaviyo_stub):
    # The stand-in always answers should_clear_cookie: false; this answer is scripted.
    p, kx = _identified(klaviyo_shop, klaviyo_stub)
    cid = _kla_id(p)["cid"]
    p.route(PROFILES_ANSWER, lambda route: route.fulfill(
        status=202, content_type="application/json", headers={"Access-Control-Allow-Origin": "*"},
        body=json.dumps({"meta": {"exchange_id": kx, "should_clear_cookie": True}})))
    assert "$exchange_id" not in p.evaluate("() => klaviyo.identify({email: 'someone.else@example.com'})")
    assert _kla_id(p) == {"cid": cid}  # the exchange id and identifiers gone, the browser id kept
    assert p.evaluate("() => sessionStorage.getItem('_kx')") is None
    assert p.evaluate("() => klaviyo.isIdentified()") is False
    p.evaluate("() => { klaviyo.track('Viewed Category', {CategoryID: 'after'}); }")
    klaviyo_shop.settle()
    klaviyo_stub.expect_event("Viewed Category", status="dropped")
    assert not [r for r in _requests(klaviyo_stub, "/client/events") if "after" in json.dumps(r["body"])]


def test_account_returns_the_key_and_another_account_forgets_the_visitor(klaviyo_shop, klaviyo_stub):
    p, _ = _identified(klaviyo_shop, klaviyo_stub)
    assert p.evaluate("() => Promise.all([klaviyo.account(), _learnq.account()])") == [PUBLIC_KEY, PUBLIC_KEY]
    # The visitor's exchange id is this account's: for another account they are anonymous.
    assert p.evaluate(f"async () => [await klaviyo.account('{OTHER_KEY}'), await klaviyo.isIdentified(),"
                      " _learnq.account()]") == [OTHER_KEY, False, OTHER_KEY]
    p.evaluate("() => klaviyo.identify({email: 'ann@example.com'})")
    klaviyo_shop.settle()
    last = _requests(klaviyo_stub, "/client/profiles")[-1]
    assert last["query"] == {"company_id": OTHER_KEY}
    assert last["body"] == {"data": {"type": "profile", "attributes": {"email": "ann@example.com"}}}
    assert _kla_id(p)["$exchange_id"].endswith("." + OTHER_KEY)


def test_cookie_domain_sets_the_cookie_for_the_domain_and_keeps_the_visitor(klaviyo_shop, klaviyo_stub):
    plain = klaviyo_shop.open(page())
    assert plain.evaluate("() => Promise.all([klaviyo.cookieDomain(), _learnq.cookieDomain()])") == [None, None]
    set_domain = "klaviyo.cookieDomain('.shop.test');"
    p, kx = _identified(klaviyo_shop, klaviyo_stub, set_domain)
    assert p.evaluate("() => klaviyo.cookieDomain()") == ".shop.test"
    [cookie] = [c for c in p.context.cookies() if c["name"] == "__kla_id"]
    assert cookie["domain"] == ".shop.test"
    assert _kla_id(p)["$exchange_id"] == kx

    # The next page sets the domain again, as a site does on every page: still the same visitor.
    p.goto(klaviyo_shop.add("/next.html", page(set_domain)))
    klaviyo_shop.settle()
    activity = klaviyo_stub.expect_event("__activity__", properties={"page": klaviyo_shop.origin + "/next.html"},
                                         status=None)  # a duplicate when in the first page's second
    assert activity["body"]["data"]["attributes"]["profile"] == identified_profile(kx)
    assert [c["domain"] for c in p.context.cookies() if c["name"] == "__kla_id"] == [".shop.test"]


def test_a_second_account_on_the_page_is_refused_and_reported(klaviyo_shop, klaviyo_stub):
    p, _ = _identified(klaviyo_shop, klaviyo_stub)
    p.add_script_tag(url=f"https://static.klaviyo.com/onsite/js/{OTHER_KEY}/klaviyo.js")
    klaviyo_shop.settle()
    [report] = [d for d in klaviyo_stub.diagnostics() if d["type"] == "second_account"]
    assert report["company_id"] == OTHER_KEY and PUBLIC_KEY in report["reason"]
    assert p.evaluate("() => klaviyo.account()") == PUBLIC_KEY
    p.evaluate("() => { klaviyo.track('Viewed Category', {CategoryID: 'one'}); }")
    klaviyo_shop.settle()
    klaviyo_stub.expect_event("Viewed Category", properties={"CategoryID": "one"})
    assert {r["query"]["company_id"] for r in klaviyo_stub.requests()} == {PUBLIC_KEY}


def test_identify_calls_within_300_ms_are_merged_into_one_request(klaviyo_shop, klaviyo_stub):
    p = klaviyo_shop.open(page())
    last_call = p.evaluate("""() => new Promise(resolve => {
      klaviyo.identify({email: 'ann@example.com', $first_name: 'Ann'});
      setTimeout(() => { klaviyo.identify({$last_name: 'Lee', Plan: 'gold'}); resolve(Date.now()); }, 200);
    })""")
    klaviyo_shop.settle()
    [identify] = _requests(klaviyo_stub, "/client/profiles")
    assert identify["body"] == {"data": {"type": "profile", "attributes": {
        "email": "ann@example.com", "first_name": "Ann", "last_name": "Lee", "properties": {"Plan": "gold"}}}}
    received = datetime.fromisoformat(identify["received_at"].replace("Z", "+00:00")).timestamp()
    assert received - last_call / 1000 >= 0.29  # 300 ms after the last call, not the first


# -- __kla_viewed --------------------------------------------------------------------------------


def _viewed(p) -> list[tuple[str, int]]:
    return [(item["ItemId"], views) for item, views in
            json.loads(p.evaluate("() => localStorage.getItem('__kla_viewed')") or "[]")]


def test_kla_viewed_keeps_the_20_most_viewed_most_recent_first(klaviyo_shop, klaviyo_stub):
    p, _ = _identified(klaviyo_shop, klaviyo_stub)
    p.evaluate("""() => {
      for (let i = 1; i <= 21; i++) klaviyo.trackViewedItem({Title: 'Item ' + i, ItemId: String(i)});
      klaviyo.trackViewedItem({Title: 'Item 5', ItemId: '5'});
    }""")
    expected = [("5", 2)] + [(str(i), 1) for i in range(21, 1, -1) if i != 5]
    assert _viewed(p) == expected  # item 1, the oldest of the single views, is gone
    klaviyo_shop.settle()
    last = _requests(klaviyo_stub, "/client/profiles")[-1]  # one identify for all 22 views
    assert len(_requests(klaviyo_stub, "/client/profiles")) == 2
    items = last["body"]["data"]["attributes"]["properties"]["$viewed_items"]
    assert [i["ItemId"] for i in items] == [item for item, _ in expected]


def test_kla_viewed_forgets_items_after_30_days(klaviyo_shop, klaviyo_stub):
    now = time.time()
    p = klaviyo_shop.page
    p.clock.set_fixed_time(now - 31 * DAY)
    klaviyo_shop.open(page("klaviyo.trackViewedItem({Title: 'Old', ItemId: 'old'});"))
    p.clock.set_fixed_time(now - 29 * DAY)
    p.evaluate("() => { klaviyo.trackViewedItem({Title: 'Month', ItemId: 'month'}); }")
    assert _viewed(p) == [("month", 1), ("old", 1)]
    p.clock.set_fixed_time(now)
    p.evaluate("() => { klaviyo.trackViewedItem({Title: 'New', ItemId: 'new'}); }")
    assert _viewed(p) == [("new", 1), ("month", 1)]


# -- error answers -------------------------------------------------------------------------------

# The onsite script's own sends, seen from the page: (url, body, status when done).
XHR_SPY = """(() => {
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  window.__sends = [];
  XMLHttpRequest.prototype.open = function (method, url) { this.__url = url; return open.apply(this, arguments); };
  XMLHttpRequest.prototype.send = function (body) {
    const sent = {url: this.__url, body: String(body), status: null};
    window.__sends.push(sent);
    this.addEventListener('loadend', () => { sent.status = this.status; });
    return send.apply(this, arguments);
  };
})();"""

# A POST whose reused keep-alive connection closes with no answer is sent again, once, by the
# browser itself: measured in Firefox (the direct lane) and in Chromium posting directly. The
# Chromium lane's posts are forwarded by Playwright's route.fetch, which does not resend.
DROPPED_POST_RESENT = {"chromium": False, "firefox": True}


@pytest.mark.parametrize("fault", ["503", "drop"])
def test_the_script_does_not_retry_an_error_answer_or_a_dropped_connection(klaviyo_shop, klaviyo_stub,
                                                                            browser_name, fault):
    klaviyo_shop.page.add_init_script(XHR_SPY)
    p, _ = _identified(klaviyo_shop, klaviyo_stub)
    klaviyo_stub.inject_fault(fault, 1, path="/client/events")
    # The promise resolves once the request is answered, whatever the answer.
    assert p.evaluate("() => klaviyo.track('Viewed Category', {CategoryID: 'lost', $event_id: 'lost'})") is True
    klaviyo_shop.settle()
    sends = [s for s in p.evaluate("() => window.__sends") if "lost" in s["body"]]
    assert len(sends) == 1  # only a 429 is retried
    received = [r["response"]["status"] for r in _requests(klaviyo_stub, "/client/events")
                if "lost" in json.dumps(r["body"])]
    if fault == "503":
        assert (sends[0]["status"], received) == (503, [503])
        assert klaviyo_stub.events(metric="Viewed Category") == []
    else:
        assert received[0] == 0
        resent = DROPPED_POST_RESENT.get(browser_name)
        if resent is not None:
            assert received == ([0, 202] if resent else [0]), (
                f"{browser_name} {'no longer' if resent else 'now'} resends a dropped POST: update DROPPED_POST_RESENT")
            assert sends[0]["status"] == (202 if resent else 0)
            assert len(klaviyo_stub.events(metric="Viewed Category", status="good")) == (1 if resent else 0)
    p.evaluate("() => klaviyo.track('Viewed Category', {CategoryID: 'next', $event_id: 'next'})")
    klaviyo_stub.expect_event("Viewed Category", properties={"CategoryID": "next"})  # the visitor carries on


def test_an_identify_answered_with_an_error_leaves_the_visitor_identified_by_email(klaviyo_shop, klaviyo_stub):
    klaviyo_stub.inject_fault("503", 1, path="/client/profiles")
    p = klaviyo_shop.open(page(IDENTIFY))
    assert p.evaluate("() => window.identified") == VISITOR  # resolved on the error too, no exchange id
    klaviyo_shop.settle()
    assert [r["response"]["status"] for r in _requests(klaviyo_stub, "/client/profiles")] == [503]
    assert p.evaluate("() => klaviyo.isIdentified()") is True
    assert "$exchange_id" not in _kla_id(p) and _kla_id(p)["$email"] == EMAIL
    p.evaluate("() => { klaviyo.track('Viewed Category', {CategoryID: 'after'}); }")
    event = klaviyo_stub.expect_event("Viewed Category", profile={"email": EMAIL})
    assert event["body"]["data"]["attributes"]["profile"]["data"]["attributes"] == {"email": EMAIL}
