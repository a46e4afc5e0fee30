"""Route a Playwright browser context to the stand-in Klaviyo, and keep it off the internet.

Pages keep their production URLs: `static.klaviyo.com` and `a.klaviyo.com` are answered by the
stand-in through Playwright's request interception (which runs before DNS, so this works
offline), a fake storefront `https://shop.test` is served from files or strings, local addresses
pass (Chromium is granted local-network access so the storefront may reach them), and every
other request is aborted and recorded. Nothing leaves the machine, unless the caller lets a
theme's own asset hosts through (`allow_hosts`); URL prefixes can instead be answered from local
folders (`serve`), for a theme's CDN offline. Every page also gets the harness's init script
(`_signals`): the generated code's warnings are posted to the stand-in as diagnostics.
"""

from __future__ import annotations

import contextlib
import mimetypes
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.net import is_ip_literal, is_loopback_host
from klaviyo_snippets.harness.browser._signals import capture_script

__all__ = [
    "SITE_ORIGIN",
    "BlockedRequest",
    "ForwardedRequest",
    "RoutingLog",
    "route_to_stub",
    "route_to_stub_async",
    "pumping_sleep",
    "allowed_host",
    "served_prefix",
]

SITE_ORIGIN = "https://shop.test"
FORWARDED_HOST_HEADER = "X-Stub-Forwarded-Host"
API_BASE_HEADER = "X-Stub-Api-Base"

_STATIC = re.compile(r"^https?://static\.klaviyo\.com(?::\d+)?/")
_API = re.compile(r"^https?://a\.klaviyo\.com(?::\d+)?/")
_API_ORIGIN = "https://a.klaviyo.com"
_KLAVIYO_DOMAIN = "klaviyo.com"
_SITE = re.compile(r"^" + re.escape(SITE_ORIGIN) + r"(?::443)?(?:[/?#]|$)")
# The catch-all route matches every URL but loopback ones (and allowed hosts: `_catch_all`).
# Playwright matches a route's regex in its driver, so a request this does not match is never
# paused for Python: the direct lane's posts to the stand-in (and a local dev server's requests)
# leave at once, with no delay of the harness's own to change their timing. The handler still
# checks `_is_local` for what slips through (e.g. user@localhost).
_LOOPBACK_HOSTS = r"(?:[^/?#@]*\.)?localhost|127(?:\.\d{1,3}){3}|\[::1\]"
_ANY_BUT_LOOPBACK = re.compile(r"^(?!(?:https?|wss?)://(?:" + _LOOPBACK_HOSTS + r")\.?(?::\d+)?(?:[/?#]|$))")
_HOST_NAME = re.compile(r"^(?:\*\.)?(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)*[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$")

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
    """What the routes did: requests blocked from leaving the machine, those sent to the stub,
    and requests under a served prefix that had no file (`not_found`, answered 404).

    Also holds the storefront's pages (`add_page`), which may be added after routing starts.
    """

    stub_url: str
    direct: bool = False
    blocked: list[BlockedRequest] = field(default_factory=list)
    forwarded: list[ForwardedRequest] = field(default_factory=list)
    site_dir: Path | None = None
    pages: dict[str, str] = field(default_factory=dict)
    allowed_hosts: tuple[str, ...] = ()
    served: dict[str, Path] = field(default_factory=dict)
    not_found: list[BlockedRequest] = field(default_factory=list)
    # (url, html) -> (html, extra response headers): how a verify condition rewrites the
    # storefront's HTML pages (a CSP header, a script optimizer); None: served as they are.
    page_filter: Any = None

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
            "allowed_hosts": list(self.allowed_hosts),
            "served": {prefix: str(folder) for prefix, folder in self.served.items()},
            "not_found": [asdict(item) for item in self.not_found],
        }

    def is_allowed(self, url: str) -> bool:
        """Whether `url` is on a host let through (`allow_hosts`)."""
        host = (urlsplit(url).hostname or "").rstrip(".").lower()
        return any(host == h or (h.startswith("*.") and host.endswith(h[1:])) for h in self.allowed_hosts)

    # -- what each route does, apart from the sync/async calls -------------------------------

    def _lets_out(self, request) -> bool:
        """The catch-all's decision: a local request or one to an allowed host goes on; any
        other is recorded as blocked."""
        if _is_local(request.url) or self.is_allowed(request.url):
            return True
        self.blocked.append(BlockedRequest(request.method, request.url, request.resource_type))
        return False

    def _forwarding(self, request, extra_headers: dict[str, str]) -> tuple[str, dict[str, str]]:
        """Where a Klaviyo request goes at the stand-in, and with which headers."""
        parts = urlsplit(request.url)
        target = self.stub_url.rstrip("/") + parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}
        return target, {**headers, **extra_headers}

    def _forwarded(self, request, target: str, status: int, error: Exception | None = None) -> None:
        self.forwarded.append(ForwardedRequest(request.method, request.url, status, target,
                                               None if error is None else _first_line(error)))

    def _site_response(self, url: str) -> dict:
        path = urlsplit(url).path or "/"
        if path in self.pages:
            return self._filtered(url, _answer(200, _content_type(path, default=_CONTENT_TYPES[".html"]),
                                               self.pages[path].encode()))
        if self.site_dir is not None:
            file = _file_under(self.site_dir, path)
            if file is not None:
                return self._filtered(url, _answer(200, _content_type(file.name), file.read_bytes()))
        known = sorted(self.pages)
        body = f"404: no page {path} on {SITE_ORIGIN}"
        if known:
            body += "; pages: " + ", ".join(known)
        return _answer(404, "text/plain; charset=utf-8", body.encode())

    def _filtered(self, url: str, response: dict) -> dict:
        if self.page_filter is None or not response["content_type"].startswith("text/html"):
            return response
        body, headers = self.page_filter(url, response["body"])
        return {**response, "body": body, "headers": headers}

    def _folder_response(self, request, prefix: str, folder: Path) -> dict:
        file = _file_under(folder, urlsplit(request.url).path[len(urlsplit(prefix).path):])
        if file is None:
            self.not_found.append(BlockedRequest(request.method, request.url, request.resource_type))
            return _answer(404, "text/plain; charset=utf-8", f"404: no file for {request.url} under {folder}".encode())
        return _answer(200, _content_type(file.name), file.read_bytes())

    def _routes(self) -> list[tuple[re.Pattern, str, tuple]]:
        """(pattern, what, arguments) in the order to register them: the last registered is tried
        first, so the catch-all goes in first. Allowed hosts are left out of it, so their requests
        are never paused (nor lose a POST body over BiDi)."""
        routes = [(_catch_all(self.allowed_hosts), "outside", ()), (_SITE, "site", ())]
        routes += [(re.compile("^" + re.escape(prefix)), "folder", (prefix, folder))
                   for prefix, folder in self.served.items()]
        routes.append((_STATIC, "forward", ({API_BASE_HEADER: self.stub_url} if self.direct else {},)))
        if not self.direct:
            routes.append((_API, "forward", ({FORWARDED_HOST_HEADER: "a.klaviyo.com"},)))
        return routes

    def _capture_url(self) -> str:
        """Where the pages post the generated code's warnings: the stand-in as the onsite script reaches it."""
        return self.stub_url if self.direct else _API_ORIGIN


def _answer(status: int, content_type: str, body: bytes) -> dict:
    return {"status": status, "content_type": content_type, "body": body}


def route_to_stub(
    context, stub_url: str, *, direct: bool = False, site: Path | str | dict | None = None,
    allow_hosts=(), serve: dict | None = None,
) -> RoutingLog:
    """Route a sync Playwright `BrowserContext` to the stand-in at `stub_url` (see the module).

    `direct=True` is for browsers where a routed POST loses its body (Firefox over BiDi): the
    onsite script is told, by header, to post straight to the stand-in, and a.klaviyo.com is not
    routed. `site` is a directory or a ``{"/path": "html"}`` dict served at `SITE_ORIGIN`.
    `allow_hosts`: hosts (``cdn.example.com``, ``*.example.com`` for its subdomains) whose
    requests go out as the page made them, never paused; `serve`: ``{"https://cdn.example.com/assets/":
    folder}``, each URL under a prefix answered with the file at the rest of its path (404 if none).
    Both are checked as `allowed_host` and `served_prefix` check them (ValueError when wrong).
    `route_to_stub_async` does the same for an async context.
    """
    log = _new_log(stub_url, direct, site, allow_hosts, serve)
    from playwright.sync_api import Error

    # Each answer may find the page or its context gone meanwhile: then there is no one to answer.
    def outside(route) -> None:
        with contextlib.suppress(Error):
            if log._lets_out(route.request):
                route.continue_()
            else:
                route.abort("blockedbyclient")

    def forward(route, extra_headers: dict[str, str]) -> None:
        request = route.request
        target, headers = log._forwarding(request, extra_headers)
        try:
            response = route.fetch(url=target, headers=headers, max_redirects=0)
        except Error as error:
            log._forwarded(request, target, 0, error)
            with contextlib.suppress(Error):
                route.abort("connectionrefused")
            return
        log._forwarded(request, target, response.status)
        with contextlib.suppress(Error):
            route.fulfill(response=response)

    def answer(route, response: dict) -> None:
        with contextlib.suppress(Error):
            route.fulfill(**response)

    handlers = {
        "outside": outside,
        "site": lambda route: answer(route, log._site_response(route.request.url)),
        "folder": lambda route, prefix, folder: answer(route, log._folder_response(route.request, prefix, folder)),
        "forward": forward,
    }
    for pattern, what, args in log._routes():
        context.route(pattern, _one_argument(handlers[what], *args))
    if _is_chromium(context):
        try:
            context.grant_permissions([_LOOPBACK_PERMISSION])
        except Error:  # a Playwright without the permission; only direct posts need it
            pass
    context.add_init_script(capture_script(log._capture_url()))
    return log


async def route_to_stub_async(
    context, stub_url: str, *, direct: bool = False, site: Path | str | dict | None = None,
    allow_hosts=(), serve: dict | None = None,
) -> RoutingLog:
    """`route_to_stub` for an async Playwright `BrowserContext`."""
    log = _new_log(stub_url, direct, site, allow_hosts, serve)
    from playwright.async_api import Error

    async def outside(route) -> None:
        with contextlib.suppress(Error):
            if log._lets_out(route.request):
                await route.continue_()
            else:
                await route.abort("blockedbyclient")

    async def forward(route, extra_headers: dict[str, str]) -> None:
        request = route.request
        target, headers = log._forwarding(request, extra_headers)
        try:
            response = await route.fetch(url=target, headers=headers, max_redirects=0)
        except Error as error:
            log._forwarded(request, target, 0, error)
            with contextlib.suppress(Error):
                await route.abort("connectionrefused")
            return
        log._forwarded(request, target, response.status)
        with contextlib.suppress(Error):
            await route.fulfill(response=response)

    async def answer(route, response: dict) -> None:
        with contextlib.suppress(Error):
            await route.fulfill(**response)

    async def site(route) -> None:
        await answer(route, log._site_response(route.request.url))

    async def folder(route, prefix: str, path: Path) -> None:
        await answer(route, log._folder_response(route.request, prefix, path))

    handlers = {"outside": outside, "site": site, "folder": folder, "forward": forward}
    for pattern, what, args in log._routes():
        await context.route(pattern, _one_argument(handlers[what], *args))
    if _is_chromium(context):
        try:
            await context.grant_permissions([_LOOPBACK_PERMISSION])
        except Error:
            pass
    await context.add_init_script(capture_script(log._capture_url()))
    return log


def allowed_host(text: str) -> str:
    """A host to let through, as given to `--allow-host`: ``cdn.example.com``, or
    ``*.example.com`` for every subdomain; UserError when it is not one, or is Klaviyo's
    (the stand-in answers Klaviyo) or the storefront's."""
    host = text.strip().rstrip(".").lower()
    hint = "give a host name only, e.g. cdn.example.com or *.example.com"
    if "://" in host or "/" in host:
        raise UserError(f"{text!r} is not a host name: it has a scheme or a path", hint=hint)
    if not (_HOST_NAME.match(host) or is_ip_literal(host)):
        raise UserError(f"{text!r} is not a host name", hint=hint)
    _not_klaviyo_nor_the_shop(host.removeprefix("*."), text)
    return host


def served_prefix(text: str) -> tuple[str, Path]:
    """``URL_PREFIX=DIR`` as given to `--serve`: (the prefix, ending in "/", the folder);
    UserError when the prefix is not an http(s) URL, is Klaviyo's, or the folder is missing."""
    prefix, equals, folder = text.partition("=")
    hint = "e.g. --serve https://cdn.example.com/assets/=theme/assets"
    if not equals or not prefix or not folder:
        raise UserError(f"{text!r} is not URL_PREFIX=DIR", hint=hint)
    try:
        parts = urlsplit(prefix)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname or parts.query \
            or parts.fragment or parts.username or parts.password or any(c.isspace() for c in prefix):
        raise UserError(f"{prefix!r} is not an http(s) URL prefix (a scheme, a host, a path; no query)", hint=hint)
    _not_klaviyo_nor_the_shop(parts.hostname, prefix, served=True)
    try:
        path = Path(folder).expanduser()
        found = path.is_dir()
    except (ValueError, OSError, RuntimeError):  # a NUL in it, a name too long, no home for ~
        found = False
    if not found:
        raise UserError(f"{folder!r} is not a folder", hint="give the folder that holds the files of that URL prefix")
    return prefix if prefix.endswith("/") else prefix + "/", path.resolve()


def _not_klaviyo_nor_the_shop(host: str, given: str, *, served: bool = False) -> None:
    if host == _KLAVIYO_DOMAIN or host.endswith("." + _KLAVIYO_DOMAIN):
        raise UserError(f"{given!r} is Klaviyo's: the stand-in answers Klaviyo's hosts, so that no event "
                        "reaches your real account", hint="leave Klaviyo's hosts out")
    if not served and host == urlsplit(SITE_ORIGIN).hostname:
        raise UserError(f"{given!r} is the storefront the harness serves itself", hint="leave it out")


def _checked(parse, text: str):
    try:
        return parse(text)
    except UserError as error:
        raise ValueError(error.message) from None


def _one_argument(handler, *args):
    """A route handler taking the route alone (Playwright passes the request too to one that
    takes more arguments, defaults included)."""
    return lambda route: handler(route, *args)


def _catch_all(allowed: tuple[str, ...]) -> re.Pattern:
    """Every URL but loopback ones and those on an allowed host."""
    if not allowed:
        return _ANY_BUT_LOOPBACK
    hosts = [_LOOPBACK_HOSTS]
    for host in allowed:
        wildcard = host.startswith("*.")
        name = re.escape(host.removeprefix("*."))
        hosts.append(r"[^/?#@]+\." + name if wildcard else name)
    return re.compile(r"^(?!(?:https?|wss?)://(?:" + "|".join(hosts) + r")\.?(?::\d+)?(?:[/?#]|$))")


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


def _new_log(stub_url: str, direct: bool, site, allow_hosts=(), serve: dict | None = None) -> RoutingLog:
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
    log.allowed_hosts = tuple(dict.fromkeys(_checked(allowed_host, host) for host in allow_hosts))
    for prefix, folder in (serve or {}).items():
        prefix, folder = _checked(served_prefix, f"{prefix}={folder}")
        log.served[prefix] = folder
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
