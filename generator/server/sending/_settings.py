"""The sender's settings and the checks made before anything is sent: Klaviyo's URL, revision and
paths, the private key (read from the environment only), the API URL and the files a run writes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.keys import is_private_key
from klaviyo_snippets.generator.net import is_absolute_http_url, is_loopback_host

__all__ = [
    "DEFAULT_API_URL", "REVISION", "EVENTS_PATH", "CATALOG_JOBS_PATH", "USER_AGENT", "KEY_VARIABLE",
    "read_private_key", "check_api_url", "check_writable",
]

DEFAULT_API_URL = "https://a.klaviyo.com"
REVISION = "2026-07-15"  # the OpenAPI extract's revision; Klaviyo accepts any published one
EVENTS_PATH = "/api/events"
CATALOG_JOBS_PATH = "/api/catalog-item-bulk-create-jobs"
USER_AGENT = "klaviyo-snippets (server-side sender)"
KEY_VARIABLE = "KLAVIYO_PRIVATE_KEY"


def read_private_key(environ: Mapping[str, str] | None = None) -> str:
    """The private API key from `KLAVIYO_PRIVATE_KEY`; a clear error (without the value) if it
    is missing or not a private key."""
    environ = os.environ if environ is None else environ
    key = (environ.get(KEY_VARIABLE) or "").strip()
    if not key:
        raise UserError(f"{KEY_VARIABLE} is not set: the private API key is read from it "
                        "(never from the command line, where other users can see it)",
                        hint=f"export {KEY_VARIABLE}=pk_... (Klaviyo: Settings > API keys; "
                             "scope events:write, and catalogs:write for catalog push)")
    if not is_private_key(key):
        kind = "holds a public key (6 characters, for the onsite script)" if len(key) == 6 else \
            "does not hold a private API key"
        raise UserError(f"{KEY_VARIABLE} {kind}: a private key starts with 'pk_' "
                        f"(the value has {len(key)} characters; it is not shown)",
                        hint="use a private API key from Klaviyo: Settings > API keys")
    return key


def check_api_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host (and a valid port, if it has one)."""
    if not is_absolute_http_url(url or ""):
        raise UserError(f"{url!r} is not an http(s) URL with a host (and a port from 0 to 65535, "
                        "if any)", where="--api-url",
                        hint=f"e.g. {DEFAULT_API_URL}, or http://127.0.0.1:8765 for a stand-in")
    parts = urlsplit(url)
    if parts.scheme == "http" and not is_loopback_host(parts.hostname or ""):
        raise UserError(f"{url!r} would send the private API key unencrypted over the network",
                        where="--api-url", hint="use https://, or http:// only for this machine (127.0.0.1, localhost)")
    return url


def check_writable(path: str | os.PathLike[str], option: str, *, replaced: bool = False) -> None:
    """Refuse, before anything is sent, a file this run could not write: a folder, a missing
    folder, no permission. `replaced`: the file is rewritten through a temporary file beside it,
    so its folder must be writable too."""
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a folder", where=option, hint="give a file's path")
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"the folder {str(folder)!r} does not exist", where=option)
    target = path if path.exists() and not replaced else folder
    if not os.access(target, os.W_OK | (os.X_OK if target == folder else 0)):
        raise UserError(f"cannot write {str(path)!r}: permission denied"
                        + (f" in the folder {str(folder)!r}" if target == folder else ""),
                        where=option, hint="give a path this user can write")
