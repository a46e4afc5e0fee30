"""The sender's settings and the checks made before anything is sent: Klaviyo's URL, revision and
paths, the private key (read from the environment only), the API URL and the files a run writes.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.keys import private_key_problem
from klaviyo_snippets.generator.net import is_absolute_http_url, is_this_machine

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
    problem = private_key_problem(key)
    if problem is not None:
        raise UserError(f"{KEY_VARIABLE} does not hold a private API key: {problem}; the value "
                        "is not shown",
                        hint="use a private API key from Klaviyo: Settings > API keys")
    return key


def check_api_url(url: str) -> str:
    """`url` if it is an http(s) URL with a host (and a valid port, if it has one), without a
    user name or password, and over plain http only to this machine. Messages never repeat a
    user name or password the URL holds."""
    shown = _hide_credentials(url or "")
    if not is_absolute_http_url(url or ""):
        raise UserError(f"{shown!r} is not an http(s) URL with a host (and a port from 0 to 65535, "
                        "if any)", where="--api-url",
                        hint=f"e.g. {DEFAULT_API_URL}, or http://127.0.0.1:8765 for a stand-in")
    parts = urlsplit(url)
    if "@" in parts.netloc:
        raise UserError(f"{shown!r} has a user name or password in the URL: requests carry the "
                        f"private key ({KEY_VARIABLE}) and nothing else, and a password in a URL "
                        "ends up in shell history and logs", where="--api-url",
                        hint="remove the 'user:password@' part")
    if parts.scheme == "http" and not is_this_machine(parts.hostname or ""):
        raise UserError(f"{url!r} would send the private API key unencrypted over the network",
                        where="--api-url",
                        hint="use https://, or http:// only for this machine (127.0.0.1, ::1, "
                             "localhost; not a name under .localhost, which DNS may point anywhere)")
    return url


_USERINFO = re.compile(r"^([^:/?#]*:?//)[^/?#]*@")


def _hide_credentials(url: str) -> str:
    """The URL with anything before an `@` in its authority replaced by `***`."""
    return _USERINFO.sub(r"\1***@", url)


def check_writable(path: str | os.PathLike[str], option: str, *, replaced: bool = False) -> None:
    """Refuse, before anything is sent, a file this run could not write: a folder, a pipe or a
    device, a missing folder, no permission. `replaced`: the file is rewritten through a temporary file beside it,
    so its folder must be writable too."""
    if "\0" in os.fspath(path):
        raise UserError("a path cannot contain a NUL character", where=option)
    path = Path(path)
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a folder", where=option, hint="give a file's path")
    if path.exists() and not path.is_file():  # a pipe would block the run, a device be replaced
        raise UserError(f"{str(path)!r} is not a regular file (a pipe or a device)", where=option,
                        hint="give the path of a file (or of one to create)")
    folder = path.parent
    if not folder.is_dir():
        raise UserError(f"the folder {str(folder)!r} does not exist", where=option)
    target = path if path.exists() and not replaced else folder
    if not os.access(target, os.W_OK | (os.X_OK if target == folder else 0)):
        raise UserError(f"cannot write {str(path)!r}: permission denied"
                        + (f" in the folder {str(folder)!r}" if target == folder else ""),
                        where=option, hint="give a path this user can write")
