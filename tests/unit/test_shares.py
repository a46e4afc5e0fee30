"""Received Article Share and Referred by Friend: one event per person, the guide's unique ids."""

from __future__ import annotations

import base64
import datetime as dt

import pytest

from klaviyo_snippets.generator.server import shares
from klaviyo_snippets.generator.errors import UserError

from tests.openapi_oracle import require_oracle, validate_request

# The guide's Received Article Share request, as its Python example writes it.
GUIDE_SHARE_PAYLOAD = {"data": {
    "type": "event",
    "attributes": {
        "profile": {"email": "email.on.list@email.com"},
        "metric": {"name": "Received Article Share"},
        "properties": {
            "SharerName": "Erin Smith",
            "SharerEmail": "erin.smith@test.com",
            "Name": "Top 10 flows for great holiday success!",
            "URL": "https://www.example.com/top-10-flows-holidays",
            "ImageURL": "https://www.example.com/top-10-flows-holidays-hero-image.png",
        },
        "time": "2023-02-08T11:10:15",
        "unique_id": "ZW1haWwub24ubGlzdEBlbWFpbC5jb20xNjc1ODgyMTYy",
    },
}}

SHARE = dict(
    sharer_name="Erin Smith",
    sharer_email="erin.smith@test.com",
    name="Top 10 flows for great holiday success!",
    url="https://www.example.com/top-10-flows-holidays",
    image_url="https://www.example.com/top-10-flows-holidays-hero-image.png",
    time="2023-02-08T11:10:15",
)
RECIPIENTS = ["email.on.list@email.com", "email.2.on.list@email.com"]


def _attrs(body):
    return body["data"]["attributes"]


@pytest.mark.parametrize("seconds, expected", [
    (1675882162, "ZW1haWwub24ubGlzdEBlbWFpbC5jb20xNjc1ODgyMTYy"),  # Received Article Share
    (1675891022, "ZW1haWwub24ubGlzdEBlbWFpbC5jb20xNjc1ODkxMDIy"),  # Referred by Friend
])
def test_unique_id_reproduces_the_guides_ids(seconds, expected):
    assert shares.share_unique_id("email.on.list@email.com", seconds) == expected
    # base64 of the concatenation, not base64(email) followed by the digits
    assert base64.b64decode(expected) == f"email.on.list@email.com{seconds}".encode()


def test_one_received_article_share_per_recipient_with_distinct_ids():
    bodies = shares.received_article_share_bodies(recipients=RECIPIENTS, **SHARE)
    assert [_attrs(b)["profile"]["data"]["attributes"] for b in bodies] == \
        [{"email": email} for email in RECIPIENTS]
    ids = [_attrs(b)["unique_id"] for b in bodies]
    assert len(set(ids)) == 2
    # 2023-02-08T11:10:15 read as UTC: the id is derived from the share's own time
    seconds = int(dt.datetime(2023, 2, 8, 11, 10, 15, tzinfo=dt.timezone.utc).timestamp())
    assert ids == [shares.share_unique_id(email, seconds) for email in RECIPIENTS]
    for body in bodies:
        attributes = _attrs(body)
        assert attributes["properties"] == GUIDE_SHARE_PAYLOAD["data"]["attributes"]["properties"]
        assert attributes["time"] == "2023-02-08T11:10:15"
        assert attributes["metric"]["data"]["attributes"]["name"] == "Received Article Share"
        validate_request("/api/events", body)


def test_the_guides_share_payload_is_not_a_valid_jsonapi_body_but_ours_is():
    # The guide's Python examples flatten profile and metric; /api/events wants them under data.
    require_oracle()
    with pytest.raises(AssertionError, match="/data/attributes/(metric|profile)"):
        validate_request("/api/events", GUIDE_SHARE_PAYLOAD)
    ours = shares.received_article_share_bodies(recipients=RECIPIENTS[:1], **SHARE)[0]
    validate_request("/api/events", ours)


def test_the_same_share_built_twice_makes_the_same_ids():
    first = shares.received_article_share_bodies(recipients=RECIPIENTS, **SHARE)
    again = shares.received_article_share_bodies(recipients=RECIPIENTS, **SHARE)
    assert first == again  # a retry re-sends the same unique_id, so Klaviyo keeps one copy


def test_a_recipient_listed_twice_gets_one_event():
    bodies = shares.received_article_share_bodies(
        recipients=["a@example.com", "A@Example.com", "b@example.com"], **SHARE)
    assert [_attrs(b)["profile"]["data"]["attributes"]["email"] for b in bodies] == \
        ["a@example.com", "b@example.com"]


def test_referred_by_friend_per_friend_with_the_guides_properties():
    bodies = shares.referred_by_friend_bodies(
        friends=RECIPIENTS, referrer_name="Erin Smith", referrer_email="erin.smith@test.com",
        referrer_code="12abc456def", time=dt.datetime(2023, 2, 8, 14, 22, 23),
        friend_properties={"ReferralCode": "12abc456def"})
    assert len(bodies) == 2
    for body, email in zip(bodies, RECIPIENTS):
        attributes = _attrs(body)
        assert attributes["properties"] == {"ReferrerName": "Erin Smith",
                                            "ReferrerEmail": "erin.smith@test.com",
                                            "ReferrerCode": "12abc456def"}
        assert attributes["profile"]["data"]["attributes"] == {
            "email": email, "properties": {"ReferralCode": "12abc456def"}}
        assert attributes["metric"]["data"]["attributes"]["name"] == "Referred by Friend"
        assert attributes["time"] == "2023-02-08T14:22:23"
        assert attributes["unique_id"] == shares.share_unique_id(email, 1675866143)
        validate_request("/api/events", body)


@pytest.mark.parametrize("change, field, words", [
    ({"recipients": ["ok@example.com", "not-an-email"]}, "recipients[1]", "not an email address"),
    ({"recipients": "one@example.com"}, "recipients", "list of email addresses"),
    ({"recipients": []}, "recipients", "names nobody"),
    ({"url": "/top-10-flows-holidays"}, "url", "absolute http(s) URL"),
    ({"time": 1675882162}, "time", "ISO 8601"),
    ({"time": "8 Feb 2023"}, "time", "ISO 8601"),
    ({"sharer_email": "erin"}, "sharer_email", "not an email address"),
    ({"name": "  "}, "name", "blank"),
    ({"extra": {"URL": "x"}}, "extra['URL']", "set by the builder"),
])
def test_bad_shares_are_refused_naming_the_argument(change, field, words):
    arguments = {"recipients": RECIPIENTS, **SHARE, **change}
    with pytest.raises(UserError) as caught:
        shares.received_article_share_bodies(**arguments)
    error = caught.value
    assert isinstance(error, shares.InvalidShare)
    assert error.field == field and words in error.reason
    assert str(error).startswith(f"Received Article Share at {field}: ")


def test_extra_properties_ride_along():
    body = shares.received_article_share_bodies(recipients=RECIPIENTS[:1], extra={"Channel": "blog"},
                                                **SHARE)[0]
    assert _attrs(body)["properties"]["Channel"] == "blog"
    validate_request("/api/events", body)
