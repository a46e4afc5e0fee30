"""The browser side: which browser to launch and how (Debian's, Playwright's, a given binary),
installing the missing ones, routing a Playwright context's Klaviyo traffic to the stand-in (and
a theme's own asset hosts through, or from folders), what the harness adds to every page (the
generated code's warnings posted to the stand-in, when a page has nothing left to send, an
identified visitor), and the pytest fixtures that tie those to pytest-playwright.
"""

from __future__ import annotations

from klaviyo_snippets.harness.browser._choose import (
    BROWSER_NAMES, CHROMIUM_ENV, DESKTOP_USER_AGENT, FIREFOX_ENV, BrowserChoice, BrowserUnavailable,
    WebKitGTK, choose_browser, context_options, find_webkitgtk,
)
from klaviyo_snippets.harness.browser._install import ensure, which_lanes
from klaviyo_snippets.harness.browser._routing import (
    SITE_ORIGIN, BlockedRequest, ForwardedRequest, RoutingLog, allowed_host, pumping_sleep, route_to_stub,
    route_to_stub_async, served_prefix,
)
from klaviyo_snippets.harness.browser._signals import (
    HARNESS_GLOBAL, IDLE_JS, PENDING_JS, WARNING_EVENT, capture_script, identify_script, identify_visitor,
)

__all__ = [
    "BROWSER_NAMES", "CHROMIUM_ENV", "FIREFOX_ENV", "DESKTOP_USER_AGENT",
    "BrowserChoice", "BrowserUnavailable", "WebKitGTK", "choose_browser", "context_options",
    "find_webkitgtk", "ensure", "which_lanes",
    "SITE_ORIGIN", "BlockedRequest", "ForwardedRequest", "RoutingLog", "route_to_stub", "route_to_stub_async",
    "pumping_sleep", "allowed_host", "served_prefix",
    "HARNESS_GLOBAL", "WARNING_EVENT", "PENDING_JS", "IDLE_JS", "capture_script", "identify_script",
    "identify_visitor",
]
