"""Where the templates, the default plan and its schema live, installed or not.

A built wheel carries the top-level ``snippets/`` folder as ``generator/_snippets`` (hatch
force-include); an editable install or a source checkout has it next to the package.
"""

from __future__ import annotations

import functools
import importlib.metadata
from importlib import resources
from pathlib import Path

__all__ = ["snippets_dir", "default_plan_path", "schema_path", "generator_version"]


@functools.cache
def snippets_dir() -> Path:
    packaged = resources.files("generator") / "_snippets"
    if packaged.is_dir():
        return Path(str(packaged))
    source = Path(__file__).resolve().parent.parent / "snippets"
    if source.is_dir():
        return source
    raise RuntimeError(  # a broken installation, not a user mistake
        f"klaviyo-snippets cannot find its templates: neither {packaged} nor {source} exists"
    )


def default_plan_path() -> Path:
    """The tracking plan that ships with the project (every onsite event of Klaviyo's guide)."""
    return snippets_dir() / "plan.yaml"


def schema_path() -> Path:
    """The JSON Schema (draft 2020-12) that every tracking plan is validated against."""
    return snippets_dir() / "plan.schema.json"


@functools.cache
def generator_version() -> str:
    try:
        return importlib.metadata.version("klaviyo-snippets")
    except importlib.metadata.PackageNotFoundError:  # running from a bare checkout
        return "0.0.0+checkout"
