"""Escapers, one per output context. Every value from the plan reaches a generated file through one
of these (as a Jinja filter or a direct call); tests/unit/test_escaping.py proves them with
hostile strings run through node.

- `js_literal`: any JSON value as a JavaScript literal that is also safe inside an HTML
  ``<script>`` element: ``<`` ``>`` ``&`` become ``\\u003c`` ``\\u003e`` ``\\u0026`` (so no
  ``</script`` or ``<!--`` can appear), U+2028/U+2029 are escaped (ES5 forbids them raw in
  strings), and so is every other non-ASCII character (lone surrogates included), so the output is
  plain ASCII whatever charset the page declares. ``JSON.parse`` reads it too.
- `json_island`: the same text for ``<script type="application/json">`` data islands.
- `html_attr`, `html_text`: HTML escaping for attribute values (always double-quoted) and text.
- `html_comment`, `js_comment`: human text inside ``<!-- -->`` / ``/* */`` that cannot end the
  comment or the surrounding script element.
"""

from __future__ import annotations

import functools
import json
import re
from json.encoder import encode_basestring_ascii as _ascii_string
from typing import Any

__all__ = [
    "js_literal", "js_string", "json_island", "html_attr", "html_text",
    "html_comment", "js_comment", "md_cell", "md_fence", "ts_key",
]

_UNSAFE_IN_SCRIPT = re.compile("[<>&\u2028\u2029\ud800-\udfff]")


def _escape_char(match: re.Match) -> str:
    return "\\u%04x" % ord(match.group(0))


_encoders: dict[tuple, json.JSONEncoder] = {}


def _encoder(indent: int | None, spaced: bool) -> json.JSONEncoder:
    key = (indent, spaced)
    encoder = _encoders.get(key)
    if encoder is None:
        separators = (",", ": ") if indent else ((", ", ": ") if spaced else (",", ":"))
        encoder = _encoders[key] = json.JSONEncoder(
            ensure_ascii=True, sort_keys=False, indent=indent, separators=separators, allow_nan=False,
        )
    return encoder


@functools.lru_cache(maxsize=2048)
def _indented(compact: str, indent: int) -> str:
    """The indented form of a value, from its compact form: json's indenting encoder is pure
    Python and slow, and plans feed the same samples to many events."""
    return _encoder(indent, False).encode(json.loads(compact))


def js_literal(value: Any, *, indent: int | None = None, spaced: bool = False) -> str:
    """A JSON value as JS source, safe in any script context (file, inline, data island).
    ``spaced`` puts a space after each comma, for reading."""
    if value.__class__ is str:
        text = _ascii_string(value)
    elif indent:
        text = _indented(_encoder(None, False).encode(value), indent)
    else:
        text = _encoder(indent, spaced).encode(value)
    # ensure_ascii already wrote U+2028, U+2029 and lone surrogates as \uXXXX: only <, >, &
    # can still be raw.
    if "<" in text or ">" in text or "&" in text:
        text = _UNSAFE_IN_SCRIPT.sub(_escape_char, text)
    return text


def js_string(value: str) -> str:
    if not isinstance(value, str):
        raise TypeError(f"js_string wants text, got {type(value).__name__}")
    return js_literal(value)


def json_island(value: Any, *, indent: int | None = None) -> str:
    """Content for ``<script type="application/json">``: parses with JSON.parse, cannot close it."""
    return js_literal(value, indent=indent)


_IDENT = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*\Z")


def ts_key(name: str) -> str:
    return name if _IDENT.match(name) else js_string(name)


def html_attr(value: Any) -> str:
    """For a double-quoted attribute value."""
    text = str(value)
    return (
        text.replace("&", "&amp;").replace('"', "&quot;").replace("'", "&#39;")
        .replace("<", "&lt;").replace(">", "&gt;")
    )


def html_text(value: Any) -> str:
    return str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_CONTROL_RUN = re.compile(r"[\r\n\u2028\u2029\x00-\x08\x0b\x0c\x0e-\x1f]+")


def _plain_line(text: str) -> str:
    return _CONTROL_RUN.sub(" ", text)


def html_comment(value: Any) -> str:
    """Text inside ``<!-- ... -->``. Without ``<`` and ``>`` it cannot contain ``-->``, ``--!>``
    or ``<!--`` (HTML's only limits on comment text), so they become look-alikes."""
    text = str(value)
    return text.replace("<", "\u2039").replace(">", "\u203a").replace("\x00", " ")


def js_comment(value: Any) -> str:
    """Text inside a ``/* ... */`` comment, possibly inlined in HTML: cannot close either, and
    stays ASCII (``<`` ``>`` and non-ASCII characters are written as ``\\uXXXX`` text)."""
    text = _plain_line(str(value)).replace("*/", "* /")
    return re.sub(r"[<>&\u0080-\U0010ffff]", lambda m: "\\u%04x" % ord(m.group(0)) if ord(m.group(0)) < 0x10000 else "\\U%08x" % ord(m.group(0)), text)


def md_cell(value: Any) -> str:
    """Text in a Markdown table cell."""
    text = _plain_line(str(value))
    return html_text(text).replace("|", "\\|").replace("`", "\\`")


def md_fence(text: str) -> str:
    """A backtick fence longer than any run of backticks in the text."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    return "`" * max(3, longest + 1)
