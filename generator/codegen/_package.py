"""dist/package.json: the generated folder as an npm package, so a headless storefront (Next.js,
Remix, Astro, Hydrogen) installs it with ``npm install ./dist`` and imports the ES module by
name (docs/headless.md).

* ``name``: the plan's ``package.name``, else ``klaviyo-snippets``.
* ``version``: the plan's ``package.version``; without one, the generator's version and
  ``"private": true``: that version does not change when the plan does, so npm must refuse to
  publish it (a folder install never reads the version).
* ``exports``: ``.`` is the ES module (``types``, then ``default``: ``import`` everywhere,
  ``require`` where Node loads ES modules with it, 20.19 and later); ``./classic`` the minified
  classic script, for a ``<script src>`` the storefront serves itself.
* ``sideEffects: true``: importing the module registers the plan's triggers (in a browser), so a
  bundler must keep an import even when nothing it names is used.
* No scripts and no dependencies: installing runs nothing. Key order is fixed, so the bytes
  only change with the plan, the generator's version or the regenerate command.
"""

from __future__ import annotations

import json

from klaviyo_snippets.generator.plan import Plan

__all__ = ["DEFAULT_NAME", "PACKAGE_FILES", "package_json"]

DEFAULT_NAME = "klaviyo-snippets"
#: What the package carries besides package.json and README.md (npm adds those itself).
PACKAGE_FILES = ("klaviyo-snippets.d.mts", "klaviyo-snippets.d.ts", "klaviyo-snippets.min.js", "klaviyo-snippets.mjs")


def package_json(plan: Plan, notice: str, generator_version: str) -> str:
    """The text of package.json; ``notice`` (the generated-by line) is its description."""
    package = {
        "name": plan.package_name or DEFAULT_NAME,
        "version": plan.package_version or generator_version,
        "description": notice,
    }
    if plan.package_version is None:
        package["private"] = True
    package.update({
        "type": "module",
        "exports": {
            ".": {"types": "./klaviyo-snippets.d.mts", "default": "./klaviyo-snippets.mjs"},
            "./classic": "./klaviyo-snippets.min.js",
            "./package.json": "./package.json",
        },
        "main": "./klaviyo-snippets.mjs",
        "types": "./klaviyo-snippets.d.mts",
        "sideEffects": True,
        "files": list(PACKAGE_FILES),
    })
    return json.dumps(package, indent=2, ensure_ascii=True) + "\n"
