"""The bundle loads Klaviyo's onsite script itself (issue 15, items 1 and 4; docs/consent.md):
`onsite_script.load: now | idle | interaction`. Counted: every request for klaviyo.js the page
makes. Asserted: exactly one (also with the pasted tag on the page), none before the load event
(idle) or the first interaction (interaction), and the calls made before it ran delivered after it
runs, in the order they were made, once; under a strict CSP (nonce + strict-dynamic), no
violation.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate

pytestmark = pytest.mark.browser

EMAIL = "ann.lee@example.com"
SCRIPT = "https://static.klaviyo.com/onsite/js/Load01/klaviyo.js"
TAG = f'<script async src="{SCRIPT}"></script>'
NONCE = "r4nd0mN0nce"
PLAN = """\
version: 1
public_key: Load01
onsite_script: {{load: {load}}}
events:
  identify:
    method: identify
    inputs: [customer]
    fire: {{load: true}}
    properties:
      email: {{type: string, required: true, from: customer.email}}
  step:
    metric: Load Step
    inputs: [step]
    properties:
      N: {{type: number, required: true, from: step.n}}
      $event_id: {{type: string, required: true, from: step.id}}
"""
CUSTOMER = f'<script type="application/json" data-klaviyo="customer">{{"email": "{EMAIL}"}}</script>'
# Three calls before klaviyo.js can have run (inline, while the page parses).
CALLS = "<script>[1, 2, 3].forEach(function (n) { klaviyoSnippets.step({n: n, id: 'load-' + n}); });</script>"
# The order in which the onsite script posts the events (concurrent posts may arrive in another).
XHR_SPY = """(() => {
  const open = XMLHttpRequest.prototype.open, send = XMLHttpRequest.prototype.send;
  window.__sends = [];
  XMLHttpRequest.prototype.open = function (method, url) { this.__url = url; return open.apply(this, arguments); };
  XMLHttpRequest.prototype.send = function (body) {
    if (/\\/client\\/events\\//.test(this.__url)) { const n = JSON.parse(body).data.attributes.properties.N; n !== undefined && window.__sends.push(n); }
    return send.apply(this, arguments);
  };
  window.__violations = [];
  document.addEventListener("securitypolicyviolation", e => window.__violations.push(e.violatedDirective + " " + e.blockedURI));
})();"""


@pytest.fixture(scope="module")
def installs(tmp_path_factory):
    """install.html per (load, nonce), generated once."""
    folder: Path = tmp_path_factory.mktemp("onsite-load")
    made: dict = {}

    def install(load: str, nonce: str | None = None) -> str:
        if (load, nonce) not in made:
            plan = folder / f"{load}.yaml"
            plan.write_text(PLAN.format(load=load), encoding="utf-8")
            out = folder / f"{load}-{nonce}"
            generate(plan, out, csp_nonce=nonce)
            made[load, nonce] = (out / "install.html").read_text(encoding="utf-8")
        return made[load, nonce]

    return install


def open_shop(klaviyo_shop, head: str, body: str = "") -> list[str]:
    urls: list[str] = []
    klaviyo_shop.page.on("request", lambda request: urls.append(request.url))
    klaviyo_shop.page.add_init_script(XHR_SPY)
    klaviyo_shop.open(f"<!doctype html><html><head><meta charset='utf-8'>{head}</head>"
                      f"<body>{CUSTOMER}{CALLS}<p style='height:3000px'>text</p>{body}</body></html>", path="/products/a")
    return urls


def delivered_once_in_order(klaviyo_shop, klaviyo_stub) -> None:
    klaviyo_shop.settle()
    events = klaviyo_stub.events(metric="Load Step")
    assert sorted(e["properties"]["N"] for e in events) == [1, 2, 3]
    assert klaviyo_shop.page.evaluate("() => window.__sends") == [1, 2, 3]
    assert {e["status"] for e in events} == {"good"} and [e["profile"]["email"] for e in events] == [EMAIL] * 3


@pytest.mark.parametrize("tag", [False, True], ids=["bundle-only", "tag-too"])
def test_now_loads_the_script_once_even_with_the_tag_on_the_page(klaviyo_shop, klaviyo_stub, installs, tag):
    urls = open_shop(klaviyo_shop, installs("now"), TAG if tag else "")
    delivered_once_in_order(klaviyo_shop, klaviyo_stub)
    assert urls.count(SCRIPT) == 1
    assert klaviyo_shop.page.evaluate("() => document.querySelectorAll('script[src*=\"klaviyo.js\"]').length") == 1


def test_idle_loads_after_the_load_event_and_delivers_what_was_queued(klaviyo_shop, klaviyo_stub, installs):
    klaviyo_shop.page.add_init_script("""addEventListener("load", () => {
      window.__atLoad = document.querySelectorAll('script[src*="klaviyo.js"]').length; });""")
    urls = open_shop(klaviyo_shop, installs("idle"))
    delivered_once_in_order(klaviyo_shop, klaviyo_stub)
    assert klaviyo_shop.page.evaluate("() => window.__atLoad") == 0
    assert urls.count(SCRIPT) == 1


def test_interaction_loads_on_the_first_interaction_only(klaviyo_shop, klaviyo_stub, installs):
    urls = open_shop(klaviyo_shop, installs("interaction"))
    page = klaviyo_shop.page
    page.wait_for_load_state("load")
    page.wait_for_timeout(500)
    assert SCRIPT not in urls and klaviyo_stub.events() == []  # no interaction, no timer: nothing
    page.keyboard.press("Tab")
    delivered_once_in_order(klaviyo_shop, klaviyo_stub)
    page.mouse.wheel(0, 400)
    page.mouse.click(5, 5)
    page.wait_for_timeout(200)
    assert urls.count(SCRIPT) == 1


@pytest.mark.parametrize("load, policy", [
    ("now", f"'nonce-{NONCE}' 'strict-dynamic'"),
    ("interaction", f"'nonce-{NONCE}' 'strict-dynamic'"),
    ("now", f"'nonce-{NONCE}'"),  # no strict-dynamic: the injected tag needs the bundle's nonce
])
def test_the_injected_script_runs_under_a_strict_nonce_csp(klaviyo_shop, klaviyo_stub, installs, load, policy):
    csp = f"<meta http-equiv=\"Content-Security-Policy\" content=\"script-src {policy}\">"
    calls_with_nonce = CALLS.replace("<script>", f'<script nonce="{NONCE}">')
    urls: list[str] = []
    klaviyo_shop.page.on("request", lambda request: urls.append(request.url))
    klaviyo_shop.page.add_init_script(XHR_SPY)
    klaviyo_shop.open(f"<!doctype html><html><head><meta charset='utf-8'>{csp}{installs(load, NONCE)}</head>"
                      f"<body>{CUSTOMER}{calls_with_nonce}</body></html>", path="/products/a")
    if load == "interaction":
        klaviyo_shop.page.mouse.click(5, 5)
    delivered_once_in_order(klaviyo_shop, klaviyo_stub)
    assert urls.count(SCRIPT) == 1
    assert klaviyo_shop.page.evaluate("() => window.__violations") == []
