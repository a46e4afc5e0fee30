"""The inspection API under /__stub__/, the official SDK as a client, and the OpenAPI oracle."""

from __future__ import annotations

import pytest

from klaviyo_snippets.harness.standin._inspection import INSPECTION_PATHS
from tests.http_client import (
    CLIENT_HEADERS, ONSITE_HEADERS, PRIVATE_KEY, PUBLIC_KEY, SERVER_HEADERS, event_body, get, post, profile_body,
)
from tests.openapi_oracle import validate_request

CLIENT_EVENTS = f"/client/events/?company_id={PUBLIC_KEY}"


def test_events_lists_every_event_with_metric_status_and_body(stub):
    post(stub.url + CLIENT_EVENTS, event_body("Viewed Product", unique_id="a"), CLIENT_HEADERS)
    post(stub.url + CLIENT_EVENTS, event_body("Viewed Product", unique_id="a"), CLIENT_HEADERS)
    post(stub.url + CLIENT_EVENTS, event_body("Added to Cart", value="1.00"), CLIENT_HEADERS)
    reply = get(stub.url + "/__stub__/events")
    assert reply.status == 200
    events = reply.json["events"]
    assert reply.json["count"] == 3
    assert [(e["metric"], e["status"]) for e in events] == [
        ("Viewed Product", "good"), ("Viewed Product", "duplicate"), ("Added to Cart", "bad")]
    assert events[0]["body"] == event_body("Viewed Product", unique_id="a")
    assert events[2]["reasons"][0]["pointer"] == "/data/attributes/value"


def test_events_filter_by_status_and_metric(stub):
    post(stub.url + CLIENT_EVENTS, event_body("Viewed Product"), CLIENT_HEADERS)
    post(stub.url + CLIENT_EVENTS, event_body("Added to Cart", value="1"), CLIENT_HEADERS)
    assert [e["metric"] for e in get(stub.url + "/__stub__/events?status=bad").json["events"]] == ["Added to Cart"]
    assert [e["status"] for e in get(stub.url + "/__stub__/events?metric=Viewed%20Product").json["events"]] == ["good"]
    assert [e["metric"] for e in get(stub.url + "/__stub__/good").json["events"]] == ["Viewed Product"]
    assert [e["metric"] for e in get(stub.url + "/__stub__/bad").json["events"]] == ["Added to Cart"]
    counts = get(stub.url + "/__stub__/all").json
    assert (counts["total"], counts["good"], counts["bad"], counts["duplicate"]) == (2, 1, 1, 0)


def test_requests_are_kept_as_received(stub):
    post(stub.url + "/api/events/", event_body("Placed Order"), SERVER_HEADERS)
    [request] = get(stub.url + "/__stub__/requests").json["requests"]
    assert (request["method"], request["path"]) == ("POST", "/api/events/")
    assert request["headers"]["revision"] == "2026-10-15"
    assert request["headers"]["authorization"] == "Klaviyo-API-Key [redacted]"
    assert request["body"] == event_body("Placed Order")
    assert request["response"] == {"status": 202, "body": None}


def test_profiles_and_reset(stub):
    post(stub.url + f"/client/profiles/?company_id={PUBLIC_KEY}", profile_body(email="a@example.com"), ONSITE_HEADERS)
    [profile] = get(stub.url + "/__stub__/profiles").json["profiles"]
    assert profile["attributes"] == {"email": "a@example.com"}
    assert list(profile["exchange_ids"]) == [PUBLIC_KEY]
    assert post(stub.url + "/__stub__/reset").status == 200
    assert get(stub.url + "/__stub__/all").json["profiles"] == 0
    assert get(stub.url + "/__stub__/events").json == {"count": 0, "events": []}


def test_diagnostic_drop_becomes_a_dropped_event(stub):
    report = {"type": "dropped", "method": "track", "metric": "Added to Cart",
              "reason": "Added to Cart was dropped: the visitor was never identified",
              "args": ["Added to Cart", {"$value": 29.98}], "page": "https://shop.test/"}
    reply = post(stub.url + f"/__stub__/diagnostics?company_id={PUBLIC_KEY}", report, {"Content-Type": "text/plain"})
    assert reply.status == 204
    [event] = stub.events(status="dropped")
    assert event["metric"] == "Added to Cart"
    assert event["reasons"][0]["detail"].endswith("never identified")
    assert stub.diagnostics()[0]["company_id"] == PUBLIC_KEY


def test_a_dropped_call_without_a_metric_is_named_by_its_method(stub):
    report = {"type": "dropped", "method": "trackViewedItem", "metric": None, "reason": "not stored for an anonymous visitor",
              "args": [{"Title": "Mug"}], "page": "https://shop.test/"}
    assert post(stub.url + f"/__stub__/diagnostics?company_id={PUBLIC_KEY}", report, {"Content-Type": "text/plain"}).status == 204
    [event] = stub.events(status="dropped")
    assert (event["metric"], event["display_name"]) == (None, "Recently Viewed Items")


def test_faults_can_be_scripted_over_http(stub):
    reply = post(stub.url + "/__stub__/faults", {"kind": "503", "count": 1}, {"Content-Type": "application/json"})
    assert reply.json["faults"] == [{"kind": "503", "remaining": 1, "path": None, "retry_after": 1, "delay": 0.0}]
    assert post(stub.url + CLIENT_EVENTS, event_body(), CLIENT_HEADERS).status == 503
    bad = post(stub.url + "/__stub__/faults", {"kind": "teapot"}, {"Content-Type": "application/json"})
    assert bad.status == 400
    assert "unknown fault kind" in bad.json["error"]


def test_unknown_inspection_path_lists_the_valid_ones(stub):
    reply = get(stub.url + "/__stub__/nope")
    assert reply.status == 404
    assert reply.json["valid"] == INSPECTION_PATHS
    assert get(stub.url + "/__stub__").status == 404


# -- the official SDK as a real client ------------------------------------------------------

def _sdk(stub, key=PRIVATE_KEY):
    from klaviyo_api import KlaviyoAPI

    return KlaviyoAPI(key, test_host=stub.url, max_retries=3, max_delay=5)


def _sdk_body(unique_id="sdk-1"):
    return {"data": {"type": "event", "attributes": {
        "properties": {"OrderId": "1234"}, "value": 29.98, "unique_id": unique_id, "time": "2022-11-08T00:00:00",
        "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}},
        "profile": {"data": {"type": "profile", "attributes": {"email": "sarah.mason@klaviyo-demo.com"}}}}}}


def test_sdk_event_is_accepted_then_deduplicated(stub):
    sdk = _sdk(stub)
    sdk.Events.create_event(_sdk_body())
    sdk.Events.create_event(_sdk_body())
    assert [e["status"] for e in stub.events()] == ["good", "duplicate"]
    [first, _] = stub.requests()
    assert first["headers"]["user-agent"].startswith("klaviyo-api-python/")
    assert first["headers"]["content-type"].startswith("application/vnd.api+json")


def test_sdk_retries_after_429_and_honours_retry_after(stub):
    stub.inject_fault("429", 2, retry_after=1)
    _sdk(stub).Events.create_event(_sdk_body("sdk-retry"))
    statuses = [r["response"]["status"] for r in stub.requests()]
    assert statuses == [429, 429, 202]
    assert [e["status"] for e in stub.events()] == ["good"]


def test_sdk_with_an_unknown_key_is_refused(stub):
    from openapi_client.exceptions import UnauthorizedException  # the SDK's generated client

    with pytest.raises(UnauthorizedException):
        _sdk(stub, key="not-a-key").Events.create_event(_sdk_body())


# The OpenAPI extract against the stand-in's judgement, on generated bodies in both directions:
# tests/unit/test_openapi_agreement.py.

# -- who may use the inspection API ----------------------------------------------------------

def test_other_sites_can_neither_read_nor_change_the_inspection_api(stub):
    from tests.http_client import send

    post(stub.url + CLIENT_EVENTS, event_body(), CLIENT_HEADERS)
    own = get(stub.url + "/__stub__/events")
    assert own.status == 200 and "Access-Control-Allow-Origin" not in own.headers  # no page may read it
    rebound = send("GET", stub.url + "/__stub__/requests", headers={"Host": "rebind.attacker.example"})
    assert rebound.status == 403 and "DNS rebinding" in rebound.json["error"]
    foreign = send("POST", stub.url + "/__stub__/reset", b"", {"Origin": "https://evil.example", "Content-Type": "text/plain"})
    assert foreign.status == 403 and len(stub.events()) == 1
    # Pages still report what the onsite script dropped, from any origin, as klaviyo.js would.
    report = send("POST", stub.url + f"/__stub__/diagnostics?company_id={PUBLIC_KEY}",
                  b'{"type": "tracking_off", "reason": "robot"}', {"Origin": "https://shop.test", "Content-Type": "text/plain"})
    assert report.status == 204 and report.headers["Access-Control-Allow-Origin"] == "*"
    assert post(stub.url + "/__stub__/reset", b"").status == 200 and stub.events() == []  # curl, Python: no Origin


# -- the oracle itself: it must refuse what Klaviyo's schema refuses --------------------------------

@pytest.mark.parametrize("path, body, words", [
    ("/client/events", event_body(value="29.98"), "is not of type 'number'"),
    ("/api/events", event_body(time="yesterday"), "date-time"),
    ("/client/events", {"data": {"type": "event", "attributes": {"properties": {}}}}, "'metric' is a required property"),
    ("/client/profiles", {"data": {"type": "profile", "attributes": {"email": 5}}}, "is not of type 'string'"),
    ("/client/subscriptions", {"data": {"type": "subscription", "attributes": {"profile": {"data": {
        "type": "profile", "attributes": {"email": "a@example.com"}}}}}}, "'relationships' is a required property"),
])
def test_the_openapi_oracle_refuses_bodies_klaviyo_refuses(path, body, words):
    with pytest.raises(AssertionError) as refused:
        validate_request(path, body)
    assert words in str(refused.value)


def test_the_openapi_oracle_accepts_the_guides_time_without_offset_unless_strict():
    body = event_body(time="2013-12-17T16:57:03")  # how the guide writes times
    validate_request("/api/events", body)
    with pytest.raises(AssertionError, match="date-time"):
        validate_request("/api/events", body, strict_formats=True)
