"""Klaviyo's OpenAPI extract as an external oracle: does a request body match the operation?

The extract travels with the project, in `tests/oracle/klaviyo-openapi/` (MIT, with its licence
and a note on its source); `KLAVIYO_OPENAPI_EXTRACT` points elsewhere (a newer extract). When it
cannot be read, `validate_request` skips the calling test with a loud reason, and under
`KLAVIYO_SNIPPETS_STRICT=1` (CI) that skip is a failure.

    from tests.openapi_oracle import validate_request
    validate_request("/api/events", body)   # AssertionError naming the JSON pointer on mismatch

Formats are checked too, with one deliberate leniency: `date-time` accepts ISO 8601 without
an offset (`2022-11-08T00:00:00`), which Klaviyo's own guide sends and Klaviyo reads as UTC;
`strict_formats=True` asks for RFC 3339 instead.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

__all__ = ["EXTRACT_PATH", "openapi_available", "validate_request", "request_schema_name",
           "skip_reason", "take_unchecked", "require_oracle"]

EXTRACT_PATH = Path(os.environ.get(
    "KLAVIYO_OPENAPI_EXTRACT",
    Path(__file__).resolve().parent / "oracle" / "klaviyo-openapi" / "klaviyo-openapi-extract.json",
))


_unchecked: list[str] = []  # paths whose bodies the current test could not check


def require_oracle() -> None:
    """Skip now (loudly) without the oracle: for a test whose subject is the oracle itself."""
    if not openapi_available():
        import pytest

        pytest.skip(skip_reason())


def take_unchecked() -> list[str]:
    """The paths noted since the last call (the end of the previous test), and forget them."""
    taken = list(_unchecked)
    _unchecked.clear()
    return taken


def openapi_available() -> bool:
    """True when the extract can be read and openapi-schema-validator is installed."""
    if not EXTRACT_PATH.is_file():
        return False
    try:
        import openapi_schema_validator  # noqa: F401
    except ImportError:
        return False
    return True


def skip_reason() -> str:
    if not EXTRACT_PATH.is_file():
        return (f"OPENAPI ORACLE UNAVAILABLE: {EXTRACT_PATH} is missing, so request bodies are NOT "
                "checked against Klaviyo's schema (restore tests/oracle/klaviyo-openapi/ from git, or "
                "set KLAVIYO_OPENAPI_EXTRACT)")
    return ("OPENAPI ORACLE UNAVAILABLE: openapi-schema-validator is not installed, so request "
            "bodies are NOT checked against Klaviyo's schema (pip install -e '.[test]')")


@lru_cache(maxsize=1)
def _spec() -> dict[str, Any]:
    return json.loads(EXTRACT_PATH.read_text(encoding="utf-8"))


def request_schema_name(path: str, method: str = "post") -> str:
    """The component schema an operation's request body uses, e.g. `EventCreateQueryV2`.

    `path` may carry a trailing slash or a query string (`/client/events/?company_id=X`).
    """
    clean = path.split("?", 1)[0].rstrip("/") or "/"
    paths = _spec()["paths"]
    if clean not in paths or method.lower() not in paths[clean]:
        known = ", ".join(f"{m.upper()} {p}" for p, ops in paths.items() for m in ops)
        raise KeyError(f"{method.upper()} {clean} is not in the extract; it has: {known}")
    content = paths[clean][method.lower()]["requestBody"]["content"]
    ref = next(iter(content.values()))["schema"]["$ref"]
    return ref.rsplit("/", 1)[-1]


_ISO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")


@lru_cache(maxsize=2)
def _validator(schema_name: str, strict_formats: bool):
    from openapi_schema_validator import OAS30Validator, oas30_format_checker

    checker = oas30_format_checker
    if not strict_formats:
        checker = type(oas30_format_checker)()
        checker.checkers = dict(oas30_format_checker.checkers)

        @checker.checks("date-time", raises=ValueError)
        def _iso_date_time(value: object) -> bool:
            if not isinstance(value, str):
                return True
            if not _ISO_DATE_TIME.match(value):
                return False
            _dt.datetime.fromisoformat(value)
            return True

    schema = {"$ref": f"#/components/schemas/{schema_name}", "components": _spec()["components"]}
    return OAS30Validator(schema, format_checker=checker)


def validate_request(path: str, body: Any, *, method: str = "post",
                     strict_formats: bool = False) -> None:
    """Assert that `body` is a valid request body for `METHOD path` in the extract.

    Raises AssertionError listing each schema error with its JSON pointer into the body. When
    the oracle is unavailable, the body is noted and the test goes on: its own assertions still
    run, and the test is skipped (loudly) at its end, by tests/conftest.py.
    """
    if not openapi_available():
        _unchecked.append(path)
        return
    name = request_schema_name(path, method)
    errors = sorted(_validator(name, strict_formats).iter_errors(body),
                    key=lambda e: (list(map(str, e.absolute_path)), e.message))
    if not errors:
        return
    lines = []
    for error in errors:
        pointer = "".join("/" + str(part).replace("~", "~0").replace("/", "~1")
                          for part in error.absolute_path) or "/"
        lines.append(f"  at {pointer}: {error.message}")
        # oneOf/anyOf failures say little on their own: show what each branch objected to.
        for sub in sorted(error.context or [], key=lambda e: e.message)[:5]:
            lines.append(f"      - {sub.message}")
    raise AssertionError(f"{method.upper()} {path}: body does not match {name} "
                         f"({len(errors)} error{'s' if len(errors) > 1 else ''}):\n"
                         + "\n".join(lines))
