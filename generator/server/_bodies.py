"""The one place that builds a JSON:API `POST /api/events` body, and checks the values it carries.

Order events (`orders.py`) and share/referral events (`shares.py`) both go through `event_body`.
The field checks raise `FieldError(pointer, reason)`; each caller turns it into a `UserError`
that also names the record (file and line) the pointer is relative to. `read_text` reads the
input files of the server-side commands (orders, products, dead letters), with the same errors.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import re
from collections.abc import Mapping
from decimal import Decimal
from os import PathLike
from pathlib import Path
from typing import Any

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.net import is_absolute_http_url
from klaviyo_snippets.generator.server._stream import file_size, lone_surrogate

__all__ = [
    "FieldError",
    "event_body",
    "check_time",
    "check_number",
    "is_finite_number",
    "read_text",
    "parse_json",
    "check_currency",
    "check_phone",
    "check_email",
    "check_string",
    "is_absolute_http_url",
    "profile_attributes",
    "to_unix_seconds",
    "pointer_join",
]


def read_text(path: str | PathLike[str], what: str) -> str:
    """The whole of a UTF-8 text file; a `UserError` naming the file (and, for bytes that are not
    UTF-8, the line and byte offset) when it cannot be read. Split lines with `split("\\n")`:
    `splitlines()` would also split at U+2028 inside a JSON string. For files that grow with a
    store (orders, products), `_stream.read_lines` reads a line at a time instead."""
    file_size(path, what)  # a folder, a pipe or a device (/dev/zero never ends) is refused
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise UserError(f"cannot read the {what}: {error.strerror}", where=str(path)) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise UserError(f"not UTF-8 text ({error.reason} at byte {error.start})",
                        where=f"{path}:{line}", hint=f"save the {what} as UTF-8") from None


def parse_json(text: str, source: str, *, line: int | None = None, hint: str | None = None) -> Any:
    """`text` as JSON; a `UserError` naming `source` and the line (`line`, or the error's line
    in `text`) when it is not JSON, or JSON no reader should be asked to hold."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"not valid JSON: {error.msg} (column {error.colno})",
                        where=f"{source}:{line or error.lineno}", hint=hint) from None
    except (ValueError, RecursionError) as error:
        reason = "nested too deeply" if isinstance(error, RecursionError) else \
            "a number has more than 4300 digits"
        raise UserError(f"not usable JSON: {reason}", where=f"{source}:{line}" if line else source,
                        hint=hint) from None
    if (surrogate := lone_surrogate(text, data)) is not None:
        raise UserError(f"not usable JSON: {surrogate} is half of a UTF-16 pair, not a character "
                        "(it cannot be sent as UTF-8)", where=f"{source}:{line}" if line else source,
                        hint=hint)
    return data


class FieldError(ValueError):
    """A bad value at `pointer` (a JSON pointer inside the record being read)."""

    def __init__(self, pointer: str, reason: str):
        super().__init__(f"{pointer or '/'}: {reason}")
        self.pointer = pointer
        self.reason = reason


def pointer_join(pointer: str, *parts: str | int) -> str:
    """Extend a JSON pointer, escaping `~` and `/` in keys as RFC 6901 says."""
    for part in parts:
        pointer += "/" + str(part).replace("~", "~0").replace("/", "~1")
    return pointer


# -- values ------------------------------------------------------------------------------------

# Klaviyo: "The time must be after the year 1990 and can only be up to 1 year in the future." [spec]
_EARLIEST = _dt.datetime(1990, 1, 1, tzinfo=_dt.timezone.utc)
_ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def check_time(value: Any, pointer: str, *, now: _dt.datetime | None = None) -> str:
    """Return `value` (a `datetime` or an ISO 8601 date-time string) as an ISO 8601 string.

    The caller's form is kept: a naive time stays naive (Klaviyo reads it as UTC, and the guide
    sends naive times), an aware one keeps its offset (`Z` is written `+00:00`). Anything else
    (a date without a time, a unix number, "yesterday") is refused, as are times Klaviyo refuses.
    """
    if isinstance(value, _dt.datetime):
        parsed = value
    elif isinstance(value, str):
        if not _ISO_DATE_TIME.match(value):
            raise FieldError(pointer, f"{value!r} is not an ISO 8601 date-time "
                                      "(expected e.g. 2022-11-08T00:00:00 or 2022-11-08T00:00:00Z)")
        try:
            parsed = _dt.datetime.fromisoformat(value)
        except ValueError:
            raise FieldError(pointer, f"{value!r} is not an ISO 8601 date-time "
                                      "(expected e.g. 2022-11-08T00:00:00 or 2022-11-08T00:00:00Z)") from None
    else:
        raise FieldError(pointer, f"must be an ISO 8601 date-time string or a datetime, "
                                  f"not {_type_name(value)}")
    aware = parsed if parsed.tzinfo else parsed.replace(tzinfo=_dt.timezone.utc)
    if aware < _EARLIEST:
        raise FieldError(pointer, f"{parsed.isoformat()} is before 1990, which Klaviyo refuses")
    now = now or _dt.datetime.now(_dt.timezone.utc)
    if aware > now + _dt.timedelta(days=365):
        raise FieldError(pointer, f"{parsed.isoformat()} is more than a year in the future, "
                                  "which Klaviyo refuses")
    return parsed.isoformat()


def to_unix_seconds(iso: str) -> int:
    """Unix seconds of an ISO string made by `check_time` (naive read as UTC, like Klaviyo)."""
    parsed = _dt.datetime.fromisoformat(iso)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.timezone.utc)
    return int(parsed.timestamp())


def check_number(value: Any, pointer: str, *, minimum: float | None = 0) -> int | float:
    """A JSON number (int, float or Decimal; never a string or a bool), finite, ≥ `minimum`.

    Strings such as "29.98" are refused rather than coerced: Klaviyo accepts them and then cannot
    count the revenue, so a string here is a bug upstream that coercion would hide.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        hint = " (a string such as \"29.98\" is not counted as revenue by Klaviyo)" \
            if isinstance(value, str) else ""
        raise FieldError(pointer, f"must be a number, not {_type_name(value)}{hint}")
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise FieldError(pointer, f"must be a finite number, not {value}")
        value = int(value) if value == value.to_integral_value() and value.as_tuple().exponent >= 0 \
            else float(value)
    if not is_finite_number(value):
        raise FieldError(pointer, f"must be a finite number (at most about 1.8e308), "
                                  f"not {_type_name(value)}")
    if minimum is not None and value < minimum:
        raise FieldError(pointer, f"must be ≥ {minimum}, not {value}")
    return value


def is_finite_number(value: int | float | Decimal) -> bool:
    """Finite and small enough for a float (|x| < 1.8e308): what a JSON reader can hold. JSON
    allows `1e400` or a 400-digit integer; Klaviyo and most readers would make it infinity."""
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


_CURRENCY = re.compile(r"^[A-Z]{3}\Z")


def check_currency(value: Any, pointer: str) -> str:
    """An ISO 4217 alphabetic code: three capital letters."""
    if not isinstance(value, str) or not _CURRENCY.match(value):
        raise FieldError(pointer, f"must be an ISO 4217 currency code such as \"USD\", not {value!r}")
    return value


# E.164: a plus, a country code that does not start with 0, at most 15 digits in all.
_E164 = re.compile(r"^\+[1-9]\d{1,14}\Z")


def check_phone(value: Any, pointer: str) -> str:
    """An E.164 phone number such as +15005550006 (no spaces, dashes or brackets)."""
    if not isinstance(value, str) or not _E164.match(value):
        raise FieldError(pointer, f"{value!r} is not an E.164 phone number "
                                  "(a plus, the country code and up to 15 digits, e.g. +15005550006)")
    return value


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")


def check_email(value: Any, pointer: str) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value):
        raise FieldError(pointer, f"{value!r} is not an email address")
    return value


def check_string(value: Any, pointer: str, *, blank_ok: bool = False) -> str:
    if not isinstance(value, str):
        raise FieldError(pointer, f"must be a string, not {_type_name(value)}")
    if not blank_ok and not value.strip():
        raise FieldError(pointer, "must not be blank")
    return value


# -- the profile -------------------------------------------------------------------------------

_IDENTIFIERS = ("email", "phone_number", "external_id")
_NAMES = ("first_name", "last_name")


def profile_attributes(customer: Any, pointer: str) -> dict[str, Any]:
    """Profile attributes for an event from a customer mapping.

    Keys are Klaviyo's own profile attribute names: `email`, `phone_number` (E.164),
    `external_id`, `first_name`, `last_name`, and `properties` (custom profile properties).
    At least one identifier is required: `/api/events` refuses an event without one.
    """
    if not isinstance(customer, Mapping):
        raise FieldError(pointer, f"must be an object, not {_type_name(customer)}")
    known = {*_IDENTIFIERS, *_NAMES, "properties"}
    for key in customer:
        if key not in known:
            raise FieldError(pointer_join(pointer, key),
                             f"unknown customer field; expected one of {', '.join(sorted(known))}")
    attributes: dict[str, Any] = {}
    for key in (*_IDENTIFIERS, *_NAMES):
        value = customer.get(key)
        if value is None:
            continue
        where = pointer_join(pointer, key)
        if key == "email":
            attributes[key] = check_email(value, where)
        elif key == "phone_number":
            attributes[key] = check_phone(value, where)
        else:
            attributes[key] = check_string(value, where)
    if not any(key in attributes for key in _IDENTIFIERS):
        raise FieldError(pointer, "needs at least one identifier: email, phone_number or external_id "
                                  "(Klaviyo refuses an event without one)")
    if customer.get("properties") is not None:
        if not isinstance(customer["properties"], Mapping):
            raise FieldError(pointer_join(pointer, "properties"), "must be an object")
        attributes["properties"] = dict(customer["properties"])
    return attributes


# -- the body ----------------------------------------------------------------------------------

def event_body(
    metric: str,
    properties: Mapping[str, Any],
    profile: Mapping[str, Any],
    *,
    time: str | None = None,
    value: int | float | None = None,
    currency: str | None = None,
    unique_id: str | None = None,
    backfill: bool = False,
) -> dict[str, Any]:
    """A `POST /api/events` body (`EventCreateQueryV2`), attributes in the guide's order.

    Values are expected to be checked already. Unset optional attributes are left out rather
    than sent as null; `backfill` appears only when true (record without triggering flows).
    """
    if not metric or len(metric) >= 128:
        raise ValueError(f"metric name must be 1 to 127 characters: {metric!r}")
    attributes: dict[str, Any] = {"properties": dict(properties)}
    if time is not None:
        attributes["time"] = time
    if value is not None:
        attributes["value"] = value
    if currency is not None:
        attributes["value_currency"] = currency
    if unique_id is not None:
        attributes["unique_id"] = unique_id
    if backfill:
        attributes["backfill"] = True
    attributes["metric"] = {"data": {"type": "metric", "attributes": {"name": metric}}}
    attributes["profile"] = {"data": {"type": "profile", "attributes": dict(profile)}}
    return {"data": {"type": "event", "attributes": attributes}}


def _type_name(value: Any) -> str:
    """How an error message names a value it refuses: "a string ('29.98')", "a list", ..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, str):
        return f"a string ({value!r})" if len(value) <= 40 else "a string"
    if isinstance(value, (int, float, Decimal)):
        text = str(value)
        return f"a number ({text})" if len(text) <= 40 else f"a number of {len(text)} characters"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "a list"
    return type(value).__name__
