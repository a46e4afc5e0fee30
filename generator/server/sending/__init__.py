"""Sending to Klaviyo's server API: the private key, a rate limiter per endpoint, retries with
backoff, a journal (state file) so a re-run sends nothing twice, dead letters for refused
events, progress lines, and the asynchronous sender that ties them together.
"""

from __future__ import annotations

from klaviyo_snippets.generator.server.sending._sender import (
    CATALOG_JOBS_PATH, DEFAULT_API_URL, EVENTS_PATH, KLAVIYO_RATES, REVISION,
    DeadLetters, Key, Progress, Rate, RateLimiter, Result, RetryPolicy, SendAborted, Sender,
    StateFile, Tally, Work, body_digest, check_api_url, check_writable, parse_retry_after,
    read_private_key,
)

__all__ = [
    "DEFAULT_API_URL", "REVISION", "EVENTS_PATH", "CATALOG_JOBS_PATH", "KLAVIYO_RATES",
    "Rate", "RateLimiter", "RetryPolicy", "Key", "Work", "Result", "Tally", "StateFile",
    "DeadLetters", "Progress", "Sender", "SendAborted", "read_private_key", "parse_retry_after",
    "body_digest", "check_api_url", "check_writable",
]
