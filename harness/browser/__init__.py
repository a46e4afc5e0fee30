"""The browser side: which browser to launch and how (Debian's, Playwright's, a given binary),
installing the missing ones, routing a Playwright context's Klaviyo traffic to the stand-in,
and the pytest fixtures that tie those to pytest-playwright.
"""

from __future__ import annotations

from klaviyo_snippets.harness.browser._choose import (
    BROWSER_NAMES, CHROMIUM_ENV, DESKTOP_USER_AGENT, FIREFOX_ENV, BrowserChoice, BrowserUnavailable,
    WebKitGTK, choose_browser, context_options, find_webkitgtk,
)
from klaviyo_snippets.harness.browser._install import ensure, which_lanes
from klaviyo_snippets.harness.browser._routing import (
    SITE_ORIGIN, BlockedRequest, ForwardedRequest, RoutingLog, pumping_sleep, route_to_stub,
)

__all__ = [
    "BROWSER_NAMES", "CHROMIUM_ENV", "FIREFOX_ENV", "DESKTOP_USER_AGENT",
    "BrowserChoice", "BrowserUnavailable", "WebKitGTK", "choose_browser", "context_options",
    "find_webkitgtk", "ensure", "which_lanes",
    "SITE_ORIGIN", "BlockedRequest", "ForwardedRequest", "RoutingLog", "route_to_stub", "pumping_sleep",
]
