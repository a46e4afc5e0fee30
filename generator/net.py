"""Network facts every part shares: which hosts are this machine, and which URLs are usable.

One home, so that the sender (may it send a private key over plain http?), the browser routing
(is this request local?), and the stand-in's and the preview's DNS-rebinding guard agree.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

__all__ = ["is_loopback_host", "is_ip_literal", "is_absolute_http_url"]


def _bare(host: str) -> str:
    return host.strip().strip("[]").rstrip(".").lower()


def is_loopback_host(host: str) -> bool:
    """`localhost` (or a name under it) or a loopback address: this machine."""
    host = _bare(host)
    if host == "localhost" or host.endswith(".localhost"):
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
