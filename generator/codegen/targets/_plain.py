"""The plain target (the default): the layout `generate` has always written into ``dist/``:
JavaScript, TypeScript, HTML snippets, docs, samples and ``manifest.json``, for any site."""

from __future__ import annotations

from klaviyo_snippets.generator.codegen._build import build
from klaviyo_snippets.generator.codegen.targets._base import Target

__all__ = ["TARGET"]

TARGET = Target(
    name="plain",
    summary="JavaScript, TypeScript, HTML snippets and docs for any site, in dist/ (the default)",
    render=build,
)
