"""Every target's output under a strict Content-Security-Policy, in a real browser, against the
stand-in Klaviyo (docs/csp.md has the policies a store writes).

Two policies, each exactly as docs/csp.md gives it: a nonce policy (`script-src 'nonce-…'
'strict-dynamic'`) and a host allowlist (`script-src 'self'` and Klaviyo's documented script
hosts, no 'unsafe-inline'); both also restrict connect-src, style-src, font-src, img-src to
'self' and Klaviyo's documented hosts. The page is served with the policy as a real
`Content-Security-Policy` header (on Shopify, where a theme can only write a `<meta>`, as that
meta), plus the same policy as `Content-Security-Policy-Report-Only`; both carry a `report-uri`
to a real HTTP server on loopback.

Violations are counted two ways and must be zero: `securitypolicyviolation` events (an init
script listens before the page's code runs) and the reports the browser posts. Neither count can
pass vacuously: each test ends by making one deliberate violation (an image from a host no
policy allows) and waits until both channels have seen it, so a listener that never ran or a
report that never left would fail the test; and the negative tests show that a policy missing one
Klaviyo host yields a violation naming that host and loses what it carried, though the harness
answers that host itself (the browser judges a routed request by the URL the page asked for).

The Firefox lane's onsite script posts straight to the stand-in on loopback (over WebDriver BiDi a
routed POST loses its body; docs/design.md, "Browsers"), so there the policy's connect-src names
the stand-in's origin too, the one difference from what a store writes; its negative test leaves
that origin out instead of a.klaviyo.com.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from klaviyo_snippets.generator.codegen import generate, preset_path
from klaviyo_snippets.harness.verify.conditions import CSP_BINDING, CSP_SENTINEL, CSP_WATCH_JS, KLAVIYO_CSP_HOSTS, csp_policy
from tests import bigcommerce_theme, shopify_theme, woocommerce_theme
from tests.platform_pages import properties

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
GUIDE = json.loads((REPO / "tests" / "golden" / "guide" / "payloads.json").read_text(encoding="utf-8"))
SHOPPER = "thomas.jefferson@example.com"
NONCE = "q3Zx7LmT0bW9vR2k"  # a server makes a new one per response; a test page is one response
SENTINEL = CSP_SENTINEL  # no policy allows it: the deliberate violation


def policy(kind: str, *, stand_in: str | None = None, without: str | None = None) -> str:
    """The policy docs/csp.md gives (the harness's `csp_policy`, with Klaviyo's documented hosts
    `KLAVIYO_CSP_HOSTS`): `kind` "nonce" or "allowlist"; `stand_in`: the stand-in's origin added
    to connect-src (the Firefox lane); `without`: a host left out (negative tests)."""
    script = ([f"'nonce-{NONCE}'", "'strict-dynamic'"] if kind == "nonce"
              else ["'self'", *KLAVIYO_CSP_HOSTS["script-src"]])
    return csp_policy(script, connect=[stand_in] if stand_in else [], without=without)


class Reports:
    """A real HTTP server on loopback that keeps every CSP report the browser posts to it."""

    def __init__(self) -> None:
        self.received: list[dict] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    report = json.loads(body).get("csp-report") or {}
                except ValueError:
                    report = {"unreadable": body.decode("utf-8", "replace")}
                received.append(report)
                self.send_response(204)
                self.send_header("Access-Control-Allow-Origin", "*")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/csp"
        threading.Thread(target=self.server.serve_forever, name="csp-reports", daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def reports():
    server = Reports()
    yield server
    server.close()


class Csp:
    """Opens pages under a policy and counts the violations they cause (the harness's watcher,
    `CSP_WATCH_JS`: an init script that tells each `securitypolicyviolation` through a binding)."""

    def __init__(self, page, shop, reports: Reports, browser_name: str, stub_url: str) -> None:
        self.page, self.shop, self.reports = page, shop, reports
        self.stand_in = stub_url.rstrip("/") if browser_name == "firefox" else None
        self.told: list[dict] = []
        page.expose_binding(CSP_BINDING, lambda source, violation: self.told.append(violation))
        page.add_init_script(CSP_WATCH_JS)

    def policy(self, kind: str, *, without: str | None = None) -> str:
        return policy(kind, stand_in=self.stand_in, without=without)

    def open(self, html: str, path: str, enforced: str, *, meta: bool = False):
        """Open `html` at `path` on the storefront, `enforced` as its header (or, with `meta`, as
        a `<meta http-equiv>` first in its head), and as a Report-Only header."""
        reporting = f"{enforced}; report-uri {self.reports.url}"
        headers = {"Content-Security-Policy-Report-Only": reporting}
        if meta:
            tag = f'<meta http-equiv="Content-Security-Policy" content="{enforced}">'
            head = html.index("<head>") + len("<head>")
            html = html[:head] + tag + html[head:]
        else:
            headers["Content-Security-Policy"] = reporting
        url = self.shop.origin + path
        self.page.route(url, lambda route: route.fulfill(status=200, content_type="text/html; charset=utf-8",
                                                         headers=headers, body=html))
        self.page.goto(url)
        return self.page

    def violations(self, timeout: float = 10) -> tuple[list[dict], list[dict]]:
        """(events, reports) of every violation on the page but the sentinel's, once the sentinel
        has been seen on both channels (one event and one report per policy that saw it)."""
        self.page.evaluate("(url) => { new Image().src = url; }", SENTINEL)
        deadline = time.monotonic() + timeout
        while True:
            events = [{k: v[k] for k in ("directive", "blocked", "disposition")} for v in self.told]
            reports = list(self.reports.received)
            mine = lambda blocked: "csp-sentinel.invalid" in (blocked or "")  # noqa: E731
            if sum(mine(e["blocked"]) for e in events) >= 1 and sum(mine(r.get("blocked-uri")) for r in reports) >= 1:
                return ([e for e in events if not mine(e["blocked"])],
                        [r for r in reports if not mine(r.get("blocked-uri"))])
            assert time.monotonic() < deadline, (
                f"the sentinel violation was not seen on both channels within {timeout:g} s: "
                f"events {events}, reports {reports}")
            self.page.wait_for_timeout(50)


@pytest.fixture
def csp(klaviyo_page, klaviyo_shop, klaviyo_stub, reports, browser_name) -> Csp:
    reports.received.clear()
    return Csp(klaviyo_page, klaviyo_shop, reports, browser_name, klaviyo_stub.url)


def metrics(stub) -> set[str]:
    """The metrics recorded, each good (raises if one is not), without Active on Site: the onsite
    script sends that only if it finds the visitor identified as it loads, which races the page's
    own identify (klaviyo.js is async), with or without a policy."""
    events = stub.events()
    assert [e for e in events if e["status"] != "good"] == []
    return {e["metric"] for e in events} - {"__activity__"}


def assert_no_violation(csp: Csp) -> None:
    events, reports = csp.violations()
    assert (events, reports) == ([], [])


# --------------------------------------------------------------------------- plain target


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("csp-plain")
    generate(out_dir=folder / "nonce", csp_nonce=NONCE)
    generate(out_dir=folder / "allowlist", inline=False, assets_url="/assets/")
    return {"nonce": folder / "nonce", "allowlist": folder / "allowlist"}


def plain_page(dist: Path) -> str:
    body = "".join((dist / "snippets" / f"{name}.html").read_text(encoding="utf-8") for name in ("identify", "viewed-product"))
    return ("<!doctype html><html><head><meta charset='utf-8'><title>shop</title>"
            f"{(dist / 'install.html').read_text(encoding='utf-8')}</head><body>{body}</body></html>")


def open_plain(csp: Csp, dist: Path, enforced: str):
    csp.shop.add("/assets/klaviyo-snippets.min.js", (dist / "klaviyo-snippets.min.js").read_text(encoding="utf-8"))
    errors: list[str] = []
    csp.page.on("pageerror", lambda error: errors.append(str(error)))
    csp.open(plain_page(dist), "/products/winnie-the-pooh", enforced)
    return errors


@pytest.mark.parametrize("kind", ["nonce", "allowlist"])
def test_plain_install_runs_under_the_policy(csp, klaviyo_shop, klaviyo_stub, plain, kind):
    """install.html with --csp-nonce under the nonce policy; with --no-inline --assets-url under
    the allowlist: the guide's Viewed Product arrives good, identify makes the guide's profile,
    nothing else is sent, and no violation."""
    errors = open_plain(csp, plain[kind], csp.policy(kind))
    viewed = klaviyo_stub.expect_event("Viewed Product", profile={"email": SHOPPER})
    assert properties(viewed) == GUIDE["Viewed Product"]
    klaviyo_shop.settle()
    [profile] = klaviyo_stub.profiles()
    assert {k: profile["attributes"].get(k) for k in GUIDE["identify"]} == GUIDE["identify"]
    assert metrics(klaviyo_stub) == {"Viewed Product"}
    assert errors == []
    assert_no_violation(csp)


def test_a_policy_without_klaviyos_api_host_blocks_the_event(csp, klaviyo_shop, klaviyo_stub, plain, browser_name):
    """The zero counts can fail: without a.klaviyo.com (Firefox lane: the stand-in's origin, where
    its script posts) in connect-src, the browser blocks the posts, reports them, and the event
    is lost, though the harness would have answered a.klaviyo.com itself."""
    api = csp.stand_in or "https://a.klaviyo.com"
    open_plain(csp, plain["allowlist"], csp.policy("allowlist", without=api))
    events, reports = csp.violations()
    assert {(e["directive"], e["disposition"]) for e in events if e["blocked"].startswith(api)} == {
        ("connect-src", "enforce"), ("connect-src", "report")}
    assert any(r.get("blocked-uri", "").startswith(api) for r in reports)
    klaviyo_shop.settle()
    assert klaviyo_stub.events(status="good") == [] and klaviyo_stub.profiles() == []


def test_a_policy_without_klaviyos_script_host_blocks_klaviyo_js(csp, klaviyo_stub, plain):
    """In both lanes the harness answers static.klaviyo.com; left out of script-src, klaviyo.js
    is still refused by its own URL, and nothing reaches Klaviyo."""
    open_plain(csp, plain["allowlist"], csp.policy("allowlist", without="https://static.klaviyo.com"))
    events, reports = csp.violations()
    script = "https://static.klaviyo.com/onsite/js/XXXXXX/klaviyo.js"
    assert {(e["directive"], e["disposition"]) for e in events if e["blocked"] == script} == {
        ("script-src-elem", "enforce"), ("script-src-elem", "report")}
    assert any(r.get("blocked-uri") == script for r in reports)
    assert csp.page.evaluate("() => window.__klaviyoStub === undefined")
    assert klaviyo_stub.requests() == []


# --------------------------------------------------------------------------- platform targets


def assert_platform_page_tracks(csp, klaviyo_shop, klaviyo_stub, html: str, path: str, policy: str, **options) -> None:
    """A platform's rendered product page under `policy`: Viewed Product arrives good for the
    identified shopper, nothing else is sent, the page throws nothing, no violation."""
    errors: list[str] = []
    csp.page.on("pageerror", lambda error: errors.append(str(error)))
    csp.open(html, path, policy, **options)
    viewed = klaviyo_stub.expect_event("Viewed Product", profile={"email": SHOPPER})
    assert properties(viewed)["ProductID"] == "1111"
    klaviyo_shop.settle()
    assert [p["attributes"]["email"] for p in klaviyo_stub.profiles()] == [SHOPPER]
    assert metrics(klaviyo_stub) == {"Viewed Product"} and errors == []
    assert_no_violation(csp)


@pytest.fixture(scope="module")
def dawn(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("csp-dawn")
    shopify_theme.make_theme(folder)
    generate(preset_path("shopify"), folder, target="shopify", public_key="ShpC01")
    return folder


def test_shopify_theme_under_an_allowlist_meta(csp, klaviyo_shop, klaviyo_stub, dawn):
    """Shopify gives a theme no per-response nonce and no header: the allowlist, as a `<meta>`
    first in theme.liquid's head. The theme's assets are on the shop's own origin ('self')."""
    for asset, text in shopify_theme.asset_pages(dawn).items():
        klaviyo_shop.add(asset, text)
    html = shopify_theme.render_page(dawn, page_type="product", product=shopify_theme.PRODUCT,
                                     customer=shopify_theme.CUSTOMER,
                                     cart=shopify_theme.cart(shopify_theme.WINNIE_LINE))
    assert_platform_page_tracks(csp, klaviyo_shop, klaviyo_stub, html, "/products/winnie-the-pooh", csp.policy("allowlist"),
                                meta=True)


@pytest.fixture(scope="module")
def cornerstone(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("csp-cornerstone")
    bigcommerce_theme.make_theme(folder)
    generate(preset_path("bigcommerce"), folder, target="bigcommerce", public_key="BigC01")
    return folder


@pytest.mark.parametrize("kind", ["nonce", "allowlist"])
def test_bigcommerce_theme_under_the_policy(csp, klaviyo_shop, klaviyo_stub, cornerstone, kind):
    """Stencil's `{{nonce}}` helper writes the response's nonce (request params
    `security.nonce`); the offline renderer has no request, so it writes an empty one and the
    test puts the nonce where Stencil would."""
    for asset, text in bigcommerce_theme.asset_pages(cornerstone).items():
        klaviyo_shop.add(asset, text)
    html = bigcommerce_theme.render_page(cornerstone, "pages/product",
                                         {"product": bigcommerce_theme.PRODUCT, "customer": bigcommerce_theme.CUSTOMER})
    assert html.count('nonce=""') == 4  # our three script tags and the theme's bundle
    html = html.replace('nonce=""', f'nonce="{NONCE}"')
    assert_platform_page_tracks(csp, klaviyo_shop, klaviyo_stub, html, "/winnie-the-pooh/", csp.policy(kind))


@pytest.fixture(scope="module")
def woo_plugin(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("csp-plugins") / "klaviyo-snippets"
    generate(preset_path("woocommerce"), folder, target="woocommerce", public_key="WooC01")
    return folder


@pytest.mark.parametrize("kind", ["nonce", "allowlist"])
def test_woocommerce_plugin_under_the_policy(csp, klaviyo_shop, klaviyo_stub, woo_plugin, kind):
    """WordPress prints enqueued scripts through wp_get_script_tag(), whose
    `wp_script_attributes` filter is where a CSP plugin adds the nonce; the shim prints the tags
    without filters, so for the nonce policy the test adds the attribute as such a filter would."""
    for asset, text in woocommerce_theme.asset_pages(woo_plugin).items():
        klaviyo_shop.add(asset, text)
    html = woocommerce_theme.run_php(woo_plugin, ["product"], queried_id=1111, user=woocommerce_theme.USER,
                                     store=woocommerce_theme.store(woocommerce_theme.PRODUCT))
    if kind == "nonce":
        assert html.count("<script src=") == 4  # jQuery, ours, the cart glue, klaviyo.js
        html = html.replace("<script src=", f'<script nonce="{NONCE}" src=')
    assert_platform_page_tracks(csp, klaviyo_shop, klaviyo_stub, html, "/product/winnie-the-pooh/", csp.policy(kind))
