"""The stand-in under hostile input (issue 12), over real HTTP on loopback.

Klaviyo's documented ingestion limits as wire rules (each a 400 with a pointer or a `bad` reason),
a JSON parse that cannot recurse without bound, an inspection API that answers valid JSON whatever
it stored, a store that keeps at most so many records and bytes and says what it forgot, the
DNS-rebinding guard on every /__stub__/ route and method, and a client hanging up mid-body.
"""

from __future__ import annotations

import json
import logging
import socket
import time

import pytest

from klaviyo_snippets.harness.standin import StubKlaviyo
from klaviyo_snippets.harness.standin._inspection import INSPECTION_PATHS
from tests.http_client import CLIENT_HEADERS, PUBLIC_KEY, event_body, get, post, send

CLIENT_EVENTS = f"/client/events/?company_id={PUBLIC_KEY}"
DIAGNOSTICS = f"/__stub__/diagnostics?company_id={PUBLIC_KEY}"
READS = ["/__stub__/events", "/__stub__/bad", "/__stub__/requests", "/__stub__/profiles", "/__stub__/diagnostics",
         "/__stub__/all"]


def strict_json(raw: bytes) -> object:
    """Parse as a browser's JSON.parse would: UTF-8, and no NaN or Infinity."""
    def refuse(token: str) -> None:
        raise AssertionError(f"{token} is not JSON: {raw[:200]!r}")

    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def assert_inspection_answers_json(stub) -> None:
    for path in READS:
        reply = get(stub.url + path)
        assert reply.status == 200, (path, reply.raw[:300])
        strict_json(reply.raw)


def nested(levels: int, leaf: object = 1) -> object:
    """`levels` objects inside each other: nested(2) == {"a": {"a": 1}}."""
    value = leaf
    for _ in range(levels):
        value = {"a": value}
    return value


def only_error(reply) -> dict:
    [error] = reply.json["errors"]
    return error


def bad_reasons(stub) -> dict[str, str]:
    [event] = stub.events()
    assert event["status"] == "bad", event
    return {r["pointer"]: r["detail"] for r in event["reasons"]}


# -- nesting: Klaviyo's 10 levels, and the stand-in's own guard against recursion -----------------------

def test_an_event_nested_500_deep_is_refused_and_the_inspection_api_keeps_answering(stub):
    reply = post(stub.url + CLIENT_EVENTS, event_body(properties={"deep": nested(500)}), CLIENT_HEADERS)
    assert reply.status == 400
    assert "nested deeper than 64 levels" in only_error(reply)["detail"]
    assert_inspection_answers_json(stub)
    [event] = stub.events(status="bad")
    assert event["http_status"] == 400


def test_a_body_nested_100000_deep_is_a_400_with_a_clear_detail(stub):
    raw = b'{"data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    reply = post(stub.url + CLIENT_EVENTS, raw, CLIENT_HEADERS)
    assert reply.status == 400
    error = only_error(reply)
    assert error["code"] == "invalid"
    assert "nested deeper than 64 levels" in error["detail"]
    assert post(stub.url + DIAGNOSTICS, raw, {"Content-Type": "text/plain"}).status == 400
    assert_inspection_answers_json(stub)  # and `stub` checks no error was kept for check()


def test_properties_nested_past_ten_levels_are_accepted_but_bad_with_a_pointer(stub):
    assert post(stub.url + CLIENT_EVENTS, event_body(properties={"deep": nested(10)}), CLIENT_HEADERS).status == 202
    assert stub.events()[0]["status"] == "good"
    stub.reset()
    assert post(stub.url + CLIENT_EVENTS, event_body(properties={"deep": nested(11)}), CLIENT_HEADERS).status == 202
    reasons = bad_reasons(stub)
    pointer = "/data/attributes/properties/deep" + "/a" * 10  # the 11th object
    assert list(reasons) == [pointer]
    assert "10 levels" in reasons[pointer]


# -- numbers: finite only -------------------------------------------------------------------------------

@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1E400"])
@pytest.mark.parametrize("where, pointer", [
    ('"value": %s', "/data/attributes/value"),
    ('"properties": {"ProductName": "Mug", "Price": [9.99, %s]}', "/data/attributes/properties/Price/1"),
])
def test_numbers_that_are_not_finite_are_refused_with_a_pointer(stub, literal, where, pointer):
    text = json.dumps(event_body(properties={"ProductName": "Mug"}, value=0))
    text = text.replace('"value": 0', where % literal) if "value" in where else \
        text.replace('"properties": {"ProductName": "Mug"}', where % literal)
    reply = post(stub.url + CLIENT_EVENTS, text.encode(), CLIENT_HEADERS)
    assert reply.status == 400
    error = only_error(reply)
    assert error["source"]["pointer"] == pointer
    assert "finite" in error["detail"]
    assert_inspection_answers_json(stub)
    [event] = stub.events()
    assert (event["status"], event["metric"]) == ("bad", "Viewed Product")


def test_a_diagnostic_with_a_number_that_is_not_finite_is_refused(stub):
    reply = post(stub.url + DIAGNOSTICS, b'{"type": "dropped", "metric": "x", "args": ["x", {"n": NaN}]}',
                 {"Content-Type": "text/plain"})
    assert reply.status == 400
    assert stub.diagnostics() == []
    assert_inspection_answers_json(stub)


def test_a_lone_surrogate_escape_is_answered_as_valid_json(stub):
    # A lone surrogate escape is valid JSON syntax; the inspection API must still answer it.
    raw = json.dumps(event_body(properties={"ProductName": "\ud800"})).encode()
    assert post(stub.url + CLIENT_EVENTS, raw, CLIENT_HEADERS).status == 202
    assert_inspection_answers_json(stub)
    assert stub.events()[0]["properties"] == {"ProductName": "\ud800"}
    # In a body large enough for the size checks, inside a property the field limit measures.
    raw = json.dumps(event_body(properties={"Items": ["\ud800"] + ["x" * 1000] * 110})).encode()
    assert post(stub.url + CLIENT_EVENTS, raw, CLIENT_HEADERS).status == 202
    assert stub.events()[1]["properties"]["Items"][0] == "\ud800"
    assert_inspection_answers_json(stub)


# -- sizes: properties, arrays, field values --------------------------------------------------------------

def test_over_300_properties_are_bad_over_400_refused(stub):
    def send_with(count: int) -> int:
        stub.reset()
        return post(stub.url + CLIENT_EVENTS, event_body(properties={f"p{i}": i for i in range(count)}),
                    CLIENT_HEADERS).status

    assert send_with(300) == 202 and stub.events()[0]["status"] == "good"
    assert send_with(301) == 202
    assert "300" in bad_reasons(stub)["/data/attributes/properties"]
    assert send_with(401) == 400  # the API reference's own limit (test_stub_endpoints pins its detail)


def test_arrays_over_4000_items_are_accepted_but_bad(stub):
    body = event_body(properties={"Items": list(range(4000))})
    assert post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS).status == 202
    assert stub.events()[0]["status"] == "good"
    stub.reset()
    items = [{"SKU": "a", "Tags": list(range(4001))}]
    assert post(stub.url + CLIENT_EVENTS, event_body(properties={"Items": items}), CLIENT_HEADERS).status == 202
    assert "4000 items" in bad_reasons(stub)["/data/attributes/properties/Items/0/Tags"]


def test_a_property_value_over_100_kb_is_accepted_but_bad(stub):
    small_strings = ["x" * 1000] * 110  # each string is fine; the field is 110 kB
    assert post(stub.url + CLIENT_EVENTS, event_body(properties={"Blob": small_strings}), CLIENT_HEADERS).status == 202
    assert "100 kB" in bad_reasons(stub)["/data/attributes/properties/Blob"]


# -- what the store keeps -----------------------------------------------------------------------------------

def test_the_store_keeps_the_newest_records_and_says_how_many_it_forgot():
    with StubKlaviyo(max_records=3) as stub:
        for n in range(5):
            assert post(stub.url + CLIENT_EVENTS, event_body(unique_id=f"u{n}"), CLIENT_HEADERS).status == 202
        assert [e["unique_id"] for e in stub.events()] == ["u2", "u3", "u4"]
        assert len(stub.requests()) == 3
        forgotten = {"requests": 2, "events": 2, "diagnostics": 0}
        counts = get(stub.url + "/__stub__/all").json
        assert (counts["total"], counts["good"], counts["requests"], counts["forgotten"]) == (5, 5, 5, forgotten)
        assert stub.traffic()["counts"]["forgotten"] == forgotten
        assert get(stub.url + "/__stub__/events").json["count"] == 3
        # A forgotten event still counts for Klaviyo's dedup.
        post(stub.url + CLIENT_EVENTS, event_body(unique_id="u0"), CLIENT_HEADERS)
        assert stub.events()[-1]["status"] == "duplicate"
        stub.reset()
        assert get(stub.url + "/__stub__/all").json["forgotten"] == {"requests": 0, "events": 0, "diagnostics": 0}
        stub.check()


def test_the_store_forgets_the_oldest_records_past_its_byte_budget():
    with StubKlaviyo(max_record_bytes=1_000_000) as stub:
        for n in range(10):
            body = event_body(unique_id=f"u{n}", properties={"Notes": "x" * 90_000})
            assert post(stub.url + CLIENT_EVENTS, body, CLIENT_HEADERS).status == 202
        kept = [e["unique_id"] for e in stub.events()]
        assert 0 < len(kept) < 10 and kept == [f"u{n}" for n in range(10 - len(kept), 10)]
        counts = stub.store.counts()
        assert counts["total"] == 10 and counts["forgotten"]["events"] == 10 - len(kept)
        stub.check()


def test_a_body_that_is_not_json_is_kept_as_its_beginning_only(stub):
    raw = b"{" + b"x" * (1024 * 1024) + b"}"
    assert post(stub.url + CLIENT_EVENTS, raw, CLIENT_HEADERS).status == 400
    [request] = stub.requests()
    assert request["bytes"] == len(raw)
    assert request["body"].startswith("{xxx") and len(request["body"]) < 20_000
    assert f"{len(raw)} bytes" in request["body"]


# -- who may use /__stub__/ -----------------------------------------------------------------------------------

ROUTES = sorted({tuple(route.split(" ", 1)) for route in INSPECTION_PATHS} | {
    ("OPTIONS", "/__stub__/diagnostics"), ("GET", "/__stub__/no-such-path"), ("DELETE", "/__stub__/events")})


@pytest.mark.parametrize("method, path", ROUTES)
def test_a_foreign_host_is_refused_on_every_stub_route_and_method(stub, method, path):
    post(stub.url + DIAGNOSTICS, {"type": "bad_arguments", "args": ["sarah.mason@klaviyo-demo.com"]},
         {"Content-Type": "text/plain"})
    body = b'{"type": "tracking_off"}' if method == "POST" else None
    reply = send(method, stub.url + path, body, {"Host": "rebind.attacker.example", "Content-Type": "text/plain"})
    assert reply.status == 403
    assert b"sarah.mason" not in reply.raw
    assert len(stub.diagnostics()) == 1


# -- clients that misbehave ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", [CLIENT_EVENTS, DIAGNOSTICS, "/__stub__/faults"])
def test_a_client_hanging_up_mid_body_is_no_error(stub, caplog, path):
    caplog.set_level(logging.WARNING)
    with socket.create_connection(("127.0.0.1", stub.port)) as s:
        s.sendall(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                  f"revision: 2026-07-15\r\nContent-Length: 100000\r\n\r\n{{\"data\": ".encode())
        time.sleep(0.1)
    if path == CLIENT_EVENTS:  # recorded as a request that was cut off
        [request] = stub.wait_for(lambda: [r for r in stub.requests() if r["response"]], timeout=5)
        assert request["response"]["status"] == 0
        assert "hung up" in request["response"]["body"]
    else:
        time.sleep(0.3)
    assert [r.getMessage() for r in caplog.records] == []
    stub.check()


@pytest.mark.parametrize("raw", [b"null", b"[]", b'"429"', b"5", b"{nope"])
def test_a_fault_that_is_not_a_json_object_is_a_clear_400(stub, raw):
    reply = post(stub.url + "/__stub__/faults", raw, {"Content-Type": "application/json"})
    assert reply.status == 400
    assert reply.json["error"].startswith("a fault is a JSON object")
    assert "NoneType" not in reply.json["error"] and "subscriptable" not in reply.json["error"]
    assert reply.json["example"]["kind"] == "429"


def test_a_fault_for_a_path_it_could_never_match_is_a_clear_error(stub):
    """A fault on a path no request is matched against would never fire, and a test relying on it
    would pass for nothing: refused. The onsite script's own form of a path (a trailing slash) works."""
    stub.inject_fault("429", 1, path="/client/events/")
    assert post(stub.url + CLIENT_EVENTS, event_body(), CLIENT_HEADERS).status == 429
    with pytest.raises(ValueError, match=r"^path '/client/eventz' is not an endpoint of the stand-in, so the fault "
                                         r"would never fire; give one of /client/events, /client/profiles, "):
        stub.inject_fault("429", 1, path="/client/eventz")
    with pytest.raises(ValueError, match=r"^count must be a whole number, at least 1; got '2'$"):
        stub.inject_fault("429", "2")
    reply = post(stub.url + "/__stub__/faults", {"kind": "503", "path": 5}, {"Content-Type": "application/json"})
    assert (reply.status, reply.json["error"].split(";")[0]) == (
        400, "bad fault: path 5 is not an endpoint of the stand-in, so the fault would never fire")
    assert stub._klaviyo.faults.pending() == []


def test_a_dropped_report_with_junk_fields_is_still_a_dropped_event(stub):
    """Any page may post a report: a drop whose fields are not text is still counted as a drop
    (not a stand-in error), and the record's id and time are the stand-in's."""
    report = {"type": "dropped", "metric": ["Viewed Product"], "method": {"a": 1}, "reason": 7, "source": 1,
              "id": "mine", "received_at": 5, "args": ["Viewed Product", {"$value": 9.99, "SKU": "A"}]}
    assert post(stub.url + DIAGNOSTICS, report, {"Content-Type": "text/plain"}).status == 204
    [event] = stub.events()
    shown = ("status", "endpoint", "metric", "display_name", "reasons", "value", "properties")
    assert {k: event[k] for k in shown} == {
        "status": "dropped", "endpoint": "onsite script", "metric": None, "display_name": None,
        "reasons": [{"pointer": None, "detail": None, "code": "dropped_by_onsite_script"}],
        "value": 9.99, "properties": {"SKU": "A"}}
    assert stub.store.counts()["dropped"] == 1
    [kept] = stub.diagnostics()
    assert isinstance(kept["id"], int) and kept["received_at"].endswith("Z") and kept["metric"] == ["Viewed Product"]
    assert_inspection_answers_json(stub)  # and `stub` checks no error was kept for check()


def test_the_drop_of_a_large_call_is_recorded(stub):
    """The onsite script reports a drop with the page's whole call: one Klaviyo would take (up to
    5 MB) is recorded as a dropped event, not refused for its size."""
    lines = [{"SKU": f"S{i}", "Description": "x" * 1000} for i in range(3000)]  # 3 MB of JSON
    report = {"type": "dropped", "method": "track", "metric": "Viewed Product", "reason": "never identified",
              "args": ["Viewed Product", {"ProductID": "A", "Lines": lines}]}
    assert post(stub.url + DIAGNOSTICS, report, {"Content-Type": "text/plain"}).status == 204
    [event] = stub.events(status="dropped")
    assert (event["metric"], event["properties"]["ProductID"], len(event["properties"]["Lines"])) == (
        "Viewed Product", "A", 3000)


def test_a_diagnostic_over_the_size_limit_is_413(stub):
    raw = b'{"reason": "' + b"x" * (10 * 1024 * 1024) + b'"}'
    reply = post(stub.url + DIAGNOSTICS, raw, {"Content-Type": "text/plain"})
    assert reply.status == 413
    assert reply.json["error"] == "a diagnostic is at most 10 MB"
    assert stub.diagnostics() == []


def test_head_of_a_record_list_sends_no_body(stub):
    for n in range(3):
        post(stub.url + CLIENT_EVENTS, event_body(unique_id=f"u{n}"), CLIENT_HEADERS)
    with socket.create_connection(("127.0.0.1", stub.port), timeout=10) as s:
        s.sendall(b"HEAD /__stub__/events HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        answer = b""
        while chunk := s.recv(65536):  # until the server closes: everything it sent
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200") and body == b""
    [length] = [int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    assert length == len(get(stub.url + "/__stub__/events").raw)
