"""Output targets: the layout `generate` writes a plan's code in, and platform presets.

* ``plain`` (the default): JavaScript, TypeScript, HTML snippets and docs in ``dist/``.
* ``shopify``: a Shopify theme's own files (``snippets/klaviyo-*.liquid``, ``assets/``) and a
  checkout custom pixel, written into the theme's folder (``--out`` is required).
* ``bigcommerce``: a Stencil theme's own files (``templates/components/klaviyo/*.html``,
  ``assets/klaviyo/``), written into the theme's folder (``--out`` is required).
* ``woocommerce``: a WordPress plugin folder for WooCommerce (``klaviyo-snippets.php``,
  ``assets/``), written into ``wp-content/plugins/klaviyo-snippets``.

Adding a target is a module here that makes a `Target`, its templates in
``snippets/targets/NAME/``, and one line in `TARGETS`; a platform's data islands are its
`_islands.Platform` (the inputs, the objects they hold) and its objects' documented fields in
``snippets/targets/NAME/objects.yaml``. A platform preset (``init --platform``)
is a plan in ``snippets/presets/NAME.yaml``.
"""

from __future__ import annotations

import difflib
from pathlib import Path

from klaviyo_snippets.generator.codegen.targets import _bigcommerce, _plain, _shopify, _woocommerce
from klaviyo_snippets.generator.codegen.targets._base import Target
from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.resources import snippets_dir

__all__ = ["Target", "TARGETS", "get_target", "platforms", "preset_path"]

TARGETS: dict[str, Target] = {t.name: t for t in (_plain.TARGET, _shopify.TARGET, _bigcommerce.TARGET,
                                                  _woocommerce.TARGET)}


def get_target(name: str) -> Target:
    """The target called `name`; a `UserError` listing the targets otherwise."""
    if name in TARGETS:
        return TARGETS[name]
    raise UserError(f"no target {name!r}", where="--target", hint=_choices(name, TARGETS))


def platforms() -> list[str]:
    """The platforms with a preset plan (``init --platform``)."""
    return sorted(path.stem for path in (snippets_dir() / "presets").glob("*.yaml"))


def preset_path(platform: str) -> Path:
    """The preset plan of `platform`; a `UserError` listing the platforms otherwise."""
    if platform in platforms():
        return snippets_dir() / "presets" / f"{platform}.yaml"
    raise UserError(f"no preset for the platform {platform!r}", where="--platform", hint=_choices(platform, platforms()))


def _choices(name: str, names) -> str:
    close = difflib.get_close_matches(str(name).lower(), list(names), n=1)
    return (f"did you mean {close[0]}? " if close else "") + "choose one of: " + ", ".join(names)
