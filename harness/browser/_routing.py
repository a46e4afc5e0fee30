"""Route a Playwright browser context to the stand-in Klaviyo, and keep it off the internet.

Pages keep their production URLs: `static.klaviyo.com` and `a.klaviyo.com` are answered by the
stand-in through Playwright's request interception (which runs before DNS, so this works
offline), a fake storefront `https://shop.test` is served from files or strings, local addresses
pass (Chromium is granted local-network access so the storefront may reach them), and every
other request is aborted and recorded. Nothing leaves the machine.
"""

from __future__ import annotations

import mimetypes
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from klaviyo_snippets.generator.net import is_loopback_host

__all__ = [
    "SITE_ORIGIN",
    "BlockedRequest",
    "ForwardedRequest",
    "RoutingLog",
    "route_to_stub",
    "pumping_sleep",
]

SITE_ORIGIN = "https://shop.test"
FORWARDED_HOST_HEADER = "X-Stub-Forwarded-Host"
API_BASE_HEADER = "X-Stub-Api-Base"

_STATIC = re.compile(r"^https?://static\.klaviyo\.com(?::\d+)?/")
_API = re.compile(r"^https?://a\.klaviyo\.com(?::\d+)?/")
_SITE = re.compile(r"^" + re.escape(SITE_ORIGIN) + r"(?::443)?(?:[/?#]|$)")
# Every URL but loopback ones. Playwright matches a route's regex in its driver, so a request
# this does not match is never paused for Python: the direct lane's posts to the stand-in (and a
# local dev server's requests) leave at once, with no delay of the harness's own to change their
# timing. The handler still checks `_is_local` for what slips through (e.g. user@localhost).
_ANY_BUT_LOOPBACK = re.compile(
    r"^(?!(?:https?|wss?)://(?:(?:[^/?#@]*\.)?localhost|127(?:\.\d{1,3}){3}|\[::1\])\.?(?::\d+)?(?:[/?#]|$))"
)

# Content types a storefront needs; mimetypes' answers depend on the machine's mime.types.
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".svg": "image/svg+xml",
    ".txt": "text/plain; charset=utf-8",
    ".map": "application/json",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
}
# Headers the browser shows us but that must be set by whoever sends the forwarded request.
# Chromium's Local Network Access refuses requests from a public origin (the storefront) to
# 127.0.0.1 (the stand-in, which the page reaches directly in the direct lane) without this.
_LOOPBACK_PERMISSION = "local-network-access"
_HOP_HEADERS = {"host", "content-length", "connection", "transfer-encoding", "keep-alive"}


@dataclass
class BlockedRequest:
    method: str
    url: str
    resource_type: str


@dataclass
class ForwardedRequest:
    method: str
    url: str  # the URL the page asked for
    status: int  # the stand-in's status; 0 when it could not be reached
    target: str  # where it went
    error: str | None = None


@dataclass
class RoutingLog:
    """What the routes did: requests blocked from leaving the machine, and those sent to the stub.

    Also holds the storefront's pages (`add_page`), which may be added after routing starts.
    """

    stub_url: str
    direct: bool = False
    blocked: list[BlockedRequest] = field(default_factory=list)
    forwarded: list[ForwardedRequest] = field(default_factory=list)
    site_dir: Path | None = None
    pages: dict[str, str] = field(default_factory=dict)

    def add_page(self, path: str, html: str) -> str:
        """Serve `html` at `https://shop.test{path}`; returns that URL."""
        if not path.startswith("/"):
            raise ValueError(f"a page path starts with '/': {path!r}")
        self.pages[path] = html
        return self.site_url(path)

    def site_url(self, path: str = "/") -> str:
        return SITE_ORIGIN + (path if path.startswith("/") else "/" + path)

    def to_dict(self) -> dict[str, Any]:
        return {
            "stub_url": self.stub_url,
            "direct": self.direct,
            "blocked": [asdict(item) for item in self.blocked],
            "forwarded": [asdict(item) for item in self.forwarded],
        }

    # -- what each route does, apart from the sync/async calls -------------------------------

    def _forward_target(self, url: str) -> str:
        parts = urlsplit(url)
        return self.stub_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")

    def _site_response(self, url: str) -> tuple[int, str, bytes]:
        path = urlsplit(url).path or "/"
        if path in self.pages:
            return 200, _content_type(path, default=_CONTENT_TYPES[".html"]), self.pages[path].encode()
        if self.site_dir is not None:
            file = _file_under(self.site_dir, path)
            if file is not None:
                return 200, _content_type(file.name), file.read_bytes()
        known = sorted(self.pages)
        body = f"404: no page {path} on {SITE_ORIGIN}"
        if known:
            body += "; pages: " + ", ".join(known)
        return 404, "text/plain; charset=utf-8", body.encode()


def route_to_stub(
    context, stub_url: str, *, direct: bool = False, site: Path | str | dict | None = None
) -> RoutingLog:
    """Route a sync Playwright `BrowserContext` to the stand-in at `stub_url` (see the module).

    `direct=True` is for browsers where a routed POST loses its body (Firefox over BiDi): the
    onsite script is told, by header, to post straight to the stand-in, and a.klaviyo.com is not
    routed. `site` is a directory or a ``{"/path": "html"}`` dict served at `SITE_ORIGIN`.
    """
    log = _new_log(stub_url, direct, site)
    from playwright.sync_api import Error

    def block_or_continue(route) -> None:
        request = route.request
        if _is_local(request.url):
            route.continue_()
            return
        log.blocked.append(BlockedRequest(request.method, request.url, request.resource_type))
        route.abort("blockedbyclient")

    def forward(route, extra_headers: dict[str, str]) -> None:
        request = route.request
        target = log._forward_target(request.url)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        try:
            response = route.fetch(url=target, headers={**headers, **extra_headers}, max_redirects=0)
        except Error as error:
            log.forwarded.append(ForwardedRequest(request.method, request.url, 0, target, _first_line(error)))
            route.abort("connectionrefused")
            return
        log.forwarded.append(ForwardedRequest(request.method, request.url, response.status, target))
        try:
            route.fulfill(response=response)
        except Error:  # the page or context closed while the stand-in answered
            pass

    def serve_site(route) -> None:
        status, content_type, body = log._site_response(route.request.url)
        route.fulfill(status=status, content_type=content_type, body=body)

    # The last route registered is tried first: the catch-all goes in first.
    context.route(_ANY_BUT_LOOPBACK, block_or_continue)
    context.route(_SITE, serve_site)
    static_headers = {API_BASE_HEADER: log.stub_url} if direct else {}
    context.route(_STATIC, lambda route: forward(route, static_headers))
    if not direct:
        context.route(_API, lambda route: forward(route, {FORWARDED_HOST_HEADER: "a.klaviyo.com"}))
    if _is_chromium(context):
        try:
            context.grant_permissions([_LOOPBACK_PERMISSION])
        except Error:  # a Playwright without the permission; only direct posts need it
            pass
    return log


def pumping_sleep(context):
    """A sleep that keeps this context's routes working while the caller waits.

    Sync Playwright runs route handlers only while the main thread is inside a Playwright call:
    a plain `time.sleep` would hold every routed request (and so every event) until it ends.
    """
    import time

    def sleep(seconds: float) -> None:
        pages = [p for p in context.pages if not p.is_closed()]
        if pages:
            pages[0].wait_for_timeout(seconds * 1000)
        else:
            time.sleep(seconds)

    return sleep


def _new_log(stub_url: str, direct: bool, site) -> RoutingLog:
    parts = urlsplit(stub_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"stub_url must be an http(s) URL, got {stub_url!r}")
    log = RoutingLog(stub_url=stub_url.rstrip("/"), direct=direct)
    if isinstance(site, dict):
        for path, html in site.items():
            log.add_page(path, html)
    elif site is not None:
        site_dir = Path(site)
        if not site_dir.is_dir():
            raise ValueError(f"site must be a directory or a dict of pages: {site_dir} is not a directory")
        log.site_dir = site_dir.resolve()
    return log


def _is_chromium(context) -> bool:
    browser = getattr(context, "browser", None)
    return browser is not None and browser.browser_type.name == "chromium"


def _is_local(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https", "ws", "wss"):
        return True  # data:, blob:, about: never leave the machine
    return is_loopback_host(parts.hostname or "")


def _file_under(root: Path, url_path: str) -> Path | None:
    relative = unquote(url_path).lstrip("/")
    candidate = (root / relative).resolve()
    if candidate.is_dir():
        candidate = candidate / "index.html"
    if not candidate.is_relative_to(root) or not candidate.is_file():
        return None
    return candidate


def _content_type(name: str, *, default: str = "application/octet-stream") -> str:
    suffix = Path(name).suffix.lower()
    if not suffix:
        return default
    if suffix in _CONTENT_TYPES:
        return _CONTENT_TYPES[suffix]
    guessed, _ = mimetypes.guess_type(name)
    return guessed or default


def _first_line(error: Exception) -> str:
    text = getattr(error, "message", None) or str(error)
    return text.strip().splitlines()[0] if text.strip() else type(error).__name__
