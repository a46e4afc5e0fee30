"""Klaviyo's side of the stand-in: its `/client/*` and `/api/*` endpoints, the onsite script and
where that script reports. Every endpoint request runs one pipeline of checks, in Klaviyo's order,
then goes to the small handler for its kind of body."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from aiohttp import web

from klaviyo_snippets.harness.standin import wire
from klaviyo_snippets.harness.standin._limits import Faults
from klaviyo_snippets.harness.standin._lint import event_warnings
from klaviyo_snippets.harness.standin._responses import (
    CORS, DOCUMENT, JSONAPI, PREFLIGHT, HungUp, read_limited, reply_error, reply_json, reply_throttled,
)
from klaviyo_snippets.harness.standin._settings import StubSettings
from klaviyo_snippets.harness.standin._store import Store, new_uuid, now_iso, text_preview

ONSITE_SCRIPT = Path(__file__).parent / "onsite" / "klaviyo.js"
CONFIG_TOKEN = "__KLAVIYO_STUB_CONFIG__"
# A drop reports the page's whole call (its args), and its reason may quote it: room for any call
# Klaviyo would take (a 5 MB body) twice, as the app allows, so no drop goes unrecorded.
MAX_DIAGNOSTIC_BYTES = 2 * wire.MAX_BODY_BYTES

# A body handler: (request, recorded request, path, payload, findings, company) -> the answer.
BodyHandler = Callable[[web.Request, dict, str, dict, wire.Findings, str | None], web.Response]


class KlaviyoRoutes:
    """The Klaviyo-facing handlers: plain methods over a `Store`; `StubKlaviyo` runs them in a thread."""

    def __init__(self, settings: StubSettings, store: Store):
        self.settings = settings
        self.store = store
        self.faults = Faults()
        self.jobs: dict[str, dict] = {}  # catalog bulk jobs by id
        self.base_url = ""
        # One handler per `wire.Endpoint.body`, each reached only by a body that passed validation.
        self.bodies: dict[str, BodyHandler] = {
            "event": self._event,
            "bulk": self._bulk,
            "profile": self._profile,
            "subscription": self._subscription,
            "catalog-item": self._catalog_item,
            "catalog-job": self._catalog_job,
        }

    def add_routes(self, r: web.UrlDispatcher) -> None:
        """Klaviyo's endpoints, the onsite script and the diagnostics it posts. The catch-all
        (`not_found`) is left to the app, which adds it after every other route."""
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
        r.add_post("/__stub__/diagnostics", self.diagnostic)
        r.add_route("OPTIONS", "/__stub__/diagnostics", self.preflight)

    def clear(self) -> None:
        """Forget everything recorded, bulk jobs, pending faults and rate windows (settings stay)."""
        self.store.clear()
        self.jobs.clear()
        self.faults.clear()
        if self.settings.rate_limits is not None:
            self.settings.rate_limits.reset()

    # -- the pipeline ------------------------------------------------------------------------

    async def endpoint(self, request: web.Request) -> web.StreamResponse:
        path = request.path.rstrip("/")
        endpoint = wire.ENDPOINTS[path]
        cors = CORS if endpoint.auth == "public" else {}
        try:
            raw, too_big = await read_limited(request, wire.MAX_BODY_BYTES)
        except HungUp as gone:  # not an error: recorded as a request that got no answer
            rec = self.store.add_request(request.method, request.path, dict(request.query), request.headers, None,
                                         gone.received)
            self.store.respond(rec, 0, f"the client hung up after sending {gone.received} of "
                                       f"{request.content_length or 'the'} bytes it announced")
            return web.Response(status=400)  # never delivered: the connection is gone
        payload, problems = wire.parse_json(raw)
        # A body that is not plain JSON is kept as its beginning only (docs/stub.md, "What is kept").
        kept = text_preview(raw) if problems and raw else payload
        rec = self.store.add_request(request.method, request.path, dict(request.query), request.headers, kept, len(raw),
                                     body_json=None if problems else raw)

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
                return answer(reply_throttled(fault.retry_after))
            code = {"400": "invalid", "403": "permission_denied"}.get(fault.kind, "error")
            return answer(reply_error(int(fault.kind), "scripted fault", code=code))

        if too_big:
            return answer(reply_error(
                413, f"The request body is larger than {wire.MAX_BODY_BYTES // (1024 * 1024)} MB.",
                code="request_too_large"))
        account, refusal = self._authenticate(request, endpoint)
        if refusal is not None:
            return answer(refusal)
        revision = request.headers.get("revision")
        if not revision:
            return answer(reply_error(400, "Missing required header 'revision' (e.g. revision: 2026-07-15).",
                                      code="invalid", parameter="revision"))
        if not wire.valid_revision(revision):
            return answer(reply_error(400, f"Invalid revision {revision!r}: expected YYYY-MM-DD or YYYY-MM-DD.suffix.",
                                      parameter="revision"))
        if self.settings.rate_limits is not None:
            allowed, headers = self.settings.rate_limits.take(account, path)
            if not allowed:
                return answer(reply_throttled(int(headers["Retry-After"])))
            cors = {**cors, **headers}
        ctype = request.content_type
        if ctype not in ("application/json", JSONAPI):
            return answer(reply_error(415, f"Content-Type must be application/json or {JSONAPI}, got {ctype!r}.",
                                      code="unsupported_media_type"))
        if problems:  # malformed, too deep, or a number that is not finite
            self._record_rejected_event(rec, path, payload, problems)
            return answer(reply_json(wire.error_document(problems), 400, None, JSONAPI))

        found = wire.VALIDATORS[endpoint.body](payload, len(raw), refuse_unknown=self.settings.refuse_unknown_fields)
        company = request.query.get("company_id") if endpoint.auth == "public" else None
        if found.rejections:
            if endpoint.body in ("event", "bulk"):
                self._record_rejected_event(rec, path, payload, found.rejections)
            return answer(reply_json(wire.error_document(found.rejections), 400, None, JSONAPI))
        return answer(self.bodies[endpoint.body](request, rec, path, payload, found, company))

    def _authenticate(self, request: web.Request, endpoint: wire.Endpoint) -> tuple[str, web.Response | None]:
        """The rate-limit account of the request, or the refusal Klaviyo would send."""
        if endpoint.auth == "public":
            company = request.query.get("company_id")
            if not company:
                return "", reply_error(
                    400, "Missing required query parameter 'company_id' (your 6-character public key).",
                    parameter="company_id")
            known = self.settings.company_ids
            if not wire.COMPANY_ID.fullmatch(company) or (known is not None and company not in known):
                return "", reply_error(400, f"Invalid company_id {company!r}: no such account.", parameter="company_id")
            return f"company:{company}", None
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme != "Klaviyo-API-Key" or not key:
            return "", reply_error(
                401, "Missing or malformed Authorization header: expected 'Klaviyo-API-Key <private key>'.",
                code="not_authenticated")
        known = self.settings.api_keys
        if (known is None and not wire.PRIVATE_KEY.fullmatch(key)) or (known is not None and key not in known):
            return "", reply_error(401, "Incorrect authentication credentials: this private API key is not known.",
                                   code="authentication_failed")
        return f"key:{key}", None

    # -- one handler per kind of body ----------------------------------------------------------

    def _event(self, request, rec, path, payload, found, company) -> web.Response:
        attrs = payload["data"]["attributes"]
        self._accept_event(rec, path, attrs, attrs["profile"]["data"], company, found.late, payload,
                           "/data/attributes")
        return web.Response(status=202)

    def _bulk(self, request, rec, path, payload, found, company) -> web.Response:
        attrs = payload["data"]["attributes"]
        entries = attrs["events"]["data"]
        repeated = wire.repeated_unique_ids(entries, rec["received_at"])
        for i, entry in enumerate(entries):
            prefix = f"/data/attributes/events/data/{i}/"
            late = [p for p in found.late if p.pointer.startswith(prefix)] + repeated
            self._accept_event(rec, path, entry["attributes"], attrs["profile"]["data"], company, late, entry,
                               prefix + "attributes")
        return web.Response(status=202)

    def _profile(self, request, rec, path, payload, found, company) -> web.Response:
        profile, problem = self.store.resolve_profile(payload["data"], company=company, client=True)
        if problem:  # a client endpoint answers 202 and loses it later
            rec["judgement"] = {"status": "bad", "detail": problem}
            return web.Response(status=202)
        if request.headers.get("X-Klaviyo-Onsite") == "1" and self.settings.profile_answer_exchange_id:
            # [inferred] the onsite script reads the visitor's exchange id from this answer.
            meta = {"exchange_id": profile["exchange_ids"].get(company), "should_clear_cookie": False}
            return reply_json({"meta": meta}, 202)
        return web.Response(status=202)

    def _subscription(self, request, rec, path, payload, found, company) -> web.Response:
        p_data = payload["data"]["attributes"]["profile"]["data"]
        profile, problem = self.store.resolve_profile(p_data, company=company, client=True)
        if problem:  # a client endpoint answers 202 and loses it later
            rec["judgement"] = {"status": "bad", "detail": problem}
            return web.Response(status=202)
        self.store.add_subscription(
            profile["id"],
            {
                "list_id": payload["data"]["relationships"]["list"]["data"]["id"],
                "channels": p_data["attributes"].get("subscriptions"),
                "custom_source": payload["data"]["attributes"].get("custom_source"),
                "received_at": now_iso(),
            },
        )
        return web.Response(status=202)

    def _catalog_item(self, request, rec, path, payload, found, company) -> web.Response:
        item = self._add_catalog_item(payload["data"])
        if item is None:
            return reply_error(409, "A catalog item with this external_id already exists.",
                               pointer="/data/attributes/external_id", code="duplicate_object")
        return reply_json({"data": item, "links": {"self": item["links"]["self"]}}, 201, None, JSONAPI)

    def _catalog_job(self, request, rec, path, payload, found, company) -> web.Response:
        return reply_json(self._run_catalog_job(payload["data"]), 202, None, JSONAPI)

    # -- events --------------------------------------------------------------------------------

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
                      late: list[wire.Problem], body: object, pointer: str) -> None:
        """A valid event: resolve its profile, dedup it, judge it, record it. Answered 202. A good
        one also gets the stand-in's advice (`_lint`, at `pointer`, where its attributes are)."""
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
                **({"warnings": event_warnings(metric, attrs, pointer)} if status == "good" else {}),
                "body": body,  # last: the store splices the request's own JSON in here
            }
        )

    # -- the catalog ---------------------------------------------------------------------------

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
            return reply_error(404, "No catalog item bulk create job with this id.", code="not_found")
        return reply_json(job, 200, None, JSONAPI)

    # -- the onsite script ---------------------------------------------------------------------

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
        raw, too_big = await read_limited(request, MAX_DIAGNOSTIC_BYTES)
        if too_big:
            return reply_json({"error": f"a diagnostic is at most {MAX_DIAGNOSTIC_BYTES // (1024 * 1024)} MB"}, 413,
                              CORS)
        report, problems = wire.parse_json(raw)
        if problems or not isinstance(report, dict):
            why = f" ({problems[0].detail} at {problems[0].pointer or 'the top'})" if problems else ""
            return reply_json({"error": f"a diagnostic is a JSON object{why}"}, 400, CORS)
        report.setdefault("company_id", request.query.get("company_id"))
        self.store.add_diagnostic(report)
        if report.get("type") == "dropped":
            self.store.add_event(_dropped_event(report))
        return web.Response(status=204, headers=CORS)

    # -- everything else -----------------------------------------------------------------------

    async def preflight(self, request: web.Request) -> web.Response:
        # [inferred] Private /api endpoints give browsers no CORS grant: a private key in
        # browser code fails there, as it should.
        if request.path.startswith("/api/"):
            return web.Response(status=204, headers={"Allow": "POST, OPTIONS"})
        return web.Response(status=204, headers=PREFLIGHT)

    async def gone(self, request: web.Request) -> web.Response:
        return reply_error(
            410,
            "The legacy /api/track and /api/identify endpoints were retired on 2024-06-30; "
            "use POST /client/events or /api/events with a JSON:API body.",
            code="gone",
            headers=CORS,
        )

    async def not_found(self, request: web.Request) -> web.Response:
        if request.path.rstrip("/") in wire.ENDPOINTS:
            return reply_error(405, f"{request.method} is not allowed here: Klaviyo's {request.path} takes POST.",
                               code="method_not_allowed", headers={**CORS, "Allow": "POST, OPTIONS"})
        return reply_error(404, f"{request.method} {request.path} is not an endpoint of Klaviyo or of this stand-in "
                                "(inspection: GET /__stub__/events).", code="not_found", headers=CORS)


def _profile_view(profile: dict) -> dict:
    return {"id": profile["id"], **profile["attributes"]}


def _dropped_event(report: dict) -> dict:
    """The event a "dropped" report names, recorded so that expectations can name what was lost.
    Who dropped it is its `endpoint`: the onsite script, or the generated code (the harness posts
    its drops with `source: "generated code"`). A page posts the report: any field may be junk."""
    by = "generated code" if report.get("source") == "generated code" else "onsite script"
    metric, method, reason = (report.get(k) if isinstance(report.get(k), str) else None
                              for k in ("metric", "method", "reason"))
    props = dict(_track_properties(report.get("args")) or {})
    return {
        "request_id": None,
        "endpoint": by,
        "metric": metric,
        # trackViewedItem and identify have no metric: name the call instead.
        "display_name": wire.DISPLAY_NAMES.get(metric, metric) or wire.METHOD_DISPLAY_NAMES.get(method, method),
        "status": "dropped",
        "http_status": None,
        "reasons": [{"pointer": None, "detail": reason, "code": "dropped_by_" + by.replace(" ", "_")}],
        "profile_id": None,
        "unique_id": props.pop("$event_id", None),
        "properties": props,
        "value": props.pop("$value", None),
        "time": props.pop("time", None),
        "body": None,
    }


def _track_properties(args: object) -> dict | None:
    if isinstance(args, list) and len(args) > 1 and isinstance(args[1], dict):
        return args[1]
    return None
