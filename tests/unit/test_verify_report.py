"""verify's report and options without a browser (issue 13): what counts as a problem, what is
shown and how, and the option checks. The browser side is tests/browser/test_verify_truth.py."""

from __future__ import annotations

import json

import pytest

from klaviyo_snippets.harness.browser import allowed_host, served_prefix
from klaviyo_snippets.harness.cli import main
from klaviyo_snippets.harness.verify import VerifyReport, findings, plan_triggers

PAGE = "/theme/product.html"
LONG = ("Price has the wrong type: expected a number, got the text \"1,299.00\" (a thousands separator); "
        "Viewed Product was sent without it, so Klaviyo's product feeds and flows never see the price")


def _event(id_, name, status="good", reasons=(), warnings=None, visit=PAGE):
    return {"id": id_, "metric": name, "display_name": name, "status": status, "visit": visit,
            "reasons": [{"detail": r} for r in reasons], "properties": {"ProductName": "Mug"},
            **({"warnings": warnings} if warnings else {})}


def _warning(id_, reason, event="Viewed Product", prop="Price"):
    return {"id": id_, "type": "warning", "source": "generated code", "metric": event, "reason": reason,
            "property": prop, "page": "https://shop.test/product.html", "visit": PAGE}


def _report(**fields) -> VerifyReport:
    return VerifyReport(browser="chromium", pages=[PAGE], **fields)


def test_a_warning_fails_the_run_unless_allowed_but_a_drop_always_does():
    warned = _report(events=[_event(2, "Viewed Product")], diagnostics=[_warning(1, LONG)])
    assert warned.ok is False and [w["reason"] for w in warned.warnings] == [LONG]
    assert warned.format().endswith("FAILED: 1 warning(s) (--allow-warnings to accept them).")
    warned.allow_warnings = True
    assert warned.ok is True
    assert warned.format().endswith("OK: every event arrived good. (1 warning(s) allowed by --allow-warnings)")

    dropped = _report(events=[_event(2, "Viewed Product", "dropped", ["missing ProductName"])], allow_warnings=True)
    assert dropped.ok is False
    assert dropped.format().endswith("FAILED: 1 event(s) bad or dropped.")


def test_a_lint_warning_on_a_good_event_is_shown_with_its_fix_and_fails_the_run():
    lint = {"pointer": "/data/attributes/properties/ImageURL", "code": "relative_url",
            "detail": "'/mug.png' is not an absolute URL: in an email it is a broken image",
            "fix": "make it absolute, e.g. 'https://shop.example/mug.png'"}
    report = _report(events=[_event(4, "Viewed Product", warnings=[lint])])
    assert report.ok is False
    text = " ".join(report.format().split())
    assert ("WARNING #4 Viewed Product: '/mug.png' is not an absolute URL: in an email it is a broken image "
            "(fix: make it absolute, e.g. 'https://shop.example/mug.png') [stand-in lint, property ImageURL]") in text
    assert report.to_dict()["warnings"] == [{
        "visit": PAGE, "kind": "warning", "id": 4, "event": "Viewed Product", "reason": lint["detail"],
        "fix": lint["fix"], "pointer": lint["pointer"], "code": "relative_url", "source": "stand-in lint"}]


def test_reasons_are_wrapped_never_cut():
    report = _report(events=[_event(3, "Viewed Product", "dropped", [LONG])], diagnostics=[_warning(5, LONG * 2)])
    text = report.format()
    assert "…" not in text
    joined = " ".join(text.split())
    assert LONG in joined and (LONG * 2).replace("  ", " ") in joined.replace("  ", " ")
    assert max(len(line) for line in text.splitlines()[:-1] if not line.startswith("Klaviyo received")) <= 100
    # the dropped row keeps its columns: the reason starts on it, continues under the detail column
    row = next(line for line in text.splitlines() if line.startswith("  3 "))
    assert row.split()[:4] == ["3", "Viewed", "Product", "dropped"]


def test_records_the_stand_in_forgot_mean_no_ok():
    report = _report(events=[_event(2, "Viewed Product")], forgotten={"requests": 0, "events": 12, "diagnostics": 0})
    assert report.ok is False
    text = report.format()
    assert "The stand-in forgot 12 record(s) of this run (12 events)" in text
    assert text.endswith("FAILED: 12 record(s) forgotten by the stand-in.")
    assert _report(events=[_event(2, "Viewed Product")], forgotten={"events": 0}).ok is True


def test_an_expected_event_missing_fails_with_what_the_page_sent_instead():
    report = _report(events=[_event(2, "Active on Site")], expectations=[
        {"visit": PAGE, "event": "Viewed Product", "why": "its data island product on the page", "met": False,
         "detail": "it never arrived; the page sent nothing but Active on Site"},
        {"visit": PAGE, "event": "Identify", "why": "--expect", "met": True, "detail": "arrived good"}])
    assert report.ok is False
    text = report.format()
    assert ("  MISSING  Viewed Product (expected: its data island product on the page): it never arrived; "
            "the page sent nothing but Active on Site") in text.replace("\n           ", " ")
    assert "  expected and arrived good: Identify" in text
    assert text.endswith("FAILED: 1 expected event(s) missing.")


def test_without_expectations_a_quiet_page_is_ok_but_says_how_to_require_events():
    text = _report(events=[_event(2, "Active on Site")]).format()
    assert text.endswith("OK: every event arrived good. Note: 1 page(s) sent nothing but Active on Site; "
                         "give --expect EVENT or --plan FILE to require events.")


def test_findings_name_the_event_and_keep_the_whole_reason():
    events = [_event(2, "Viewed Product", "dropped", ["data island product is not JSON"]), _event(3, "Active on Site")]
    found = findings(events, [_warning(4, LONG), {"id": 5, "type": "bad_arguments", "reason": "not a warning"}])
    assert [(f["kind"], f["event"], f["reason"]) for f in found] == [
        ("dropped", "Viewed Product", "data island product is not JSON"), ("warning", "Viewed Product", LONG)]


def test_the_plan_names_what_each_trigger_must_send():
    from klaviyo_snippets.generator import load_plan

    triggers = plan_triggers(load_plan(None))
    assert {"names": ["Viewed Product"], "kind": "load", "islands": ["product"]} in triggers
    assert {"names": ["Identify"], "kind": "load", "islands": ["customer"]} in triggers
    assert {"names": ["Added Like"], "kind": "click", "selector": "#Like"} in triggers
    assert {"names": ["Searched Site"], "kind": "submit", "selector": "form[data-klaviyo-search]"} in triggers
    # Recently Viewed Items never reaches Klaviyo: nothing to expect of it
    assert all("trackViewedItem" not in t["names"] and "Recently Viewed Items" not in t["names"] for t in triggers)


@pytest.mark.parametrize("host, message", [
    ("https://cdn.example.com", "has a scheme or a path"),
    ("cdn.example.com/assets", "has a scheme or a path"),
    ("static.klaviyo.com", "is Klaviyo's"),
    ("*.klaviyo.com", "is Klaviyo's"),
    ("shop.test", "the storefront"),
    ("bad host", "is not a host name"),
    ("", "is not a host name"),
])
def test_allow_host_refuses_what_is_not_a_theme_host(host, message, capsys):
    with pytest.raises(SystemExit) as done:
        main(["verify", "page.html", "--allow-host", host])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


@pytest.mark.parametrize("value, message", [
    ("https://cdn.example.com/assets/", "is not URL_PREFIX=DIR"),
    ("cdn.example.com/assets/={dir}", "is not an http(s) URL prefix"),
    ("https://cdn.example.com/a?v=1={dir}", "is not an http(s) URL prefix"),
    ("https://a.klaviyo.com/={dir}", "is Klaviyo's"),
    ("https://cdn.example.com/assets/={dir}/missing", "is not a folder"),
    ("https://cdn.example.com/assets/=a\0b", "is not a folder"),
])
def test_serve_refuses_what_it_cannot_serve(value, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        main(["verify", "page.html", "--serve", value.format(dir=tmp_path)])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_hosts_and_prefixes_as_given_are_normalised(tmp_path):
    assert allowed_host("CDN.Example.com.") == "cdn.example.com"
    assert allowed_host("*.example.com") == "*.example.com"
    assert served_prefix(f"https://cdn.example.com/assets={tmp_path}") == ("https://cdn.example.com/assets/", tmp_path)


def test_the_routing_lets_allowed_hosts_go_unpaused():
    from klaviyo_snippets.harness.browser._routing import _catch_all

    route = _catch_all(("cdn.example.com", "*.theme.example"))
    assert not route.search("https://cdn.example.com/theme.js")
    assert not route.search("https://img.theme.example/a.png")
    assert route.search("https://theme.example/a.png")  # the wildcard is for subdomains
    assert route.search("https://cdn.example.com.evil.test/x") and route.search("https://cdn.example.com@evil.test/")
    assert route.search("https://other.example/")


@pytest.mark.parametrize("argv, message", [
    (["--jobs", "0"], "must be at least 1"),
    (["--expect", " "], "an event name is needed"),
])
def test_bad_jobs_and_expect_are_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as done:
        main(["verify", "page.html", *argv])
    assert done.value.code == 2
    assert message in capsys.readouterr().err


def test_the_json_report_carries_the_new_parts():
    report = _report(events=[_event(2, "Viewed Product")], diagnostics=[_warning(1, LONG)], jobs=2, seconds=1.5)
    data = json.loads(json.dumps(report.to_dict()))
    assert {"warnings", "allow_warnings", "expectations", "not_found", "forgotten", "jobs", "seconds"} <= set(data)
    assert data["ok"] is False and data["warnings"][0]["reason"] == LONG
