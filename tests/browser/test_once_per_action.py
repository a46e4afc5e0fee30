"""Once per action in a real browser (issue 15, item 6): a theme whose add to cart both submits
the product form (the plan's submit trigger) and calls the generated function from its own cart
code sends one Added to Cart; a double click on a click trigger sends one event; a click after
the window sends again. Exact counts of what reached the stand-in Klaviyo."""

from __future__ import annotations

from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate

pytestmark = pytest.mark.browser

EMAIL = "ann.lee@example.com"
PLAN = """\
version: 1
public_key: OnceT1
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
    fire:
      submit: {selector: "form[data-add]", input: item}
    once: {key: [AddedItemProductID]}
    properties:
      AddedItemProductID: {type: string, required: true, from: item.id}
      AddedItemQuantity: {type: number, from: item.quantity}
  clicked_like:
    metric: Clicked Like
    fire:
      click: {selector: "#Like"}
    once: {within: 1}
    properties:
      Page: {type: string, required: true, from: page.path}
"""

# The theme's own add to cart: it handles the form itself (an AJAX cart), and its cart code
# calls the generated function too, as a developer following two guides would.
THEME = """<form data-add><input name=id value=A><input name=quantity value=1><button>Add</button></form>
<button id=Like type=button>Like</button>
<script>
document.querySelector('form[data-add]').addEventListener('submit', function (e) {
  e.preventDefault();
  fetch('/cart/add.js', {method: 'POST'}).then(function () {
    klaviyoSnippets.addedToCart({id: 'A', quantity: 1});
  });
});
</script>"""


@pytest.fixture(scope="module")
def page_html(tmp_path_factory) -> str:
    folder: Path = tmp_path_factory.mktemp("once")
    (folder / "plan.yaml").write_text(PLAN, encoding="utf-8")
    generate(folder / "plan.yaml", folder / "dist")
    install = (folder / "dist" / "install.html").read_text(encoding="utf-8")
    customer = f'<script type="application/json" data-klaviyo="customer">{{"email": "{EMAIL}"}}</script>'
    return f"<!doctype html><html><head><meta charset='utf-8'>{install}</head><body>{customer}{THEME}</body></html>"


def sent(klaviyo_stub, metric: str) -> list[dict]:
    return [e for e in klaviyo_stub.events(metric=metric) if e["status"] != "dropped"]


def test_a_form_and_a_cart_call_of_one_add_send_one_added_to_cart(klaviyo_shop, klaviyo_stub, page_html):
    klaviyo_shop.add("/cart/add.js", "{}")
    page = klaviyo_shop.open(page_html, path="/products/a")
    klaviyo_shop.settle()
    page.click("form[data-add] button")
    page.wait_for_function("() => performance.getEntriesByName(location.origin + '/cart/add.js').length > 0")
    klaviyo_stub.expect_event("Added to Cart", properties={"AddedItemProductID": "A", "AddedItemQuantity": 1},
                              profile={"email": EMAIL})
    klaviyo_shop.settle()
    assert len(sent(klaviyo_stub, "Added to Cart")) == 1
    assert klaviyo_stub.diagnostics() == []


def test_a_double_click_is_one_action_and_a_click_after_the_window_another(klaviyo_shop, klaviyo_stub, page_html):
    page = klaviyo_shop.open(page_html, path="/products/a")
    klaviyo_shop.settle()
    page.dblclick("#Like")
    klaviyo_stub.expect_event("Clicked Like", properties={"Page": "/products/a"})
    klaviyo_shop.settle()
    assert len(sent(klaviyo_stub, "Clicked Like")) == 1
    page.wait_for_timeout(1100)  # past the plan's window (within: 1)
    page.click("#Like")
    klaviyo_shop.settle()
    assert len(sent(klaviyo_stub, "Clicked Like")) == 2
