"""The inspection API under `/__stub__/`: what the stand-in recorded, as JSON, plus its faults,
settings and reset (docs/stub.md); and the guard that keeps it to this machine's own pages and tools."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web

from klaviyo_snippets.generator.net import is_ip_literal, is_loopback_host
from klaviyo_snippets.harness.standin import wire
from klaviyo_snippets.harness.standin._limits import FAULT_KINDS, Faults
from klaviyo_snippets.harness.standin._responses import read_limited, reply_json
from klaviyo_snippets.harness.standin._settings import StubSettings
from klaviyo_snippets.harness.standin._store import Store

INSPECTION_PATHS = {
    "GET /__stub__/events": "every recorded event; filters ?status=good|bad|duplicate|dropped&metric=NAME",
    "GET /__stub__/good": "events judged good",
    "GET /__stub__/bad": "events judged bad, each with its reasons",
    "GET /__stub__/all": "counts by status, plus requests, profiles, diagnostics and how many records were forgotten",
    "GET /__stub__/requests": "every request as received (headers with secrets redacted) and the answer",
    "GET /__stub__/profiles": "the profile store",
    "GET /__stub__/diagnostics": "what the onsite script reported (drops, unknown methods, bad arguments)",
    "GET /__stub__/catalog": "catalog items created through the Catalogs API",
    "POST /__stub__/diagnostics": "where the stand-in onsite script reports (text/plain JSON)",
    "GET /__stub__/faults": "scripted faults still pending",
    "POST /__stub__/faults": 'script faults: {"kind": "429"|"400"|"403"|"500"|"503"|"504"|"524"|"drop"|"slow", '
                             '"count": N, "path": "/api/events", "retry_after": 1, "delay": 0.5}',
    "GET /__stub__/config": "this stand-in's settings",
    "POST /__stub__/reset": "forget everything: requests, events, profiles, diagnostics, faults, rate windows",
}


class Inspection:
    """The `/__stub__/` handlers. They read the store and faults the Klaviyo routes fill, and
    reset through `clear`, which forgets the Klaviyo side's own state too."""

    def __init__(self, settings: StubSettings, store: Store, faults: Faults, clear: Callable[[], None]):
        self.settings = settings
        self.store = store
        self.faults = faults
        self.clear = clear

    def add_routes(self, r: web.UrlDispatcher) -> None:
        """Everything under /__stub__ but POST /__stub__/diagnostics, which pages use (a Klaviyo route)."""
        r.add_get("/__stub__/events", self.list_events)
        r.add_get("/__stub__/good", self.list_events)
        r.add_get("/__stub__/bad", self.list_events)
        r.add_get("/__stub__/all", self.counts)
        r.add_get("/__stub__/requests", self.list_requests)
        r.add_get("/__stub__/profiles", self.list_profiles)
        r.add_get("/__stub__/diagnostics", self.list_diagnostics)
        r.add_get("/__stub__/catalog", self.list_catalog)
        r.add_get("/__stub__/faults", self.list_faults)
        r.add_post("/__stub__/faults", self.add_faults)
        r.add_get("/__stub__/config", self.config)
        r.add_post("/__stub__/reset", self.reset)
        r.add_route("*", "/__stub__", self.unknown_inspection)
        r.add_route("*", "/__stub__/{tail:.*}", self.unknown_inspection)

    @web.middleware
    async def local_only(self, request: web.Request, handler):
        """The inspection API holds shoppers' emails: only this machine's own pages and tools
        may read or change it, on every /__stub__ route and method. Pages post diagnostics from
        any origin, as klaviyo.js would, but only to an address of this machine (DNS rebinding)."""
        if request.path.startswith("/__stub__"):
            from_pages = request.path == "/__stub__/diagnostics" and request.method in ("POST", "OPTIONS")
            refusal = refuse_foreign(request, any_origin=from_pages)
            if refusal is not None:
                return refusal
        return await handler(request)

    async def list_events(self, request: web.Request) -> web.StreamResponse:
        status = request.query.get("status") or {"/__stub__/good": "good", "/__stub__/bad": "bad"}.get(request.path)
        events = self.store.events_json(status=status, metric=request.query.get("metric"))
        return await reply_records(request, "events", events)

    async def counts(self, request: web.Request) -> web.Response:
        return reply_json(self.store.counts())

    async def list_requests(self, request: web.Request) -> web.StreamResponse:
        return await reply_records(request, "requests", self.store.log_json("requests"))

    async def list_profiles(self, request: web.Request) -> web.Response:
        profiles = self.store.profiles()
        return reply_json({"count": len(profiles), "profiles": profiles})

    async def list_diagnostics(self, request: web.Request) -> web.StreamResponse:
        return await reply_records(request, "diagnostics", self.store.log_json("diagnostics"))

    async def list_catalog(self, request: web.Request) -> web.Response:
        items = self.store.catalog()
        return reply_json({"count": len(items), "items": items})

    async def list_faults(self, request: web.Request) -> web.Response:
        return reply_json({"faults": self.faults.pending(), "kinds": list(FAULT_KINDS)})

    async def add_faults(self, request: web.Request) -> web.Response:
        example = {"kind": "429", "count": 2, "path": "/api/events", "retry_after": 1}
        raw, too_big = await read_limited(request, 64 * 1024)
        if too_big:
            return reply_json({"error": "a fault is at most 64 KB of JSON", "example": example}, 413)
        spec, problems = wire.parse_json(raw)
        if problems:
            why = f" ({problems[0].detail})"
        elif not isinstance(spec, dict):
            why = f"; got {wire.json_type(spec)}"
        elif "kind" not in spec:
            why = ' with a "kind"'
        else:
            why = None
        if why is not None:
            return reply_json({"error": f"a fault is a JSON object{why}, such as the example", "example": example}, 400)
        try:
            self.faults.add(spec["kind"], int(spec.get("count", 1)), path=spec.get("path"),
                            retry_after=spec.get("retry_after", 1), delay=float(spec.get("delay", 0)))
        except (ValueError, TypeError) as exc:
            return reply_json({"error": f"bad fault: {exc}", "example": example}, 400)
        return reply_json({"faults": self.faults.pending()})

    async def config(self, request: web.Request) -> web.Response:
        return reply_json(self.settings.to_dict())

    async def reset(self, request: web.Request) -> web.Response:
        self.clear()
        return reply_json({"reset": True})

    async def unknown_inspection(self, request: web.Request) -> web.Response:
        return reply_json(
            {"error": f"no inspection endpoint {request.method} {request.path}", "valid": INSPECTION_PATHS}, 404
        )


async def reply_records(request: web.Request, key: str, records: list[bytes]) -> web.StreamResponse:
    """`{"count": N, key: [...]}` from records the store keeps as JSON, sent as kept, in chunks
    (no second copy of the whole list is built)."""
    head, tail = b'{"count":%d,"%s":[' % (len(records), key.encode()), b"]}"
    resp = web.StreamResponse(headers={"Content-Type": "application/json; charset=utf-8"})
    resp.content_length = len(head) + sum(map(len, records)) + max(0, len(records) - 1) + len(tail)
    await resp.prepare(request)
    if request.method != "HEAD":  # a StreamResponse would send a body to HEAD too
        await resp.write(head)
        for start in range(0, len(records), 500):
            await resp.write((b"," if start else b"") + b",".join(records[start:start + 500]))
        await resp.write(tail)
    await resp.write_eof()
    return resp


def refuse_foreign(request: web.Request, *, any_origin: bool = False) -> web.Response | None:
    """A 403 for a request another site could have made: a Host that is a domain name (DNS
    rebinding: any site can point its name at 127.0.0.1), or (unless `any_origin`: a route pages
    post to) a write from another origin (a page the developer visits). None when the request is
    this machine's own. Shared by the preview."""
    host = request.host.rsplit(":", 1)[0] if request.host else ""
    if host and not (is_ip_literal(host) or is_loopback_host(host)):
        return web.json_response({"error": f"Host {request.host!r} is refused: use an IP address or localhost "
                                           "(a guard against DNS rebinding)"}, status=403)
    origin = request.headers.get("Origin")
    if not any_origin and request.method not in ("GET", "HEAD", "OPTIONS") and origin and origin != f"{request.scheme}://{request.host}":
        return web.json_response({"error": f"a request from {origin} is refused: only this server's own pages "
                                           "and tools without an Origin (curl, Python) may change it"}, status=403)
    return None
