"""The plugin's command-line side of issue 13, as a user runs it (pytester subprocesses):
`--klaviyo-serve` and `--klaviyo-allow-host`, a wrong value a usage error before any test, and a
failed test's `klaviyo-traffic.json` (and its report section) listing what was dropped or left
out, with each reason whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.browser.guide import LOADER, SCRIPT_TAG

REPO = Path(__file__).resolve().parents[2]
LONG = "Price has the wrong type: expected a number, got the text '1,299.00' " + "(a thousands separator) " * 5

USER_TESTS = f'''
import json
HEAD = {(SCRIPT_TAG + "<script>" + LOADER + "</script>")!r}

def warn(kind, reason, prop):
    detail = {{"event": "Viewed Product", "kind": kind, "reason": reason, "property": prop}}
    return "window.dispatchEvent(new CustomEvent('klaviyo-snippets:warning', {{detail: %s}}));" % json.dumps(detail)

def test_served_from_the_folder(klaviyo_shop, klaviyo_stub, klaviyo_routing):
    klaviyo_shop.open(HEAD + "<script>klaviyo.identify({{email: 'a@example.com'}});</script>"
                      "<script src='https://cdn.theme.test/assets/cart.js'></script>")
    klaviyo_stub.expect_event("Added to Cart", value=12.5, status="good")
    assert klaviyo_routing.allowed_hosts == ("img.theme.test",) and klaviyo_routing.blocked == []

def test_warned(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open(HEAD + "<script>klaviyo.identify({{email: 'a@example.com'}});"
                      + warn("dropped", "missing ProductName", None) + warn("warning", {LONG!r}, "Price") + "</script>")
    klaviyo_shop.settle()
    assert False, "fail, to save the traffic"
'''


@pytest.mark.browser
def test_serve_option_and_the_findings_of_a_failed_test(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    assets = pytester.mkdir("assets")
    (assets / "cart.js").write_text("klaviyo.track('Added to Cart', {$value: 12.5});")
    pytester.makepyfile(test_user=USER_TESTS)

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-p", "no:randomly", "--output", "out",
        "--klaviyo-serve", f"https://cdn.theme.test/assets/={assets}", "--klaviyo-allow-host", "img.theme.test",
        timeout=120)

    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*klaviyo-snippets*", "dropped: Viewed Product: missing ProductName",
                                 f"warning: Viewed Product: {LONG}"])
    [saved] = Path(pytester.path, "out").glob("*warned*/klaviyo-traffic.json")
    traffic = json.loads(saved.read_text())
    assert [(f["kind"], f["event"], f["reason"]) for f in traffic["findings"]] == [
        ("dropped", "Viewed Product", "missing ProductName"), ("warning", "Viewed Product", LONG)]
    assert traffic["findings"][1]["property"] == "Price" and traffic["findings"][1]["source"] == "generated code"


@pytest.mark.parametrize("option, value, message", [
    ("--klaviyo-serve", "https://a.klaviyo.com/=.", "is Klaviyo's"),
    ("--klaviyo-serve", "https://cdn.theme.test/assets/", "is not URL_PREFIX=DIR"),
    ("--klaviyo-allow-host", "https://cdn.theme.test/", "has a scheme or a path"),
])
def test_a_wrong_routing_option_stops_the_run_at_once(pytester: pytest.Pytester, option, value, message):
    pytester.makepyfile(test_nothing="def test_nothing():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", option, value, timeout=60)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert message in result.stderr.str() and "Traceback" not in result.stderr.str()
