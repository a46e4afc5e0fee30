"""Sending to Klaviyo's server API: the private key, a rate limiter per endpoint, retries with
backoff, a journal (state file) so a re-run sends nothing twice, dead letters for refused
events, progress lines (of the sending, and of reading the input), and the asynchronous sender
that ties them together. The sender reads its requests from an iterable as it goes, and the
journal is held as a compact index, so a run's memory does not grow with its input.

The private key lives only in the `Authorization` header of the HTTP session: never in a reason,
a state or dead-letter line, a log or an exception message. File formats and choices:
docs/server-side.md, "Sending".
"""

from __future__ import annotations

from klaviyo_snippets.generator.server.sending._client import SendAborted, Sender
from klaviyo_snippets.generator.server.sending._deadletters import DeadLetters
from klaviyo_snippets.generator.server.sending._journal import StateFile
from klaviyo_snippets.generator.server.sending._limiter import KLAVIYO_RATES, Rate, RateLimiter
from klaviyo_snippets.generator.server.sending._progress import Progress, ReadProgress
from klaviyo_snippets.generator.server.sending._retry import RetryPolicy, parse_retry_after
from klaviyo_snippets.generator.server.sending._settings import (
    CATALOG_JOBS_PATH, DEFAULT_API_URL, EVENTS_PATH, REVISION, check_api_url, check_writable,
    read_private_key,
)
from klaviyo_snippets.generator.server.sending._work import Delivery, Key, Tally, Work, body_digest

__all__ = [
    "DEFAULT_API_URL", "REVISION", "EVENTS_PATH", "CATALOG_JOBS_PATH", "KLAVIYO_RATES",
    "Rate", "RateLimiter", "RetryPolicy", "Key", "Work", "Delivery", "Tally", "StateFile",
    "DeadLetters", "Progress", "ReadProgress", "Sender", "SendAborted", "read_private_key", "parse_retry_after",
    "body_digest", "check_api_url", "check_writable",
]
