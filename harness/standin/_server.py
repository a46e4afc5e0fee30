"""The stand-in Klaviyo: a real aiohttp server on loopback that behaves like Klaviyo on the wire.

`StubKlaviyo` is a plain object (no pytest needed): start it (a context manager, port 0 by
default), point a browser or a client at `url`, read what arrived (`events()`, `requests()`,
`profiles()`, `diagnostics()`) or wait for one event with `expect_event()`. It runs its own
event loop in a daemon thread so synchronous Playwright code can drive a page meanwhile.
The inspection API under `/__stub__/` serves the same data as JSON (docs/stub.md).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from klaviyo_snippets.generator.net import is_ip_literal, is_loopback_host
from klaviyo_snippets.harness.standin import wire
from klaviyo_snippets.harness.standin._loopthread import LoopThread, serve_until_interrupted
from klaviyo_snippets.harness.standin._limits import FAULT_KINDS, Faults, RateLimits
from klaviyo_snippets.harness.standin._store import Store, new_uuid, now_iso

log = logging.getLogger("klaviyo_snippets.stub")

ONSITE_SCRIPT = Path(__file__).parent / "onsite" / "klaviyo.js"
CONFIG_TOKEN = "__KLAVIYO_STUB_CONFIG__"
JSONAPI = "application/vnd.api+json"
DOCUMENT = web.ResponseKey("document", object)
CORS = {"Access-Control-Allow-Origin": "*"}
PREFLIGHT = {
    **CORS,
    "Access-Control-Allow-Methods": "POST, OPTIONS",
    "Access-Control-Allow-Headers": wire.CORS_ALLOW_HEADERS,
    "Access-Control-Max-Age": "600",
}

INSPECTION_PATHS = {
    "GET /__stub__/events": "every recorded event; filters ?status=good|bad|duplicate|dropped&metric=NAME",
    "GET /__stub__/good": "events judged good",
    "GET /__stub__/bad": "events judged bad, each with its reasons",
    "GET /__stub__/all": "counts by status, plus requests, profiles and diagnostics",
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


@dataclass
class StubSettings:
    """How this stand-in behaves. Defaults are Klaviyo's, with rate limits off."""

    api_keys: tuple[str, ...] | None = None  # None: any key shaped like pk_<letters and digits>
    company_ids: tuple[str, ...] | None = None  # None: any 6-character company id
    rate_limits: RateLimits | None = None
    onsite_api_base: str | None = None  # None: the onsite script posts to a.klaviyo.com (routed)
    backfill_anonymous: bool = False  # the account setting that keeps anonymous events
    identify_debounce_ms: int = 300
    retry_delay_ms: tuple[int, int] = (1000, 2000)
    max_retries: int = 5
    # Choices no source confirms [inferred] (docs/stub.md), each switchable:
    refuse_unknown_fields: bool = True  # 400 for a field the resource does not know
    map_property_attributes: bool = True  # properties.first_name etc. become the profile attribute
    profile_answer_exchange_id: bool = True  # /client/profiles answers the onsite script {"meta": ...}
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "api_keys": "any pk_ key" if self.api_keys is None else f"{len(self.api_keys)} configured",
            "company_ids": "any 6-character id" if self.company_ids is None else list(self.company_ids),
            "rate_limits": None
            if self.rate_limits is None
            else {p: vars(lim) for p, lim in self.rate_limits.limits.items()},
            "onsite_api_base": self.onsite_api_base,
            "backfill_anonymous": self.backfill_anonymous,
            "identify_debounce_ms": self.identify_debounce_ms,
            "retry_delay_ms": list(self.retry_delay_ms),
            "max_retries": self.max_retries,
            "refuse_unknown_fields": self.refuse_unknown_fields,
            "map_property_attributes": self.map_property_attributes,
            "profile_answer_exchange_id": self.profile_answer_exchange_id,
        }


def _json(data: object, status: int = 200, headers: dict | None = None, content_type: str = "application/json"):
    resp = web.Response(
        status=status,
        text=json.dumps(data, ensure_ascii=False),
        content_type=content_type,
        headers=headers,
    )
    resp[DOCUMENT] = data  # what the request log records as the answer
    return resp


def _error(status: int, detail: str, *, pointer: str = "/data", code: str = "invalid", parameter: str | None = None,
           headers: dict | None = None):
    doc = wire.error_document([wire.Problem(pointer, detail, status, code)], parameter=parameter)
    return _json(doc, status, headers, JSONAPI)


class KlaviyoApp:
    """The request handlers. Plain methods over a `Store`; `StubKlaviyo` runs them in a thread."""

    def __init__(self, settings: StubSettings, store: Store):
        self.settings = settings
        self.store = store
        self.faults = Faults()
        self.errors: list[BaseException] = []  # unexpected errors, re-raised by StubKlaviyo.check()
        self.jobs: dict[str, dict] = {}  # catalog bulk jobs by id
        self.base_url = ""

    # -- app ---------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(middlewares=[self._local_inspection, self._guard], client_max_size=wire.MAX_BODY_BYTES * 2)
        r = app.router
        for path in wire.ENDPOINTS:
            for p in (path, path + "/"):
                r.add_post(p, self.endpoint)
                r.add_route("OPTIONS", p, self.preflight)
        for path in wire.GONE_PATHS:
            for p in (path, path + "/"):
                r.add_route("*", p, self.gone)
        r.add_get("/api/catalog-item-bulk-create-jobs/{job_id}", self.catalog_job)
        r.add_get("/api/catalog-item-bulk-create-jobs/{job_id}/", self.catalog_job)
        r.add_get("/onsite/js/{company_id}/klaviyo.js", self.onsite_script)
        r.add_get("/onsite/js/klaviyo.js", self.onsite_script)
        r.add_get("/__stub__/events", self.list_events)
        r.add_get("/__stub__/good", self.list_events)
        r.add_get("/__stub__/bad", self.list_events)
        r.add_get("/__stub__/all", self.counts)
        r.add_get("/__stub__/requests", self.list_requests)
        r.add_get("/__stub__/profiles", self.list_profiles)
        r.add_get("/__stub__/diagnostics", self.list_diagnostics)
        r.add_get("/__stub__/catalog", self.list_catalog)
        r.add_post("/__stub__/diagnostics", self.diagnostic)
        r.add_route("OPTIONS", "/__stub__/diagnostics", self.preflight)
        r.add_get("/__stub__/faults", self.list_faults)
        r.add_post("/__stub__/faults", self.add_faults)
        r.add_get("/__stub__/config", self.config)
        r.add_post("/__stub__/reset", self.reset)
        r.add_route("*", "/__stub__", self.unknown_inspection)
        r.add_route("*", "/__stub__/{tail:.*}", self.unknown_inspection)
        r.add_route("*", "/{tail:.*}", self.not_found)
        return app

    @web.middleware
    async def _local_inspection(self, request: web.Request, handler):
        """The inspection API holds shoppers' emails: only this machine's own pages and tools
        may read or change it. Pages post diagnostics from any origin, as klaviyo.js would."""
        if request.path.startswith("/__stub__") and request.path != "/__stub__/diagnostics":
            refusal = refuse_foreign(request)
            if refusal is not None:
                return refusal
        return await handler(request)

    @web.middleware
    async def _guard(self, request: web.Request, handler):
        """Every failure is a JSON:API error; a bug is also kept for `check()` to re-raise."""
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as exc:  # noqa: BLE001 - the server must never die of one request
            log.exception("stand-in error on %s %s", request.method, request.path)
            self.errors.append(exc)
            return _error(500, f"the stand-in failed: {exc!r} (a bug in klaviyo-snippets)", code="error")

    # -- Klaviyo endpoints -------------------------------------------------------------------

    async def preflight(self, request: web.Request) -> web.Response:
        # [inferred] Private /api endpoints give browsers no CORS grant: a private key in
        # browser code fails there, as it should.
        if request.path.startswith("/api/"):
            return web.Response(status=204, headers={"Allow": "POST, OPTIONS"})
        return web.Response(status=204, headers=PREFLIGHT)

    async def gone(self, request: web.Request) -> web.Response:
        return _error(
            410,
            "The legacy /api/track and /api/identify endpoints were retired on 2024-06-30; "
            "use POST /client/events or /api/events with a JSON:API body.",
            code="gone",
            headers=CORS,
        )

    async def endpoint(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        endpoint = wire.ENDPOINTS[path]
        cors = CORS if endpoint.auth == "public" else {}
        raw, too_big = await _read_limited(request, wire.MAX_BODY_BYTES)
        payload, parse_error = _parse_json(raw)
        rec = self.store.add_request(
            request.method, request.path, dict(request.query), request.headers,
            raw.decode("utf-8", errors="replace") if parse_error and raw else payload, len(raw),
        )

        def answer(resp: web.Response) -> web.Response:
            resp.headers.update(cors)
            self.store.respond(rec, resp.status, resp.get(DOCUMENT))
            return resp

        fault = self.faults.take(path)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            fault = None  # then answered as usual
        if fault is not None:
            if fault.kind == "drop":
                self.store.respond(rec, 0, "connection dropped (scripted fault)")
                if request.transport is not None:
                    request.transport.abort()
                return web.Response(status=500)  # never delivered: the connection is gone
            if fault.kind == "429":
                return answer(_throttled(fault.retry_after))
            code = {"400": "invalid", "403": "permission_denied"}.get(fault.kind, "error")
            return answer(_error(int(fault.kind), "scripted fault", code=code))

        if too_big:
            return answer(_error(413, f"The request body is larger than {wire.MAX_BODY_BYTES // (1024 * 1024)} MB.",
                                 code="request_too_large"))
        account, refusal = self._authenticate(request, endpoint)
        if refusal is not None:
            return answer(refusal)
        revision = request.headers.get("revision")
        if not revision:
            return answer(_error(400, "Missing required header 'revision' (e.g. revision: 2026-07-15).",
                                 code="invalid", parameter="revision"))
        if not wire.valid_revision(revision):
            return answer(_error(400, f"Invalid revision {revision!r}: expected YYYY-MM-DD or YYYY-MM-DD.suffix.",
                                 parameter="revision"))
        if self.settings.rate_limits is not None:
            allowed, headers = self.settings.rate_limits.take(account, path)
            if not allowed:
                return answer(_throttled(int(headers["Retry-After"])))
            cors = {**cors, **headers}
        ctype = request.content_type
        if ctype not in ("application/json", JSONAPI):
            return answer(_error(415, f"Content-Type must be application/json or {JSONAPI}, got {ctype!r}.",
                                 code="unsupported_media_type"))
        if parse_error:
            problem = wire.Problem("", f"Malformed JSON body: {parse_error}")
            self._record_rejected_event(rec, path, None, [problem])
            return answer(_json(wire.error_document([problem]), 400, None, JSONAPI))

        found = wire.VALIDATORS[endpoint.body](payload, len(raw), refuse_unknown=self.settings.refuse_unknown_fields)
        company = request.query.get("company_id") if endpoint.auth == "public" else None
        if found.rejections:
            if endpoint.body in ("event", "bulk"):
                self._record_rejected_event(rec, path, payload, found.rejections)
            return answer(_json(wire.error_document(found.rejections), 400, None, JSONAPI))

        if endpoint.body == "event":
            self._accept_event(rec, path, payload["data"]["attributes"], payload["data"]["attributes"]["profile"]["data"],
                               company, found.late, payload)
            return answer(web.Response(status=202))
        if endpoint.body == "bulk":
            attrs = payload["data"]["attributes"]
            entries = attrs["events"]["data"]
            repeated = wire.repeated_unique_ids(entries, rec["received_at"])
            for i, entry in enumerate(entries):
                prefix = f"/data/attributes/events/data/{i}/"
                late = [p for p in found.late if p.pointer.startswith(prefix)] + repeated
                self._accept_event(rec, path, entry["attributes"], attrs["profile"]["data"], company, late, entry)
            return answer(web.Response(status=202))
        if endpoint.body == "catalog-item":
            item = self._add_catalog_item(payload["data"])
            if item is None:
                return answer(_error(409, "A catalog item with this external_id already exists.",
                                     pointer="/data/attributes/external_id", code="duplicate_object"))
            return answer(_json({"data": item, "links": {"self": item["links"]["self"]}}, 201, None, JSONAPI))
        if endpoint.body == "catalog-job":
            return answer(_json(self._run_catalog_job(payload["data"]), 202, None, JSONAPI))
        if endpoint.body == "profile":
            profile, problem = self.store.resolve_profile(payload["data"], company=company, client=True)
            if problem:  # a client endpoint answers 202 and loses it later
                rec["judgement"] = {"status": "bad", "detail": problem}
                return answer(web.Response(status=202))
            if request.headers.get("X-Klaviyo-Onsite") == "1" and self.settings.profile_answer_exchange_id:
                # [inferred] the onsite script reads the visitor's exchange id from this answer.
                meta = {"exchange_id": profile["exchange_ids"].get(company), "should_clear_cookie": False}
                return answer(_json({"meta": meta}, 202))
            return answer(web.Response(status=202))
        # subscription
        p_data = payload["data"]["attributes"]["profile"]["data"]
        profile, problem = self.store.resolve_profile(p_data, company=company, client=True)
        if problem:  # a client endpoint answers 202 and loses it later
            rec["judgement"] = {"status": "bad", "detail": problem}
            return answer(web.Response(status=202))
        self.store.add_subscription(
            profile["id"],
            {
                "list_id": payload["data"]["relationships"]["list"]["data"]["id"],
                "channels": p_data["attributes"].get("subscriptions"),
                "custom_source": payload["data"]["attributes"].get("custom_source"),
                "received_at": now_iso(),
            },
        )
        return answer(web.Response(status=202))

    def _add_catalog_item(self, resource: dict) -> dict | None:
        attrs = resource["attributes"]
        cats = [c["id"] for c in ((resource.get("relationships") or {}).get("categories") or {}).get("data") or []]
        item_id = wire.catalog_item_id(attrs)
        stored = self.store.add_catalog_item(item_id, attrs, cats)
        if stored is None:
            return None
        shown = {k: attrs.get(k) for k in ("external_id", "title", "description", "price", "url", "image_full_url",
                                           "image_thumbnail_url", "images", "custom_metadata")}
        shown.update(published=attrs.get("published", True), created=stored["created"], updated=stored["updated"])
        link = f"{self.base_url}/api/catalog-items/{item_id}/"
        return {"type": "catalog-item", "id": item_id, "attributes": shown,
                "relationships": {"variants": {"data": []}}, "links": {"self": link}}

    def _run_catalog_job(self, resource: dict) -> dict:
        """[inferred] The stand-in runs a bulk job at once and answers it complete."""
        items = resource["attributes"]["items"]["data"]
        done, errors = [], []
        for i, item in enumerate(items):
            created = self._add_catalog_item(item)
            if created is None:
                errors.append({"id": new_uuid(), "code": "duplicate_object",
                               "title": "Conflict", "detail": "A catalog item with this external_id already exists.",
                               "source": {"pointer": f"/data/attributes/items/data/{i}"}})
            else:
                done.append({"type": "catalog-item", "id": created["id"]})
        job_id = new_uuid()
        now = now_iso()
        self.jobs[job_id] = job = {"data": {
            "type": "catalog-item-bulk-create-job", "id": job_id,
            "attributes": {"status": "complete", "created_at": now, "total_count": len(items),
                           "completed_count": len(done), "failed_count": len(errors), "completed_at": now,
                           "errors": errors, "expires_at": None},
            "relationships": {"items": {"data": done}},
            "links": {"self": f"{self.base_url}/api/catalog-item-bulk-create-jobs/{job_id}/"}}}
        return job

    async def catalog_job(self, request: web.Request) -> web.Response:
        """GET a bulk job, as a client polls it (private key required, as for the POST)."""
        _, refusal = self._authenticate(request, wire.ENDPOINTS["/api/catalog-item-bulk-create-jobs"])
        if refusal is not None:
            return refusal
        job = self.jobs.get(request.match_info["job_id"])
        if job is None:
            return _error(404, "No catalog item bulk create job with this id.", code="not_found")
        return _json(job, 200, None, JSONAPI)

    def _authenticate(self, request: web.Request, endpoint: wire.Endpoint) -> tuple[str, web.Response | None]:
        """The rate-limit account of the request, or the refusal Klaviyo would send."""
        if endpoint.auth == "public":
            company = request.query.get("company_id")
            if not company:
                return "", _error(400, "Missing required query parameter 'company_id' (your 6-character public key).",
                                  parameter="company_id")
            known = self.settings.company_ids
            if not wire.COMPANY_ID.fullmatch(company) or (known is not None and company not in known):
                return "", _error(400, f"Invalid company_id {company!r}: no such account.", parameter="company_id")
            return f"company:{company}", None
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme != "Klaviyo-API-Key" or not key:
            return "", _error(401, "Missing or malformed Authorization header: expected 'Klaviyo-API-Key <private key>'.",
                              code="not_authenticated")
        known = self.settings.api_keys
        if (known is None and not wire.PRIVATE_KEY.fullmatch(key)) or (known is not None and key not in known):
            return "", _error(401, "Incorrect authentication credentials: this private API key is not known.",
                              code="authentication_failed")
        return f"key:{key}", None

    def _record_rejected_event(self, rec: dict, path: str, payload: object, problems: list[wire.Problem]) -> None:
        attrs = {}
        try:
            attrs = payload["data"]["attributes"]  # type: ignore[index]
        except (KeyError, TypeError):
            pass
        self.store.add_event(
            {
                "request_id": rec["id"],
                "endpoint": path,
                "metric": wire.metric_name(attrs) if isinstance(attrs, dict) else None,
                "status": "bad",
                "http_status": 400,
                "reasons": [p.to_reason() for p in problems],
                "profile_id": None,
                "unique_id": None,
                "properties": attrs.get("properties") if isinstance(attrs, dict) else None,
                "value": attrs.get("value") if isinstance(attrs, dict) else None,
                "time": attrs.get("time") if isinstance(attrs, dict) else None,
                "body": payload,
            }
        )

    def _accept_event(self, rec: dict, path: str, attrs: dict, profile_data: dict, company: str | None,
                      late: list[wire.Problem], body: object) -> None:
        """A valid event: resolve its profile, dedup it, judge it, record it. Answered 202."""
        reasons = [p.to_reason() for p in late]
        metric = wire.metric_name(attrs)
        client = path.startswith("/client/")
        profile, problem = self.store.resolve_profile(profile_data, company=company, client=client)
        status = "good"
        if problem:
            reasons.append({"pointer": "/data/attributes/profile", "detail": problem, "code": "unknown_profile"})
        unique = wire.dedup_id(attrs, rec["received_at"])
        if reasons:
            status = "bad"
        # Klaviyo's dedup key: profile + metric + unique_id; client and server events never
        # dedupe each other [wire facts, traps].
        elif not self.store.first_time_seen(("client" if client else "api", profile["id"], metric, unique)):
            status = "duplicate"
            reasons.append({
                "pointer": "/data/attributes/unique_id",
                "detail": f"an earlier {metric!r} event of this profile had the same unique_id {unique!r}: "
                          "Klaviyo keeps the first and skips this one",
                "code": "duplicate",
            })
        self.store.add_event(
            {
                "request_id": rec["id"],
                "endpoint": path,
                "metric": metric,
                "display_name": wire.DISPLAY_NAMES.get(metric, metric),
                "status": status,
                "http_status": 202,
                "reasons": reasons,
                "profile_id": profile["id"] if profile else None,
                "profile": _profile_view(profile) if profile else None,
                "unique_id": attrs.get("unique_id"),
                "properties": attrs.get("properties"),
                "value": attrs.get("value"),
                "value_currency": attrs.get("value_currency"),
                "time": attrs.get("time"),
                "body": body,
            }
        )

    # -- the onsite script -------------------------------------------------------------------

    async def onsite_script(self, request: web.Request) -> web.Response:
        company = request.match_info.get("company_id") or request.query.get("company_id")
        if not company or not wire.COMPANY_ID.fullmatch(company):
            return web.Response(
                status=404,
                text=f"// klaviyo-snippets stand-in: {company!r} is not a 6-character public API key\n",
                content_type="application/javascript",
                headers=CORS,
            )
        config = {
            "companyId": company,
            "apiBase": request.headers.get("X-Stub-Api-Base") or self.settings.onsite_api_base,
            "diagnosticsUrl": None,
            "identifyDebounceMs": self.settings.identify_debounce_ms,
            "retryDelayMs": list(self.settings.retry_delay_ms),
            "maxRetries": self.settings.max_retries,
            "backfillAnonymous": self.settings.backfill_anonymous,
        }
        literal = json.dumps(config).replace("<", "\\u003c").replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
        source = ONSITE_SCRIPT.read_text(encoding="utf-8").replace(CONFIG_TOKEN, literal, 1)
        return web.Response(
            text=source,
            content_type="application/javascript",
            headers={**CORS, "Cache-Control": "no-store"},
        )

    async def diagnostic(self, request: web.Request) -> web.Response:
        raw, too_big = await _read_limited(request, 256 * 1024)
        try:
            report = json.loads(raw.decode("utf-8")) if not too_big else None
        except (UnicodeDecodeError, ValueError):
            report = None
        if not isinstance(report, dict):
            return _json({"error": "a diagnostic is a JSON object"}, 400, CORS)
        report.setdefault("company_id", request.query.get("company_id"))
        self.store.add_diagnostic(report)
        if report.get("type") == "dropped":
            # Recorded as the event it would have been, so expectations can name what was lost.
            props = dict(_track_properties(report.get("args")) or {})
            self.store.add_event(
                {
                    "request_id": None,
                    "endpoint": "onsite script",
                    "metric": report.get("metric"),
                    # trackViewedItem and identify have no metric: name the call instead.
                    "display_name": wire.DISPLAY_NAMES.get(report.get("metric"), report.get("metric"))
                    or wire.METHOD_DISPLAY_NAMES.get(report.get("method"), report.get("method")),
                    "status": "dropped",
                    "http_status": None,
                    "reasons": [{"pointer": None, "detail": report.get("reason"), "code": "dropped_by_onsite_script"}],
                    "profile_id": None,
                    "unique_id": props.pop("$event_id", None),
                    "properties": props,
                    "value": props.pop("$value", None),
                    "time": props.pop("time", None),
                    "body": None,
                }
            )
        return web.Response(status=204, headers=CORS)

    # -- inspection --------------------------------------------------------------------------

    async def list_events(self, request: web.Request) -> web.Response:
        status = request.query.get("status") or {"/__stub__/good": "good", "/__stub__/bad": "bad"}.get(request.path)
        events = self.store.events(status=status, metric=request.query.get("metric"))
        return _json({"count": len(events), "events": events})

    async def counts(self, request: web.Request) -> web.Response:
        return _json(self.store.counts())

    async def list_requests(self, request: web.Request) -> web.Response:
        reqs = self.store.requests()
        return _json({"count": len(reqs), "requests": reqs})

    async def list_profiles(self, request: web.Request) -> web.Response:
        profiles = self.store.profiles()
        return _json({"count": len(profiles), "profiles": profiles})

    async def list_diagnostics(self, request: web.Request) -> web.Response:
        diags = self.store.diagnostics()
        return _json({"count": len(diags), "diagnostics": diags})

    async def list_catalog(self, request: web.Request) -> web.Response:
        items = self.store.catalog()
        return _json({"count": len(items), "items": items})

    async def list_faults(self, request: web.Request) -> web.Response:
        return _json({"faults": self.faults.pending(), "kinds": list(FAULT_KINDS)})

    async def add_faults(self, request: web.Request) -> web.Response:
        try:
            spec = await request.json()
            self.faults.add(spec["kind"], int(spec.get("count", 1)), path=spec.get("path"),
                            retry_after=spec.get("retry_after", 1), delay=float(spec.get("delay", 0)))
        except (ValueError, KeyError, TypeError) as exc:
            return _json({"error": f"bad fault: {exc}", "example": {"kind": "429", "count": 2, "path": "/api/events",
                                                                     "retry_after": 1}}, 400)
        return _json({"faults": self.faults.pending()})

    async def config(self, request: web.Request) -> web.Response:
        return _json(self.settings.to_dict())

    async def reset(self, request: web.Request) -> web.Response:
        self.clear()
        return _json({"reset": True})

    def clear(self) -> None:
        self.store.clear()
        self.jobs.clear()
        self.faults.clear()
        if self.settings.rate_limits is not None:
            self.settings.rate_limits.reset()

    async def unknown_inspection(self, request: web.Request) -> web.Response:
        return _json(
            {"error": f"no inspection endpoint {request.method} {request.path}", "valid": INSPECTION_PATHS}, 404
        )

    async def not_found(self, request: web.Request) -> web.Response:
        if request.path.rstrip("/") in wire.ENDPOINTS:
            return _error(405, f"{request.method} is not allowed here: Klaviyo's {request.path} takes POST.",
                          code="method_not_allowed", headers={**CORS, "Allow": "POST, OPTIONS"})
        return _error(404, f"{request.method} {request.path} is not an endpoint of Klaviyo or of this stand-in "
                           "(inspection: GET /__stub__/events).", code="not_found", headers=CORS)


def refuse_foreign(request: web.Request) -> web.Response | None:
    """A 403 for a request another site could have made: a Host that is a domain name (DNS
    rebinding: any site can point its name at 127.0.0.1), or a write from another origin (a page
    the developer visits). None when the request is this machine's own. Shared by the preview."""
    host = request.host.rsplit(":", 1)[0] if request.host else ""
    if host and not (is_ip_literal(host) or is_loopback_host(host)):
        return web.json_response({"error": f"Host {request.host!r} is refused: use an IP address or localhost "
                                           "(a guard against DNS rebinding)"}, status=403)
    origin = request.headers.get("Origin")
    if request.method not in ("GET", "HEAD", "OPTIONS") and origin and origin != f"{request.scheme}://{request.host}":
        return web.json_response({"error": f"a request from {origin} is refused: only this server's own pages "
                                           "and tools without an Origin (curl, Python) may change it"}, status=403)
    return None


def _throttled(retry_after: int) -> web.Response:
    return _error(
        429,
        f"Request was throttled. Expected available in {retry_after} seconds.",
        code="throttled",
        headers={"Retry-After": str(retry_after)},
    )


def _profile_view(profile: dict) -> dict:
    return {"id": profile["id"], **profile["attributes"]}


def _track_properties(args: object) -> dict | None:
    if isinstance(args, list) and len(args) > 1 and isinstance(args[1], dict):
        return args[1]
    return None


async def _read_limited(request: web.Request, limit: int) -> tuple[bytes, bool]:
    """The body, reading at most limit+1 bytes; (bytes, too_big)."""
    chunks, size = [], 0
    while True:
        chunk = await request.content.read(64 * 1024)
        if not chunk:
            return b"".join(chunks), False
        size += len(chunk)
        if size > limit:
            return b"", True
        chunks.append(chunk)


def _parse_json(raw: bytes) -> tuple[object, str | None]:
    """(document, None) or (None, what is wrong)."""
    if not raw:
        return None, "the body is empty"
    try:
        return json.loads(raw), None
    except ValueError as exc:  # UnicodeDecodeError included
        return None, str(exc)


class StubKlaviyo:
    """The stand-in Klaviyo on a background thread. Usable without pytest:

        with StubKlaviyo() as stub:
            ...point a browser or client at stub.url...
            stub.expect_event("Viewed Product", properties={"ProductID": "1111"})
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, settings: StubSettings | None = None, **options):
        self.host = host
        self.port = port
        self.settings = settings or StubSettings(**options)
        self.store = Store(map_property_attributes=self.settings.map_property_attributes)
        self.app = KlaviyoApp(self.settings, self.store)
        self._server = LoopThread("klaviyo-stub")
        self._runner: web.AppRunner | None = None
        # How to pass time while waiting for traffic; a browser harness sets one that keeps
        # Playwright's routes running (routing.pumping_sleep). None: block on the store.
        self.sleep = None

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "StubKlaviyo":
        if not self._server.running:
            self._server.start(self._serve, self._shutdown, address=f"{self.host}:{self.port}")
        return self

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self.app.make_app(), access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self.app.base_url = self.url

    async def _shutdown(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def close(self) -> None:
        self._server.stop()

    def __enter__(self) -> "StubKlaviyo":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url_for(self, path: str) -> str:
        return self.url + path

    # -- control -----------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything recorded, pending faults and rate windows (settings stay)."""
        self.app.clear()
        self.app.errors.clear()

    def inject_fault(self, kind: str, count: int = 1, *, path: str | None = None, retry_after: int = 1,
                     delay: float = 0.0) -> None:
        """The next `count` requests (to `path`, or any endpoint) get the fault `kind` (FAULT_KINDS):
        an error status, a dropped connection, or ("slow") their usual answer `delay` seconds late."""
        self.app.faults.add(kind, count, path=path, retry_after=retry_after, delay=delay)

    def check(self) -> None:
        """Re-raise, on the caller's thread, the first unexpected error the server hit."""
        if self.app.errors:
            raise self.app.errors[0]

    # -- reading -----------------------------------------------------------------------------

    def events(self, *, status: str | None = None, metric: str | None = None) -> list[dict]:
        return self.store.events(status=status, metric=metric)

    def requests(self) -> list[dict]:
        return self.store.requests()

    def profiles(self) -> list[dict]:
        return self.store.profiles()

    def diagnostics(self) -> list[dict]:
        return self.store.diagnostics()

    def catalog(self) -> list[dict]:
        return self.store.catalog()

    def wait_for(self, predicate, timeout: float = 5.0):
        """Wait until predicate() is truthy (returning it), or until timeout (returning the last value)."""
        if self.sleep is None:
            return self.store.wait_for(predicate, timeout)
        deadline = time.monotonic() + timeout
        while True:
            result = predicate()
            if result or time.monotonic() >= deadline:
                return result
            self.sleep(0.01)

    def expect_event(self, metric: str, **expected) -> dict:
        """Wait for an event and return it; on a miss, AssertionError with a diff (see klaviyo_snippets.harness.standin._expect)."""
        from klaviyo_snippets.harness.standin._expect import expect_event

        return expect_event(self, metric, **expected)

    def traffic(self) -> dict:
        """Everything recorded, as one JSON-ready dict (saved next to a failed test)."""
        return {
            "counts": self.store.counts(),
            "events": self.events(),
            "requests": self.requests(),
            "profiles": self.profiles(),
            "diagnostics": self.diagnostics(),
            "catalog": self.store.catalog(),
        }


def serve_forever(host: str, port: int, settings: StubSettings, *, echo=print) -> None:
    """Run the stand-in in the foreground until interrupted (`klaviyo-snippets stub`)."""
    # Everything recorded stays alive until a reset; with the default thresholds the cyclic
    # collector keeps walking that growing heap (p99 latency of 100+ ms under load).
    gc.set_threshold(50_000, 20, 20)
    stub = StubKlaviyo(host, port, settings=settings).start()
    try:
        echo(f"stand-in Klaviyo listening on {stub.url}")
        echo(f"  onsite script   {stub.url}/onsite/js/<PUBLIC_KEY>/klaviyo.js")
        echo(f"  client API      {stub.url}/client/events/?company_id=<PUBLIC_KEY>")
        echo(f"  server API      {stub.url}/api/events/  (Authorization: Klaviyo-API-Key pk_...)")
        echo(f"  inspection      {stub.url}/__stub__/events   (all paths: {stub.url}/__stub__/)")
        serve_until_interrupted(echo)
    finally:
        stub.close()
