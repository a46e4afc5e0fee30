"""Identify first, whenever klaviyo.js runs: an event the theme sends before DOMContentLoaded,
while Klaviyo's onsite script already runs (a cached script, a delay-JS optimizer that ran it
first), reaches it after the page-load identify of the customer's data island, so it is not
dropped as anonymous. klaviyo.js does this with its own queue (identify first); when it is
already running, the generated code must. Exact payloads and counts at the stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate

pytestmark = pytest.mark.browser

EMAIL = "ann.lee@example.com"
PLAN = """\
version: 1
public_key: FirstK
events:
  identify:
    method: identify
    inputs: [customer]
    fire: {load: true}
    properties:
      email: {type: string, required: true, from: customer.email}
  added_to_cart:
    metric: Added to Cart
    inputs: [item]
    properties:
      AddedItemProductID: {type: string, required: true, from: item.id}
"""
# klaviyo.js loaded synchronously in the head: it runs before the body is parsed, as a cached
# async script or an optimizer's replay can; the theme's inline call comes before DOMContentLoaded.
SCRIPT = '<script src="https://static.klaviyo.com/onsite/js/FirstK/klaviyo.js"></script>'
BODY = ('<script type="application/json" data-klaviyo="customer">{"email": "%s"}</script>'
        "<script>window.__sent = klaviyoSnippets.addedToCart({id: 'A'}) !== false;</script>") % EMAIL


@pytest.fixture(scope="module")
def install(tmp_path_factory) -> str:
    folder: Path = tmp_path_factory.mktemp("first")
    (folder / "plan.yaml").write_text(PLAN, encoding="utf-8")
    generate(folder / "plan.yaml", folder / "dist")
    return (folder / "dist" / "install.html").read_text(encoding="utf-8")


def test_an_event_sent_before_domcontentloaded_to_a_running_klaviyo_js_follows_identify(
        klaviyo_shop, klaviyo_stub, install):
    page = klaviyo_shop.open(f"<!doctype html><html><head>{install}{SCRIPT}</head><body>{BODY}</body></html>")
    klaviyo_shop.settle()
    assert page.evaluate("window.__sent") is True
    event = klaviyo_stub.expect_event("Added to Cart", properties={"AddedItemProductID": "A"}, profile={"email": EMAIL})
    assert event["status"] == "good"
    assert [e["metric"] for e in klaviyo_stub.events() if e["status"] == "dropped"] == []
    assert len(klaviyo_stub.events(metric="Added to Cart")) == 1
    # identify ran once: its page-load trigger did not send it again at DOMContentLoaded
    assert len(klaviyo_stub.profiles()) == 1
    assert klaviyo_stub.diagnostics() == []
