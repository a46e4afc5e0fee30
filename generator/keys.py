"""Klaviyo's two kinds of API key, and keeping the private one out of sight: one home for both.

* The public key (company id, site id): 6 letters or digits. It goes into browser code.
* A private key: ``pk_`` and letters or digits (Klaviyo's have 34). It goes only into the
  ``Authorization: Klaviyo-API-Key`` header of server-side requests, read from the environment,
  and never into a page, a log, a report or an error message.

The sender, the plan loader, the command line and the stand-in all use these, so a key one of
them accepts is a key the others accept.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

__all__ = [
    "PUBLIC_KEY", "PRIVATE_KEY", "PRIVATE_KEY_IN_TEXT", "REDACTED",
    "is_public_key", "is_private_key", "private_key_problem", "looks_private", "redact", "redact_headers",
]

#: The whole of a public key (use ``fullmatch``).
PUBLIC_KEY = re.compile(r"[A-Za-z0-9]{6}")
#: The whole of a private key (use ``fullmatch``).
PRIVATE_KEY = re.compile(r"pk_[A-Za-z0-9]+")
#: A private key inside any text: ``pk_`` starting a word and a long run of letters and digits.
#: Longer than `PRIVATE_KEY` needs, so prose such as "pk_id" is not taken for a key.
PRIVATE_KEY_IN_TEXT = re.compile(r"(?<![A-Za-z0-9])pk_[A-Za-z0-9]{16,}", re.IGNORECASE)
REDACTED = "[redacted]"
#: Header names (lower case) holding any of these words carry a secret.
_SECRET_HEADER_WORDS = ("authorization", "cookie", "api-key", "apikey", "token", "secret", "password")


def is_public_key(text: str) -> bool:
    return bool(PUBLIC_KEY.fullmatch(text))


def is_private_key(text: str) -> bool:
    return bool(PRIVATE_KEY.fullmatch(text))


def private_key_problem(text: str) -> str | None:
    """What keeps `text` from being a private key, in words that never repeat the value (only
    lengths, positions and the code point of a character that cannot be part of a key); None for
    a private key."""
    if is_private_key(text):
        return None
    if is_public_key(text):
        return "it is a public key (6 characters, for the onsite script)"
    if not text.startswith("pk_"):
        if text[:3].lower() == "pk_":
            return "it starts with 'PK_' or the like: a private key's 'pk_' is in lower case"
        return f"a private key starts with 'pk_' (the value has {len(text)} characters)"
    if len(text) == 3:
        return "it has nothing after 'pk_'"
    position, bad = next((n, ch) for n, ch in enumerate(text[3:], start=4)
                         if not (ch.isascii() and ch.isalnum()))
    return (f"after 'pk_' a private key has only ASCII letters and digits: character {position} "
            f"is U+{ord(bad):04X}, not an ASCII letter or digit (a stray character from copying it?)")


def looks_private(text: str) -> bool:
    """True for anything that must be treated as a private key and never echoed: it starts with
    ``pk_`` (any case) or holds a private key anywhere."""
    return text.strip().lower().startswith("pk_") or bool(PRIVATE_KEY_IN_TEXT.search(text))


def redact(text: str, secrets: str | Iterable[str | None] | None = None) -> str:
    """`text` with the given secrets and anything shaped like a private key replaced: the last
    guard before a text is printed, logged or written."""
    if isinstance(secrets, str) or secrets is None:
        secrets = (secrets,)
    for secret in secrets:
        if secret and secret in text:
            text = text.replace(secret, f"pk_{REDACTED}")
    return PRIVATE_KEY_IN_TEXT.sub(f"pk_{REDACTED}", text)


def redact_headers(headers: Mapping[str, object] | None) -> dict[str, object]:
    """The headers, names in lower case, with every secret's value replaced; the scheme of an
    ``Authorization`` value is kept (``Klaviyo-API-Key [redacted]``) so a report still says which
    kind of credential was sent."""
    out: dict[str, object] = {}
    for name, value in (headers or {}).items():
        lower = str(name).lower()
        if any(word in lower for word in _SECRET_HEADER_WORDS) and REDACTED not in str(value):
            text = str(value)
            scheme = text.split(" ", 1)[0] if " " in text else ""
            value = f"{scheme} {REDACTED}".strip()
        out[lower] = value
    return out
