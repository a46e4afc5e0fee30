"""The stand-in's Klaviyo endpoints over real HTTP on loopback: auth, validation, answers, semantics."""

from __future__ import annotations

import concurrent.futures
import json

import pytest

from klaviyo_snippets.harness.standin import StubKlaviyo, StubSettings
from klaviyo_snippets.harness.standin._limits import Limit, RateLimits
from tests.http_client import (
    CLIENT_HEADERS, ONSITE_HEADERS, PUBLIC_KEY, SERVER_HEADERS, event_body, get, post, profile_body, send,
)

CLIENT_EVENTS = f"/client/events/?company_id={PUBLIC_KEY}"


def only_error(reply):
    assert reply.headers["Content-Type"].startswith("application/vnd.api+json")
    errors = reply.json["errors"]
    assert len(errors) == 1
    error = errors[0]
    assert set(error) == {"id", "status", "code", "title", "detail", "source"}
    assert error["status"] == reply.status
    return error


@pytest.mark.parametrize("path", ["/client/events", "/client/events/"])
@pytest.mark.parametrize("ctype", ["application/json", "application/vnd.api+json"])
def test_client_event_accepted_with_and_without_slash_and_both_content_types(stub, path, ctype):
    reply = post(stub.url + f"{path}?company_id={PUBLIC_KEY}", event_body(), {**CLIENT_HEADERS, "Content-Type": ctype})
    assert (reply.status, reply.raw) == (202, b"")
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    [event] = stub.events()
    assert (event["metric"], event["status"], event["http_status"]) == ("Viewed Product", "good", 202)
    assert event["body"] == event_body()


def test_server_event_needs_a_known_private_key(stub):
    body = event_body("Placed Order", value=29.98)
    assert post(stub.url + "/api/events/", body, SERVER_HEADERS).status == 202
    missing = post(stub.url + "/api/events/", body, {k: v for k, v in SERVER_HEADERS.items() if k != "Authorization"})
    assert missing.status == 401
    assert only_error(missing)["code"] == "not_authenticated"
    wrong = post(stub.url + "/api/events/", body, {**SERVER_HEADERS, "Authorization": "Klaviyo-API-Key ABC123"})
    assert wrong.status == 401
    assert only_error(wrong)["code"] == "authentication_failed"


def test_a_configured_key_list_replaces_the_default_shape_rule():
    with StubKlaviyo(api_keys=("pk_only",)) as stub:
        good = {**SERVER_HEADERS, "Authorization": "Klaviyo-API-Key pk_only"}
        assert post(stub.url + "/api/events", event_body(), good).status == 202
        assert post(stub.url + "/api/events", event_body(), SERVER_HEADERS).status == 401


def test_private_key_is_redacted_in_recorded_requests(stub):
    post(stub.url + "/api/events", event_body(), SERVER_HEADERS)
    [request] = stub.requests()
    assert request["headers"]["authorization"] == "Klaviyo-API-Key [redacted]"
    assert "pk_test" not in json.dumps(stub.traffic())


def test_client_endpoints_need_company_id(stub):
    reply = post(stub.url + "/client/events/", event_body(), CLIENT_HEADERS)
    assert reply.status == 400
    assert only_error(reply)["source"] == {"parameter": "company_id"}


def test_missing_revision_is_refused(stub):
    reply = post(stub.url + CLIENT_EVENTS, event_body(), {"Content-Type": "application/json"})
    assert reply.status == 400
    assert "revision" in only_error(reply)["detail"]


@pytest.mark.parametrize("path", ["/api/track", "/api/identify", "/api/track/"])
def test_legacy_endpoints_are_gone(stub, path):
    assert send("GET", stub.url + path + "?data=e30=").status == 410
    assert post(stub.url + path, b"data=e30=", {"Content-Type": "application/x-www-form-urlencoded"}).status == 410


def test_preflight_allows_the_onsite_headers(stub):
    reply = send("OPTIONS", stub.url + CLIENT_EVENTS, headers={
        "Origin": "https://shop.test", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,revision,x-klaviyo-onsite,x-klaviyo-js-url,accept"})
    assert reply.status == 204
    assert reply.headers["Access-Control-Allow-Origin"] == "*"
    allowed = {h.strip() for h in reply.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"content-type", "revision", "x-klaviyo-onsite", "x-klaviyo-js-url", "accept"} <= allowed


def test_private_endpoints_grant_browsers_no_cors(stub):
    reply = send("OPTIONS", stub.url + "/api/events/", headers={"Origin": "https://shop.test"})
    assert "Access-Control-Allow-Origin" not in reply.headers


@pytest.mark.parametrize(
    ("mutate", "pointer", "words"),
    [
        (lambda a: a.pop("metric"), "/data/attributes/metric", "required"),
        (lambda a: a.pop("properties"), "/data/attributes/properties", "required"),
        (lambda a: a.update(time="yesterday"), "/data/attributes/time", "ISO 8601"),
        (lambda a: a.update(value={"amount": 1}), "/data/attributes/value", "number"),
        (lambda a: a.update(unique_id=12), "/data/attributes/unique_id", "string"),
        (lambda a: a.update(value_currency="dollars"), "/data/attributes/value_currency", "ISO 4217"),
        (lambda a: a.update(uniqueid="x"), "/data/attributes/uniqueid", "not a valid field"),
        (lambda a: a["metric"]["data"]["attributes"].update(name="x" * 128), "/data/attributes/metric/data/attributes/name", "128"),
        (lambda a: a.update(properties={f"p{i}": i for i in range(401)}), "/data/attributes/properties", "400"),
        (lambda a: a.update(properties={"notes": ["ok", "x" * (100 * 1024 + 1)]}), "/data/attributes/properties/notes/1", "100 KB"),
        (lambda a: a["profile"]["data"]["attributes"].update(phone_number="555-1234"), "/data/attributes/profile/data/attributes/phone_number", "E.164"),
        (lambda a: a["profile"]["data"].update(attributes={"first_name": "Sarah"}), "/data/attributes/profile/data/attributes", "identifier"),
    ],
)
def test_invalid_events_get_400_with_a_pointer_and_are_recorded_bad(stub, mutate, pointer, words):
    body = event_body()
    mutate(body["data"]["attributes"])
    reply = post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS)
    assert reply.status == 400
    error = reply.json["errors"][0]
    assert error["source"]["pointer"] == pointer
    assert words in error["detail"]
    [event] = stub.events()
    assert event["status"] == "bad"
    assert event["reasons"][0]["pointer"] == pointer


def test_string_value_is_accepted_but_recorded_bad(stub):
    reply = post(stub.url + CLIENT_EVENTS, event_body("Added to Cart", value="29.98"), CLIENT_HEADERS)
    assert reply.status == 202  # as at Klaviyo: the loss shows only later
    [event] = stub.events()
    assert event["status"] == "bad"
    assert "counts no revenue" in event["reasons"][0]["detail"]


@pytest.mark.parametrize("raw", [b"{bad json", b"[]", b"null", b"\xff\xfe", b'"text"'])
def test_malformed_bodies_get_json_api_errors(stub, raw):
    reply = post(stub.url + CLIENT_EVENTS, raw, CLIENT_HEADERS)
    assert reply.status == 400
    only_error(reply)


def test_body_over_5_mb_is_413(stub):
    body = json.dumps(event_body(properties={"blob": "x" * (5 * 1024 * 1024)})).encode()
    reply = post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS)
    assert reply.status == 413
    assert only_error(reply)["code"] == "request_too_large"


def test_unsupported_content_type_is_415(stub):
    reply = post(stub.url + CLIENT_EVENTS, json.dumps(event_body()).encode(), {**CLIENT_HEADERS, "Content-Type": "text/plain"})
    assert reply.status == 415


def test_onsite_identify_answers_the_exchange_id_and_later_kx_events_resolve(stub):
    reply = post(stub.url + f"/client/profiles/?company_id={PUBLIC_KEY}",
                 profile_body(email="a@example.com", first_name="Ann"), ONSITE_HEADERS)
    assert reply.status == 202
    kx = reply.json["meta"]["exchange_id"]
    assert kx.endswith("." + PUBLIC_KEY)
    assert reply.json["meta"]["should_clear_cookie"] is False
    post(stub.url + CLIENT_EVENTS, event_body(profile={"_kx": kx, "properties": {"$exchange_id": kx}}), CLIENT_HEADERS)
    event = stub.expect_event("Viewed Product", profile={"email": "a@example.com", "first_name": "Ann"}, timeout=1)
    assert event["profile_id"] == stub.profiles()[0]["id"]


def test_profiles_endpoint_without_onsite_header_answers_202_empty(stub):
    reply = post(stub.url + f"/client/profiles/?company_id={PUBLIC_KEY}", profile_body(email="a@example.com"), CLIENT_HEADERS)
    assert (reply.status, reply.raw) == (202, b"")


def test_identify_merges_attributes_and_patches_properties(stub):
    url = stub.url + f"/client/profiles/?company_id={PUBLIC_KEY}"
    post(url, profile_body(email="a@example.com", properties={"Tier": "gold", "Tags": ["a"]}), ONSITE_HEADERS)
    post(url, profile_body(email="a@example.com", last_name="Lee",
                           meta={"patch_properties": {"append": {"Tags": "b"}, "unset": "Tier"}}), ONSITE_HEADERS)
    [profile] = stub.profiles()
    assert profile["attributes"] == {"email": "a@example.com", "last_name": "Lee"}
    assert profile["properties"] == {"Tags": ["a", "b"]}


def test_unknown_exchange_id_is_accepted_but_bad(stub):
    reply = post(stub.url + CLIENT_EVENTS, event_body(profile={"_kx": "nobody.ABC123"}), CLIENT_HEADERS)
    assert reply.status == 202
    [event] = stub.events()
    assert event["status"] == "bad"
    assert "never issued" in event["reasons"][0]["detail"]


def test_duplicate_unique_id_is_202_and_recorded_as_duplicate(stub):
    body = event_body("Placed Order", unique_id="order-1", value=29.98)
    assert post(stub.url + "/api/events", body, SERVER_HEADERS).status == 202
    assert post(stub.url + "/api/events", body, SERVER_HEADERS).status == 202
    assert [e["status"] for e in stub.events()] == ["good", "duplicate"]
    other_metric = event_body("Ordered Product", unique_id="order-1", value=9.99)
    assert post(stub.url + "/api/events", other_metric, SERVER_HEADERS).status == 202
    assert stub.events()[-1]["status"] == "good"  # dedup is per metric


def test_missing_unique_id_defaults_to_the_time_to_the_second(stub):
    body = event_body("Viewed Product", time="2023-10-15T00:00:00Z")
    post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS)
    post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS)
    later = event_body("Viewed Product", time="2023-10-15T00:00:01Z")
    post(stub.url + CLIENT_EVENTS, later, CLIENT_HEADERS)
    assert [e["status"] for e in stub.events()] == ["good", "duplicate", "good"]


def test_bulk_create_records_each_event_for_the_profile(stub):
    body = {"data": {"type": "event-bulk-create", "attributes": {
        "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}},
        "events": {"data": [
            {"type": "event", "attributes": {"properties": {"n": i}, "unique_id": f"u{i}",
                                             "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product"}}}}}
            for i in range(3)]}}}}
    reply = post(stub.url + f"/client/event-bulk-create/?company_id={PUBLIC_KEY}", body,
                 {**CLIENT_HEADERS, "revision": "2025-01-15"})
    assert reply.status == 202
    events = stub.events()
    assert [e["properties"]["n"] for e in events] == [0, 1, 2]
    assert {e["profile"]["email"] for e in events} == {"a@example.com"}


def test_subscription_needs_a_list_and_lands_on_the_profile(stub):
    url = stub.url + f"/client/subscriptions/?company_id={PUBLIC_KEY}"
    body = {"data": {"type": "subscription", "attributes": {"profile": {"data": {"type": "profile", "attributes": {
        "email": "a@example.com", "subscriptions": {"email": {"marketing": {"consent": "SUBSCRIBED"}}}}}}},
        "relationships": {"list": {"data": {"type": "list", "id": "Y6nRLr"}}}}}
    assert post(url, body, CLIENT_HEADERS).status == 202
    assert stub.profiles()[0]["subscriptions"][0]["list_id"] == "Y6nRLr"
    del body["data"]["relationships"]
    reply = post(url, body, CLIENT_HEADERS)
    assert reply.status == 400
    assert only_error(reply)["source"]["pointer"] == "/data/relationships"


def test_wrong_method_and_unknown_path_are_json_api(stub):
    assert only_error(get(stub.url + "/client/events/"))["status"] == 405
    assert only_error(get(stub.url + "/nowhere"))["status"] == 404


def test_scripted_faults_hit_the_next_requests_then_stop(stub):
    stub.inject_fault("429", 2, retry_after=3)
    first = post(stub.url + CLIENT_EVENTS, event_body(), CLIENT_HEADERS)
    assert first.status == 429
    assert first.headers["Retry-After"] == "3"
    assert only_error(first)["code"] == "throttled"
    assert post(stub.url + CLIENT_EVENTS, event_body(), CLIENT_HEADERS).status == 429
    assert post(stub.url + CLIENT_EVENTS, event_body(), CLIENT_HEADERS).status == 202
    stub.inject_fault("500", 1, path="/api/events")
    assert post(stub.url + CLIENT_EVENTS, event_body("Other"), CLIENT_HEADERS).status == 202
    assert post(stub.url + "/api/events", event_body("Placed Order"), SERVER_HEADERS).status == 500


def test_dropped_connection_fault(stub):
    stub.inject_fault("drop", 1)
    with pytest.raises(Exception) as info:
        post(stub.url + CLIENT_EVENTS, event_body(), CLIENT_HEADERS)
    assert "closed" in str(info.value).lower() or "reset" in str(info.value).lower()
    assert post(stub.url + CLIENT_EVENTS, event_body(), CLIENT_HEADERS).status == 202


def test_rate_limits_answer_429_with_integer_retry_after():
    clock = [960.25]  # 16 minutes into the epoch, a quarter second into a burst window
    limits = RateLimits({"/client/events": Limit(3, 5)}, clock=lambda: clock[0])
    with StubKlaviyo(settings=StubSettings(rate_limits=limits)) as stub:
        statuses = [post(stub.url + CLIENT_EVENTS, event_body(unique_id=str(i)), CLIENT_HEADERS) for i in range(4)]
        assert [r.status for r in statuses] == [202, 202, 202, 429]
        assert statuses[3].headers["Retry-After"] == "1"
        assert statuses[0].headers["RateLimit-Remaining"] == "2"
        clock[0] += 1  # next burst window; the steady window (5/min) still counts
        more = [post(stub.url + CLIENT_EVENTS, event_body(unique_id=f"b{i}"), CLIENT_HEADERS).status for i in range(3)]
        assert more == [202, 202, 429]
        blocked = post(stub.url + CLIENT_EVENTS, event_body(unique_id="c"), CLIENT_HEADERS)
        assert int(blocked.headers["Retry-After"]) == 59  # to the end of the minute
        other_company = post(stub.url + "/client/events/?company_id=XYZ789", event_body(), CLIENT_HEADERS)
        assert other_company.status == 202  # limits are per account


def test_klaviyo_limits_are_the_published_ones():
    limits = RateLimits.klaviyo().limits
    assert limits["/client/events"] == Limit(350, 3500)
    assert limits["/client/subscriptions"] == Limit(350, 750)
    assert limits["/client/event-bulk-create"] == Limit(10, 150)
    assert limits["/api/events"] == Limit(350, 3500)


def test_concurrent_clients_are_all_recorded(stub):
    def fire(i):
        return post(stub.url + CLIENT_EVENTS, event_body(unique_id=f"c{i}"), CLIENT_HEADERS).status

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(fire, range(200)))
    assert statuses == [202] * 200
    assert len(stub.events(status="good")) == 200


# -- Catalogs API ---------------------------------------------------------------------------

def test_catalog_items_from_our_builder_are_created_once(stub):
    from klaviyo_snippets.generator.server.catalog import catalog_item_body, read_products
    from tests.openapi_oracle import validate_request

    product = read_products("examples/products.jsonl")[0]
    body = catalog_item_body(product)
    validate_request("/api/catalog-items", body)
    reply = post(stub.url + "/api/catalog-items/", body, SERVER_HEADERS)
    assert reply.status == 201
    data = reply.json["data"]
    assert data["id"] == f"$custom:::$default:::{product['id']}"
    assert data["attributes"]["title"] == product["title"]
    again = post(stub.url + "/api/catalog-items/", body, SERVER_HEADERS)
    assert again.status == 409
    assert [item["id"] for item in stub.catalog()] == [data["id"]]


def test_catalog_bulk_job_creates_every_item_and_reports_conflicts(stub):
    from klaviyo_snippets.generator.server.catalog import bulk_create_job_bodies, read_products

    products = read_products("examples/products.jsonl")
    [job] = bulk_create_job_bodies(products)
    reply = post(stub.url + "/api/catalog-item-bulk-create-jobs", job, SERVER_HEADERS)
    assert reply.status == 202
    attrs = reply.json["data"]["attributes"]
    assert (attrs["status"], attrs["total_count"], attrs["completed_count"]) == ("complete", len(products), len(products))
    assert len(stub.catalog()) == len(products)
    again = post(stub.url + "/api/catalog-item-bulk-create-jobs", job, SERVER_HEADERS).json["data"]["attributes"]
    assert again["failed_count"] == len(products)


def test_catalog_validation_and_auth(stub):
    item = {"data": {"type": "catalog-item", "attributes": {"external_id": "1", "title": "T", "url": "https://x.test/1",
                                                             "price": "9.99"}}}
    reply = post(stub.url + "/api/catalog-items", item, SERVER_HEADERS)
    assert reply.status == 400
    pointers = {e["source"]["pointer"] for e in reply.json["errors"]}
    assert pointers == {"/data/attributes/description", "/data/attributes/price"}
    too_many = {"data": {"type": "catalog-item-bulk-create-job", "attributes": {"items": {"data": [item["data"]] * 101}}}}
    reply = post(stub.url + "/api/catalog-item-bulk-create-jobs", too_many, SERVER_HEADERS)
    assert reply.status == 400 and any("at most 100" in e["detail"] for e in reply.json["errors"])
    assert post(stub.url + "/api/catalog-items", item, CLIENT_HEADERS).status == 401


def test_catalog_job_can_be_polled(stub):
    from klaviyo_snippets.generator.server.catalog import bulk_create_job_bodies, read_products

    [job] = bulk_create_job_bodies(read_products("examples/products.jsonl"))
    created = post(stub.url + "/api/catalog-item-bulk-create-jobs", job, SERVER_HEADERS).json["data"]
    polled = send("GET", stub.url + f"/api/catalog-item-bulk-create-jobs/{created['id']}/", headers=SERVER_HEADERS)
    assert polled.status == 200
    assert polled.json["data"] == created
    assert send("GET", stub.url + "/api/catalog-item-bulk-create-jobs/nope", headers=SERVER_HEADERS).status == 404
    assert send("GET", stub.url + f"/api/catalog-item-bulk-create-jobs/{created['id']}").status == 401


def test_scripted_400_is_a_json_api_refusal(stub):
    stub.inject_fault("400", 1)
    reply = post(stub.url + CLIENT_EVENTS, event_body(), CLIENT_HEADERS)
    assert reply.status == 400
    assert only_error(reply)["code"] == "invalid"


# -- wire facts checked one by one (klaviyo-wire-facts.md and the OpenAPI extract) --------------

def test_client_and_server_events_never_dedupe_each_other(stub):
    body = event_body("Placed Order", unique_id="order-1")
    assert post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS).status == 202
    assert post(stub.url + "/api/events", body, SERVER_HEADERS).status == 202
    assert post(stub.url + "/api/events", body, SERVER_HEADERS).status == 202
    assert [e["status"] for e in stub.events()] == ["good", "good", "duplicate"]


def test_default_dedup_compares_instants_not_text(stub):
    post(stub.url + CLIENT_EVENTS, event_body(time="2026-03-01T10:00:00+02:00"), CLIENT_HEADERS)
    post(stub.url + CLIENT_EVENTS, event_body(time="2026-03-01T08:00:00.400Z"), CLIENT_HEADERS)
    assert [e["status"] for e in stub.events()] == ["good", "duplicate"]


@pytest.mark.parametrize("when", ["1989-12-31T23:59:59Z", "2099-01-01T00:00:00Z"])
def test_event_time_must_be_after_1990_and_at_most_a_year_ahead(stub, when):
    reply = post(stub.url + CLIENT_EVENTS, event_body(time=when), CLIENT_HEADERS)
    assert reply.status == 400
    error = only_error(reply)
    assert error["source"]["pointer"] == "/data/attributes/time" and "after the year 1990" in error["detail"]


def test_a_bulk_request_repeating_a_unique_id_loses_every_event(stub):
    entry = {"type": "event", "attributes": {"properties": {}, "unique_id": "u1",
                                             "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product"}}}}}
    other = {"type": "event", "attributes": {**entry["attributes"], "unique_id": "u2"}}
    body = {"data": {"type": "event-bulk-create", "attributes": {
        "profile": {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}},
        "events": {"data": [entry, other, entry]}}}}
    assert post(stub.url + f"/client/event-bulk-create/?company_id={PUBLIC_KEY}", body, CLIENT_HEADERS).status == 202
    events = stub.events()
    assert [e["status"] for e in events] == ["bad", "bad", "bad"]
    assert all(e["reasons"][-1]["code"] == "repeated_unique_id" for e in events)


def _subscription(**profile):
    return {"data": {"type": "subscription", "attributes": {"profile": {"data": {"type": "profile", "attributes": profile}}},
                     "relationships": {"list": {"data": {"type": "list", "id": "Y6nRLr"}}}}}


@pytest.mark.parametrize("profile, pointer, words", [
    ({"external_id": "c-1"}, "/data/attributes/profile/data/attributes", "One of either `email` or `phone_number`"),
    ({"email": "a@example.com", "subscriptions": {"email": {"marketing": {"consent": "UNSUBSCRIBED"}}}},
     "/data/attributes/profile/data/attributes/subscriptions/email/marketing/consent", 'must be "SUBSCRIBED"'),
    ({"email": "a@example.com", "anonymous_id": "x"},
     "/data/attributes/profile/data/attributes/anonymous_id", "not a valid field"),
])
def test_subscription_profile_rules(stub, profile, pointer, words):
    reply = post(stub.url + f"/client/subscriptions/?company_id={PUBLIC_KEY}", _subscription(**profile), CLIENT_HEADERS)
    assert reply.status == 400
    error = only_error(reply)
    assert error["source"]["pointer"] == pointer and words in error["detail"]


def test_client_profiles_meta_sits_beside_attributes(stub):
    url = stub.url + f"/client/profiles/?company_id={PUBLIC_KEY}"
    wrong = {"data": {"type": "profile", "attributes": {"email": "a@example.com", "meta": {"patch_properties": {}}}}}
    reply = post(url, wrong, CLIENT_HEADERS)
    assert reply.status == 400 and only_error(reply)["source"]["pointer"] == "/data/attributes/meta"


def test_client_profiles_with_an_unknown_exchange_id_answers_202_and_is_judged_bad(stub):
    reply = post(stub.url + f"/client/profiles/?company_id={PUBLIC_KEY}", profile_body(_kx="nobody.ABC123"), ONSITE_HEADERS)
    assert (reply.status, reply.raw) == (202, b"")
    [request] = stub.requests()
    assert request["judgement"]["status"] == "bad" and "never issued" in request["judgement"]["detail"]
    assert stub.profiles() == []


def test_server_events_may_change_an_identifier_client_ones_may_not(stub):
    first = {"email": "a@example.com", "external_id": "c-1"}
    post(stub.url + CLIENT_EVENTS, event_body(profile=first), CLIENT_HEADERS)
    post(stub.url + CLIENT_EVENTS, event_body("Added to Cart", profile={**first, "external_id": "c-2"}), CLIENT_HEADERS)
    assert stub.profiles()[0]["attributes"]["external_id"] == "c-1"
    post(stub.url + "/api/events", event_body("Placed Order", profile={**first, "external_id": "c-2"}), SERVER_HEADERS)
    assert stub.profiles()[0]["attributes"]["external_id"] == "c-2"


@pytest.mark.parametrize("currency, status", [("usd", 202), ("EUR", 202), ("US", 400), ("dollars", 400)])
def test_value_currency_is_three_letters_in_any_case(stub, currency, status):
    assert post(stub.url + CLIENT_EVENTS, event_body(value=1.5, value_currency=currency), CLIENT_HEADERS).status == status


def test_revision_must_name_a_real_date(stub):
    reply = post(stub.url + CLIENT_EVENTS, event_body(), {**CLIENT_HEADERS, "revision": "2024-13-45"})
    assert reply.status == 400 and only_error(reply)["source"] == {"parameter": "revision"}


def test_custom_metadata_must_be_flat(stub):
    item = {"data": {"type": "catalog-item", "attributes": {
        "external_id": "SKU-1", "title": "Mug", "description": "A mug", "url": "https://shop.example/mug",
        "custom_metadata": {"dims": {"h": 10}, "tags": ["a", "b"]}}}}
    reply = post(stub.url + "/api/catalog-items", item, SERVER_HEADERS)
    assert reply.status == 400
    assert only_error(reply)["source"]["pointer"] == "/data/attributes/custom_metadata/dims"


@pytest.mark.parametrize("kind, code", [("403", "permission_denied"), ("504", "error"), ("524", "error")])
def test_scripted_faults_cover_what_the_sdk_retries_and_permission_errors(stub, kind, code):
    stub.inject_fault(kind)
    reply = post(stub.url + "/api/events", event_body(), SERVER_HEADERS)
    assert reply.status == int(kind) and only_error(reply)["code"] == code


def test_inferred_choices_can_be_switched_off():
    settings = StubSettings(refuse_unknown_fields=False, map_property_attributes=False, profile_answer_exchange_id=False)
    with StubKlaviyo(settings=settings) as stub:
        body = event_body(profile={"email": "a@example.com", "properties": {"first_name": "Ann"}}, unique_idd="x")
        assert post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS).status == 202
        assert stub.profiles()[0]["properties"] == {"first_name": "Ann"}
        reply = post(stub.url + f"/client/profiles/?company_id={PUBLIC_KEY}", profile_body(email="a@example.com"), ONSITE_HEADERS)
        assert (reply.status, reply.raw) == (202, b"")
