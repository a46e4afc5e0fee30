"""The preview without a browser: the inspector's entries, the storefront's pages, the server."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from klaviyo_snippets.generator import default_plan_path
from klaviyo_snippets.harness.preview import Preview
from klaviyo_snippets.harness.preview._session import build_entries, parse_snippet_warning, redact_headers
from klaviyo_snippets.harness.preview._shop import island_json, label_fields, snippet_markup
from tests.processes import read_until, running

ROOT = Path(__file__).resolve().parents[2]


# -- entries ------------------------------------------------------------------------------------

def _request(rid, path, body, status=202, answer=None):
    return {"id": rid, "received_at": f"2026-01-01T00:00:0{rid}.000Z", "method": "POST", "path": path,
            "query": {"company_id": "XXXXXX"}, "headers": {"authorization": "Klaviyo-API-Key [redacted]",
                                                          "x-api-key": "s3cret", "revision": "2026-07-15"},
            "body": body, "bytes": 10, "response": None if status is None else {"status": status, "body": answer}}


def test_entries_join_requests_events_and_drops_newest_first():
    profile = {"id": "P1", "attributes": {"email": "a@example.com"}, "exchange_ids": {"XXXXXX": "tok.XXXXXX"},
               "properties": {}, "subscriptions": []}
    identify = _request(1, "/client/profiles/", {"data": {"type": "profile", "attributes": {"email": "a@example.com"}}},
                        answer={"meta": {"exchange_id": "tok.XXXXXX"}})
    track = _request(2, "/client/events/", {"data": {"type": "event", "attributes": {}}})
    refused = _request(3, "/client/events/", {"data": {}}, status=400,
                       answer={"errors": [{"detail": "Missing required header 'revision'", "source": {"parameter": "revision"}}]})
    event = {"id": 4, "request_id": 2, "received_at": "2026-01-01T00:00:02.500Z", "metric": "Added to Cart",
             "display_name": "Added to Cart", "status": "good", "reasons": [], "profile_id": "P1", "value": 29.98,
             "properties": {}, "body": track["body"], "http_status": 202}
    diag = {"id": 5, "type": "dropped", "method": "track", "metric": "Viewed Product", "reason": "never identified",
            "args": ["Viewed Product", {"ProductID": "1"}], "received_at": "2026-01-01T00:00:05.000Z"}
    dropped = {"id": 6, "request_id": None, "received_at": "2026-01-01T00:00:05.000Z", "metric": "Viewed Product",
               "display_name": "Viewed Product", "status": "dropped",
               "reasons": [{"detail": "never identified", "pointer": None, "code": "dropped_by_onsite_script"}],
               "profile_id": None, "properties": {"ProductID": "1"}, "value": None, "body": None}
    off = {"id": 7, "type": "tracking_off", "method": None, "metric": None, "reason": "robot user agent",
           "received_at": "2026-01-01T00:00:06.000Z"}
    warning = {"id": 1, "time": "2026-01-01T00:00:07.000Z", "message": "klaviyo-snippets: identify: not sent, missing email",
               "metric": "identify", "status": "dropped", "page": "http://127.0.0.1/shop/account"}
    seen = []

    def lookup(kind, name):
        seen.append((kind, name))
        return {"file": f"{kind}:{name}"}

    entries = build_entries(requests=[identify, track, refused], events=[event, dropped], diagnostics=[diag, off],
                            profiles=[profile], warnings=[warning], snippet_for=lookup)
    assert [(e["metric"], e["status"]) for e in entries] == [
        ("Identify", "dropped"),  # the snippet's warning, labelled like the identify requests
        ("Onsite script", "dropped"),  # tracking off: nothing is sent from this page
        ("Viewed Product", "dropped"),
        ("(event)", "bad"),
        ("Added to Cart", "good"),
        ("Identify", "good"),
    ]
    by_metric = {(e["metric"], e["status"]): e for e in entries}
    assert by_metric[("Identify", "good")]["profile_id"] == "P1"
    assert by_metric[("Identify", "good")]["subject"] == "a@example.com"
    assert by_metric[("Added to Cart", "good")]["subject"] == "value 29.98"
    assert by_metric[("Added to Cart", "good")]["request"]["headers"]["x-api-key"] == "[redacted]"
    assert by_metric[("(event)", "bad")]["reasons"][0] == {
        "detail": "Missing required header 'revision'", "pointer": "revision", "code": None}
    drop = by_metric[("Viewed Product", "dropped")]
    assert drop["call"]["args"] == ["Viewed Product", {"ProductID": "1"}]
    assert drop["request"] is None and drop["body"] is None
    assert ("identify", None) in seen and ("track", "Added to Cart") in seen and ("track", "Viewed Product") in seen


def test_a_profile_update_with_only_viewed_items_is_recently_viewed_items():
    body = {"data": {"type": "profile", "attributes": {"_kx": "tok.XXXXXX",
                                                       "properties": {"$viewed_items": [{"ItemId": "1"}]}}}}
    [entry] = build_entries(requests=[_request(1, "/client/profiles/", body)], events=[], diagnostics=[], profiles=[])
    assert (entry["metric"], entry["status"], entry["subject"]) == ("Recently Viewed Items", "good", "1 viewed item")


def test_a_request_without_an_answer_yet_is_pending():
    [entry] = build_entries(requests=[_request(1, "/client/profiles/", {}, status=None)], events=[],
                            diagnostics=[], profiles=[])
    assert entry["status"] == "pending"


def test_secrets_in_headers_are_redacted_keeping_the_scheme():
    assert redact_headers({"Authorization": "Klaviyo-API-Key pk_abc", "X-Auth-Token": "t", "Revision": "1"}) == {
        "authorization": "Klaviyo-API-Key [redacted]", "x-auth-token": "[redacted]", "revision": "1"}


def test_snippet_warnings_name_their_event():
    assert parse_snippet_warning("klaviyo-snippets: Added to Cart: not sent, missing Items") == ("Added to Cart", "dropped")
    assert parse_snippet_warning("klaviyo-snippets: Viewed Product: Price has the wrong type") == ("Viewed Product", "warning")
    assert parse_snippet_warning("klaviyo-snippets: data island x is not JSON") == (None, "warning")


# -- the storefront -----------------------------------------------------------------------------

def test_form_fields_get_visible_labels_and_the_button_a_name():
    snippet = ('<!-- Generated -->\n<!-- about -->\n<script type="application/json" data-klaviyo="a">{}</script>\n'
               '<form data-klaviyo-share>\n  <textarea name="recipients">a@b.c</textarea>\n'
               '  <input type="text" name="x&amp;y" value="1">\n  <button type="submit">Send</button>\n</form>')
    markup = label_fields(snippet_markup(snippet), "Share <now>")
    assert "<script" not in markup and "<!--" not in markup
    assert "Friends&#x27; emails (comma or new line separated)</span><textarea" in markup
    assert '<span class="field-label">X&amp;y</span><input type="text" name="x&amp;y"' in markup
    assert '<button type="submit">Share &lt;now&gt;</button>' in markup


def test_data_islands_cannot_close_their_script_element():
    text = island_json({"title": "</script><script>alert(1)</script>", "s": "\u2028&"})
    assert "<" not in text and ">" not in text and "&" not in text and "\u2028" not in text
    assert json.loads(text) == {"title": "</script><script>alert(1)</script>", "s": "\u2028&"}


@pytest.fixture(scope="module")
def preview():
    with Preview(port=0) as running:
        yield running


def _get(url: str) -> tuple[int, str, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode(), dict(answer.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), dict(error.headers)


def test_every_store_page_is_served_with_the_script_pointing_at_the_stand_in(preview):
    for path in ("", "category", "product", "search", "cart", "checkout", "article", "refer", "account"):
        status, text, _ = _get(f"{preview.url}shop/{path}")
        assert status == 200, path
        assert f'src="{preview.stub_url}/onsite/js/XXXXXX/klaviyo.js"' in text
        assert "static.klaviyo.com" not in text
        assert not re.search(r'(src|href)="(https?:)?//(?!127\.0\.0\.1:)', text.split("</head>")[0])  # nothing remote
    assert _get(f"{preview.url}shop/nowhere")[0] == 404
    assert preview.stub.settings.onsite_api_base == preview.stub_url


def test_the_default_plan_places_every_event_where_a_shopper_fires_it(preview):
    placement = preview.storefront.placement
    assert placement == {
        "identify": "account", "viewed_product": "product", "recently_viewed": None, "added_to_cart": "product",
        "started_checkout": "checkout", "viewed_category": "category", "searched_site": "search",
        "clicked_banner": "", "added_like": "product", "shared_article": "article", "referred_friend": "refer",
    }
    # identify fires from its form only: no customer island would sign every visitor in.
    assert preview.storefront.pages["account"].islands == {}
    assert set(preview.storefront.pages["product"].islands) == {"product"}


def test_the_export_is_json_with_the_session(preview):
    status, text, headers = _get(f"{preview.url}api/session")
    assert status == 200 and "attachment" in headers["Content-Disposition"]
    document = json.loads(text)
    assert {"entries", "profiles", "traffic", "plan", "counts"} <= set(document)
    assert document["plan"]["ok"] is True


def test_a_snippet_warning_posted_by_the_storefront_becomes_an_entry(preview):
    preview.stub.reset()
    request = urllib.request.Request(
        f"{preview.url}api/warnings", method="POST",
        data=json.dumps({"message": "klaviyo-snippets: Added to Cart: not sent, missing Items", "page": "x"}).encode(),
        headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert answer.status == 204
    [entry] = json.loads(_get(f"{preview.url}api/session")[1])["entries"]
    assert (entry["metric"], entry["status"], entry["source"]) == ("Added to Cart", "dropped", "snippet")
    assert entry["snippet"]["file"] == "snippets/added-to-cart.html"
    preview.stub.reset()  # a reset forgets the warnings too
    assert json.loads(_get(f"{preview.url}api/session")[1])["entries"] == []


def test_a_broken_plan_is_shown_and_the_fixed_plan_loads(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text("version: 1\nevents: {x: {metric: }}\n", encoding="utf-8")
    with Preview(plan, port=0, poll_interval=0.05) as preview:
        status, text, _ = _get(f"{preview.url}shop/")
        assert status == 503 and "plan.yaml:2" in text
        state = json.loads(_get(f"{preview.url}api/state")[1])["plan"]
        assert state["ok"] is False and "expected string" in state["error"]
        plan.write_text(Path(default_plan_path()).read_text(encoding="utf-8"), encoding="utf-8")
        deadline = time.monotonic() + 10
        while preview.plan_error is not None or preview.storefront is None:
            assert time.monotonic() < deadline, preview.plan_error
            time.sleep(0.05)
        assert _get(f"{preview.url}shop/")[0] == 200
        assert preview.plan_version == 1


def test_a_missing_plan_is_a_user_error():
    from klaviyo_snippets.generator.errors import UserError

    with pytest.raises(UserError, match="no such plan"):
        Preview("/no/such/plan.yaml", port=0).start()


def test_the_command_serves_until_ctrl_c_and_exits_0():
    with running([sys.executable, "-m", "klaviyo_snippets", "preview", "--port", "0"], cwd=ROOT,
                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        printed = read_until(proc, "Ctrl-C")
        first = printed.splitlines()[0]
        assert first.startswith("klaviyo-snippets preview: http://127.0.0.1:"), printed
        url = first.split(": ", 1)[1].strip()
        assert _get(url + "shop/product")[0] == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert (printed + out).endswith("\nstopping (SIGINT)\nstopped\n"), printed + out


def test_the_preview_refuses_other_sites(preview):
    rebound = urllib.request.Request(preview.url + "api/session", headers={"Host": "rebind.attacker.example"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(rebound, timeout=10)
    assert refused.value.code == 403
    planted = urllib.request.Request(preview.url + "api/warnings", data=b'{"message": "x"}', method="POST",
                                     headers={"Origin": "https://evil.example", "Content-Type": "text/plain"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(planted, timeout=10)
    assert refused.value.code == 403
    own = urllib.request.Request(preview.url + "api/clear", data=b"", method="POST",
                                 headers={"Origin": preview.url.rstrip("/")})
    with urllib.request.urlopen(own, timeout=10) as answer:
        assert answer.status == 204
