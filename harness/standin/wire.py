"""Klaviyo's wire rules, in one place: endpoints, limits, body validation and error documents.

Every endpoint of the stand-in uses this module, so a rule changes in one spot. The rules come
from `klaviyo-wire-facts.md`; choices no source confirms are marked [inferred] and documented
in docs/stub.md. Validation splits problems in two, as Klaviyo does:

* *rejections*: the request is refused at once (400 with JSON:API errors);
* *late problems*: Klaviyo answers 202 and the data is lost or useless later (a string `value`
  counts no revenue). The stand-in answers 202 too and records the event as bad, with reasons.

Every body is read with `parse_json`, which never hands a recursive parser a body nested deeper
than `MAX_JSON_DEPTH` and marks numbers JSON cannot carry (NaN, Infinity, 1e400), so nothing
that is not plain JSON gets past it.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from klaviyo_snippets.generator import keys

# Klaviyo's ingestion limits. Its "Rate limits and error handling" page [docs] and the API
# reference (the OpenAPI extract) [spec] disagree on some; as klaviyo-wire-facts.md says, the
# extract decides what is refused with 400, and a stricter documented limit is a `bad` reason
# (accepted with 202, then at risk). docs/stub.md lists each with its source.
MAX_BODY_BYTES = 5 * 1024 * 1024  # [docs][spec] 5 MB payload (read as MiB [inferred]): 413
MAX_PROPERTIES = 400  # [spec] "must not exceed 400 properties": 400
MAX_PROPERTIES_INGESTED = 300  # [docs] "Max number of event properties per data packet": bad
MAX_STRING_BYTES = 100 * 1024  # [spec] "each string cannot be larger than 100 KB": 400
MAX_FIELD_BYTES = 100 * 1024  # [docs] "Max size of any field" (a property's value, as JSON): bad
MAX_ARRAY_ITEMS = 4000  # [docs] "Max number of items in arrays": bad
MAX_NESTING = 10  # [docs] "Max levels of nested objects" (objects and arrays in properties): bad
# The stand-in's own guard, well above what Klaviyo accepts: a body nested deeper is refused with
# 400 before it is parsed, so no parser, copy or encoder ever recurses without bound.
MAX_JSON_DEPTH = 64
MAX_METRIC_NAME = 127  # "< 128 characters"
MAX_BULK_EVENTS = 1000

CORS_ALLOW_HEADERS = "content-type, revision, x-klaviyo-onsite, x-klaviyo-js-url, accept, authorization"

E164 = re.compile(r"^\+[1-9]\d{1,14}\Z")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9_-]+)?\Z")
COMPANY_ID = keys.PUBLIC_KEY  # use fullmatch; the key shapes' one home is generator.keys
PRIVATE_KEY = keys.PRIVATE_KEY
ISO_DATETIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?\Z"
)
# [inferred] ISO 4217 codes are upper case; the spec says only "string". Any case is accepted.
CURRENCY = re.compile(r"^[A-Za-z]{3}\Z")
EARLIEST_EVENT_TIME = datetime(1990, 1, 1, tzinfo=UTC)  # "after the year 1990" [spec]
LATEST_EVENT_AHEAD = timedelta(days=365)  # "up to 1 year in the future" [spec]


@dataclass(frozen=True)
class Endpoint:
    path: str
    body: str  # which validator: "event", "profile", "subscription", "bulk"
    auth: str  # "public" (company_id query) or "private" (Authorization header)
    burst_per_second: int
    steady_per_minute: int


# Klaviyo's limits per endpoint [spec]; the stand-in enforces them only when switched on.
ENDPOINTS: dict[str, Endpoint] = {
    e.path: e
    for e in (
        Endpoint("/client/events", "event", "public", 350, 3500),
        Endpoint("/client/profiles", "profile", "public", 350, 3500),
        Endpoint("/client/subscriptions", "subscription", "public", 350, 750),
        Endpoint("/client/event-bulk-create", "bulk", "public", 10, 150),
        Endpoint("/api/events", "event", "private", 350, 3500),
        Endpoint("/api/catalog-items", "catalog-item", "private", 75, 750),
        Endpoint("/api/catalog-item-bulk-create-jobs", "catalog-job", "private", 75, 750),
    )
}
GONE_PATHS = ("/api/track", "/api/identify")

PROFILE_IDENTIFIERS = ("email", "phone_number", "external_id", "anonymous_id", "_kx")
PROFILE_STRING_ATTRIBUTES = (
    *PROFILE_IDENTIFIERS,
    "first_name",
    "last_name",
    "organization",
    "locale",
    "title",
    "image",
)
LOCATION_KEYS = (
    "address1", "address2", "city", "country", "latitude", "longitude", "region", "zip",
    "timezone", "ip",
)
EVENT_ATTRIBUTES = (
    "properties", "time", "value", "value_currency", "unique_id", "backfill", "metric", "profile",
)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: where (JSON pointer) and what."""

    pointer: str
    detail: str
    status: int = 400
    code: str = "invalid"

    def to_reason(self) -> dict:
        return {"pointer": self.pointer, "detail": self.detail, "code": self.code}


TITLES = {
    400: "Invalid input.",
    401: "Authentication credentials were not provided or are invalid.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Conflict.",
    410: "This endpoint has been retired.",
    413: "Request entity too large.",
    415: "Unsupported media type.",
    429: "Request was throttled.",
    500: "A server error occurred.",
}


def error_document(problems: list[Problem], *, parameter: str | None = None) -> dict:
    """A JSON:API error document, as Klaviyo sends it."""
    errors = []
    for p in problems:
        source = {"parameter": parameter} if parameter else {"pointer": p.pointer}
        errors.append(
            {
                "id": str(uuid.uuid4()),
                "status": p.status,
                "code": p.code,
                "title": TITLES.get(p.status, "Error."),
                "detail": p.detail,
                "source": source,
            }
        )
    return {"errors": errors}


@dataclass
class Findings:
    """The outcome of validating one body: rejections (400) and late problems (202, bad)."""

    rejections: list[Problem] = field(default_factory=list)
    late: list[Problem] = field(default_factory=list)
    body_bytes: int | None = None  # the raw body's size, when known: lets size checks stop early
    refuse_unknown: bool = True  # [inferred] refuse fields the resource does not know (StubSettings)

    def reject(self, pointer: str, detail: str) -> None:
        self.rejections.append(Problem(pointer, detail))

    def warn(self, pointer: str, detail: str) -> None:
        self.late.append(Problem(pointer, detail, status=202, code="accepted_but_lost"))


_JSON_TYPES = {dict: "object", list: "array", str: "string", int: "number", float: "number", bool: "boolean",
               type(None): "null"}


def json_type(value: object) -> str:
    known = _JSON_TYPES.get(type(value))  # the hot path: a parsed body holds only these types
    if known is not None:
        return known
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _expect(found: Findings, value: object, pointer: str, *types: str) -> bool:
    actual = json_type(value)
    if actual in types:
        return True
    found.reject(pointer, f"must be {' or '.join(types)}, got {actual}")
    return False


def _object_at(found: Findings, parent: dict, key: str, pointer: str, *, required: bool) -> dict | None:
    """The object at parent[key], recording a rejection when it is missing or not an object."""
    here = f"{pointer}/{key}"
    if key not in parent or parent[key] is None:
        if required:
            found.reject(here, f"'{key}' is a required field")
        return None
    return parent[key] if _expect(found, parent[key], here, "object") else None


def _resource(found: Findings, parent: dict, pointer: str, type_name: str) -> dict | None:
    """Checks `{"data": {"type": type_name, "attributes": {...}}}` under parent; returns data."""
    data = _object_at(found, parent, "data", pointer, required=True)
    if data is None:
        return None
    here = f"{pointer}/data"
    if data.get("type") != type_name:
        found.reject(f"{here}/type", f"must be '{type_name}', got {shown(data.get('type'))}")
    return data


def _unknown_keys(found: Findings, obj: dict, allowed: tuple[str, ...] | frozenset[str], pointer: str,
                  what: str) -> None:
    # [inferred] Klaviyo rejects fields its resource doesn't know; catching a misspelt
    # `unique_id` here beats discovering later that dedup never happened.
    if not found.refuse_unknown:
        return
    for key in obj:
        if key not in allowed:
            found.reject(f"{pointer}/{escape_pointer(str(key))}",
                         f"{shown(key)} is not a valid field for the resource '{what}'")


@functools.lru_cache(maxsize=256)  # a client sends one or two revisions; strptime is slow
def valid_revision(text: str) -> bool:
    """`YYYY-MM-DD[.suffix]` naming a real date."""
    if not REVISION.match(text):
        return False
    try:
        datetime.strptime(text[:10], "%Y-%m-%d")
    except ValueError:
        return False
    return True


def parse_datetime(value: str) -> datetime:
    """An ISO 8601 date-time as an aware UTC datetime; one without an offset is read as UTC
    [inferred]. Raises ValueError for text that is not one."""
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def check_datetime(found: Findings, value: object, pointer: str, *, event_time: bool = False) -> None:
    """A date-time field; an event's `time` must also be after 1990 and at most a year ahead."""
    if value is None:
        return
    if not isinstance(value, str) or not ISO_DATETIME.match(value):
        found.reject(pointer, f"must be an ISO 8601 date-time such as 2023-10-15T00:00:00Z, got {shown(value)}")
        return
    try:
        when = parse_datetime(value)
    except ValueError:
        found.reject(pointer, f"is not a real date-time: {shown(value)}")
        return
    if event_time and not EARLIEST_EVENT_TIME <= when <= datetime.now(UTC) + LATEST_EVENT_AHEAD:
        found.reject(pointer, f"The time must be after the year 1990 and can only be up to 1 year in the future, "
                              f"got {shown(value)}")


def _check_properties(found: Findings, props: dict, pointer: str) -> None:
    """An event's `properties` against Klaviyo's ingestion limits (see MAX_PROPERTIES and below)."""
    if len(props) > MAX_PROPERTIES:
        found.reject(pointer, f"has {len(props)} keys; at most {MAX_PROPERTIES} are allowed")
    elif len(props) > MAX_PROPERTIES_INGESTED:
        found.warn(pointer, f"has {len(props)} properties; Klaviyo's ingestion limits take at most "
                            f"{MAX_PROPERTIES_INGESTED} per event (the API reference allows {MAX_PROPERTIES})")
    # No string or field can be larger than the whole body: small bodies skip the size checks.
    large = found.body_bytes is None or found.body_bytes > min(MAX_STRING_BYTES, MAX_FIELD_BYTES)
    for key, value in props.items():
        here = f"{pointer}/{escape_pointer(str(key))}"
        if isinstance(value, (dict, list)):
            _check_property_value(found, value, here, large)
            as_json = json.dumps(value, ensure_ascii=False, separators=(",", ":")) if large else ""
            if len(as_json.encode("utf-8", "surrogatepass")) > MAX_FIELD_BYTES:
                found.warn(here, f"is larger than {MAX_FIELD_BYTES // 1024} kB as JSON; Klaviyo's ingestion limits "
                                 f"allow {MAX_FIELD_BYTES // 1024} kB per field")
        elif large and isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES:
            found.reject(here, f"string is longer than {MAX_STRING_BYTES // 1024} KB")


def _check_property_value(found: Findings, value: dict | list, pointer: str, large: bool) -> None:
    """Inside one property's value: arrays of at most 4000 items, at most 10 levels of objects and
    arrays (the value itself is level 1; reported once, at the first one too deep), strings of at
    most 100 KB. A loop, not recursion (and parse_json bounds the depth anyway)."""
    too_deep_seen = False
    stack = [(value, pointer, 1)]
    while stack:
        item, here, level = stack.pop()
        if level > MAX_NESTING and not too_deep_seen:
            too_deep_seen = True
            found.warn(here, f"is nested {level} levels deep in properties; Klaviyo's ingestion limits allow "
                             f"{MAX_NESTING} levels of nested objects")
        if isinstance(item, list) and len(item) > MAX_ARRAY_ITEMS:
            found.warn(here, f"has {len(item)} items; Klaviyo's ingestion limits allow {MAX_ARRAY_ITEMS} items "
                             "per array")
        children = item.items() if isinstance(item, dict) else enumerate(item)
        for key, child in reversed(list(children)):
            if isinstance(child, (dict, list)):
                stack.append((child, f"{here}/{escape_pointer(str(key))}", level + 1))
            elif large and isinstance(child, str) and len(child.encode("utf-8", "surrogatepass")) > MAX_STRING_BYTES:
                found.reject(f"{here}/{escape_pointer(str(key))}",
                             f"string is longer than {MAX_STRING_BYTES // 1024} KB")


def escape_pointer(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


def shown(value: object, limit: int = 80) -> str:
    """A value as a detail quotes it: its repr, clipped (a 4 MB string is not echoed back)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 3]}..."


# -- reading a body as JSON ------------------------------------------------------------------------

class NonFinite(str):
    """A number JSON cannot carry (NaN, Infinity, 1e400), kept as the text it was sent as."""


_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_BRACKETS = bytes(sorted(set(range(256)) - set(b"[]{}")))
_BRACKET_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")  # +1 and -1 as signed bytes
_CONSTANTS = ("NaN", "Infinity", "-Infinity")  # what Python's json reads beyond JSON


def json_too_deep(raw: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether `raw` opens more than `limit` arrays and objects inside each other, found without
    parsing: at once when the body has few brackets; else strings are cut out, the brackets left
    become steps of +1 and -1, and the deepest running sum is the depth (all in C loops)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    steps = _JSON_STRING.sub(b"", raw).translate(None, _NOT_BRACKETS).translate(_BRACKET_STEPS)
    return max(itertools.accumulate(memoryview(steps).cast("b")), default=0) > limit


def parse_json(raw: bytes) -> tuple[object, list[Problem]]:
    """A request body as JSON: (document, []) or (document or None, what is wrong with it).

    Refused as malformed (document None): an empty body, one nested deeper than MAX_JSON_DEPTH
    (never parsed), text that is not UTF-8, and anything `json` cannot read. A number JSON cannot
    carry (NaN, Infinity, or one too large for a float such as 1e400) is a problem with a pointer
    to it; the document then holds a `NonFinite` (its text) in its place, never a float.
    """
    if not raw:
        return None, [Problem("", "Malformed JSON body: the body is empty")]
    if json_too_deep(raw):
        return None, [Problem("", f"Malformed JSON body: arrays and objects are nested deeper than {MAX_JSON_DEPTH} "
                                  f"levels (Klaviyo allows {MAX_NESTING} levels in event properties)")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [Problem("", f"Malformed JSON body: not UTF-8 ({exc.reason} at byte {exc.start})")]
    odd: list[str] = []

    def not_finite(token: str) -> NonFinite:
        odd.append(token)
        return NonFinite(token)

    def number(token: str) -> float | NonFinite:
        value = float(token)
        return value if math.isfinite(value) else not_finite(token)

    try:
        document = json.loads(text, parse_constant=not_finite, parse_float=number)
    except ValueError as exc:
        return None, [Problem("", f"Malformed JSON body: {exc}")]
    except RecursionError:  # not reached (json_too_deep sees what the parser would); never a crash
        return None, [Problem("", "Malformed JSON body: arrays and objects are nested too deep")]
    if not odd:
        return document, []
    return document, [
        Problem(pointer, f"{value} is not a JSON number: numbers must be finite" if value in _CONSTANTS
                else f"{shown(str(value))} is too large for a number: numbers must be finite")
        for pointer, value in _non_finite(document)
    ]


def _non_finite(document: object) -> list[tuple[str, NonFinite]]:
    """(pointer, value) for each NonFinite in a parsed document, in document order."""
    found, stack = [], [("", document)]
    while stack:
        pointer, value = stack.pop()
        if isinstance(value, NonFinite):
            found.append((pointer, value))
        elif isinstance(value, dict):
            stack.extend((f"{pointer}/{escape_pointer(k)}", v) for k, v in reversed(value.items()))
        elif isinstance(value, list):
            stack.extend((f"{pointer}/{i}", v) for i, v in reversed(list(enumerate(value))))
    return found


@functools.lru_cache(maxsize=16)  # a handful of (identifiers, extra) pairs; on every event's path
def _profile_fields(identifiers: tuple[str, ...], extra: tuple[str, ...]) -> frozenset[str]:
    common = (a for a in PROFILE_STRING_ATTRIBUTES if a in identifiers or a not in PROFILE_IDENTIFIERS)
    return frozenset((*common, "location", "properties", *extra))


def check_profile_attributes(
    found: Findings, attrs: dict, pointer: str, *, extra: tuple[str, ...] = ("meta",),
    identifiers: tuple[str, ...] = PROFILE_IDENTIFIERS,
) -> None:
    """A profile's attributes. `extra`: what the resource allows beside the common ones (an
    event's profile has `meta` here; /client/profiles has it beside `attributes`; a
    subscription's profile has `subscriptions`)."""
    _unknown_keys(found, attrs, _profile_fields(identifiers, extra), pointer, "profile")
    for key in PROFILE_STRING_ATTRIBUTES:
        if attrs.get(key) is not None:
            _expect(found, attrs[key], f"{pointer}/{key}", "string")
    email = attrs.get("email")
    if isinstance(email, str) and not EMAIL.match(email):
        found.reject(f"{pointer}/email", f"Invalid email address: {shown(email)}")
    phone = attrs.get("phone_number")
    if isinstance(phone, str) and not E164.match(phone):
        found.reject(
            f"{pointer}/phone_number",
            f"Invalid phone number format (E.164 expected, e.g. +15005550006): {shown(phone)}",
        )
    location = _object_at(found, attrs, "location", pointer, required=False)
    if location is not None:
        _unknown_keys(found, location, LOCATION_KEYS, f"{pointer}/location", "location")
        for key, value in location.items():
            kinds = ("string", "number", "null") if key in ("latitude", "longitude") else ("string", "null")
            _expect(found, value, f"{pointer}/location/{key}", *kinds)
    _object_at(found, attrs, "properties", pointer, required=False)
    if "meta" in extra:
        check_profile_meta(found, attrs, pointer)


def check_profile_meta(found: Findings, parent: dict, pointer: str) -> None:
    meta = _object_at(found, parent, "meta", pointer, required=False)
    if meta is not None:
        _unknown_keys(found, meta, ("patch_properties", "patch_identifiers"), f"{pointer}/meta", "meta")
        patch = _object_at(found, meta, "patch_properties", f"{pointer}/meta", required=False)
        if patch is not None:
            _unknown_keys(found, patch, ("append", "unappend", "unset"), f"{pointer}/meta/patch_properties", "patch_properties")


def profile_identifiers(data: dict) -> dict:
    """The identifiers a profile resource carries (its `id` included)."""
    attrs = data.get("attributes") or {}
    found = {k: attrs[k] for k in PROFILE_IDENTIFIERS if isinstance(attrs.get(k), str) and attrs[k]}
    if isinstance(data.get("id"), str) and data["id"]:
        found["id"] = data["id"]
    return found


def _check_profile_resource(found: Findings, parent: dict, pointer: str, *, need_identifier: bool,
                            onsite_profile: bool = False) -> None:
    """A profile resource; `onsite_profile`: the body of /client/profiles, whose `meta` sits beside
    `attributes` (`OnsiteProfileCreateQueryResourceObject`), not inside them as in an event."""
    data = _resource(found, parent, pointer, "profile")
    if data is None:
        return
    here = f"{pointer}/data"
    if onsite_profile:
        _unknown_keys(found, data, ("type", "id", "attributes", "meta"), here, "profile")
        check_profile_meta(found, data, here)
    if data.get("id") is not None:
        _expect(found, data["id"], f"{here}/id", "string")
    attrs = _object_at(found, data, "attributes", here, required=True)
    if attrs is None:
        return
    check_profile_attributes(found, attrs, f"{here}/attributes", extra=() if onsite_profile else ("meta",))
    if need_identifier and not profile_identifiers(data):
        found.reject(
            f"{here}/attributes",
            "The profile needs at least one identifier: id, email, phone_number, external_id, anonymous_id or _kx",
        )


def _check_event_attributes(found: Findings, attrs: dict, pointer: str, *, with_profile: bool) -> None:
    allowed = EVENT_ATTRIBUTES if with_profile else tuple(a for a in EVENT_ATTRIBUTES if a != "profile")
    _unknown_keys(found, attrs, allowed, pointer, "event")
    props = _object_at(found, attrs, "properties", pointer, required=True)
    if props is not None:
        _check_properties(found, props, f"{pointer}/properties")
        if "$value" in props:
            found.warn(
                f"{pointer}/properties/$value",
                "'$value' inside properties is not revenue on this API: send it as attributes.value",
            )
    check_datetime(found, attrs.get("time"), f"{pointer}/time", event_time=True)
    value = attrs.get("value")
    if isinstance(value, str):
        found.warn(
            f"{pointer}/value",
            f"value is the string {shown(value)}: Klaviyo accepts it but counts no revenue; send a number",
        )
    elif value is not None:
        _expect(found, value, f"{pointer}/value", "number")
    currency = attrs.get("value_currency")
    if currency is not None and (not isinstance(currency, str) or not CURRENCY.match(currency)):
        found.reject(f"{pointer}/value_currency", f"must be a 3-letter ISO 4217 code such as USD, got {shown(currency)}")
    if attrs.get("unique_id") is not None:
        _expect(found, attrs["unique_id"], f"{pointer}/unique_id", "string")
    if attrs.get("backfill") is not None:
        _expect(found, attrs["backfill"], f"{pointer}/backfill", "boolean")
    metric = _object_at(found, attrs, "metric", pointer, required=True)
    if metric is not None:
        data = _resource(found, metric, f"{pointer}/metric", "metric")
        if data is not None:
            m_attrs = _object_at(found, data, "attributes", f"{pointer}/metric/data", required=True)
            if m_attrs is not None:
                name_ptr = f"{pointer}/metric/data/attributes/name"
                name = m_attrs.get("name")
                if name is None:
                    found.reject(name_ptr, "'name' is a required field")
                elif _expect(found, name, name_ptr, "string"):
                    if not name.strip():
                        found.reject(name_ptr, "metric name must not be blank")
                    elif len(name) > MAX_METRIC_NAME:
                        found.reject(name_ptr, f"metric name must be shorter than 128 characters ({len(name)} given)")
                if m_attrs.get("service") is not None:
                    _expect(found, m_attrs["service"], f"{pointer}/metric/data/attributes/service", "string")
    if with_profile:
        profile = _object_at(found, attrs, "profile", pointer, required=True)
        if profile is not None:
            _check_profile_resource(found, profile, f"{pointer}/profile", need_identifier=True)


def validate_event(body: object, body_bytes: int | None = None, *, refuse_unknown: bool = True) -> Findings:
    """`EventCreateQueryV2`: POST /client/events and /api/events."""
    found = Findings(body_bytes=body_bytes, refuse_unknown=refuse_unknown)
    if not _expect(found, body, "", "object"):
        return found
    data = _resource(found, body, "", "event")
    if data is not None:
        attrs = _object_at(found, data, "attributes", "/data", required=True)
        if attrs is not None:
            _check_event_attributes(found, attrs, "/data/attributes", with_profile=True)
    return found


def validate_profile(body: object, body_bytes: int | None = None, *, refuse_unknown: bool = True) -> Findings:
    """`OnsiteProfileCreateQuery`: POST /client/profiles (identify)."""
    found = Findings(body_bytes=body_bytes, refuse_unknown=refuse_unknown)
    if not _expect(found, body, "", "object"):
        return found
    _check_profile_resource(found, body, "", need_identifier=True, onsite_profile=True)
    return found


def validate_subscription(body: object, body_bytes: int | None = None, *, refuse_unknown: bool = True) -> Findings:
    """`OnsiteSubscriptionCreateQuery`: POST /client/subscriptions (needs relationships.list)."""
    found = Findings(body_bytes=body_bytes, refuse_unknown=refuse_unknown)
    if not _expect(found, body, "", "object"):
        return found
    data = _resource(found, body, "", "subscription")
    if data is None:
        return found
    attrs = _object_at(found, data, "attributes", "/data", required=True)
    if attrs is not None:
        profile = _object_at(found, attrs, "profile", "/data/attributes", required=True)
        if profile is not None:
            p_data = _resource(found, profile, "/data/attributes/profile", "profile")
            if p_data is not None:
                here = "/data/attributes/profile/data/attributes"
                p_attrs = _object_at(found, p_data, "attributes", "/data/attributes/profile/data", required=True)
                if p_attrs is not None:
                    # `ProfileUpsertQueryWithSubscriptionsResourceObject`: no anonymous_id, no meta.
                    check_profile_attributes(found, p_attrs, here, extra=("subscriptions",),
                                             identifiers=("email", "phone_number", "external_id", "_kx"))
                    if not any(isinstance(p_attrs.get(k), str) and p_attrs[k] for k in ("email", "phone_number")):
                        found.reject(here, "One of either `email` or `phone_number` must be provided.")
                    _check_consents(found, p_attrs.get("subscriptions"), f"{here}/subscriptions")
    rel = _object_at(found, data, "relationships", "/data", required=True)
    if rel is not None:
        lst = _object_at(found, rel, "list", "/data/relationships", required=True)
        if lst is not None:
            l_data = _resource(found, lst, "/data/relationships/list", "list")
            if l_data is not None and not isinstance(l_data.get("id"), str):
                found.reject("/data/relationships/list/data/id", "the list id is required (a string)")
    return found


def _check_consents(found: Findings, value: object, pointer: str) -> None:
    """Every `consent` under a profile's `subscriptions` must be "SUBSCRIBED" [spec]."""
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{pointer}/{escape_pointer(str(key))}"
            if key == "consent" and item != "SUBSCRIBED":
                found.reject(here, f"consent must be \"SUBSCRIBED\" (the only value this endpoint supports), got {shown(item)}")
            else:
                _check_consents(found, item, here)


def validate_bulk(body: object, body_bytes: int | None = None, *, refuse_unknown: bool = True) -> Findings:
    """`EventsBulkCreateQuery`: POST /client/event-bulk-create (one profile, many events)."""
    found = Findings(body_bytes=body_bytes, refuse_unknown=refuse_unknown)
    if not _expect(found, body, "", "object"):
        return found
    data = _resource(found, body, "", "event-bulk-create")
    if data is None:
        return found
    attrs = _object_at(found, data, "attributes", "/data", required=True)
    if attrs is None:
        return found
    profile = _object_at(found, attrs, "profile", "/data/attributes", required=True)
    if profile is not None:
        _check_profile_resource(found, profile, "/data/attributes/profile", need_identifier=True)
    events = _object_at(found, attrs, "events", "/data/attributes", required=True)
    if events is not None:
        items = events.get("data")
        if _expect(found, items, "/data/attributes/events/data", "array"):
            if len(items) > MAX_BULK_EVENTS:
                found.reject("/data/attributes/events/data", f"at most {MAX_BULK_EVENTS} events per request")
            for i, item in enumerate(items):
                ptr = f"/data/attributes/events/data/{i}"
                if not _expect(found, item, ptr, "object"):
                    continue
                if item.get("type") != "event":
                    found.reject(f"{ptr}/type", f"must be 'event', got {shown(item.get('type'))}")
                e_attrs = _object_at(found, item, "attributes", ptr, required=True)
                if e_attrs is not None:
                    _check_event_attributes(found, e_attrs, f"{ptr}/attributes", with_profile=False)
    return found


CATALOG_ITEM_ATTRIBUTES = (
    "external_id", "integration_type", "title", "description", "price", "catalog_type", "url",
    "image_full_url", "image_thumbnail_url", "images", "custom_metadata", "published",
)
MAX_CATALOG_JOB_ITEMS = 100
MAX_CUSTOM_METADATA_BYTES = 100 * 1024


def _check_catalog_item(found: Findings, item: object, pointer: str) -> None:
    if not _expect(found, item, pointer, "object"):
        return
    if item.get("type") != "catalog-item":
        found.reject(f"{pointer}/type", f"must be 'catalog-item', got {shown(item.get('type'))}")
    attrs = _object_at(found, item, "attributes", pointer, required=True)
    if attrs is None:
        return
    here = f"{pointer}/attributes"
    _unknown_keys(found, attrs, CATALOG_ITEM_ATTRIBUTES, here, "catalog-item")
    for key in ("external_id", "title", "description", "url"):
        if attrs.get(key) is None:
            found.reject(f"{here}/{key}", f"'{key}' is a required field")
        elif _expect(found, attrs[key], f"{here}/{key}", "string") and not attrs[key].strip():
            found.reject(f"{here}/{key}", f"'{key}' must not be blank")
    for key in ("image_full_url", "image_thumbnail_url", "catalog_type"):
        if attrs.get(key) is not None:
            _expect(found, attrs[key], f"{here}/{key}", "string")
    if attrs.get("integration_type") not in (None, "$custom"):
        found.reject(f"{here}/integration_type", "must be '$custom'")
    if attrs.get("price") is not None:
        _expect(found, attrs["price"], f"{here}/price", "number")
    if attrs.get("published") is not None:
        _expect(found, attrs["published"], f"{here}/published", "boolean")
    if attrs.get("images") is not None and _expect(found, attrs["images"], f"{here}/images", "array"):
        for i, url in enumerate(attrs["images"]):
            _expect(found, url, f"{here}/images/{i}", "string")
    meta = _object_at(found, attrs, "custom_metadata", here, required=False)
    if meta is not None:
        if len(json.dumps(meta, separators=(",", ":"), ensure_ascii=False).encode()) > MAX_CUSTOM_METADATA_BYTES:
            found.reject(f"{here}/custom_metadata", "custom_metadata is larger than 100 kB")
        # "Flat JSON blob" [spec]: no object inside; a list of plain values is allowed [inferred].
        for key, value in meta.items():
            if isinstance(value, dict) or (isinstance(value, list) and any(isinstance(v, (dict, list)) for v in value)):
                found.reject(f"{here}/custom_metadata/{escape_pointer(key)}",
                             "custom_metadata must be flat: a value may be text, a number, a boolean or a list of those")
    rel = _object_at(found, item, "relationships", pointer, required=False)
    if rel is not None:
        cats = _object_at(found, rel, "categories", f"{pointer}/relationships", required=False)
        if cats is not None and _expect(found, cats.get("data"), f"{pointer}/relationships/categories/data", "array"):
            for i, cat in enumerate(cats["data"]):
                ptr = f"{pointer}/relationships/categories/data/{i}"
                if not isinstance(cat, dict) or cat.get("type") != "catalog-category" or not isinstance(cat.get("id"), str):
                    found.reject(ptr, "each category is {\"type\": \"catalog-category\", \"id\": \"...\"}")


def validate_catalog_item(body: object, body_bytes: int | None = None, *, refuse_unknown: bool = True) -> Findings:
    """`CatalogItemCreateQuery`: POST /api/catalog-items."""
    found = Findings(body_bytes=body_bytes, refuse_unknown=refuse_unknown)
    if _expect(found, body, "", "object"):
        if "data" not in body:
            found.reject("/data", "'data' is a required field")
        else:
            _check_catalog_item(found, body["data"], "/data")
    return found


def validate_catalog_job(body: object, body_bytes: int | None = None, *, refuse_unknown: bool = True) -> Findings:
    """`CatalogItemCreateJobCreateQuery`: POST /api/catalog-item-bulk-create-jobs (<= 100 items)."""
    found = Findings(body_bytes=body_bytes, refuse_unknown=refuse_unknown)
    if not _expect(found, body, "", "object"):
        return found
    data = _resource(found, body, "", "catalog-item-bulk-create-job")
    if data is None:
        return found
    attrs = _object_at(found, data, "attributes", "/data", required=True)
    if attrs is None:
        return found
    items = _object_at(found, attrs, "items", "/data/attributes", required=True)
    if items is not None and _expect(found, items.get("data"), "/data/attributes/items/data", "array"):
        if len(items["data"]) > MAX_CATALOG_JOB_ITEMS:
            found.reject("/data/attributes/items/data", f"at most {MAX_CATALOG_JOB_ITEMS} items per job")
        for i, item in enumerate(items["data"]):
            _check_catalog_item(found, item, f"/data/attributes/items/data/{i}")
    return found


def catalog_item_id(attributes: dict) -> str:
    """Klaviyo's id for a custom catalog item: `$custom:::$default:::<external_id>`."""
    return f"{attributes.get('integration_type') or '$custom'}:::{attributes.get('catalog_type') or '$default'}:::{attributes['external_id']}"


VALIDATORS = {
    "event": validate_event,
    "profile": validate_profile,
    "subscription": validate_subscription,
    "bulk": validate_bulk,
    "catalog-item": validate_catalog_item,
    "catalog-job": validate_catalog_job,
}


# The onsite script's display names for its internal metrics, and for the calls that carry none.
DISPLAY_NAMES = {"__activity__": "Active on Site"}
METHOD_DISPLAY_NAMES = {"identify": "Identify", "trackViewedItem": "Recently Viewed Items"}


def metric_name(event_attributes: dict) -> str | None:
    try:
        name = event_attributes["metric"]["data"]["attributes"]["name"]
    except (KeyError, TypeError):
        return None
    return name if isinstance(name, str) else None


def dedup_id(attrs: dict, received_at: str) -> str:
    """An event's unique_id, or Klaviyo's default: its time (or the time received), to the second."""
    if attrs.get("unique_id"):
        return attrs["unique_id"]
    when = parse_datetime(attrs.get("time") or received_at)
    return "time:" + when.strftime("%Y-%m-%dT%H:%M:%SZ")


def repeated_unique_ids(entries: list[dict], received_at: str) -> list[Problem]:
    """A bulk request repeating a unique_id for one metric fails as a whole [spec]: "the request
    will fail and no events will be processed" (answered 202, each event bad [inferred])."""
    seen, repeated = set(), []
    for i, entry in enumerate(entries):
        attrs = entry["attributes"]
        key = (metric_name(attrs), dedup_id(attrs, received_at))
        if key in seen:
            repeated.append(f"{shown(key[0])} with unique_id {shown(key[1])} (event {i})")
        seen.add(key)
    if not repeated:
        return []
    return [Problem("/data/attributes/events/data",
                    "a unique_id is repeated for the same profile and metric in this request, so no event "
                    f"of it is processed: {'; '.join(repeated)}", status=202, code="repeated_unique_id")]
