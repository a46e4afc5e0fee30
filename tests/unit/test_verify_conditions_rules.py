"""verify's conditions without a browser: names, the CSP a page gets, the delay-JS rewrite, route
matching, the judging of a visit's records, and the per-condition report."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.cli import main
from klaviyo_snippets.harness.verify import CONDITIONS, ConditionsReport, VerifyReport, condition_names
from klaviyo_snippets.harness.verify.conditions import (
    account_key, csp_for, delay_scripts, judge, route_matches, with_exchange_id,
)
from klaviyo_snippets.harness.verify._driver import VisitState


def test_condition_names_all_order_and_unknown():
    assert condition_names(["spa", "all", "spa"]) == ("spa", *[n for n in CONDITIONS if n != "spa"])
    assert condition_names([]) == ()
    with pytest.raises(UserError) as error:
        condition_names(["csp"])
    assert "csp-strict" in error.value.hint and "all" in error.value.hint


def test_cli_refuses_an_unknown_condition(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["verify", "x.html", "--condition", "nope"])
    assert exit_.value.code == 2
    assert "no condition 'nope'" in capsys.readouterr().err


def test_csp_uses_the_pages_nonce_else_the_hashes_of_its_inline_scripts():
    nonced = b"<script nonce='abc123'>a()</script><script nonce='abc123' src='/x.js'></script><script>b()</script>"
    policy, how = csp_for(nonced, connect=["http://127.0.0.1:9"])
    assert "script-src 'nonce-abc123' 'strict-dynamic';" in policy and "abc123" in how
    assert "connect-src 'self' https://a.klaviyo.com https://fast.a.klaviyo.com https://static-forms.klaviyo.com " \
           "http://127.0.0.1:9;" in policy
    plain = b"<script>a()\r\n</script><script type='application/json' data-klaviyo='p'>{}</script><script src=/x.js></script>"
    policy, how = csp_for(plain)
    digest = base64.b64encode(hashlib.sha256(b"a()\n").digest()).decode()
    assert f"script-src 'sha256-{digest}' 'strict-dynamic';" in policy  # the island is no script; CRLF as parsed
    assert "1 inline script" in how


def test_delay_scripts_rewrites_what_runs_and_leaves_data_islands():
    html = (b"<html><head><script src='/a.js' async></script></head><body>"
            b"<script>var s = '<script src=x>';</script>"
            b"<script type='application/json' data-klaviyo='product'>{\"a\": 1}</script>"
            b"<script type='module' src='/m.js'></script></body></html>")
    out = delay_scripts(html).decode()
    assert "<script type=\"text/rocketlazyloadscript\" data-rocket-src='/a.js' async>" in out
    assert "<script type=\"text/rocketlazyloadscript\">var s = '<script src=x>';</script>" in out  # its text untouched
    assert "<script type='application/json' data-klaviyo='product'>{\"a\": 1}</script>" in out
    assert "<script type=\"text/rocketlazyloadscript\" data-rocket-type='module' data-rocket-src='/m.js'>" in out
    # WP Rocket's loader first in the head, itself not delayed
    assert out.startswith("<html><head><script>") and out.index("RocketLazyLoadScripts") < out.index("data-rocket-src")


def test_account_key_and_the_link():
    assert account_key('<script async src="https://static.klaviyo.com/onsite/js/AbC123/klaviyo.js"></script>') == "AbC123"
    assert account_key("//static.klaviyo.com/onsite/js/klaviyo.js?foo=1&company_id=XyZ789") == "XyZ789"
    assert account_key("<p>no script</p>") is None
    assert with_exchange_id("https://shop.test/p.html?a=1#top", "tok.KEY") == "https://shop.test/p.html?a=1&_kx=tok.KEY#top"


@pytest.mark.parametrize(("pattern", "path", "matches"), [
    ("/products/:handle", "/products/mug", True), ("/products/:handle", "/products/mug/x", False),
    ("/collections/*", "/collections/a/b", True), ("/winnie.html", "/winnie.html", True), ("/a", "/b", False),
])
def test_route_matches(pattern, path, matches):
    assert route_matches(pattern, path) is matches


def event(visit, metric, status="good", **more):
    return {"visit": visit, "metric": metric, "display_name": metric, "status": status, **more}


def test_judge_csp_names_each_blocked_thing_once():
    state = VisitState(url="https://shop.test/p.html")
    state.violations = [{"directive": "script-src-elem", "blocked": "inline", "disposition": d, "page": "", "sample": ""}
                        for d in ("enforce", "report")]
    [failure] = judge("csp-strict", label="p.html", state=state, events=[], requests=[], marks=[], expectations=[],
                      consent=None)
    assert failure["reason"] == "the policy blocked an inline script: script-src-elem"


def test_judge_delayed_scripts_counts_each_event_once():
    state = VisitState(url="https://shop.test/p.html")
    events = [event("p.html", "Viewed Product"), event("p.html", "Viewed Product", "duplicate"), event("q.html", "Viewed Product")]
    [failure] = judge("delayed-scripts", label="p.html", state=state, events=events, requests=[], marks=[],
                      expectations=[], consent=None)
    assert failure["reason"].startswith("Viewed Product arrived 2 times")


def test_judge_email_visit_wants_active_on_site_from_the_link():
    """The link identified the visitor when the page's own Active on Site arrived good; one of
    another page, or dropped, does not count; a visit the driver already failed is not judged twice."""
    state = VisitState(url="https://shop.test/p.html")
    judged = lambda events: judge("email-visit", label="p.html", state=state, events=events, requests=[],  # noqa: E731
                                  marks=[], expectations=[], consent=None)
    assert judged([event("p.html", "__activity__")]) == []
    for events in ([], [event("q.html", "__activity__")], [event("p.html", "__activity__", "dropped")]):
        [failure] = judged(events)
        assert failure["reason"].startswith("no Active on Site arrived")
    state.failures.append({"page": state.url, "reason": "its HTML loads no Klaviyo onsite script"})
    assert [f["reason"] for f in judged([])] == ["its HTML loads no Klaviyo onsite script"]


def test_judge_consent_counts_klaviyo_requests():
    state = VisitState(url="https://shop.test/p.html")
    requests = [{"id": 1, "path": "/client/events/"}, {"id": 2, "path": "/__stub__/diagnostics"},
                {"id": 3, "path": "/client/profiles/"}]
    [failure] = judge("consent-denied", label="p.html", state=state, events=[], requests=requests, marks=[],
                      expectations=[], consent={"signal": "api", "denied": "forms-only"})
    assert failure["reason"].startswith("the page sends before consent: 2 request(s) to Klaviyo though the visitor refused")
    # granted late: only what went before the grant counts
    grant = [{"kind": "grant", "requests": 0, "forwarded": 0}]
    assert judge("consent-granted-late", label="p.html", state=state, events=[], requests=requests, marks=grant,
                 expectations=[], consent={"denied": "nothing"}) == []


def test_the_report_per_condition_says_what_was_done_what_failed_and_the_fix():
    ok = VerifyReport(browser="b", pages=["p.html"], condition="email-visit")
    bad = VerifyReport(browser="b", pages=["p.html"], condition="spa", condition_failures=[
        {"visit": "p.html", "condition": "spa", "page": "https://shop.test/p.html", "reason": "Viewed Product did not arrive"}])
    report = ConditionsReport([ok, bad])
    assert not report.ok and ok.ok and not bad.ok
    text = report.format()
    assert "CONDITION FAILED  https://shop.test/p.html: Viewed Product did not arrive" in text
    assert "docs/spa.md" in text and text.endswith("Conditions: email-visit OK, spa FAILED.")
    data = json.loads(json.dumps(report.to_dict()))
    assert [c["name"] for c in data["conditions"]] == ["email-visit", "spa"]
    assert data["conditions"][1]["docs"] == "docs/spa.md" and data["conditions"][1]["ok"] is False
    assert data["conditions"][1]["report"]["condition_failures"][0]["reason"] == "Viewed Product did not arrive"
