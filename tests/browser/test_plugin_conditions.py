"""The pytest plugin's `@pytest.mark.klaviyo_conditions(...)` (issue 15, item 7) in every browser
lane: a test carrying it runs once per condition, the routing and `klaviyo_shop` apply the
condition, and `klaviyo_condition.assert_honoured()` passes a page that honours it and fails one
that breaks it, naming why, with the condition's fix and docs page.

Each condition's test is run twice, on a page that honours it and on one that breaks it (the
default plan's or a variant's install.html, the identify snippet and a product or category
island, as in test_verify_conditions.py), so a check that failed everything or nothing would be
caught. The marker's collection (ids, a wrong name, a test without the fixture) runs in pytester.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from klaviyo_snippets import generate

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
PLAN = (REPO / "snippets" / "plan.yaml").read_text(encoding="utf-8")
NONCE = "q3Zx7LmT0bW9vR2k"
EMAIL = "email.visit@example.com"  # the profile the stand-in makes for an email visit
CATEGORY = ("<script type='application/json' data-klaviyo='category'>"
            '{"id": "42", "title": "Fiction", "url": "https://shop.test/collections/fiction"}</script>')


def page(dist: Path, *snippets: str, extra: str = "") -> str:
    body = "".join((dist / "snippets" / f"{name}.html").read_text(encoding="utf-8") for name in snippets)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>shop</title>"
            f"{(dist / 'install.html').read_text(encoding='utf-8')}</head><body>{body}{extra}</body></html>")


def dist_of(tmp_path_factory, name: str, plan: str | None = None, **options) -> Path:
    folder = tmp_path_factory.mktemp(name)
    path = None
    if plan is not None:
        path = folder / "plan.yaml"
        path.write_text(plan, encoding="utf-8")
    generate(path, folder / "dist", **options)
    return folder / "dist"


@pytest.fixture(scope="module")
def default_dist(tmp_path_factory) -> Path:
    return dist_of(tmp_path_factory, "default")


@pytest.fixture(scope="module")
def nonce_dist(tmp_path_factory) -> Path:
    return dist_of(tmp_path_factory, "nonce", csp_nonce=NONCE)


@pytest.fixture(scope="module")
def consent_dist(tmp_path_factory) -> Path:
    plan = PLAN.replace("version: 1\n", "version: 1\nconsent: {signal: api, denied: nothing}\n"
                        "onsite_script: {load: now}\n", 1)
    return dist_of(tmp_path_factory, "consent", plan)


@pytest.fixture(scope="module")
def routed_dist(tmp_path_factory) -> Path:
    plan = PLAN.replace("    inputs: [product]\n    fire: {load: true}",
                        "    inputs: [product]\n    fire: {route: /winnie.html}", 1)
    assert plan != PLAN
    return dist_of(tmp_path_factory, "routed", plan)


def not_honoured(condition) -> str:
    with pytest.raises(AssertionError) as caught:
        condition.assert_honoured()
    message = str(caught.value)
    c = condition.condition
    assert message.startswith(f"the page did not honour the condition {condition.name}:\n")
    assert f"What it means: {c.failure}. Fix: {c.fix} ({c.doc})." in message
    return message


def good(stub, metric: str) -> list[dict]:
    return [e for e in stub.events(metric=metric) if e["status"] in ("good", "duplicate")]


# --------------------------------------------------------------------------- one test per condition


@pytest.mark.klaviyo_conditions("csp-strict")
@pytest.mark.parametrize("kind", ["honours", "breaks"])
def test_csp_strict(klaviyo_shop, klaviyo_stub, klaviyo_condition, klaviyo_page, nonce_dist, kind):
    """Served with the page's own nonce and 'strict-dynamic': the --csp-nonce output sends Viewed
    Product good with no violation; one inline script without the nonce is named, with its directive."""
    extra = "<script>window.theme = 1;</script>" if kind == "breaks" else ""
    klaviyo_shop.open(page(nonce_dist, "identify", "viewed-product", extra=extra))
    klaviyo_stub.expect_event("Viewed Product")
    policy = klaviyo_page.evaluate("async () => (await fetch(location.href)).headers.get('content-security-policy')")
    assert f"script-src 'nonce-{NONCE}' 'strict-dynamic'" in policy
    if kind == "honours":
        klaviyo_condition.assert_honoured()
        assert klaviyo_condition.violations == []
    else:
        message = not_honoured(klaviyo_condition)
        assert "  https://shop.test/index.html: the policy blocked an inline script: script-src" in message


@pytest.mark.klaviyo_conditions("delayed-scripts")
@pytest.mark.parametrize("kind", ["honours", "breaks"])
def test_delayed_scripts(klaviyo_shop, klaviyo_stub, klaviyo_condition, klaviyo_page, default_dist, kind):
    """The scripts delayed as WP Rocket delays them, run by `open`'s one interaction: Viewed
    Product arrives once; a theme script that sends it again on the replayed DOMContentLoaded is
    caught sending it twice."""
    twice = ("<script>document.addEventListener('DOMContentLoaded', function () {"
             " klaviyoSnippets.viewedProduct(JSON.parse(document.querySelector('[data-klaviyo=product]').textContent));"
             " });</script>")
    klaviyo_shop.open(page(default_dist, "identify", "viewed-product", extra=twice if kind == "breaks" else ""))
    klaviyo_stub.expect_event("Viewed Product")
    served = klaviyo_page.evaluate("async () => (await fetch(location.href)).text()")
    assert served.count('type="text/rocketlazyloadscript"') >= 2  # install.html's scripts, as the optimizer serves them
    assert klaviyo_page.evaluate("() => document.querySelectorAll('script[type=\"text/rocketlazyloadscript\"]').length") == 0
    if kind == "honours":
        klaviyo_condition.assert_honoured()
        assert len(good(klaviyo_stub, "Viewed Product")) == 1
    else:
        assert "https://shop.test/index.html: Viewed Product arrived 2 times" in not_honoured(klaviyo_condition)


@pytest.mark.klaviyo_conditions("email-visit")
@pytest.mark.parametrize("kind", ["honours", "breaks"])
def test_email_visit(klaviyo_shop, klaviyo_stub, klaviyo_condition, klaviyo_page, default_dist, kind):
    """No identify on the page: opened with ?_kx= its Viewed Product arrives good for the email's
    profile; a page that loads no klaviyo.js has no account to make the link for, and says so."""
    html = page(default_dist, "viewed-product")
    if kind == "breaks":
        html = html.replace("static.klaviyo.com/onsite/js/XXXXXX/klaviyo.js", "")
    klaviyo_shop.open(html)
    if kind == "honours":
        assert "_kx=" in klaviyo_page.url
        klaviyo_stub.expect_event("Viewed Product", profile={"email": EMAIL})
        klaviyo_condition.assert_honoured()
    else:
        assert "_kx=" not in klaviyo_page.url
        assert "https://shop.test/index.html: its HTML loads no Klaviyo onsite script" in not_honoured(klaviyo_condition)


@pytest.mark.klaviyo_conditions("spa")
@pytest.mark.parametrize("kind", ["honours", "breaks"])
def test_spa(klaviyo_shop, klaviyo_stub, klaviyo_condition, klaviyo_page, default_dist, routed_dist, kind):
    """Category loaded, then the product page reached by pushState (the second `open`): with a
    route trigger Viewed Product arrives there, once; with the default plan's load trigger nothing
    arrives, and the fix is named."""
    dist = routed_dist if kind == "honours" else default_dist
    klaviyo_shop.open(page(dist, "identify", extra=CATEGORY), "/fiction.html")
    klaviyo_page.evaluate("() => { window.sameDocument = true; }")
    klaviyo_shop.open(page(dist, "identify", "viewed-product"), "/winnie.html")
    assert klaviyo_page.evaluate("() => [location.pathname, window.sameDocument]") == ["/winnie.html", True]
    if kind == "honours":
        klaviyo_stub.expect_event("Viewed Product")
        klaviyo_condition.assert_honoured()
        assert len(good(klaviyo_stub, "Viewed Product")) == 1
    else:
        message = not_honoured(klaviyo_condition)
        assert "https://shop.test/winnie.html: nothing arrived on the client-side navigation" in message
        assert "add fire: {route: PATTERN}" in message


@pytest.mark.klaviyo_conditions("consent-denied")
@pytest.mark.parametrize("kind", ["honours", "breaks"])
def test_consent_denied(klaviyo_shop, klaviyo_stub, klaviyo_condition, klaviyo_routing, klaviyo_page, default_dist,
                        consent_dist, kind):
    """With `consent:` in the plan the refused visitor's page sends nothing and loads no klaviyo.js;
    the default plan's page sends, and is caught with the count."""
    klaviyo_shop.open(page(consent_dist if kind == "honours" else default_dist, "identify", "viewed-product"))
    if kind == "honours":
        klaviyo_condition.assert_honoured()
        assert klaviyo_stub.requests() == [] and klaviyo_routing.forwarded == []
        assert klaviyo_page.evaluate("() => klaviyoSnippets.consent()") == {"tracking": False}  # refused, not undecided
    else:
        message = not_honoured(klaviyo_condition)
        assert "the page has no klaviyoSnippets.consent()" in message
        assert "the page sends before consent: " in message and "though the visitor refused" in message


@pytest.mark.klaviyo_conditions("consent-granted-late")
@pytest.mark.parametrize("kind", ["honours", "breaks"])
def test_consent_granted_late(klaviyo_shop, klaviyo_stub, klaviyo_condition, default_dist, consent_dist, kind):
    """`settle()` lets the page run undecided, then grants: with `consent:` nothing left before the
    grant and Viewed Product arrives once after it; the default plan's page sent before, caught."""
    klaviyo_shop.open(page(consent_dist if kind == "honours" else default_dist, "identify", "viewed-product"))
    if kind == "honours":
        assert klaviyo_stub.requests() == []
    klaviyo_shop.settle()
    klaviyo_stub.expect_event("Viewed Product")
    if kind == "honours":
        klaviyo_condition.assert_honoured()
        assert len(good(klaviyo_stub, "Viewed Product")) == 1
    else:
        assert "the page sends before consent: " in not_honoured(klaviyo_condition)


# --------------------------------------------------------------------------- the marker itself


@pytest.mark.klaviyo_conditions("csp-strict", "delayed-scripts", "email-visit")
def test_one_test_under_several_conditions(klaviyo_shop, klaviyo_stub, klaviyo_condition, nonce_dist, request):
    """The docs' example: one test, one page, three runs, each named by its condition."""
    assert request.node.callspec.id.endswith(klaviyo_condition.name) or klaviyo_condition.name in request.node.name
    klaviyo_shop.open(page(nonce_dist, "identify", "viewed-product"))
    klaviyo_stub.expect_event("Viewed Product")
    klaviyo_condition.assert_honoured()


TESTS = """
import pytest

@pytest.mark.klaviyo_conditions("all")
def test_all(klaviyo_condition):
    pass

@pytest.mark.klaviyo_conditions("spa", "spa", "csp-strict")
def test_twice(klaviyo_condition):
    pass

def test_unmarked():
    pass
"""


def test_the_marker_parametrizes_and_a_mistake_is_a_collection_error(pytester):
    pytester.makepyfile(test_ok=TESTS, test_unknown="""
import pytest

@pytest.mark.klaviyo_conditions("csp-strikt")
def test_x(klaviyo_condition):
    pass
""", test_no_fixture="""
import pytest

@pytest.mark.klaviyo_conditions("spa")
def test_y(klaviyo_shop):
    pass
""", test_unmarked_fixture="""
def test_z(klaviyo_condition):
    pass
""")
    result = pytester.runpytest("--collect-only", "-q", "-p", "no:randomly", "test_ok.py", "test_unknown.py",
                                "test_no_fixture.py")
    ids = [line for line in result.outlines if line.startswith("test_ok.py::")]
    assert ids == [f"test_ok.py::test_all[{name}]" for name in (
        "email-visit", "csp-strict", "spa", "delayed-scripts", "consent-denied", "consent-granted-late")] + [
        "test_ok.py::test_twice[spa]", "test_ok.py::test_twice[csp-strict]", "test_ok.py::test_unmarked"]
    text = result.stdout.str()
    assert "Traceback" not in text
    assert ("test_unknown.py::test_x: @pytest.mark.klaviyo_conditions: no condition 'csp-strikt' (conditions: "
            "email-visit, csp-strict, spa, delayed-scripts, consent-denied, consent-granted-late, all)") in text
    assert "test_no_fixture.py::test_y: @pytest.mark.klaviyo_conditions runs the test once per condition" in text
    assert "take the klaviyo_condition fixture" in text
    result = pytester.runpytest("-q", "-p", "no:randomly", "test_unmarked_fixture.py")
    result.assert_outcomes(errors=1)
    assert "klaviyo_condition is given by @pytest.mark.klaviyo_conditions(...)" in result.stdout.str()
