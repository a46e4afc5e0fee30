"""The stand-in's answers: JSON and JSON:API documents, each kept on the response for the request
log, and the CORS headers Klaviyo's public endpoints send; `json_bytes`, the one encoder of the
JSON the stand-in sends and keeps; and `read_limited`, how every route reads a body."""

from __future__ import annotations

import json
import math

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


# One encoder, built once (json.dumps with options builds one per call). No circular check: the
# stand-in encodes parsed JSON and its own records.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=str,
                            check_circular=False)


def json_bytes(data: object) -> bytes:
    """`data` as compact UTF-8 JSON that any parser reads, whatever it holds: never NaN or
    Infinity (the wire refuses them; a Python caller's are sent as text), and a lone surrogate
    (valid in a JSON string escape, not in UTF-8) sent as that escape."""
    try:
        text = _ENCODER.encode(data)
    except ValueError:
        text = json.dumps(_finite(data), ensure_ascii=False, separators=(",", ":"), default=str)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # only a lone surrogate, only ever inside a string: "\\ud800" is its escape
        return text.encode("utf-8", errors="backslashreplace")


def _finite(data: object) -> object:
    if isinstance(data, float) and not math.isfinite(data):
        return repr(data)
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_finite(v) for v in data]
    return data


def reply_json(data: object, status: int = 200, headers: dict | None = None, content_type: str = "application/json"):
    resp = web.Response(status=status, body=json_bytes(data), content_type=content_type, charset="utf-8",
                        headers=headers)
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


class HungUp(ConnectionResetError):
    """The client closed the connection before sending the whole body: no error of the stand-in."""

    def __init__(self, received: int):
        super().__init__(f"the client hung up after sending {received} bytes of the body")
        self.received = received


async def read_limited(request: web.Request, limit: int) -> tuple[bytes, bool]:
    """The body, reading at most limit+1 bytes: (bytes, too_big). Raises HungUp when the client
    goes away mid-body."""
    chunks, size = [], 0
    while True:
        try:
            chunk = await request.content.read(64 * 1024)
        except ConnectionResetError:
            raise HungUp(size) from None
        if not chunk:
            return b"".join(chunks), False
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)
