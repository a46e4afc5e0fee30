"""The plan's ``package:`` key: the npm name and version of the package `generate` writes into
dist/ for headless storefronts (docs/headless.md). Checked here, by npm's rules for a new
package, so a bad name is a plan error at its line, not an npm failure in the storefront later.
"""

from __future__ import annotations

import json
import re
from typing import Any

from klaviyo_snippets.generator.plan._model import PlanError
from klaviyo_snippets.generator.plan._yamlmarks import Marked

__all__ = ["check_package"]

#: npm's limit on a whole name, scope included.
NAME_MAX = 214
#: One part of a name (the scope or the name after it): what npm accepts for a new package, less
#: the rarely used ~, which npm refuses after the scope anyway.
_PART = re.compile(r"[a-z0-9-][a-z0-9._-]*")
#: Node's own modules: `import("events")` would load Node's, never the package.
_NODE_MODULES = frozenset(
    "assert async_hooks buffer child_process cluster console constants crypto dgram diagnostics_channel dns domain "
    "events fs http http2 https inspector module net os path perf_hooks process punycode querystring readline repl "
    "stream string_decoder sys timers tls trace_events tty url util v8 vm wasi worker_threads zlib "
    "node_modules favicon.ico".split())
#: semver.org's own expression for a version (npm reads no leading "v" in package.json).
SEMVER = re.compile(
    r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")
NAME_HINT = "e.g. name: klaviyo-tracking, or a scoped name: @my-shop/klaviyo (lower case letters, digits, - . _)"


def check_package(value: Any, marked: Marked) -> tuple[str | None, str | None]:
    """(name, version) from the plan's ``package:`` mapping, each None when not given; a
    `PlanError` at the key's line for a name or version npm would refuse. Anything that is not
    a mapping is left to the schema, which says so."""
    if not isinstance(value, dict):
        return None, None
    name, version = value.get("name"), value.get("version")
    if name is not None:
        problem = name_problem(name)
        if problem:
            raise PlanError(problem, where=marked.where("/package/name"), hint=NAME_HINT)
    if version is not None:
        if not isinstance(version, str):
            raise PlanError(
                f"the package version must be text, got {json.dumps(version, default=str)[:40]}",
                where=marked.where("/package/version"), hint='quote it in YAML: version: "1.2.0"')
        if len(version) > 256 or not SEMVER.fullmatch(version):
            raise PlanError(
                f"{version[:60]!r} is not a semantic version: npm needs MAJOR.MINOR.PATCH",
                where=marked.where("/package/version"), hint='e.g. version: "1.2.0" (or "1.2.0-beta.1")')
    return name, version


def name_problem(name: Any) -> str | None:
    """Why npm would refuse `name` for a new package, in words; None when it is a good name."""
    if not isinstance(name, str):
        return f"the package name must be text, got {json.dumps(name, default=str)[:40]}"
    shown = repr(name[:60] + ("..." if len(name) > 60 else ""))
    if not name.strip():
        return "the package name is empty"
    if len(name) > NAME_MAX:
        return f"the package name {shown} has {len(name)} characters: npm allows {NAME_MAX}"
    if name != name.lower():
        return f"{shown} is not an npm package name: npm names are lower case"
    if name.startswith("@"):
        scope, slash, rest = name[1:].partition("/")
        if not slash or not rest:
            return f"{shown} is a scope without a name: a scoped name is @scope/name"
        if not scope:
            return f"{shown} has an empty scope: a scoped name is @scope/name"
        parts = [("scope", scope), ("name", rest)]
    else:
        if "/" in name:
            return f"{shown} has a / but no @scope: a scoped name starts with @ (@scope/name)"
        parts = [("name", name)]
    for what, part in parts:
        if part[0] in "._":
            return f"{shown}: the {what} cannot start with {part[0]!r}"
        if not _PART.fullmatch(part):
            bad = next((c for c in part if not re.fullmatch(r"[a-z0-9._-]", c)), part[0])
            return f"{shown}: {bad!r} cannot be in an npm {what} (letters, digits, - . _ only)"
    if name in _NODE_MODULES:
        return f"{shown} is the name of one of Node's own modules (or a name npm reserves): an import of it would not load the package"
    return None
