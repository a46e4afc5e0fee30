"""`StubKlaviyo.expect_event` as a test writer meets it, over real HTTP to a stand-in on loopback:
its signature, exact properties, and a failure message that shows what arrived, what the page
dropped or warned about, and that stops early only when the stand-in says nothing more is coming.

Events are posted as the stand-in onsite script sends them (`$use_ip`, `$is_session_activity`,
the onsite headers); drops and warnings as the onsite script and the harness post them to
`/__stub__/diagnostics` (contract B of issue 13); lint warnings come from the stand-in itself.
"""

from __future__ import annotations

import inspect
import threading
import uuid

import pytest

from klaviyo_snippets.harness.standin import StubKlaviyo
from klaviyo_snippets.harness.standin import _expect
from tests.http_client import ONSITE_HEADERS, SERVER_HEADERS, event_body, post

KEY = "XyZ123"
ONSITE_KEYS = {"$use_ip": True, "$is_session_activity": True}
MUG = {"ProductName": "Mug", "ProductID": "1111", "Price": 12.5}
KEYWORDS = ["properties", "exact", "value", "unique_id", "profile", "status", "timeout"]


def track(stub, metric="Viewed Product", properties=None, **attributes) -> int:
    """POST an event shaped as the stand-in onsite script sends it; the answer's status."""
    attributes.setdefault("unique_id", str(uuid.uuid4()))  # else two in one second are duplicates
    body = event_body(metric, properties={**(MUG if properties is None else properties), **ONSITE_KEYS},
                      **attributes)
    body["data"]["attributes"]["metric"]["data"]["attributes"]["service"] = "api"
    return post(f"{stub.url}/client/events/?company_id={KEY}", body, ONSITE_HEADERS).status


def report(stub, **diagnostic) -> None:
    """POST a diagnostic as the onsite script's diagnose() and the harness's capture do."""
    reply = post(f"{stub.url}/__stub__/diagnostics?company_id={KEY}",
                 {"page": "https://shop.example/products/mug", "time": "2026-12-03T09:00:00.000Z", **diagnostic},
                 {"Content-Type": "text/plain;charset=UTF-8"})
    assert reply.status == 204


def miss(stub, metric="Viewed Product", **expected) -> str:
    expected.setdefault("timeout", 0.05)
    with pytest.raises(AssertionError) as caught:
        stub.expect_event(metric, **expected)
    return str(caught.value)


@pytest.fixture
def idle_soon(monkeypatch, stub):
    """The stand-in counts as idle after 0.2 s of nothing new (1.5 s in use; `stub` has no identify
    debounce to wait out meanwhile): the same rule, faster."""
    monkeypatch.setattr(_expect, "IDLE_SECONDS", 0.2)
    monkeypatch.setattr(stub.settings, "identify_debounce_ms", 0)
    monkeypatch.setattr(_expect, "SEND_SECONDS", 0.1)


# -- the signature --------------------------------------------------------------------------------

def test_the_signature_names_every_keyword_and_the_docstring_explains_each():
    signature = inspect.signature(StubKlaviyo.expect_event)
    assert list(signature.parameters) == ["self", "metric", *KEYWORDS]
    assert all(signature.parameters[k].kind is inspect.Parameter.KEYWORD_ONLY for k in KEYWORDS)
    assert signature.parameters["timeout"].default == 5.0 and signature.parameters["status"].default == "good"
    doc = inspect.getdoc(StubKlaviyo.expect_event)
    for keyword in ["metric", *KEYWORDS]:
        assert f"\n{keyword} " in "\n" + doc, keyword
    assert "$use_ip, $is_session_activity" in doc


@pytest.mark.parametrize("given, meant", [
    ("propertys", "properties"), ("props", "properties"), ("uniqueId", "unique_id"), ("timout", "timeout"),
    ("name", "metric"), ("event_id", "unique_id"), ("exactly", "exact"),
])
def test_a_misspelt_keyword_is_a_type_error_naming_the_closest_and_all(stub, given, meant):
    with pytest.raises(TypeError) as caught:
        stub.expect_event("Viewed Product", **{given: 1})
    assert str(caught.value) == (
        f"expect_event() got an unexpected keyword argument {given!r}; did you mean {meant}=? "
        "It takes: metric, properties=, exact=, value=, unique_id=, profile=, status=, timeout=")


def test_an_event_property_given_as_a_keyword_points_at_properties(stub):
    with pytest.raises(TypeError, match=r"'ProductName'; an event property goes in properties=, "
                                        r"e\.g\. properties=\{'ProductName': \.\.\.\}\. It takes: metric, "):
        stub.expect_event("Viewed Product", ProductName="Mug")


def test_properties_given_by_position_say_to_name_them(stub):
    with pytest.raises(TypeError, match=r"takes 1 positional argument \(metric\) but 2 were given; "
                                        r"give the others by keyword: properties=, exact="):
        stub.expect_event("Viewed Product", {"ProductName": "Mug"})


@pytest.mark.parametrize("expected, error, words", [
    ({"properties": ["ProductName"]}, TypeError, "properties= must be a dict"),
    ({"profile": "ann@example.com"}, TypeError, "profile= must be a dict"),
    ({"status": "Good"}, ValueError, "status='Good' is not a status the stand-in gives; did you mean 'good'?"),
    ({"status": "lost"}, ValueError, "it is one of 'good', 'bad', 'duplicate', 'dropped', or None for any"),
    ({"exact": True}, TypeError, "exact=True compares the event's properties with properties=; give them"),
    ({"timeout": "5"}, TypeError, "timeout= must be a number of seconds"),
])
def test_wrong_arguments_are_clear_errors_at_once(stub, expected, error, words):
    track(stub)
    with pytest.raises(error) as caught:
        stub.expect_event("Viewed Product", **{"timeout": 0.05, **expected})
    assert words in str(caught.value)


# -- exact ----------------------------------------------------------------------------------------

def test_exact_ignores_only_the_onsite_scripts_own_keys(stub):
    assert track(stub) == 202
    event = stub.expect_event("Viewed Product", properties=MUG, exact=True)
    assert event["properties"] == {**MUG, **ONSITE_KEYS}
    message = miss(stub, properties={"ProductName": "Mug", "ProductID": "1111"}, exact=True)
    assert "     - properties.Price: not expected (exact=True), got 12.5" in message.splitlines()
    assert ("  properties  exactly {\"ProductName\": \"Mug\", \"ProductID\": \"1111\"} "
            "(besides the onsite script's $use_ip, $is_session_activity)") in message.splitlines()
    # The same expectation as a subset matches.
    assert stub.expect_event("Viewed Product", properties={"ProductName": "Mug"})["id"] == event["id"]


def test_a_dollar_key_you_list_is_compared(stub):
    assert track(stub) == 202
    assert stub.expect_event("Viewed Product", properties={**MUG, "$use_ip": True}, exact=True)
    message = miss(stub, properties={**MUG, "$is_session_activity": False}, exact=True)
    assert "     - properties.$is_session_activity: expected false, got true" in message.splitlines()
    assert "(besides the onsite script's $use_ip)" in message


def test_exact_finds_a_dollar_key_missing_from_a_server_side_event(stub):
    body = event_body("Placed Order", properties={"OrderId": "1"})
    assert post(f"{stub.url}/api/events/", body, SERVER_HEADERS).status == 202
    assert stub.expect_event("Placed Order", properties={"OrderId": "1"}, exact=True)
    message = miss(stub, "Placed Order", properties={"OrderId": "1", "$use_ip": True}, exact=True)
    assert "     - properties.$use_ip: expected true, missing" in message.splitlines()


def test_values_compare_as_json_true_is_not_one(stub):
    assert track(stub, properties={**MUG, "Quantity": True}) == 202
    assert "properties.Quantity: expected 1, got true (a boolean, not a number)" in miss(
        stub, properties={"Quantity": 1})
    assert stub.expect_event("Viewed Product", properties={"Price": 12.50, "Quantity": True})


# -- what arrived -----------------------------------------------------------------------------------

def test_a_wrong_property_name_lists_what_arrived_and_stops_once_the_stand_in_is_idle(stub, idle_soon):
    assert track(stub) == 202
    message = miss(stub, properties={"ProductNmae": "Mug", "Price": 12}, timeout=30)
    lines = message.splitlines()
    assert lines[0] == ('expected a good "Viewed Product" event at the stand-in Klaviyo; '
                        '1 "Viewed Product" event recorded (1 good), none matches')
    assert lines[1].startswith("(stopped after 0.") and lines[1].endswith(
        " s of the 30 s timeout: nothing new reached the stand-in for 0.2 s, "
        "and no request was being answered or may be retried)")
    at = lines.index("similar events received (1 of 1):")
    assert lines[at + 1:at + 5] == [
        '  #2 "Viewed Product" good (HTTP 202)',
        '     properties: ProductName "Mug", ProductID "1111", Price 12.5, $use_ip true, $is_session_activity true',
        '     - properties.ProductNmae: expected "Mug", missing (the event has ProductName)',
        "     - properties.Price: expected 12, got 12.5",
    ]


def test_the_idle_time_covers_the_onsite_scripts_identify_debounce(idle_soon):
    """A page that tracks once its identify is answered sends nothing while the debounce runs: the
    stand-in waits that long, and a request's way, before it calls itself idle."""
    with StubKlaviyo(identify_debounce_ms=600) as slow:
        assert track(slow) == 202
        message = miss(slow, properties={"ProductID": "2222"}, timeout=10)
    assert "nothing new reached the stand-in for 0.7 s, " in message.splitlines()[1]
    assert float(message.splitlines()[1].split()[2]) >= 0.7  # "(stopped after N s of ..."


def test_with_no_event_of_the_metric_it_waits_the_whole_timeout(stub, idle_soon):
    assert track(stub, "Added to Cart") == 202
    message = miss(stub, timeout=0.6)
    assert message.splitlines()[0] == ('expected a good "Viewed Product" event at the stand-in Klaviyo; '
                                       "none arrived within 0.6 s")
    assert '"Added to Cart" good (HTTP 202)' in message


def test_a_request_still_being_answered_keeps_it_waiting(stub, idle_soon):
    """The first Mug is in and the stand-in hears nothing for longer than the idle time, but the
    second request is still being answered (a slow answer): it waits, and the second one matches."""
    assert track(stub) == 202
    stub.inject_fault("slow", 1, path="/client/events", delay=0.8)
    second = threading.Thread(target=track, args=(stub, "Viewed Product", {**MUG, "ProductID": "2222"}))
    second.start()
    try:
        event = stub.expect_event("Viewed Product", properties={"ProductID": "2222"}, timeout=10)
    finally:
        second.join()
    assert event["properties"]["ProductID"] == "2222"


def test_a_throttled_request_may_be_retried_so_it_waits_the_whole_timeout(stub, idle_soon):
    assert track(stub) == 202
    stub.inject_fault("429", 1, path="/client/events")
    assert track(stub, properties={**MUG, "ProductID": "2222"}) == 429
    message = miss(stub, properties={"ProductID": "2222"}, timeout=0.8)
    assert "none arrived within 0.8 s" in message.splitlines()[0]
    assert "1 request was refused: POST /client/events/ 429" in message


def test_a_miss_says_when_the_stand_in_forgot_records():
    with StubKlaviyo(max_records=2) as small:
        for product in "123":
            assert track(small, properties={**MUG, "ProductID": product}) == 202
        message = miss(small, properties={"ProductID": "1"})
    assert ("  (the stand-in forgot its oldest records, 1 request, 1 event: its log keeps the newest "
            "(StubSettings.max_records, max_record_bytes))") in message.splitlines()


def test_long_values_are_shown_where_they_differ(stub):
    long = "x" * 300
    assert track(stub, properties={"Description": long + "A tail"}) == 202
    lines = miss(stub, properties={"Description": long + "B tail"}).splitlines()
    assert ('     - properties.Description: expected ...' + "x" * 20 + 'B tail", got ...' + "x" * 20
            + 'A tail" (they differ after character 301)') in lines


def test_a_metric_spelt_another_way_is_listed_first_with_its_properties_and_lint_warning(stub):
    for _ in range(5):
        assert track(stub, "Added to Cart") == 202
    assert track(stub, "Viewed product") == 202
    lines = miss(stub).splitlines()
    at = lines.index("similar events received (5 of 6):")
    assert lines[at + 1] == '  #12 "Viewed product" good (HTTP 202)'
    assert lines[at + 2].startswith('     properties: ProductName "Mug"')
    assert any(l.startswith("     ~ warning at /data/attributes/metric/data/attributes/name (metric_name): ")
               and "'Viewed Product'" in l for l in lines)


# -- dropped and warned -------------------------------------------------------------------------------

ONSITE_REASON = (
    '"Viewed Product" was dropped: the visitor was never identified, and Klaviyo\'s onsite script only '
    'tracks identified ("cookied") browsers; klaviyo.track() sends nothing and its Promise never resolves. '
    "Call klaviyo.identify({email: ...}) first, or turn on the account's backfill setting so events wait "
    "for an identify; this reason is long on purpose and must arrive whole, to its last word: END")


def test_drops_by_the_onsite_script_and_by_the_generated_code_are_listed_with_their_whole_reasons(stub, idle_soon):
    for sku in "ABCDEF":  # closer to the expectation than a drop: only a drop's reason says why
        assert track(stub, properties={**MUG, "SKU": sku}) == 202
    report(stub, type="dropped", method="track", metric="Viewed Product", reason=ONSITE_REASON,
           args=["Viewed Product", {"ProductName": "Mug"}])
    report(stub, type="dropped", source="generated code", metric="Viewed Product",
           reason="Viewed Product: not sent, missing ProductName", property="ProductName")
    report(stub, type="dropped", source="generated code", metric=None,
           reason="data island product is not JSON (it holds unrendered template text: {{ product | json }})",
           property=None)
    lines = miss(stub, properties={"SKU": "Z"}, timeout=10).splitlines()
    assert lines[0].endswith('; 8 "Viewed Product" events recorded (6 good, 2 dropped), none matches')
    assert lines[1].startswith("(stopped after ")
    assert "similar events received (8 of 9):" in lines
    onsite = lines.index('  #14 "Viewed Product" dropped by the onsite script')
    assert lines[onsite + 1:onsite + 4] == [
        '     properties: ProductName "Mug"',
        "     - status: expected good, got dropped",
        "     - properties.SKU: expected \"Z\", missing",
    ]
    assert lines[onsite + 4] == f"     ! {ONSITE_REASON}"
    generated = lines.index('  #16 "Viewed Product" dropped by the generated code')
    assert lines[generated + 1:generated + 4] == [
        "     - status: expected good, got dropped",
        "     - properties.SKU: expected \"Z\", missing",
        "     ! Viewed Product: not sent, missing ProductName",
    ]
    island = lines.index('  #18 "(no metric)" dropped by the generated code')
    assert lines[island + 4] == ("     ! data island product is not JSON "
                                 "(it holds unrendered template text: {{ product | json }})")
    # Who dropped each is in its record (verify reports it from there).
    assert [(e["endpoint"], e["reasons"][0]["code"]) for e in stub.events(status="dropped")] == [
        ("onsite script", "dropped_by_onsite_script"), ("generated code", "dropped_by_generated_code"),
        ("generated code", "dropped_by_generated_code")]


def test_the_generated_codes_warnings_about_the_metric_are_listed_whole(stub):
    assert track(stub, properties={"ProductName": "Mug", "ProductID": "1111"}) == 202
    wrong_type = ('Price has the wrong type: expected a number, got "1,299.00" (a string); '
                  "Viewed Product was sent without Price")
    report(stub, type="warning", source="generated code", metric="Viewed Product", reason=wrong_type,
           property="Price")
    report(stub, type="warning", source="generated code", metric="Added to Cart",
           reason="the trigger selector 'button[name=add' is not valid CSS, so Added to Cart is never sent",
           property=None)
    report(stub, type="unknown_method", method="trackThing", metric=None, reason="klaviyo.trackThing is not a method")
    lines = miss(stub, properties={"Price": 1299.0}).splitlines()
    at = lines.index('warnings about "Viewed Product" (it was sent without something, or a trigger cannot work):')
    assert lines[at + 1] == f"  warning (generated code): {wrong_type}"
    at = lines.index("the page reported:")
    assert lines[at + 1:at + 3] == [
        "  warning (generated code, \"Added to Cart\"): the trigger selector 'button[name=add' is not valid "
        "CSS, so Added to Cart is never sent",
        "  unknown_method (onsite script, no event): klaviyo.trackThing is not a method",
    ]


def test_the_stand_ins_lint_warnings_on_the_metrics_events_are_listed_with_the_fix(stub):
    for sku in "ABCDEF":
        assert track(stub, properties={**MUG, "SKU": sku}) == 202
    assert track(stub, properties={**MUG, "ImageURL": "/images/mug.png"}) == 202
    [warned] = [e for e in stub.events() if e.get("warnings")]
    [warning] = warned["warnings"]
    assert warning["pointer"] == "/data/attributes/properties/ImageURL"
    lines = miss(stub, properties={"SKU": "Z"}).splitlines()
    assert f'  #{warned["id"]} "Viewed Product" good (HTTP 202)' in lines  # shown although 6 are as close
    assert (f"     ~ warning at /data/attributes/properties/ImageURL ({warning['code']}): "
            f"{warning['detail'].rstrip('.')}. Fix: {warning['fix']}") in lines
