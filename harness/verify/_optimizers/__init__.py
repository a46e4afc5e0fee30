"""Script optimizers that delay a page's scripts until the first interaction, reproduced for
`verify --condition delayed-scripts` and the tests: each rewrites the page's HTML as the real one
does on the server, and puts its real loader's behaviour (a JS file beside this one) where the
real one prints its loader.

* `wp_rocket(html, exclusions)`: WP Rocket's "Delay JavaScript execution" (3.17+:
  inc/Engine/Optimization/DelayJS/HTML.php and RocketLazyLoadScripts 2.0.5, wp-rocket.js).
  Every `<script>` of a JavaScript type (or none) becomes `type="text/rocketlazyloadscript"`,
  its type moved to `data-rocket-type`, its src to `data-rocket-src`, unless one of
  `exclusions` (regular expressions, as the setting "Excluded JavaScript Files" takes them) is
  found in the whole tag, text included. Non-JS types (our JSON data islands) are left alone.
* `flying_scripts(html, include, timeout)`: Flying Scripts 1.1.6 (html-rewrite.php,
  inject-js.php): only scripts whose tag holds a keyword of `include` are delayed.

Neither is a mock of our code: both act on whatever page they are given.
"""

from __future__ import annotations

import base64
import re
from pathlib import Path

__all__ = ["flying_scripts", "wp_rocket"]

HERE = Path(__file__).resolve().parent
SCRIPT = re.compile(r"<\s*script(?P<attr>\s*[^>]*?)?>(?P<content>.*?)?<\s*/\s*script\s*>", re.I | re.M | re.S)
JS_TYPES = {"text/javascript", "module", "application/javascript", "application/ecmascript",
            "application/x-ecmascript", "application/x-javascript", "text/ecmascript", "text/javascript1.0",
            "text/javascript1.1", "text/javascript1.2", "text/javascript1.3", "text/javascript1.4",
            "text/javascript1.5", "text/jscript", "text/livescript", "text/x-ecmascript", "text/x-javascript"}


def _loader(name: str) -> str:
    return (HERE / name).read_text(encoding="utf-8")


def wp_rocket(html: str, exclusions: tuple[str, ...] = ()) -> str:
    """`html` as WP Rocket's Delay JavaScript execution serves it."""
    patterns = [p.replace("+", r"\+").replace("?ver", r"\?ver").replace("#", r"\#") for p in exclusions]

    def replace(m: re.Match) -> str:
        tag, attr, content = m.group(0), m.group("attr") or "", m.group("content") or ""
        if any(re.search(p, tag, re.I) for p in patterns):
            return tag
        if not attr.strip():
            return f'<script type="text/rocketlazyloadscript">{content}</script>'
        type_re = re.compile(r"""type\s*=\s*(["'])(?P<type>.*?)\1""", re.I)
        found = type_re.search(attr)
        if found and found.group("type").strip() and found.group("type").strip() not in JS_TYPES:
            return tag
        attr = type_re.sub(lambda t: f"data-rocket-type={t.group(1)}{t.group('type')}{t.group(1)}", attr, count=1)
        attr = re.sub(r"(\s+type\s+)|(^type\s+)|(\s+type$)", "", attr, flags=re.I)
        attr = re.sub(r"""(?<![-\w])src\s*=\s*(["'])(.*?)\1""", r"data-rocket-src=\1\2\1", attr, flags=re.I)
        return f'<script type="text/rocketlazyloadscript" {attr.strip()}>{content}</script>'

    rewritten = SCRIPT.sub(replace, html)
    head = re.search(r"<head\b[^>]*>", rewritten, re.I)
    at = head.end() if head else 0  # WP Rocket prints its loader first in <head>
    return f"{rewritten[:at]}<script>{_loader('wp-rocket.js')}</script>{rewritten[at:]}"


def flying_scripts(html: str, include: tuple[str, ...], timeout: float = 5) -> str:
    """`html` as Flying Scripts serves it with `include` as its include list."""

    def replace(m: re.Match) -> str:
        tag, attr, content = m.group(0), m.group("attr") or "", m.group("content") or ""
        kind = re.search(r"""type\s*=\s*(["'])(.*?)\1""", attr, re.I)
        if kind and kind.group(2) != "text/javascript":  # script[!type], script[type='text/javascript']
            return tag
        if not any(k in tag for k in include):
            return tag
        src = re.search(r"""\ssrc\s*=\s*(["'])(.*?)\1""", attr, re.I)
        if src:
            attr = attr[:src.start()] + attr[src.end():]
            lazy = src.group(2)
        else:
            lazy = "data:text/javascript;base64," + base64.b64encode(content.encode("utf-8")).decode("ascii")
        return f'<script{attr} data-type="lazy" data-src="{lazy}"></script>'

    rewritten = SCRIPT.sub(replace, html)
    loader = _loader("flying-scripts.js").replace("FLYING_SCRIPTS_TIMEOUT", repr(timeout))
    end = rewritten.lower().rindex("</body>")
    return f'{rewritten[:end]}<script type="text/javascript" id="flying-scripts">{loader}</script>{rewritten[end:]}'
