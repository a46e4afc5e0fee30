"""The integration guide's text, for the tests that re-check the facts copied from it.

The facts themselves travel with the project as data (tests/golden/guide/); the guide's text is
the team's shared reference, found beside the checkout (`../shared/reference/`) or at
`KLAVIYO_INTEGRATION_GUIDE`. Without it those re-checks skip saying so, and fail under
`KLAVIYO_SNIPPETS_STRICT=1` (CI, where the reference is always there).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GUIDE = Path(os.environ.get("KLAVIYO_INTEGRATION_GUIDE",
                            ROOT.parent / "shared" / "reference" / "klaviyo-integration-guide.md"))


def guide_text() -> str:
    if not GUIDE.is_file():
        pytest.skip(f"GUIDE UNAVAILABLE: {GUIDE} is missing; cannot re-check the facts copied from it "
                    "(set KLAVIYO_INTEGRATION_GUIDE to the guide's Markdown)")
    return GUIDE.read_text(encoding="utf-8")
