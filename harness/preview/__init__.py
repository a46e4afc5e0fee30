"""The local preview: a sample storefront built from a plan's generated snippets, and beside it a
live inspector of every request a stand-in Klaviyo receives. `Preview` is a plain object with
start/close; `klaviyo-snippets preview` serves one until Ctrl-C. docs/preview.md.
"""

from __future__ import annotations

from klaviyo_snippets.harness.preview._app import Preview

__all__ = ["Preview"]
