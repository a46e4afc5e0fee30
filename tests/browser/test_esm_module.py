"""The ES module in a real browser (issue 15, item 2; docs/headless.md): a storefront that
imports klaviyo-snippets.mjs with <script type="module"> and calls the exports sends the guide's
Viewed Product, exactly once; on a page that also has the classic bundle, the module exports that
same window.klaviyoSnippets and the plan's triggers fire once, not twice. (That the module does
nothing on a server is tests/unit/test_esm_package.py.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate
from tests.browser.guide import expected_event_body, pending_profile

pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
GUIDE_PAYLOADS = json.loads((REPO / "tests" / "golden" / "guide" / "payloads.json").read_text())
SHOPPER = "thomas.jefferson@example.com"


@pytest.fixture(scope="module")
def dist(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("esm") / "dist"
    generate(out_dir=out)
    return out


def _read(dist: Path, name: str) -> str:
    return (dist / name).read_text(encoding="utf-8")


def _args(dist: Path, function: str) -> str:
    events = json.loads(_read(dist, "samples.json"))["events"]
    [args] = [e["args"] for e in events.values() if e["function"] == function]
    return ", ".join(json.dumps(a) for a in args)


def _sent(klaviyo_stub, metric: str) -> list[dict]:
    return [e for e in klaviyo_stub.events(metric=metric) if e["status"] != "dropped"]


def test_a_module_script_that_calls_the_exports_sends_the_guides_viewed_product(klaviyo_shop, klaviyo_stub, dist):
    klaviyo_shop.add("/assets/klaviyo-snippets.mjs", _read(dist, "klaviyo-snippets.mjs"))
    module = (f'import {{identify, viewedProduct}} from "/assets/klaviyo-snippets.mjs";\n'
              f"identify({_args(dist, 'identify')});\nviewedProduct({_args(dist, 'viewedProduct')});")
    page = klaviyo_shop.open(f"<!doctype html><html><head><meta charset='utf-8'>{_read(dist, 'script-tag.html')}</head>"
                             f'<body><script type="module">{module}</script></body></html>', path="/products/winnie")
    event = klaviyo_stub.expect_event("Viewed Product", profile={"email": SHOPPER})
    assert event["body"] == expected_event_body("Viewed Product", GUIDE_PAYLOADS["Viewed Product"],
                                                pending_profile(email=SHOPPER))
    klaviyo_shop.settle()
    assert len(_sent(klaviyo_stub, "Viewed Product")) == 1
    assert page.evaluate("() => typeof window.klaviyoSnippets.viewedProduct") == "function"


def test_with_the_classic_bundle_on_the_page_the_module_shares_its_object_and_triggers_fire_once(
        klaviyo_shop, klaviyo_stub, dist):
    klaviyo_shop.add("/assets/klaviyo-snippets.mjs", _read(dist, "klaviyo-snippets.mjs"))
    module = ('import snippets, {viewedProduct} from "/assets/klaviyo-snippets.mjs";\n'
              "window.__shared = snippets === window.klaviyoSnippets && viewedProduct === snippets.viewedProduct;")
    body = _read(dist, "snippets/identify.html") + _read(dist, "snippets/viewed-product.html")
    page = klaviyo_shop.open(f"<!doctype html><html><head><meta charset='utf-8'>{_read(dist, 'install.html')}</head>"
                             f'<body>{body}<script type="module">{module}</script></body></html>', path="/products/winnie")
    page.wait_for_function("() => window.__shared !== undefined")
    assert page.evaluate("() => window.__shared") is True
    klaviyo_stub.expect_event("Viewed Product", profile={"email": SHOPPER})
    klaviyo_shop.settle()
    assert len(_sent(klaviyo_stub, "Viewed Product")) == 1
