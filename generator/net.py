"""Network facts every part shares: which hosts are this machine, and which URLs are usable.

One home, so that the sender (may it send a private key over plain http?), the browser routing
(is this request local?), and the stand-in's and the preview's DNS-rebinding guard agree.

Two answers to "is this host this machine?", because browsers and Python resolve names apart:
a browser maps every name under `.localhost` to loopback itself (RFC 6761; Chromium and Firefox
never ask DNS for one), while Python's resolver (getaddrinfo) asks DNS, which may answer anything.
`is_loopback_host` is the browser's answer (routing, the DNS-rebinding guard: a page cannot make
such a name point elsewhere); `is_this_machine` is the strict one, the only hosts a secret may be
sent to over plain http.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback_host", "is_this_machine", "is_ip_literal", "is_absolute_http_url"]


def _bare(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def is_loopback_host(host: str) -> bool:
    """This machine as a browser sees it: `localhost`, a name under it (`shop.localhost`), or a
    loopback address. Not enough to send a secret to: see `is_this_machine`."""
    return is_this_machine(host) or _bare(host).endswith(".localhost")


def is_this_machine(host: str) -> bool:
    """`localhost` itself or a loopback address (127.0.0.0/8, ::1): the only hosts a private key
    may go to over plain http. `evil.localhost` is not one: Python asks DNS for it."""
    host = _bare(host)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def is_ip_literal(host: str) -> bool:
    """An IP address written as such (not a name that DNS could point anywhere)."""
    try:
        ipaddress.ip_address(_bare(host))
        return True
    except ValueError:
        return False


def is_absolute_http_url(text: str) -> bool:
    """An absolute http or https URL with a host (and a valid port, if any), and no whitespace."""
    if any(ch.isspace() for ch in text):
        return False
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not 0 to 65535
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.hostname)
