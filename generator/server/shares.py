"""The receiving side of shares and referrals: one server-side event per recipient.

A visitor's Shared Article / Referred Friend is tracked in the browser; the people they named are
not cookied, so each gets a Received Article Share / Referred by Friend from the backend. Each
event needs its own `unique_id` (they share a metric and a time); the guide's scheme is
base64(recipient email + unix seconds), and `share_unique_id` reproduces the guide's ids exactly.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from typing import Any

from klaviyo_snippets.generator.server._bodies import (
    FieldError,
    check_email,
    check_string,
    check_time,
    event_body,
    is_absolute_http_url,
    to_unix_seconds,
)
from klaviyo_snippets.generator.errors import UserError

__all__ = [
    "share_unique_id",
    "received_article_share_bodies",
    "referred_by_friend_bodies",
    "InvalidShare",
]

RECEIVED_ARTICLE_SHARE = "Received Article Share"
REFERRED_BY_FRIEND = "Referred by Friend"


class InvalidShare(UserError):
    """A share or referral that cannot become events; `field` names the bad argument."""

    def __init__(self, reason: str, *, field: str, event: str):
        super().__init__(reason, where=f"{event} at {field}")
        self.reason = reason
        self.field = field


def share_unique_id(email: str, unix_seconds: int) -> str:
    """base64(email + unix seconds), as the guide computes it.

    The guide encodes the concatenation (its `ZW1haWwub24ubGlzdEBlbWFpbC5jb20xNjc1ODgyMTYy`
    decodes to `email.on.list@email.com1675882162`), not base64(email) followed by the digits.
    """
    return base64.b64encode(f"{email}{unix_seconds}".encode("utf-8")).decode("ascii")


def received_article_share_bodies(
    *,
    recipients: Iterable[str],
    sharer_name: str,
    sharer_email: str,
    name: str,
    url: str,
    time: Any,
    image_url: str | None = None,
    extra: Mapping[str, Any] | None = None,
    backfill: bool = False,
) -> list[dict[str, Any]]:
    """One Received Article Share per recipient (profile: the recipient's email).

    `time` is when the article was shared (a datetime or an ISO 8601 string); the unique id uses
    it rather than the sending time, so a retry makes the same id and Klaviyo keeps one copy.
    A recipient listed twice (ignoring case) gets one event.
    """
    event = RECEIVED_ARTICLE_SHARE
    with _as_user_error(event):
        properties: dict[str, Any] = {
            "SharerName": check_string(sharer_name, "sharer_name"),
            "SharerEmail": check_email(sharer_email, "sharer_email"),
            "Name": check_string(name, "name"),
            "URL": _url(url, "url"),
        }
        if image_url is not None:
            properties["ImageURL"] = _url(image_url, "image_url")
        properties.update(_extra(extra, properties))
        return _per_recipient(event, recipients, properties, time=time, backfill=backfill)


def referred_by_friend_bodies(
    *,
    friends: Iterable[str],
    referrer_name: str,
    referrer_email: str,
    referrer_code: str,
    time: Any,
    friend_properties: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    backfill: bool = False,
) -> list[dict[str, Any]]:
    """One Referred by Friend per referred friend (profile: the friend's email).

    `friend_properties` become profile properties on each friend (the guide: useful when a
    referral code gives the friend a perk).
    """
    event = REFERRED_BY_FRIEND
    with _as_user_error(event):
        properties: dict[str, Any] = {
            "ReferrerName": check_string(referrer_name, "referrer_name"),
            "ReferrerEmail": check_email(referrer_email, "referrer_email"),
            "ReferrerCode": check_string(referrer_code, "referrer_code"),
        }
        properties.update(_extra(extra, properties))
        if friend_properties is not None and not isinstance(friend_properties, Mapping):
            raise FieldError("friend_properties", "must be a mapping of profile properties")
        return _per_recipient(event, friends, properties, time=time, backfill=backfill,
                              profile_properties=friend_properties)


def _per_recipient(event: str, recipients: Iterable[str], properties: dict[str, Any], *,
                   time: Any, backfill: bool,
                   profile_properties: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    iso = check_time(time, "time")
    seconds = to_unix_seconds(iso)
    field = "friends" if event == REFERRED_BY_FRIEND else "recipients"
    if isinstance(recipients, str):
        raise FieldError(field, "must be a list of email addresses, not one string")
    bodies: list[dict[str, Any]] = []
    seen: set[str] = set()
    for index, email in enumerate(recipients):
        email = check_email(email, f"{field}[{index}]")
        if email.lower() in seen:
            continue
        seen.add(email.lower())
        profile: dict[str, Any] = {"email": email}
        if profile_properties:
            profile["properties"] = dict(profile_properties)
        bodies.append(event_body(event, properties, profile, time=iso,
                                 unique_id=share_unique_id(email, seconds), backfill=backfill))
    if not bodies:
        raise FieldError(field, "names nobody: at least one email address is needed")
    return bodies


def _url(value: Any, field: str) -> str:
    text = check_string(value, field)
    if not is_absolute_http_url(text):
        raise FieldError(field, f"{text!r} is not an absolute http(s) URL")
    return text


def _extra(extra: Mapping[str, Any] | None, built: Mapping[str, Any]) -> dict[str, Any]:
    if extra is None:
        return {}
    if not isinstance(extra, Mapping):
        raise FieldError("extra", "must be a mapping of further properties")
    for key in extra:
        if key in built:
            raise FieldError(f"extra[{key!r}]", "is set by the builder from its own argument")
    return dict(extra)


class _as_user_error:
    """Turn a FieldError raised inside the block into an InvalidShare naming the argument."""

    def __init__(self, event: str):
        self.event = event

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind, error, traceback) -> bool:
        if isinstance(error, FieldError):
            raise InvalidShare(error.reason, field=error.pointer, event=self.event) from None
        return False
