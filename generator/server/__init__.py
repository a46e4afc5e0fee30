"""Klaviyo's server API from our side: request bodies (JSON:API), the builders for orders,
shares and the catalog, and `sending` (rate limits, retries, the journal, dead letters).

This is the client the stand-in checks; the stand-in never imports it (docs/design.md).
"""

from __future__ import annotations

from klaviyo_snippets.generator.server._bodies import (
    FieldError, event_body, is_finite_number, parse_json, profile_attributes, read_text,
)
from klaviyo_snippets.generator.server._stream import KeyIndex, Problems, file_size

__all__ = ["FieldError", "event_body", "is_finite_number", "parse_json", "profile_attributes", "read_text",
           "KeyIndex", "Problems", "file_size"]
