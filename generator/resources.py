"""Where the templates, the default plan and its schema live, and the installed version: one home
for each.

Installed from a wheel, ``snippets/`` is ``klaviyo_snippets/snippets`` beside this package; in a
source checkout (editable install) it is the repository's top-level ``snippets/``, beside
``generator/``. Both are this file's grandparent folder.
"""

from __future__ import annotations

import functools
import importlib.metadata
from pathlib import Path

__all__ = ["snippets_dir", "default_plan_path", "schema_path", "docs_dir", "version"]

#: What `version` says when the distribution is not installed (a bare checkout on sys.path).
UNINSTALLED_VERSION = "0.0.0+checkout"


@functools.cache
def snippets_dir() -> Path:
    folder = Path(__file__).resolve().parent.parent / "snippets"
    if not (folder / "plan.yaml").is_file():
        raise RuntimeError(  # a broken installation, not a user mistake
            f"klaviyo-snippets cannot find its templates and default plan in {folder}"
        )
    return folder


def default_plan_path() -> Path:
    """The tracking plan that ships with the project (every onsite event of Klaviyo's guide)."""
    return snippets_dir() / "plan.yaml"


def schema_path() -> Path:
    """The JSON Schema (draft 2020-12) that every tracking plan is validated against."""
    return snippets_dir() / "plan.schema.json"


def docs_dir() -> Path:
    """The guides (docs/*.md), shipped in the wheel too: ``klaviyo-snippets docs TOPIC``."""
    return Path(__file__).resolve().parent.parent / "docs"


@functools.cache
def version() -> str:
    """The installed klaviyo-snippets version, stamped into generated files and shown by --version."""
    try:
        return importlib.metadata.version("klaviyo-snippets")
    except importlib.metadata.PackageNotFoundError:
        return UNINSTALLED_VERSION
