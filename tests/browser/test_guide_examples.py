"""Every onsite example of the guide, pasted as the guide shows it, in real Chromium against the stand-in.

The assertions are on the exact JSON:API bodies Klaviyo records: `$value` becomes `value`,
`$event_id` becomes `unique_id`, the metric carries `service: "api"`, the profile its `_kx`.
"""

from __future__ import annotations

import json

import pytest

from tests.browser.guide import (
    EXAMPLES, LIKE_LISTENER, PUBLIC_KEY, TRACK_VIEWED_ITEM, VISITOR, WINNIE, expected_event_body,
    identified_profile, page,
)

pytestmark = pytest.mark.browser

IDENTIFY = f"window.identified = klaviyo.identify({json.dumps(VISITOR)});"


def open_identified(klaviyo_shop, klaviyo_stub, *scripts, body=""):
    """Open a page whose visitor is identified (identify answered) before `scripts` run."""
    p = klaviyo_shop.open(page(IDENTIFY, body=body))
    p.evaluate("() => window.identified")
    [profile] = klaviyo_stub.profiles()
    for script in scripts:
        p.add_script_tag(content=script)
    return p, profile["exchange_ids"][PUBLIC_KEY]


def test_identify_sends_the_visitor_and_resolves_with_the_exchange_id(klaviyo_shop, klaviyo_stub):
    p = klaviyo_shop.open(page(IDENTIFY))
    p.evaluate("() => window.identified")
    [request] = [r for r in klaviyo_stub.requests() if r["path"].startswith("/client/profiles")]
    # The onsite script keeps unprefixed names in properties (as the real code does) ...
    assert request["body"] == {"data": {"type": "profile", "attributes": {
        "email": VISITOR["email"], "properties": {"first_name": "Thomas", "last_name": "Jefferson"}}}}
    assert request["query"] == {"company_id": PUBLIC_KEY}
    assert request["headers"]["x-klaviyo-onsite"] == "1"
    assert request["headers"]["revision"] == "2024-10-15"
    assert request["response"]["status"] == 202
    [profile] = klaviyo_stub.profiles()
    assert profile["attributes"] == VISITOR  # ... and Klaviyo maps them to the profile's names
    cookie = {c["name"]: c["value"] for c in p.context.cookies()}["__kla_id"]
    assert profile["exchange_ids"][PUBLIC_KEY] in _decode_cookie(cookie)["$exchange_id"]


def _decode_cookie(value: str) -> dict:
    import base64
    from urllib.parse import unquote

    raw = unquote(value)
    return json.loads(base64.b64decode(raw + "=" * (-len(raw) % 4)))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.metric)
def test_guide_track_example_arrives_exactly(klaviyo_shop, klaviyo_stub, example):
    _, kx = open_identified(klaviyo_shop, klaviyo_stub, example.code)
    event = klaviyo_stub.expect_event(example.metric)
    assert event["body"] == expected_event_body(example.metric, example.properties, identified_profile(kx))
    assert event["profile"]["email"] == VISITOR["email"]
    [request] = [r for r in klaviyo_stub.requests() if r["id"] == event["request_id"]]
    assert request["path"] == "/client/events/"
    assert request["headers"]["revision"] == "2026-07-15"
    assert request["headers"]["content-type"].startswith("application/json")


def test_value_and_event_id_become_value_and_unique_id(klaviyo_shop, klaviyo_stub):
    checkout = next(e for e in EXAMPLES if e.metric == "Started Checkout")
    open_identified(klaviyo_shop, klaviyo_stub, checkout.code)
    event = klaviyo_stub.expect_event("Started Checkout", value=29.98, unique_id="1000123_1387299423")
    assert "$value" not in event["properties"] and "$event_id" not in event["properties"]


def test_track_right_after_identify_carries_the_email_while_identify_is_pending(klaviyo_shop, klaviyo_stub):
    # The guide's order on a product page: identify, then track at once, no waiting.
    klaviyo_shop.open(page(IDENTIFY, f"var item = {json.dumps(WINNIE)}; klaviyo.track('Viewed Product', item);"))
    event = klaviyo_stub.expect_event("Viewed Product", profile={"email": VISITOR["email"]})
    assert event["body"]["data"]["attributes"]["profile"]["data"]["attributes"]["email"] == VISITOR["email"]


def test_track_viewed_item_fills_recently_viewed_storage_and_the_profile(klaviyo_shop, klaviyo_stub):
    p, _ = open_identified(klaviyo_shop, klaviyo_stub, f"var item = {json.dumps(WINNIE)};", TRACK_VIEWED_ITEM)
    viewed = klaviyo_stub.wait_for(
        lambda: [pr for pr in klaviyo_stub.profiles() if pr["properties"].get("$viewed_items")], 5)
    assert viewed, "the profile never received $viewed_items"
    stored = json.loads(p.evaluate("() => localStorage.getItem('__kla_viewed')"))
    [[item, views]] = stored
    assert views == 1
    assert item["ItemId"] == "1111" and item["Title"] == "Winnie the Pooh"
    assert item["Metadata"] == {"Brand": "Kids Books", "Price": 9.99, "CompareAtPrice": 14.99}
    assert isinstance(item["LastViewedDate"], int)


def test_added_like_fires_on_click(klaviyo_shop, klaviyo_stub):
    p, kx = open_identified(klaviyo_shop, klaviyo_stub, f"var item = {json.dumps(WINNIE)};", LIKE_LISTENER,
                            body='<button id="Like">Like</button>')
    assert klaviyo_stub.events(metric="Added Like") == []
    p.click("#Like")
    event = klaviyo_stub.expect_event("Added Like")
    assert event["body"] == expected_event_body("Added Like", WINNIE, identified_profile(kx))


def test_callback_and_promise_forms_resolve(klaviyo_shop, klaviyo_stub):
    p, _ = open_identified(klaviyo_shop, klaviyo_stub)
    results = p.evaluate("""() => new Promise(resolve => {
        const out = {};
        klaviyo.track('Viewed Category', {CategoryID: '01'}, r => { out.callback = r; });
        klaviyo.track('Searched Site', {SearchTerm: 'x'}).then(r => { out.promise = r; resolve(out); });
    })""")
    assert results == {"callback": True, "promise": True}
    klaviyo_stub.expect_event("Viewed Category", properties={"CategoryID": "01"})
    klaviyo_stub.expect_event("Searched Site", properties={"SearchTerm": "x"})


def test_identify_callback_then_track_as_in_the_guide(klaviyo_shop, klaviyo_stub):
    # The guide's callback example, with its `item` fixed: its own `var item = {ProductName:
    # item.ProductName, ...}` reads the hoisted, still undefined local and throws.
    script = f"""
      var product = {json.dumps(WINNIE)};
      function myCallback() {{ klaviyo.track('Viewed Product', product) }}
      klaviyo.identify({json.dumps(VISITOR)}, myCallback)
    """
    klaviyo_shop.open(page(script))
    klaviyo_stub.expect_event("Viewed Product", properties={"ProductID": "1111"}, profile={"email": VISITOR["email"]})


def test_the_guides_callback_example_as_written_throws(klaviyo_shop, klaviyo_stub):
    errors = []
    klaviyo_shop.page.on("pageerror", lambda e: errors.append(str(e)))
    script = f"""
      function myCallback() {{
        var item = {{ ProductName: item.ProductName, ProductID: item.ProductID }}
        klaviyo.track('Viewed Product', item)
      }}
      klaviyo.identify({json.dumps(VISITOR)}, myCallback)
    """
    klaviyo_shop.open(page(script))
    klaviyo_stub.wait_for(lambda: errors, 5)
    assert any("ProductName" in e for e in errors)
    assert klaviyo_stub.events(metric="Viewed Product") == []


def test_klaviyo_push_and_legacy_learnq_push(klaviyo_shop, klaviyo_stub):
    open_identified(klaviyo_shop, klaviyo_stub,
                    "klaviyo.push(['track', 'Viewed Category', {CategoryID: 'push'}]);",
                    "window._learnq = window._learnq || []; _learnq.push(['track', 'Clicked Banner', {BannerTitle: 'learnq'}]);",
                    "klaviyo.push(function () { klaviyo.track('Searched Site', {SearchTerm: 'fn'}); });")
    klaviyo_stub.expect_event("Viewed Category", properties={"CategoryID": "push"})
    klaviyo_stub.expect_event("Clicked Banner", properties={"BannerTitle": "learnq"})
    klaviyo_stub.expect_event("Searched Site", properties={"SearchTerm": "fn"})


def test_loader_without_proxy_falls_back_to_push(klaviyo_shop, klaviyo_stub):
    p = klaviyo_shop.open(page(
        f"klaviyo.push(['identify', {json.dumps(VISITOR)}]);"
        "klaviyo.push(['track', 'Viewed Category', {CategoryID: 'noproxy'}]);",
        before_loader="delete window.Proxy;",
    ))
    assert p.evaluate("() => typeof window.Proxy") == "undefined"
    klaviyo_stub.expect_event("Viewed Category", properties={"CategoryID": "noproxy"},
                              profile={"email": VISITOR["email"]})


def test_events_queued_before_the_script_loads_are_delivered_after(klaviyo_shop, klaviyo_stub, klaviyo_routing):
    # Hold the onsite script back until the page has queued its calls.
    p = klaviyo_shop.page
    p.route("https://static.klaviyo.com/**", lambda route: route.abort())
    klaviyo_shop.open(page(IDENTIFY, "klaviyo.track('Viewed Category', {CategoryID: 'early'});"))
    assert p.evaluate("() => window._klOnsite.length") == 2
    assert klaviyo_stub.requests() == []
    p.unroute("https://static.klaviyo.com/**")
    p.add_script_tag(url=f"https://static.klaviyo.com/onsite/js/{PUBLIC_KEY}/klaviyo.js")
    klaviyo_stub.expect_event("Viewed Category", properties={"CategoryID": "early"})


def test_active_on_site_on_each_load_of_an_identified_visitor(klaviyo_shop, klaviyo_stub):
    # An identify queued on the page runs before the rest of the queue, so this very load counts.
    p, _ = open_identified(klaviyo_shop, klaviyo_stub)
    first = klaviyo_stub.expect_event("__activity__", profile={"email": VISITOR["email"]})
    assert first["display_name"] == "Active on Site"
    assert first["properties"]["page"] == klaviyo_shop.origin + "/index.html"
    p.wait_for_timeout(1000)  # a second later: Klaviyo's default unique_id is the time to the second
    p.goto(klaviyo_shop.add("/other.html", page()))
    klaviyo_stub.expect_event("__activity__", properties={"page": klaviyo_shop.origin + "/other.html"})


def test_no_active_on_site_for_an_anonymous_visitor(klaviyo_shop, klaviyo_stub):
    p = klaviyo_shop.open(page())
    # isIdentified() resolves only once the onsite script has loaded and drained its queue: the
    # script ran, and decided to send nothing.
    assert p.evaluate("() => klaviyo.isIdentified()") is False
    klaviyo_shop.settle()
    assert klaviyo_stub.requests() == []


# -- traps ---------------------------------------------------------------------------------

def test_anonymous_track_sends_nothing_and_is_reported_dropped(klaviyo_shop, klaviyo_stub):
    added = next(e for e in EXAMPLES if e.metric == "Added to Cart")
    klaviyo_shop.open(page(added.code))
    event = klaviyo_stub.expect_event("Added to Cart", status="dropped")
    assert "never identified" in event["reasons"][0]["detail"]
    assert [r for r in klaviyo_stub.requests() if r["path"].startswith("/client/events")] == []
    with pytest.raises(AssertionError) as miss:
        klaviyo_stub.expect_event("Added to Cart", timeout=0.2)
    assert "never identified" in str(miss.value)


@pytest.mark.browser_context_args(
    user_agent="Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/156.0.0.0 Safari/537.36")
def test_headless_chrome_user_agent_gets_nothing(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open(page(IDENTIFY, "klaviyo.track('Viewed Category', {CategoryID: '01'});"))
    [report] = klaviyo_stub.wait_for(
        lambda: [d for d in klaviyo_stub.diagnostics() if d["type"] == "tracking_off"], 5)
    assert "HeadlessChrome" in report["reason"]
    klaviyo_shop.settle()
    assert klaviyo_stub.requests() == []
    assert klaviyo_stub.events(status="good") == []


def test_kla_off_cookie_turns_tracking_off(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.page.context.add_cookies([{"name": "__kla_off", "value": "true", "url": klaviyo_shop.origin}])
    klaviyo_shop.open(page(IDENTIFY, "klaviyo.track('Viewed Category', {CategoryID: '01'});"))
    klaviyo_stub.wait_for(lambda: [d for d in klaviyo_stub.diagnostics() if d["type"] == "tracking_off"], 5)
    klaviyo_shop.settle()
    assert klaviyo_stub.requests() == []


def test_repeated_event_id_is_recorded_as_duplicate(klaviyo_shop, klaviyo_stub):
    checkout = next(e for e in EXAMPLES if e.metric == "Started Checkout")
    open_identified(klaviyo_shop, klaviyo_stub, checkout.code, checkout.code)
    klaviyo_stub.expect_event("Started Checkout", status="duplicate")
    assert [e["status"] for e in klaviyo_stub.events(metric="Started Checkout")] == ["good", "duplicate"]


def test_429_is_retried_by_the_onsite_script(klaviyo_shop, klaviyo_stub):
    p, _ = open_identified(klaviyo_shop, klaviyo_stub)
    klaviyo_stub.expect_event("__activity__")  # sent on load; the fault is for the next one
    klaviyo_stub.inject_fault("429", 1, path="/client/events", retry_after=30)
    p.add_script_tag(content="klaviyo.track('Viewed Category', {CategoryID: 'retry'});")
    klaviyo_stub.expect_event("Viewed Category", properties={"CategoryID": "retry"}, timeout=8)
    statuses = [r["response"]["status"] for r in klaviyo_stub.requests()
                if r["path"].startswith("/client/events") and "retry" in json.dumps(r["body"])]
    assert statuses == [429, 202]  # retried after 1-2 s, not after the 30 s Retry-After


def test_unknown_method_is_reported(klaviyo_shop, klaviyo_stub):
    open_identified(klaviyo_shop, klaviyo_stub, "klaviyo.push(['trackk', 'Viewed Product', {}]);")
    [report] = klaviyo_stub.wait_for(
        lambda: [d for d in klaviyo_stub.diagnostics() if d["type"] == "unknown_method"], 5)
    assert "trackk" in report["reason"]
