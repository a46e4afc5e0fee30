"""The stand-in and Klaviyo's OpenAPI extract agree on event bodies, checked on generated bodies.

Hypothesis writes bodies for POST /client/events and /api/events: valid ones (every field of
`EventCreateQueryV2`, explicit nulls as the official SDK sends them) and near misses (one change
to a valid body: a field dropped, a wrong type, an edge value, a field the resource lacks). Each
goes to a real stand-in on loopback, and each answer is held to three rules:

* the stand-in answers 202 or 400, never an error of its own;
* judged good (202, status "good")  =>  the body validates against the extract;
* the body validates against the extract  =>  the stand-in does not refuse it with 400, except
  where the stand-in is stricter on purpose; `documented_stricter` names each such rule and where
  it is written down, and only the fields it names may be refused.

Every value of EDGES also goes through once, on both endpoints. What these checks found in the
stand-in and is not fixed yet is listed in KNOWN_DISAGREEMENTS, each pinned by a strict xfail. The
run is repeatable (derandomized, no example database) and takes a few seconds.
"""

from __future__ import annotations

import copy
import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.http_client import CLIENT_HEADERS, PUBLIC_KEY, SERVER_HEADERS, event_body, post
from tests.openapi_oracle import EXTRACT_PATH, validate_request

EXAMPLES = 200  # both endpoints together: a few seconds on this machine
ENDPOINTS = {
    "/client/events": (f"/client/events/?company_id={PUBLIC_KEY}", CLIENT_HEADERS),
    "/api/events": ("/api/events/", SERVER_HEADERS),
}
ATTRS = ("data", "attributes")
PROFILE = (*ATTRS, "profile", "data")
METRIC_ATTRS = (*ATTRS, "metric", "data", "attributes")


# -- the extract's verdict ----------------------------------------------------------------------

@lru_cache(maxsize=1)
def _spec() -> dict:
    return json.loads(EXTRACT_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _nullable_beside_ref_or_one_of() -> frozenset[str]:
    """Property names the extract declares `nullable: true` next to a `$ref` or a `oneOf`
    (`location`, `meta`, `patch_properties`, `latitude`...). OpenAPI 3.0 ignores a `$ref`'s
    siblings and the validator reads `nullable` only beside a `type`, so it refuses the null the
    extract means to allow (and the official SDK sends for an unset field)."""
    names: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for name, sub in (node.get("properties") or {}).items():
                if isinstance(sub, dict) and sub.get("nullable") and ("$ref" in sub or "oneOf" in sub):
                    names.add(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(_spec()["components"]["schemas"])
    return frozenset(names)


def _drop_declared_nulls(value: object) -> object:
    names = _nullable_beside_ref_or_one_of()
    if isinstance(value, dict):
        return {k: _drop_declared_nulls(v) for k, v in value.items() if not (v is None and k in names)}
    if isinstance(value, list):
        return [_drop_declared_nulls(v) for v in value]
    return value


def extract_errors(path: str, body: dict) -> str | None:
    """None when `body` is valid for `POST path` by the extract's own words, else its errors."""
    try:
        validate_request(path, _drop_declared_nulls(body))
    except AssertionError as refused:
        return str(refused)
    return None


# -- where the stand-in is stricter than the extract's schema, on purpose ---------------------------

IDENTIFIERS = ("email", "phone_number", "external_id", "anonymous_id", "_kx")
E164 = re.compile(r"\+[1-9][0-9]{1,14}")
EMAIL_SHAPE = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _unknown_fields(value: object, schema: dict, pointer: str, found: dict[str, str]) -> None:
    """Keys of an object the extract describes field by field (`properties`) that it does not list."""
    while "$ref" in schema:
        schema = _spec()["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    if not isinstance(value, dict) or "properties" not in schema:
        return
    for key, sub in value.items():
        here = f"{pointer}/{_token(key)}"
        if key in schema["properties"]:
            _unknown_fields(sub, schema["properties"][key], here, found)
        else:
            found[here] = "a field the resource does not know [inferred: refuse_unknown_fields, docs/stub.md]"


def documented_stricter(body: dict) -> dict[str, str]:
    """{JSON pointer: the rule} for each field of an extract-valid event body that the stand-in
    may refuse although the extract's schema allows it, with where the rule is written down."""
    found: dict[str, str] = {}
    _unknown_fields(body, {"$ref": "#/components/schemas/EventCreateQueryV2"}, "", found)
    attrs = body["data"]["attributes"]
    currency = attrs.get("value_currency")
    if isinstance(currency, str) and not re.fullmatch("[A-Za-z]{3}", currency):
        found["/data/attributes/value_currency"] = "value_currency is 3 letters [inferred: docs/stub.md]"
    when = attrs.get("time")
    if isinstance(when, str):
        moment = datetime.fromisoformat(when.replace("Z", "+00:00"))
        moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        if not datetime(1990, 1, 1, tzinfo=UTC) <= moment <= datetime.now(UTC) + timedelta(days=365):
            found["/data/attributes/time"] = "after 1990, at most a year ahead [spec: the extract's description of time]"
    properties = attrs["properties"]
    if len(properties) > 400:
        found["/data/attributes/properties"] = "at most 400 properties [spec: the extract's description of properties]"
    for key, value in properties.items():
        if isinstance(value, str) and len(value.encode()) > 100 * 1024:
            found[f"/data/attributes/properties/{_token(key)}"] = "a string is at most 100 KB [spec: the same description]"
    name = attrs["metric"]["data"]["attributes"]["name"]
    if len(name) >= 128:
        found["/data/attributes/metric/data/attributes/name"] = "< 128 characters [spec: the extract's description of name]"
    elif not name.strip():
        found["/data/attributes/metric/data/attributes/name"] = "not blank [not written down: see the report]"
    data = attrs["profile"]["data"]
    p_attrs = data["attributes"]
    here = "/data/attributes/profile/data/attributes"
    if not data.get("id") and not any(isinstance(p_attrs.get(k), str) and p_attrs[k] for k in IDENTIFIERS):
        found[here] = "a profile identifier [spec: klaviyo-wire-facts.md, 'needs at least one profile identifier']"
    if isinstance(p_attrs.get("phone_number"), str) and not E164.fullmatch(p_attrs["phone_number"]):
        found[f"{here}/phone_number"] = "E.164 [spec: the extract's description of phone_number]"
    if isinstance(p_attrs.get("email"), str) and not EMAIL_SHAPE.fullmatch(p_attrs["email"]):
        found[f"{here}/email"] = "an email address [Klaviyo's 'Invalid email address'; not in docs/stub.md]"
    return found


# -- disagreements found and not fixed yet -----------------------------------------------------------

def _at(body: object, *path: str) -> object:
    for key in path:
        body = body.get(key) if isinstance(body, dict) else None
    return body


def _odd_time(body: dict) -> bool:
    when = _at(body, *ATTRS, "time")
    return isinstance(when, str) and bool(re.fullmatch(
        r"\d{4}-\d{2}-\d{2}( \d{2}:\d{2}.*|T\d{2}:\d{2}(:\d{2}(\.\d+)?)?[+-]\d{2}(\d{2})?)", when))


def _long_fraction(body: dict) -> bool:
    when = _at(body, *ATTRS, "time")
    return isinstance(when, str) and bool(re.search(r"\.\d{10,}", when))


def _odd_patch(body: dict) -> bool:
    meta = _at(body, *PROFILE, "attributes", "meta")
    if not isinstance(meta, dict):
        return False
    patch, ids = meta.get("patch_properties"), meta.get("patch_identifiers")
    unset = _at(patch, "unset")
    return (any(not isinstance(_at(patch, k), (dict, type(None))) for k in ("append", "unappend"))
            or not (unset is None or isinstance(unset, str)
                    or (isinstance(unset, list) and all(isinstance(u, str) for u in unset)))
            or not isinstance(ids, (dict, type(None)))
            or any(not isinstance(_at(ids, k), (dict, type(None))) for k in ("append", "unappend")))


#: What this test found in harness/standin (outside the change that wrote it), left for a fix there.
#: Bodies these match are skipped by the property; test_known_disagreements_still_hold pins each
#: (strict xfail), so the fix fails that test until its entry here is removed.
KNOWN_DISAGREEMENTS = {
    "laxer-time-formats": (
        "a time with a space for the T, or an offset without a colon (+0200, +02), is judged good; the "
        "extract's date-time refuses it (wire.ISO_DATETIME is laxer than RFC 3339)",
        _odd_time, (*ATTRS, "time"), "2022-11-08 00:00:00"),
    "long-fractions": (
        "a time with more than 9 fractional digits is refused with 400; the extract accepts it",
        _long_fraction, (*ATTRS, "time"), "2022-11-08T00:00:00.1234567890Z"),
    "unchecked-profile-meta": (
        "the types inside an event's profile meta are not checked: patch_properties append/unappend/unset "
        "of the wrong type answer 500 (_store._merge fails), a wrong patch_identifiers is judged good",
        _odd_patch, (*PROFILE, "attributes", "meta"), {"patch_properties": {"append": 5}}),
}


def known_disagreement(body: dict) -> str | None:
    return next((name for name, (_, matches, _, _) in KNOWN_DISAGREEMENTS.items() if matches(body)), None)


# -- the bodies -----------------------------------------------------------------------------------

text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=10)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.floats(allow_nan=False, allow_infinity=False) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=6,
)
property_names = st.sampled_from(["ProductName", "$value", "$extra", "$event_id", "first_name", "Items"]) | text
objects = st.dictionaries(property_names, json_values, max_size=4)
emails = st.builds("{}@{}.{}".format, st.sampled_from(["sarah.mason", "a", "o'neil+tag", "ünï"]),
                   st.sampled_from(["klaviyo-demo", "example", "xn--bcher-kva"]), st.sampled_from(["com", "co.uk"]))


@st.composite
def iso_times(draw) -> str:
    when = draw(st.datetimes(min_value=datetime(1990, 1, 2), max_value=datetime(2025, 12, 31)))
    spec = draw(st.sampled_from(["seconds", "milliseconds", "microseconds", "minutes"]))
    return when.isoformat(timespec=spec) + draw(st.sampled_from(["Z", "+00:00", "-05:30", "+14:00", ""]))


def _optional(draw, target: dict, key: str, values) -> None:
    if draw(st.booleans()):
        target[key] = draw(values)


IDENTIFIER_VALUES = {"email": emails, "phone_number": st.integers(10, 10**15 - 1).map(lambda n: f"+{n}"),
                     "external_id": text.filter(bool), "anonymous_id": text.filter(bool)}
COORDINATE = st.none() | st.floats(-90, 90) | st.floats(-90, 90).map("{:.4f}".format)
LOCATION = st.fixed_dictionaries({}, optional={
    **{k: st.none() | text for k in ("address1", "city", "country", "region", "zip", "timezone", "ip")},
    "latitude": COORDINATE, "longitude": COORDINATE})
PATCH = st.fixed_dictionaries({}, optional={
    "append": st.none() | objects, "unappend": st.none() | objects, "unset": st.none() | text | st.lists(text, max_size=2)})
META = st.fixed_dictionaries({}, optional={"patch_properties": st.none() | PATCH})
OPTIONAL_PROFILE = {**{k: st.none() | text for k in ("_kx", "first_name", "last_name", "organization", "locale", "title",
                                                     "image")},
                    "location": st.none() | LOCATION, "properties": st.none() | objects, "meta": st.none() | META}
METRIC_NAMES = st.sampled_from(["Viewed Product", "Placed Order"]) | text.filter(str.strip)
OPTIONAL_EVENT = {"time": st.none() | iso_times(),
                  "value": st.none() | st.integers(-10**6, 10**6) | st.floats(-1e9, 1e9),
                  "value_currency": st.sampled_from([None, "USD", "EUR", "gbp"]),
                  "unique_id": st.none() | text, "backfill": st.none() | st.booleans()}


@st.composite
def valid_event_bodies(draw) -> dict:
    attrs: dict = {}
    for kind in draw(st.lists(st.sampled_from(sorted(IDENTIFIER_VALUES)), min_size=1, max_size=3, unique=True)):
        attrs[kind] = draw(IDENTIFIER_VALUES[kind])
    for key, values in OPTIONAL_PROFILE.items():
        _optional(draw, attrs, key, values)
    profile: dict = {"type": "profile", "attributes": attrs}
    _optional(draw, profile, "id", st.none())  # an id this stand-in issued is not known here
    metric = {"name": draw(METRIC_NAMES)}
    _optional(draw, metric, "service", st.none() | st.just("api") | text)
    event = {"properties": draw(objects), "metric": {"data": {"type": "metric", "attributes": metric}},
             "profile": {"data": profile}}
    for key, values in OPTIONAL_EVENT.items():
        _optional(draw, event, key, values)
    return {"data": {"type": "event", "attributes": event}}


#: Edge values per field: near the line the extract or the stand-in draws.
EDGES: dict[tuple[str, ...], list] = {
    ("data", "type"): ["events", "Event", None],
    (*ATTRS, "time"): ["yesterday", "2022-11-08", "2022-11-08T00:00:00.1234567Z", "2022-02-30T00:00:00Z",
                       "2022-11-08T24:00:00Z", "1989-12-31T23:59:59Z", "1990-01-01T00:00:00Z", "2999-01-01T00:00:00Z",
                       "2022-11-08T00:00:00-00:00", "", 1667865600, "2022-11-08 00:00:00", "2022-11-08T00:00:00+0200",
                       "2022-11-08T00:00:00+02", "2022-11-08T00:00:00.1234567890Z"],
    (*ATTRS, "value"): ["29.98", True, -0.0, 1e300, 10**20, [9.99]],
    (*ATTRS, "value_currency"): ["US", "usd", "USDX", "", "€UR", "U1D", 840],
    (*ATTRS, "unique_id"): [1, "", ["a"]],
    (*ATTRS, "backfill"): ["true", 0, 1],
    (*ATTRS, "properties"): [None, [], {}, {"$value": 9.99}, {f"k{i}": i for i in range(401)},
                             {f"k{i}": i for i in range(400)}, {"big": "x" * (100 * 1024 + 1)}],
    (*ATTRS, "metric", "data", "type"): ["Metric", None],
    (*METRIC_ATTRS, "name"): ["", " ", "\u00a0", "x" * 127, "x" * 128, 5, None],
    (*METRIC_ATTRS, "service"): [5, ""],
    (*PROFILE, "type"): ["profiles"],
    (*PROFILE, "id"): [5, "", "01NOSUCHPROFILE"],
    (*PROFILE, "attributes"): [{}, {"first_name": "Sarah"}, {"email": None}, {"_kx": "never.ISSUED"}, None],
    (*PROFILE, "attributes", "email"): ["not-an-email", "a@b", "", "sarah mason@klaviyo-demo.com", "a@b.c", 5],
    (*PROFILE, "attributes", "phone_number"): ["5005550006", "+0123", "+1 500 555 0006", "", "+1234567890123456"],
    (*PROFILE, "attributes", "location"): [{"latitude": "40.7128"}, {"latitude": True}, {"zip": 10017}, []],
    (*PROFILE, "attributes", "properties"): [[], "x"],
    (*PROFILE, "attributes", "meta"): [{"patch_properties": {"unset": ["a", "b"]}}, {"patch_properties": {"append": {}}},
                                          {"patch_properties": {"append": 5}}, {"patch_properties": {"unset": 5}},
                                          {"patch_identifiers": 5}, {"patch_properties": {"unappend": ["a"]}}],
}


def _paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every key path of the body's objects, outermost first."""
    found = []
    if isinstance(value, dict):
        for key, sub in value.items():
            found.append((*prefix, key))
            found += _paths(sub, (*prefix, key))
    return found


@st.composite
def near_misses(draw) -> dict:
    body = draw(valid_event_bodies())
    kind = draw(st.sampled_from(["edge", "edge", "drop", "retype", "unknown"]))
    if kind == "edge":
        path = draw(st.sampled_from(sorted(EDGES)))
        value = copy.deepcopy(draw(st.sampled_from(EDGES[path])))
    else:
        path = draw(st.sampled_from(_paths(body)))
        value = draw(json_values)
    *parents, last = path
    target = body
    for key in parents:
        target = target[key]
    if kind == "drop":
        del target[last]
    elif kind == "unknown":
        holder = target[last] if isinstance(target[last], dict) else target
        holder[draw(st.sampled_from(["uniqueid", "Value", "extra", "$value"]))] = value
    else:
        target[last] = value
    return body


event_bodies = st.one_of(valid_event_bodies(), near_misses())


# -- the property ---------------------------------------------------------------------------------

def judge(server, endpoint: str, body: dict, *, skip_known: bool = True) -> str:
    """Post `body`, hold the answer to the rules above; returns what happened, for the tally."""
    if skip_known and known_disagreement(body):
        return "known disagreement"
    route, headers = ENDPOINTS[endpoint]
    server.reset()
    reply = post(server.url + route, body, headers)
    shown = f"POST {endpoint} " + json.dumps(body, ensure_ascii=False)[:1500]
    assert reply.status in (202, 400), f"the stand-in answered {reply.status} {reply.raw[:300]!r} to {shown}"
    errors = extract_errors(endpoint, body)
    verdict = "extract refuses" if errors else "extract accepts"
    if reply.status == 202:
        [event] = server.events()
        if event["status"] == "good":
            assert errors is None, f"judged good but the extract refuses it:\n{errors}\n{shown}"
        return f"202 {event['status']}, {verdict}"
    if errors is None:
        refused = {e["source"]["pointer"]: e["detail"] for e in reply.json["errors"]}
        stricter = documented_stricter(body)
        unexplained = {p: d for p, d in refused.items() if p not in stricter}
        assert not unexplained, (f"the extract accepts it, the stand-in refuses it with 400 for {unexplained}; "
                                 f"documented stricter rules here: {stricter}\n{shown}")
    return f"400, {verdict}"


BASE = {"data": {"type": "event", "attributes": {
    "properties": {"ProductName": "Mug"}, "value": 9.99, "time": "2022-11-08T00:00:00Z",
    "metric": {"data": {"type": "metric", "attributes": {"name": "Viewed Product"}}},
    "profile": {"data": {"type": "profile", "attributes": {"email": "sarah.mason@klaviyo-demo.com",
                                                             "location": {}, "meta": {}}}}}}}


def _with(path: tuple[str, ...], value: object) -> dict:
    """BASE, a valid body, with the field at `path` set to `value`."""
    body = copy.deepcopy(BASE)
    *parents, last = path
    target = body
    for key in parents:
        target = target[key]
    target[last] = copy.deepcopy(value)
    return body


@pytest.fixture
def oracle():
    validate_request("/client/events", event_body())  # skips, loudly, when the oracle is unavailable


def test_the_stand_in_and_the_openapi_extract_agree_on_generated_event_bodies(server, oracle):
    seen: Counter = Counter()

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example])
    @given(st.sampled_from(sorted(ENDPOINTS)), event_bodies)
    def agree(endpoint: str, body: dict) -> None:
        seen[judge(server, endpoint, body)] += 1

    agree()
    # Not vacuous: each direction was exercised on many bodies.
    assert seen["202 good, extract accepts"] >= 40, seen
    assert seen["400, extract refuses"] >= 40, seen
    assert seen["400, extract accepts"] >= 5, seen  # documented stricter rules were reached


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_every_edge_value_meets_the_same_rules(server, oracle, endpoint):
    """Each value of EDGES once, in a body valid otherwise: a draw of 200 may miss some."""
    seen: Counter = Counter()
    for path, values in EDGES.items():
        for value in values:
            seen[judge(server, endpoint, _with(path, value))] += 1
    assert seen["202 good, extract accepts"] and seen["400, extract refuses"] and seen["400, extract accepts"], seen


@pytest.mark.parametrize("name", [
    pytest.param(name, marks=pytest.mark.xfail(strict=True, raises=AssertionError, reason=why))
    for name, (why, *_) in KNOWN_DISAGREEMENTS.items()])
def test_known_disagreements_still_hold(server, oracle, name):
    """Each known disagreement, on both endpoints; when one is fixed this passes, and the strict
    xfail makes that a failure: remove the entry from KNOWN_DISAGREEMENTS."""
    _, _, path, value = KNOWN_DISAGREEMENTS[name]
    for endpoint in sorted(ENDPOINTS):
        judge(server, endpoint, _with(path, value), skip_known=False)
