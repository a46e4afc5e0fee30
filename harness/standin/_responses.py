"""The stand-in's answers: JSON and JSON:API documents, each kept on the response for the request
log, and the CORS headers Klaviyo's public endpoints send."""

from __future__ import annotations

import json

from aiohttp import web

from klaviyo_snippets.harness.standin import wire

JSONAPI = "application/vnd.api+json"
DOCUMENT = web.ResponseKey("document", object)
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": wire.CORS_ALLOW_HEADERS,
    "Access-Control-Max-Age": "600",
}


def reply_json(data: object, status: int = 200, headers: dict | None = None, content_type: str = "application/json"):
    resp = web.Response(
        status=status,
        text=json.dumps(data, ensure_ascii=False),
        content_type=content_type,
        headers=headers,
    )
    resp[DOCUMENT] = data  # what the request log records as the answer
    return resp


def reply_error(status: int, detail: str, *, pointer: str = "/data", code: str = "invalid",
                parameter: str | None = None, headers: dict | None = None):
    doc = wire.error_document([wire.Problem(pointer, detail, status, code)], parameter=parameter)
    return reply_json(doc, status, headers, JSONAPI)


def reply_throttled(retry_after: int) -> web.Response:
    return reply_error(
        429,
        f"Request was throttled. Expected available in {retry_after} seconds.",
        code="throttled",
        headers={"Retry-After": str(retry_after)},
    )
