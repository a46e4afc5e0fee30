"""`verify` tells the truth on a real theme's pages (issue 13), in Chromium and Firefox.

Before, `verify PAGE --identify EMAIL` said "OK: every event arrived good." for product pages
where Viewed Product was never sent (unrendered template text in the data island, broken JSON, a
missing required property) or was sent without its Price. Now the harness captures the generated
code's `klaviyo-snippets:warning` events on every page and posts them to the stand-in, and verify
fails with each reason; expected events (from `--expect` and from the plan) must arrive good; a
click that navigates is followed to the next page; a theme's own asset hosts can be let through
or served from a folder.

Each test runs once per browser lane (`--browser chromium --browser firefox`).
"""

from __future__ import annotations

import json
import re
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from klaviyo_snippets import generate, load_plan, verify
from klaviyo_snippets.harness.browser import BrowserUnavailable, choose_browser
from klaviyo_snippets.harness.cli import main
from klaviyo_snippets.harness.verify import Visit, run_visits
from tests.browser.guide import LOADER, SCRIPT_TAG

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]

EMAIL = "ann@example.com"
ISLANDS = {  # the product pages of the issue, and one that is fine
    "unrendered": "{{ product | json }}",
    "broken": '{"id": "1111", "title": "Mug",}',
    "missing": '{"id": "1111", "price": 12.5}',
    "price": '{"id": "1111", "title": "Mug", "price": "1,299.00"}',
    "fine": '{"id": "1111", "title": "Mug", "price": 12.5}',
}


@pytest.fixture
def lane(browser_name: str) -> str:
    try:
        choose_browser(browser_name)
    except BrowserUnavailable as error:
        pytest.skip(f"no {browser_name} to run: {error.one_line()}")
    return browser_name


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> str:
    """The default plan's install.html (its loader, bundle and script tag), generated now."""
    out = tmp_path_factory.mktemp("dist")
    generate(None, out)
    return (out / "install.html").read_text(encoding="utf-8")


def shop_page(install: str, body: str) -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'>{install}</head><body>{body}</body></html>"


def island(name: str, text: str) -> str:
    return f"<script type='application/json' data-klaviyo='{name}'>{text}</script>"


def blocks(text: str) -> dict[str, str]:
    """The text report's block of each page, by the page as given."""
    found = {}
    for match in re.finditer(r"^(/\S+\.html)\n((?:  .*\n?)+)", text, re.M):
        found[Path(match[1]).stem] = match[2]
    return found


def test_the_false_ok_pages_of_the_issue_fail_with_their_reasons(tmp_path, lane, install, capsys):
    for name, text in ISLANDS.items():
        (tmp_path / f"{name}.html").write_text(shop_page(install, "<h1>Mug</h1>" + island("product", text)))
    pages = [str(tmp_path / f"{name}.html") for name in ISLANDS]

    code = main(["verify", *pages, "--identify", EMAIL, "--browser", lane])

    out = capsys.readouterr().out
    assert code == 1, out
    page = {name: " ".join(block.split()) for name, block in blocks(out).items()}
    assert re.search(r"Viewed Product dropped [^\n]*unrendered template text", page["unrendered"]), out
    assert re.search(r"Viewed Product dropped [^\n]*not JSON", page["broken"]), out
    assert re.search(r"Viewed Product dropped [^\n]*missing ProductName", page["missing"]), out
    assert re.search(r"WARNING #\d+ Viewed Product: [^\n]*Price[^\n]*wrong type[^\n]*\[generated code, property Price\]",
                     page["price"]), out
    assert "dropped" not in page["fine"] and "WARNING" not in page["fine"], out
    assert re.search(r"\d+ Viewed Product good", page["fine"]), out
    assert out.rstrip().splitlines()[-1].startswith("FAILED: ")


def test_warnings_dispatched_on_any_page_are_captured_whole(tmp_path, lane):
    """Contract B, with a page that dispatches the events itself (and has replaced fetch and
    JSON.stringify first: the capture keeps its own)."""
    reason = "Price has the wrong type: " + "expected a number, got the text '1,299.00'; " * 4
    dispatch = ("function warn(d) { window.dispatchEvent(new CustomEvent('klaviyo-snippets:warning', {detail: d})); }"
                "window.fetch = function () { throw new Error('the theme replaced fetch'); };"
                "JSON.stringify = function () { return '{}'; };"
                "warn({event: 'Viewed Product', kind: 'dropped', reason: 'missing ProductName', property: 'ProductName'});"
                f"warn({{event: 'Viewed Product', kind: 'warning', reason: {json.dumps(reason)}, property: 'Price'}});"
                "warn({event: null, kind: 'dropped', reason: 'data island cart is not JSON', property: null});"
                "klaviyo.identify({email: 'ann@example.com'});")
    (tmp_path / "p.html").write_text(f"<!doctype html><body>{SCRIPT_TAG}<script>{LOADER}</script><script>{dispatch}</script>")

    report = verify([str(tmp_path / "p.html")], browser=lane)

    assert report.ok is False
    dropped = [(e["display_name"], e["reasons"][0]["detail"]) for e in report.events if e["status"] == "dropped"]
    assert sorted(dropped, key=str) == sorted([("Viewed Product", "missing ProductName"),
                                               (None, "data island cart is not JSON")], key=str)
    [warning] = report.warnings
    assert (warning["event"], warning["reason"], warning["property"], warning["source"]) == (
        "Viewed Product", reason, "Price", "generated code")
    assert warning["page"] == "https://shop.test/p.html"
    assert " ".join(reason.split()) in " ".join(report.format().split())  # whole, wrapped


def test_expected_events_come_from_the_plan_and_from_expect(tmp_path, lane, install):
    # No bundle on the first page: the onsite script sends Active on Site, nothing else, though
    # the product island is there. The second page runs the generated code; its Like is clicked.
    product = island("product", ISLANDS["fine"])
    (tmp_path / "bare.html").write_text(f"<!doctype html><body>{product}<button id=Like>Like</button>{SCRIPT_TAG}"
                                        f"<script>{LOADER}</script>")
    (tmp_path / "full.html").write_text(shop_page(install, product + "<button id=Like>Like</button>"))

    report = verify([str(tmp_path / "bare.html"), str(tmp_path / "full.html")], clicks=("#Like",), browser=lane,
                    plan=Path(__file__).resolve().parents[2] / "snippets" / "plan.yaml", identify=EMAIL,
                    expect=("Started Checkout",))

    judged = {(Path(x["visit"]).stem, x["event"]): (x["met"], x["why"], x["detail"]) for x in report.expectations}
    assert judged == {
        ("bare", "Viewed Product"): (False, "its data island product on the page",
                                     "it never arrived; the page sent nothing but Active on Site and an identify"),
        ("bare", "Added Like"): (False, "click #Like (its click trigger #Like)",
                                 "it never arrived; the page sent nothing but Active on Site and an identify"),
        ("bare", "Started Checkout"): (False, "--expect",
                                       "it never arrived; the page sent nothing but Active on Site and an identify"),
        ("full", "Viewed Product"): (True, "its data island product on the page", "arrived good"),
        ("full", "Added Like"): (True, "click #Like (its click trigger #Like)", "arrived good"),
        ("full", "Started Checkout"): (False, "--expect", "it never arrived; Klaviyo got Active on Site, Added Like, "
                                                          "Viewed Product, an identify"),
    }
    assert report.ok is False
    text = " ".join(report.format().split())
    assert ("MISSING Viewed Product (expected: its data island product on the page): it never arrived; "
            "the page sent nothing but Active on Site and an identify") in text
    assert "expected and arrived good: Viewed Product, Added Like" in text
    assert "FAILED: 4 expected event(s) missing." in text


def test_a_click_that_navigates_is_followed_to_the_next_page(tmp_path, lane, install):
    """The banner's click is held by the generated code until Klaviyo has it, then the browser
    goes to the sale page, whose own Viewed Product belongs to the same visit."""
    customer = island("customer", json.dumps({"email": EMAIL}))
    (tmp_path / "home.html").write_text(shop_page(install, customer + "<a data-klaviyo-banner='Sale' href='/sale.html'>Sale</a>"))
    (tmp_path / "sale.html").write_text(shop_page(install, customer + island("product", ISLANDS["fine"])))

    report = verify([str(tmp_path / "home.html")], clicks=("[data-klaviyo-banner]",), browser=lane,
                    expect=("Clicked Banner", "Viewed Product"))

    good = [e["display_name"] for e in report.events if e["status"] == "good" and e["metric"] != "__activity__"]
    assert sorted(good) == ["Clicked Banner", "Viewed Product"], report.format()
    assert [x["met"] for x in report.expectations] == [True, True]
    assert report.ok, report.format()


def test_pages_that_navigate_at_once_keep_their_expectations_and_a_router_ends_the_wait(lane):
    """A product page that goes elsewhere as soon as it has loaded still expects Viewed Product of
    its island (it was never sent: no generated code here), and so does a page a visit goes on to;
    a link a router intercepts (the Navigation API) keeps the page: the visit ends, not its time."""
    onsite = f"{SCRIPT_TAG}<script>{LOADER}</script><script>klaviyo.identify({{email: '{EMAIL}'}});</script>"
    product = island("product", ISLANDS["fine"])
    router = ("<a id=go href='/elsewhere.html'>go</a><script>navigation.addEventListener('navigate', function (e) {"
              " if (e.canIntercept) e.intercept({handler: function () { klaviyo.track('Routed', {}); }}); });</script>")
    site = {"/leaves.html": f"<!doctype html><body>{onsite}{product}"
                            "<script>addEventListener('load', function () { location.href = '/next.html'; });</script>",
            "/hops.html": f"<!doctype html><body>{onsite}<script>location.href = '/sale.html';</script>",
            "/sale.html": f"<!doctype html><body>{onsite}{product}",
            "/routed.html": f"<!doctype html><body>{onsite}{router}",
            "/next.html": "<!doctype html><p>next"}
    visits = [Visit("https://shop.test/leaves.html"), Visit("https://shop.test/hops.html"),
              Visit("https://shop.test/routed.html", (("click", "#go"),))]

    report = run_visits(visits, site=site, labels=["leaves", "hops", "routed"], plan=load_plan(None), browser=lane,
                        timeout=5, jobs=1)

    judged = [(x["visit"], x["event"], x["why"], x["met"]) for x in report.expectations]
    assert judged == [("leaves", "Viewed Product", "its data island product on the page", False),
                      ("hops", "Viewed Product", "its data island product on https://shop.test/sale.html", False)]
    assert report.timed_out == [], report.format()
    assert [(e["visit"], e["status"]) for e in report.events if e["metric"] == "Routed"] == [("routed", "good")]


CHECKOUT_PLAN = """\
version: 1
public_key: Chk001
events:
  started_checkout:
    metric: Started Checkout
    inputs: [cart]
    fire:
      click: {selector: "button[name=checkout]"}
    properties:
      $value: {type: number, required: true, from: cart.total}
"""


def test_a_checkout_button_that_submits_the_cart_form_is_expected_and_delivers(tmp_path, lane):
    """The issue's Firefox case: a click trigger on a theme's standard checkout button, which
    submits the cart form. The plan makes the click's event expected; verify waits for it and
    follows the form to the checkout page."""
    (tmp_path / "plan.yaml").write_text(CHECKOUT_PLAN)
    generate(tmp_path / "plan.yaml", tmp_path / "dist")
    install = (tmp_path / "dist" / "install.html").read_text(encoding="utf-8")
    (tmp_path / "cart.html").write_text(shop_page(install, island("cart", '{"total": 29.98}')
                                                  + "<form action='/checkout.html'><button name=checkout>Check out</button></form>"))
    (tmp_path / "checkout.html").write_text("<!doctype html><p>checkout")

    report = verify([str(tmp_path / "cart.html")], clicks=("button[name=checkout]",), plan=tmp_path / "plan.yaml",
                    browser=lane, identify=EMAIL)

    assert [(x["event"], x["met"]) for x in report.expectations] == [("Started Checkout", True)], report.format()
    [event] = [e for e in report.events if e["metric"] == "Started Checkout"]
    assert (event["status"], event["value"]) == ("good", 29.98)
    assert report.ok, report.format()


def test_each_page_is_a_new_visitor(tmp_path, lane):
    """One lane, one page after the other: what the first page's visitor left (the identified
    cookie, storage) is gone for the second, as it is for a page in another lane."""
    first = "klaviyo.identify({email: 'ann@example.com'}); localStorage.setItem('left', 'x'); sessionStorage.setItem('left', 'y');"
    probe = ("klaviyo.track('Probe', {local: localStorage.getItem('left'), session: sessionStorage.getItem('left'),"
             " identified: /__kla_id/.test(document.cookie)});")
    for name, script in (("first", first), ("second", probe), ("third", first + probe)):
        (tmp_path / f"{name}.html").write_text(f"<!doctype html><body>{SCRIPT_TAG}<script>{LOADER}</script><script>{script}</script>")

    report = verify([str(tmp_path / f"{name}.html") for name in ("first", "second", "third")], browser=lane, jobs=1)

    probes = {Path(e["visit"]).stem: (e["status"], e["properties"]) for e in report.events if e["metric"] == "Probe"}
    assert probes["second"] == ("dropped", {"local": None, "session": None, "identified": False}), report.format()
    third = probes["third"][1]
    assert (third["local"], third["session"]) == ("x", "y")  # the probe does see its own page's storage


def test_what_a_page_does_after_its_visit_is_no_other_pages(tmp_path, lane):
    """A page's own timers keep going after its visit is over (verify does not wait for them), and
    it warns as it is left: none of it may reach the lane's next visit, a new visitor whose
    report holds only what its own page did."""
    warn = ("dispatchEvent(new CustomEvent('klaviyo-snippets:warning',"
            " {detail: {event: 'Viewed Product', kind: 'warning', reason: 'as it is left'}}));")
    (tmp_path / "late.html").write_text(
        "<!doctype html><body><script>addEventListener('load', function () {"
        " setInterval(function () { document.cookie = 'left=1; path=/'; }, 5); });"
        f" addEventListener('pagehide', function () {{ {warn} }});</script>")
    (tmp_path / "probe.html").write_text(f"<!doctype html><body>{SCRIPT_TAG}<script>{LOADER}</script>"
                                         "<script>klaviyo.track('Probe', {cookie: document.cookie});</script>")

    report = verify([str(tmp_path / "late.html"), str(tmp_path / "probe.html")], browser=lane, jobs=1)

    [probe] = [e for e in report.events if e["metric"] == "Probe"]
    assert (Path(probe["visit"]).stem, probe["properties"]) == ("probe", {"cookie": ""}), report.format()
    assert report.warnings == [] and report.timed_out == [], report.format()


def _lan_address() -> str | None:
    """An address of this machine that is not loopback (the harness blocks those hosts unless allowed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))
            address = probe.getsockname()[0]
        except OSError:
            return None
    return None if address.startswith("127.") else address


@pytest.fixture
def theme_server(tmp_path):
    """A theme's dev server on every address of this machine, serving tmp_path/server."""
    root = tmp_path / "server"
    root.mkdir()
    server = ThreadingHTTPServer(("0.0.0.0", 0), partial(_QuietHandler, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, server.server_address[1]
    server.shutdown()
    server.server_close()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_a_themes_own_hosts_let_through_or_served_from_a_folder(tmp_path, lane, theme_server):
    lan = _lan_address()
    if lan is None:
        pytest.skip("this machine has no address but loopback: nothing to let through")
    root, port = theme_server
    assets = tmp_path / "assets"
    assets.mkdir()
    (assets / "cart.js").write_text("klaviyo.track('Added to Cart', {$value: 12.5});")
    (root / "theme.js").write_text("klaviyo.identify({email: 'ann@example.com'});")
    (root / "shop.html").write_text(
        f"<!doctype html><body>{SCRIPT_TAG}<script>{LOADER}</script>"
        f"<script src='http://{lan}:{port}/theme.js'></script>"  # the theme's host: let through
        "<script src='https://cdn.theme.test/assets/cart.js'></script>"  # its CDN: served from a folder
        "<script src='https://cdn.theme.test/assets/gone.js'></script>"  # not in that folder: 404
        "<script src='https://tracker.example/t.js'></script>")  # anyone else's: blocked
    page = f"http://127.0.0.1:{port}/shop.html"

    report = verify([page], browser=lane, allow_hosts=(lan,), serve={"https://cdn.theme.test/assets/": assets},
                    expect=("Added to Cart", "Identify"))
    closed = verify([page], browser=lane, expect=("Added to Cart", "Identify"))

    assert [x["met"] for x in report.expectations] == [True, True], report.format()
    assert {b["url"] for b in report.blocked} == {"https://tracker.example/t.js"}  # Firefox asks twice
    assert {b["url"] for b in report.not_found} == {"https://cdn.theme.test/assets/gone.js"}
    assert report.ok, report.format()
    assert [x["met"] for x in closed.expectations] == [False, False]
    assert {b["url"] for b in closed.blocked} == {
        f"http://{lan}:{port}/theme.js", "https://cdn.theme.test/assets/cart.js",
        "https://cdn.theme.test/assets/gone.js", "https://tracker.example/t.js"}
