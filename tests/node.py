"""Finding node for the tests that run generated JavaScript: `node` on PATH, else the node that
Playwright's driver ships (every install of this package has one), else a loud skip.

    from tests.node import node_binary
    subprocess.run([node_binary(), "script.js"], ...)
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path

import pytest

__all__ = ["node_binary", "find_node"]


@lru_cache(maxsize=1)
def find_node() -> str | None:
    """The node to run, or None when there is none."""
    found = shutil.which("node")
    if found:
        return found
    try:
        from playwright._impl._driver import compute_driver_executable
    except ImportError:
        return None
    try:
        driver = compute_driver_executable()  # (node, cli.js) in the Playwright releases we pin
    except Exception:  # a private helper of Playwright's: its shape may change
        return None
    if not isinstance(driver, tuple) or Path(driver[0]).name not in ("node", "node.exe"):
        return None
    return str(driver[0]) if Path(driver[0]).is_file() else None


def node_binary() -> str:
    """The node to run; skips the calling test (NO NODE, a failure under KLAVIYO_SNIPPETS_STRICT=1)
    when neither PATH nor Playwright's driver has one."""
    found = find_node()
    if found is None:
        pytest.skip("NO NODE: install node (or reinstall playwright, whose driver ships one) "
                    "to run the generated JavaScript")
    return found
