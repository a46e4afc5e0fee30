"""Consent in a real browser (issue 15, item 1; docs/consent.md). Each preset signal is read from
a page shaped like the real one (Shopify's customerPrivacy object and its visitorConsentCollected
event, gtag's consent default and update pushes, OneTrust's globals and OneTrustGroupsUpdated, a
cookie), and the API always works. Counted: every request the page makes (klaviyo.js included);
asserted: exact payloads and their order at the stand-in Klaviyo.

* Denied (each signal), and undecided before it: zero requests leave the page; the held
  events' Promises resolve to false; an event after the denial returns false.
* Granted after three events: exactly those three arrive, in order, once (and the visitor's
  identify), and klaviyo.js loads once.
* Denied after a grant: the event before arrives, none after; __kla_off=true is set.
* forms-only: klaviyo.js loads with __kla_off=true already set, and nothing is tracked.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate

pytestmark = pytest.mark.browser

EMAIL = "ann.lee@example.com"
SCRIPT = "https://static.klaviyo.com/onsite/js/Cons01/klaviyo.js"
PLAN = """\
version: 1
public_key: Cons01
consent: {consent}
events:
  identify:
    method: identify
    inputs: [customer]
    fire: {{load: true}}
    properties:
      email: {{type: string, required: true, from: customer.email}}
  step:
    metric: Consent Step
    inputs: [step]
    properties:
      N: {{type: number, required: true, from: step.n}}
      Name: {{type: string, from: step.name}}
      $event_id: {{type: string, required: true, from: step.id}}
"""
SETTINGS = {
    "api": "{signal: api}",
    "shopify": "{signal: shopify}",
    "google": "{signal: google}",
    "onetrust": "{signal: onetrust}",
    "cookie": "{signal: cookie, cookie: {name: shop_consent, granted: 'yes'}}",
}
# Each CMP as a page has it before the visitor answers, and what its banner does on an answer
# (`ANSWER % "true"` grants, `ANSWER % "false"` denies).
SETUP = {
    "api": "",
    # Shopify's Customer Privacy API, loaded by Shopify.loadFeatures as on a theme; "" = not answered.
    "shopify": """<script>window.__c = {analytics: "", marketing: ""};
window.Shopify = {loadFeatures: function (features, done) {
  if (features[0].name !== "consent-tracking-api" || features[0].version !== "0.1") return done(new Error("feature"));
  setTimeout(function () {
    window.Shopify.customerPrivacy = {
      analyticsProcessingAllowed: function () { return window.__c.analytics === "yes"; },
      marketingAllowed: function () { return window.__c.marketing === "yes"; },
      currentVisitorConsent: function () { return {analytics: window.__c.analytics, marketing: window.__c.marketing, preferences: "", sale_of_data: ""}; }
    };
    done();
  }, 20);
}};</script>""",
    "google": """<script>window.dataLayer = window.dataLayer || [];
function gtag() { dataLayer.push(arguments); }
gtag("consent", "default", {ad_storage: "denied", analytics_storage: "denied", wait_for_update: 500});</script>""",
    "onetrust": """<script>window.OnetrustActiveGroups = ",C0001,"; window.__closed = false;
window.OneTrust = {IsAlertBoxClosed: function () { return window.__closed; }};</script>""",
    "cookie": "",
}
ANSWER = {
    "api": "klaviyoSnippets.consent({tracking: %s})",
    "shopify": """(function (yes) {
  window.__c = {analytics: yes ? "yes" : "no", marketing: yes ? "yes" : "no"};
  document.dispatchEvent(new CustomEvent("visitorConsentCollected", {detail: {analyticsAllowed: yes,
    firstPartyMarketingAllowed: yes, marketingAllowed: yes, preferencesAllowed: false, saleOfDataAllowed: false,
    thirdPartyMarketingAllowed: yes}}));
})(%s)""",
    "google": """(function (yes) {
  var v = yes ? "granted" : "denied";
  gtag("consent", "update", {ad_storage: v, analytics_storage: v, ad_user_data: v, ad_personalization: v});
})(%s)""",
    "onetrust": """(function (yes) {
  window.__closed = true;
  window.OnetrustActiveGroups = yes ? ",C0001,C0002,C0003,C0004," : ",C0001,";
  window.dispatchEvent(new CustomEvent("OneTrustGroupsUpdated", {detail: window.OnetrustActiveGroups.split(",").filter(String)}));
})(%s)""",
    "cookie": """document.cookie = "shop_consent=" + (%s ? "yes" : "no") + "; path=/\"""",
}
SIGNALS = list(SETTINGS)
CUSTOMER = f'<script type="application/json" data-klaviyo="customer">{{"email": "{EMAIL}"}}</script>'
THREE = "() => { window.__held = [1, 2, 3].map(function (n) { return klaviyoSnippets.step({n: n, name: 'step ' + n, id: 'c-' + n}); }); }"
POLL_MS = 600  # past the cookie signal's 500 ms poll
# The events the onsite script posts, in the order it sends them (its XMLHttpRequest posts): the
# order that is ours to keep; concurrent posts may reach the stand-in in another.
XHR_SPY = """(() => {
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  window.__sends = [];
  XMLHttpRequest.prototype.open = function (method, url) { this.__url = url; return open.apply(this, arguments); };
  XMLHttpRequest.prototype.send = function (body) {
    if (/\\/client\\/events\\//.test(this.__url)) { const n = JSON.parse(body).data.attributes.properties.N; n !== undefined && window.__sends.push(n); }
    return send.apply(this, arguments);
  };
})();"""


@pytest.fixture(scope="module")
def installs(tmp_path_factory):
    """install.html of each plan: (signal, denied) -> HTML, generated once."""
    folder: Path = tmp_path_factory.mktemp("consent")
    made: dict[tuple[str, str], str] = {}

    def install(signal: str, denied: str = "nothing", load: str = "now") -> str:
        if (signal, denied, load) not in made:
            consent = SETTINGS[signal][:-1] + f", denied: {denied}}}\nonsite_script: {{load: {load}}}"
            plan = folder / f"{signal}-{denied}-{load}.yaml"
            plan.write_text(PLAN.format(consent=consent), encoding="utf-8")
            generate(plan, folder / plan.stem)
            made[signal, denied, load] = (folder / plan.stem / "install.html").read_text(encoding="utf-8")
        return made[signal, denied, load]

    return install


def open_shop(klaviyo_shop, install: str, signal: str, body: str = "") -> list[str]:
    """Open the product page; every URL the page requests, from before the first."""
    urls: list[str] = []
    klaviyo_shop.page.on("request", lambda request: urls.append(request.url))
    klaviyo_shop.page.add_init_script(XHR_SPY)
    html = f"<!doctype html><html><head><meta charset='utf-8'>{SETUP[signal]}{install}</head><body>{CUSTOMER}{body}</body></html>"
    klaviyo_shop.open(html, path="/products/a")
    klaviyo_shop.page.wait_for_load_state("load")
    return urls


def outside(urls: list[str], klaviyo_shop) -> list[str]:
    """The requests that left the page: anything but the shop's own document (and its favicon)."""
    return [u for u in urls if not u.startswith(klaviyo_shop.origin + "/")]


def answer(page, signal: str, granted: bool) -> None:
    page.evaluate(f"() => {{ {ANSWER[signal] % ('true' if granted else 'false')}; }}")


def held(page) -> list:
    """What the three held calls' Promises resolved to ("pending" for any still unsettled after 1 s)."""
    return page.evaluate("""() => Promise.race([Promise.all(window.__held),
      new Promise(r => setTimeout(() => r("pending"), 1000))])""")


def steps(klaviyo_stub, page) -> list[dict]:
    """The Consent Step events the stand-in received, without $ keys, in the order the page sent
    them (asserted to be a reordering of the arrival order: each exactly once)."""
    got = {e["properties"]["N"]: {k: v for k, v in e["properties"].items() if not k.startswith("$")}
           for e in klaviyo_stub.events(metric="Consent Step")}
    order = page.evaluate("() => window.__sends")
    assert sorted(order) == sorted(got) and len(got) == len(klaviyo_stub.events(metric="Consent Step"))
    assert {e["status"] for e in klaviyo_stub.events(metric="Consent Step")} == {"good"}
    return [got[n] for n in order]


@pytest.mark.parametrize("signal", SIGNALS)
def test_denied_nothing_loads_and_nothing_is_sent(klaviyo_shop, klaviyo_stub, installs, signal):
    urls = open_shop(klaviyo_shop, installs(signal), signal)
    page = klaviyo_shop.page
    page.evaluate(THREE)
    page.wait_for_timeout(POLL_MS)
    assert page.evaluate("() => klaviyoSnippets.consent()") == {"tracking": None}
    answer(page, signal, False)
    page.wait_for_function("() => klaviyoSnippets.consent().tracking === false", timeout=POLL_MS * 3)
    assert held(page) == [False, False, False]
    assert page.evaluate("() => klaviyoSnippets.step({n: 4, id: 'c-4'})") is False
    page.wait_for_timeout(POLL_MS)
    assert outside(urls, klaviyo_shop) == []
    assert klaviyo_stub.requests() == [] and klaviyo_stub.events() == []


@pytest.mark.parametrize("signal", SIGNALS)
def test_grant_after_three_events_sends_exactly_those_in_order_once(klaviyo_shop, klaviyo_stub, installs, signal):
    urls = open_shop(klaviyo_shop, installs(signal), signal)
    page = klaviyo_shop.page
    page.evaluate(THREE)
    page.wait_for_timeout(POLL_MS)
    assert outside(urls, klaviyo_shop) == []  # undecided: nothing yet
    answer(page, signal, True)
    klaviyo_shop.settle()
    assert page.evaluate("() => klaviyoSnippets.consent()") == {"tracking": True}
    assert held(page) == [True, True, True]
    assert steps(klaviyo_stub, page) == [{"N": n, "Name": f"step {n}"} for n in (1, 2, 3)]
    assert [e["profile"]["email"] for e in klaviyo_stub.events(metric="Consent Step")] == [EMAIL] * 3
    assert len(klaviyo_stub.profiles()) == 1
    assert outside(urls, klaviyo_shop).count(SCRIPT) == 1
    assert klaviyo_stub.diagnostics() == []


@pytest.mark.parametrize("signal", ["api", "google"])
def test_denied_after_a_grant_stops_further_events(klaviyo_shop, klaviyo_stub, installs, signal):
    open_shop(klaviyo_shop, installs(signal), signal)
    page = klaviyo_shop.page
    answer(page, signal, True)
    page.evaluate("() => klaviyoSnippets.step({n: 1, id: 'c-1'})")
    klaviyo_stub.expect_event("Consent Step", properties={"N": 1})
    answer(page, signal, False)
    assert page.evaluate("() => klaviyoSnippets.consent()") == {"tracking": False}
    assert page.evaluate("() => klaviyoSnippets.step({n: 2, id: 'c-2'})") is False
    klaviyo_shop.settle()
    assert steps(klaviyo_stub, page) == [{"N": 1}]
    assert "__kla_off=true" in page.evaluate("() => document.cookie")


@pytest.mark.parametrize("signal", ["api", "onetrust"])
def test_forms_only_loads_the_onsite_script_and_tracks_nothing(klaviyo_shop, klaviyo_stub, installs, signal):
    urls = open_shop(klaviyo_shop, installs(signal, "forms-only"), signal)
    page = klaviyo_shop.page
    klaviyo_shop.settle()  # the stand-in klaviyo.js loaded (settle waits for it)
    assert "__kla_off=true" in page.evaluate("() => document.cookie.split('; ')")
    page.evaluate(THREE)
    answer(page, signal, False)
    klaviyo_shop.settle()
    assert held(page) == [False, False, False]
    # klaviyo.js, and the stand-in's own report that it found tracking off (no Klaviyo endpoint)
    assert [u for u in outside(urls, klaviyo_shop) if "/__stub__/diagnostics?" not in u] == [SCRIPT]
    assert [d["type"] for d in klaviyo_stub.diagnostics()] == ["tracking_off"]
    assert "__kla_off=true" in klaviyo_stub.diagnostics()[0]["reason"]
    assert klaviyo_stub.events() == [] and klaviyo_stub.profiles() == []
    assert [r["path"] for r in klaviyo_stub.requests() if "/client/" in r["path"]] == []


def test_the_api_works_whatever_the_signal_and_says_the_state(klaviyo_shop, klaviyo_stub, installs):
    open_shop(klaviyo_shop, installs("onetrust"), "onetrust")
    page = klaviyo_shop.page
    page.evaluate("() => { window.__w = []; addEventListener('klaviyo-snippets:warning', e => __w.push(e.detail.reason)); }")
    assert page.evaluate("() => klaviyoSnippets.consent('yes')") == {"tracking": None}
    assert page.evaluate("() => window.__w") == ["consent() takes {tracking: true} or {tracking: false}"]
    page.evaluate(THREE)
    assert page.evaluate("() => klaviyoSnippets.consent({tracking: true})") == {"tracking": True}
    klaviyo_shop.settle()
    assert steps(klaviyo_stub, page) == [{"N": n, "Name": f"step {n}"} for n in (1, 2, 3)]


def test_with_load_interaction_the_click_that_grants_is_the_interaction(klaviyo_shop, klaviyo_stub, installs):
    """A banner's accept button: its pointerdown comes before the grant, and still counts."""
    button = '<button id=accept onclick="klaviyoSnippets.consent({tracking: true})">Accept</button>'
    urls = open_shop(klaviyo_shop, installs("api", load="interaction"), "api", button)
    page = klaviyo_shop.page
    page.evaluate(THREE)
    page.wait_for_timeout(300)
    assert outside(urls, klaviyo_shop) == []
    page.click("#accept")
    klaviyo_shop.settle()
    assert steps(klaviyo_stub, page) == [{"N": n, "Name": f"step {n}"} for n in (1, 2, 3)]
    assert outside(urls, klaviyo_shop).count(SCRIPT) == 1
