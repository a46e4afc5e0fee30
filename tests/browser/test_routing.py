"""A real browser routed by `klaviyo_snippets.harness.browser._routing` to a tiny local server standing in for the stub.

The tiny server (not the real stand-in, so these tests pin the routing alone) serves an onsite
script that posts an event with XHR, and records every request it sees.
"""

from __future__ import annotations

import asyncio
import json
import threading
from pathlib import Path

import pytest
from aiohttp import web

from klaviyo_snippets.harness.browser._choose import BrowserUnavailable, choose_browser, context_options
from klaviyo_snippets.harness.browser._routing import SITE_ORIGIN, route_to_stub

pytestmark = pytest.mark.browser

SCRIPT_URL = "https://static.klaviyo.com/onsite/js/ABC123/klaviyo.js?v=2"
EVENTS_URL = "https://a.klaviyo.com/client/events/?company_id=ABC123"
EVENT = {"data": {"type": "event", "attributes": {"properties": {"value": 9.99}}}}

STOREFRONT = f"""<!doctype html>
<title>shop</title>
<script async src="{SCRIPT_URL}"></script>
<img src="https://example.com/x.png">
"""


class TinyStub:
    """An aiohttp app on 127.0.0.1, port 0, on its own event loop in a daemon thread."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    def __enter__(self) -> TinyStub:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *exc) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    def seen(self, method: str, path: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"] == path]

    async def _start(self) -> None:
        app = web.Application(middlewares=[self._record])
        app.router.add_get("/onsite/js/{company}/klaviyo.js", self._script)
        app.router.add_post("/client/events/", self._event)
        app.router.add_route("OPTIONS", "/client/events/", self._preflight)
        app.router.add_get("/ping", self._ping)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"

    @web.middleware
    async def _record(self, request: web.Request, handler):
        self.requests.append(
            {
                "method": request.method,
                "path": request.path,
                "query": request.query_string,
                "headers": {k.lower(): v for k, v in request.headers.items()},
                "body": await request.text(),
            }
        )
        return await handler(request)

    async def _script(self, request: web.Request) -> web.Response:
        base = request.headers.get("X-Stub-Api-Base", "https://a.klaviyo.com")
        company = request.match_info["company"]
        script = f"""
        (function () {{
          var xhr = new XMLHttpRequest();
          xhr.open("POST", {json.dumps(base)} + "/client/events/?company_id={company}");
          xhr.setRequestHeader("Content-Type", "application/json");
          xhr.setRequestHeader("revision", "2025-01-15");
          xhr.setRequestHeader("X-Klaviyo-Onsite", "1");
          xhr.onload = function () {{ window.__posted = xhr.status; }};
          xhr.onerror = function () {{ window.__posted = -1; }};
          xhr.send({json.dumps(json.dumps(EVENT))});
        }})();
        """
        return web.Response(text=script, content_type="text/javascript")

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text="pong", headers=_CORS)

    async def _event(self, request: web.Request) -> web.Response:
        return web.Response(status=202, headers=_CORS)

    async def _preflight(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers=_CORS)


_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Headers": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Private-Network": "true",
}


@pytest.fixture
def stub():
    with TinyStub() as server:
        yield server


@pytest.fixture(scope="module")
def launch(playwright):
    """Launch each engine once per module, as `klaviyo_snippets.harness.browser._choose` chooses it."""
    launched: dict = {}

    def get(name: str):
        if name not in launched:
            try:
                choice = choose_browser(name)
            except BrowserUnavailable as error:
                pytest.skip(error.one_line())
            engine = getattr(playwright, choice.name)
            launched[name] = (choice, engine.launch(**choice.launch_options(headless=True)))
        return launched[name]

    yield get
    for _, browser in launched.values():
        browser.close()


@pytest.fixture
def chromium(launch):
    return launch("chromium")[1]


@pytest.fixture(params=["chromium", "firefox"])
def lane(request, launch):
    """(choice, context) in each engine; the tests that use it hold in both."""
    choice, browser = launch(request.param)
    ctx = browser.new_context(**context_options())
    yield choice, ctx
    ctx.close()


@pytest.fixture
def context(chromium):
    ctx = chromium.new_context(**context_options())
    yield ctx
    ctx.close()


def _wait_for_post(page) -> int:
    page.wait_for_function("window.__posted !== undefined", timeout=10_000)
    return page.evaluate("window.__posted")


def test_forwards_script_and_event_to_the_stub(chromium, stub):
    context = chromium.new_context(**context_options())
    log = route_to_stub(context, stub.url, site={"/index.html": STOREFRONT})
    page = context.new_page()
    page.goto(f"{SITE_ORIGIN}/index.html")

    assert _wait_for_post(page) == 202
    (script,) = stub.seen("GET", "/onsite/js/ABC123/klaviyo.js")
    assert script["query"] == "v=2"
    assert "x-stub-api-base" not in script["headers"]
    (event,) = stub.seen("POST", "/client/events/")
    assert event["query"] == "company_id=ABC123"
    assert json.loads(event["body"]) == EVENT
    assert event["headers"]["revision"] == "2025-01-15"
    assert event["headers"]["x-klaviyo-onsite"] == "1"
    assert event["headers"]["content-type"] == "application/json"
    assert event["headers"]["origin"] == SITE_ORIGIN
    assert event["headers"]["x-stub-forwarded-host"] == "a.klaviyo.com"
    assert event["headers"]["host"] == stub.url.removeprefix("http://")
    assert [(f.method, f.url, f.status) for f in log.forwarded] == [
        ("GET", SCRIPT_URL, 200),
        ("POST", EVENTS_URL, 202),
    ]
    assert log.forwarded[1].target == f"{stub.url}/client/events/?company_id=ABC123"
    context.close()


def test_blocks_and_records_everything_else(lane, stub):
    _, context = lane
    log = route_to_stub(context, stub.url, site={"/index.html": STOREFRONT})
    page = context.new_page()
    page.goto(f"{SITE_ORIGIN}/index.html")
    page.wait_for_load_state("load")
    page.evaluate("fetch('https://www.google-analytics.com/g/collect', {method: 'POST'}).catch(() => {})")
    page.wait_for_timeout(200)

    blocked = {(b.method, b.url, b.resource_type) for b in log.blocked}
    assert ("GET", "https://example.com/x.png", "image") in blocked
    assert ("POST", "https://www.google-analytics.com/g/collect", "fetch") in blocked
    assert not [r for r in stub.requests if r["path"] in ("/x.png", "/g/collect")]
    json.dumps(log.to_dict())  # serialisable as it is


def test_local_requests_pass(lane, stub):
    _, context = lane
    route_to_stub(context, stub.url, site={"/": "<p>home</p>"})
    page = context.new_page()
    page.goto(f"{SITE_ORIGIN}/")
    assert page.evaluate(f"fetch('{stub.url}/ping').then(r => r.text())") == "pong"
    response = page.goto(f"{stub.url}/ping")
    assert response.status == 200 and page.content().count("pong") == 1


def test_direct_tells_the_script_to_post_straight_to_the_stub(lane, stub):
    choice, context = lane
    log = route_to_stub(context, stub.url, direct=True, site={"/index.html": STOREFRONT})
    page = context.new_page()
    page.goto(f"{SITE_ORIGIN}/index.html")

    assert _wait_for_post(page) == 202, choice.describe()
    (script,) = stub.seen("GET", "/onsite/js/ABC123/klaviyo.js")
    assert script["headers"]["x-stub-api-base"] == stub.url
    (event,) = stub.seen("POST", "/client/events/")
    assert json.loads(event["body"]) == EVENT
    assert "x-stub-forwarded-host" not in event["headers"]
    assert [f.url for f in log.forwarded] == [SCRIPT_URL]  # the POST was not routed


def test_a_klaviyo_is_not_routed_when_direct(chromium, stub):
    context = chromium.new_context()
    log = route_to_stub(context, stub.url, direct=True, site={"/": "<p>x</p>"})
    page = context.new_page()
    page.goto(f"{SITE_ORIGIN}/")
    page.evaluate(f"fetch('{EVENTS_URL}', {{method: 'POST', body: '{{}}'}}).catch(() => {{}})")
    page.wait_for_timeout(200)
    assert [b.url for b in log.blocked] == [EVENTS_URL]
    assert not stub.seen("POST", "/client/events/")
    context.close()


def test_serves_a_site_directory(context, stub, tmp_path: Path):
    (tmp_path / "products").mkdir()
    (tmp_path / "index.html").write_text("<h1>home</h1>")
    (tmp_path / "products" / "hat.html").write_text("<h1>hat</h1>")
    (tmp_path / "app.js").write_text("window.app = 1;")
    (tmp_path / "style.css").write_text("h1 {}")
    route_to_stub(context, stub.url, site=tmp_path)
    page = context.new_page()

    home = page.goto(f"{SITE_ORIGIN}/")
    assert home.status == 200 and page.inner_text("h1") == "home"
    assert home.headers["content-type"].startswith("text/html")
    hat = page.goto(f"{SITE_ORIGIN}/products/hat.html?variant=3")
    assert hat.status == 200 and page.inner_text("h1") == "hat"
    assert page.goto(f"{SITE_ORIGIN}/app.js").headers["content-type"].startswith("text/javascript")
    assert page.goto(f"{SITE_ORIGIN}/style.css").headers["content-type"].startswith("text/css")
    missing = page.goto(f"{SITE_ORIGIN}/nope.html")
    assert missing.status == 404 and "/nope.html" in page.content()
    assert page.goto(f"{SITE_ORIGIN}/%2e%2e/%2e%2e/etc/passwd").status == 404


def test_pages_added_later_and_https_storage(context, stub):
    log = route_to_stub(context, stub.url)
    page = context.new_page()
    assert page.goto(f"{SITE_ORIGIN}/late.html").status == 404
    script = "<script>document.cookie = '__kla_id=abc; Secure'; localStorage.k = 'v'</script>"
    url = log.add_page("/late.html", script)
    assert page.goto(url).status == 200
    assert page.evaluate("document.cookie") == "__kla_id=abc"
    assert page.evaluate("localStorage.k") == "v"
    assert page.evaluate("location.protocol") == "https:"


def test_stub_down_is_recorded_not_hung(chromium):
    with TinyStub() as gone:
        url = gone.url
    context = chromium.new_context()
    log = route_to_stub(context, url, site={"/index.html": STOREFRONT})
    page = context.new_page()
    page.goto(f"{SITE_ORIGIN}/index.html")
    page.wait_for_load_state("load")
    (attempt,) = log.forwarded
    assert (attempt.url, attempt.status) == (SCRIPT_URL, 0)
    assert attempt.error
    context.close()


def test_rejects_a_bad_stub_url_and_site(tmp_path):
    with pytest.raises(ValueError, match="http"):
        route_to_stub(None, "127.0.0.1:8000")
    with pytest.raises(ValueError, match="not a directory"):
        route_to_stub(None, "http://127.0.0.1:8000", site=tmp_path / "nope")


@pytest.mark.parametrize("url, routed", [
    ("http://127.0.0.1:8765/client/events/", False),
    ("http://127.1.2.3/", False),
    ("http://localhost:3000/app.js", False),
    ("https://shop.localhost/", False),
    ("http://[::1]:8080/x", False),
    ("https://shop.test/", True),
    ("https://a.klaviyo.com/client/events/", True),
    ("https://example.com/127.0.0.1", True),
    ("http://127.0.0.1.example.com/", True),
    ("http://localhost.example.com/", True),
])
def test_loopback_requests_are_never_paused_for_python(url, routed):
    """The catch-all route leaves loopback out of the pattern Playwright matches in its driver, so a
    direct post to the stand-in leaves at once (a paused one can lose a race with a navigation)."""
    from klaviyo_snippets.harness.browser._routing import _ANY_BUT_LOOPBACK, _is_local

    assert bool(_ANY_BUT_LOOPBACK.search(url)) is routed
    if not routed:
        assert _is_local(url)
