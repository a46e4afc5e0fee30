"""The stand-in Klaviyo: a real aiohttp server on loopback that behaves like Klaviyo on the wire.

`StubKlaviyo` is a plain object (no pytest needed): start it (a context manager, port 0 by
default), point a browser or a client at `url`, read what arrived (`events()`, `requests()`,
`profiles()`, `diagnostics()`) or wait for one event with `expect_event()`. It runs its own
event loop in a daemon thread so synchronous Playwright code can drive a page meanwhile.
This module builds the app from Klaviyo's routes (`_klaviyo_routes`) and the inspection API
under `/__stub__/` (`_inspection`, docs/stub.md).
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Mapping

from aiohttp import web

from klaviyo_snippets.harness.standin import wire
from klaviyo_snippets.harness.standin._expect import MISSING, expect_event, keywords_checked
from klaviyo_snippets.harness.standin._inspection import Inspection
from klaviyo_snippets.harness.standin._klaviyo_routes import KlaviyoRoutes
from klaviyo_snippets.harness.standin._loopthread import LoopThread, serve_until_interrupted
from klaviyo_snippets.harness.standin._responses import reply_error
from klaviyo_snippets.harness.standin._settings import StubSettings
from klaviyo_snippets.harness.standin._store import Store

log = logging.getLogger("klaviyo_snippets.stub")


def make_app(klaviyo: KlaviyoRoutes, inspection: Inspection, errors: list[BaseException]) -> web.Application:
    """Klaviyo's routes, then the inspection API, then the catch-all answering as Klaviyo does."""

    @web.middleware
    async def guard(request: web.Request, handler):
        """Every failure is a JSON:API error; a bug is also kept for `check()` to re-raise. A client
        that hangs up mid-body is no bug: nothing is logged or kept (the answer is never delivered)."""
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except ConnectionResetError:
            return web.Response(status=400)
        except Exception as exc:  # noqa: BLE001 - the server must never die of one request
            log.exception("stand-in error on %s %s", request.method, request.path)
            errors.append(exc)
            return reply_error(500, f"the stand-in failed: {exc!r} (a bug in klaviyo-snippets)", code="error")

    app = web.Application(middlewares=[inspection.local_only, guard], client_max_size=wire.MAX_BODY_BYTES * 2)
    klaviyo.add_routes(app.router)
    inspection.add_routes(app.router)
    app.router.add_route("*", "/{tail:.*}", klaviyo.not_found)
    return app


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
        self.store = Store(map_property_attributes=self.settings.map_property_attributes,
                           max_records=self.settings.max_records, max_record_bytes=self.settings.max_record_bytes)
        self._klaviyo = KlaviyoRoutes(self.settings, self.store)
        self._inspection = Inspection(self.settings, self.store, self._klaviyo.faults, self._klaviyo.clear)
        self._errors: list[BaseException] = []  # unexpected errors in a handler, re-raised by check()
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
        app = make_app(self._klaviyo, self._inspection, self._errors)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._klaviyo.base_url = self.url

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
        self._klaviyo.clear()
        self._errors.clear()

    def inject_fault(self, kind: str, count: int = 1, *, path: str | None = None, retry_after: int = 1,
                     delay: float = 0.0) -> None:
        """The next `count` requests (to `path`, or any endpoint) get the fault `kind` (FAULT_KINDS):
        an error status, a dropped connection, or ("slow") their usual answer `delay` seconds late."""
        self._klaviyo.faults.add(kind, count, path=path, retry_after=retry_after, delay=delay)

    def check(self) -> None:
        """Re-raise, on the caller's thread, the first unexpected error the server hit."""
        if self._errors:
            raise self._errors[0]

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

    @keywords_checked
    def expect_event(self, metric: str, *, properties: Mapping | None = None, exact: bool = False,
                     value: object = MISSING, unique_id: object = MISSING, profile: Mapping | None = None,
                     status: str | None = "good", timeout: float = 5.0) -> dict:
        """Wait for the first event matching every expectation given, and return its record.

        metric      the metric name as sent, e.g. "Viewed Product" (Active on Site is "__activity__").
        properties  a dict the event's properties must include: each key present, each value equal
                    (as JSON values: 1 equals 1.0, true does not equal 1). Other keys may be there.
        exact       True: the properties must be exactly `properties`, apart from the `$`-keys the
                    onsite script adds to every event ($use_ip, $is_session_activity) unless you
                    list them; a `$`-key you list is compared. Needs `properties` ({} for none).
        value       the event's value (`$value` on the page); not checked unless given.
        unique_id   the event's unique_id (`$event_id` on the page); not checked unless given.
        profile     a dict the profile the stand-in resolved must include, e.g. {"email": ...}.
        status      "good" (the default), "bad", "duplicate", "dropped", or None for any.
        timeout     seconds to wait (events arrive asynchronously).

        Returns the event record (`body` is the JSON:API body exactly as Klaviyo received it).
        On a miss, AssertionError listing the closest events with their differences, the
        properties that did arrive on events of the metric, the events of the metric the page
        dropped (with who dropped them and why) and the warnings about them, the requests the
        stand-in refused, and what else the page reported. It fails before the timeout once
        events of the metric are in, none matches and the stand-in is idle (nothing new for
        1.5 s, or its onsite script's identify debounce if longer; no request being answered or
        to be retried), and says so. What a page has not sent yet (a theme that loads klaviyo.js
        late, its own timer) it cannot see: wait on the page first (`klaviyo_shop.settle()`).
        A keyword it does not take is a TypeError naming the closest one it does.
        """
        return expect_event(self, metric, properties=properties, exact=exact, value=value, unique_id=unique_id,
                            profile=profile, status=status, timeout=timeout)

    def traffic(self) -> dict:
        """Everything recorded and still kept, as one JSON-ready dict (saved next to a failed test);
        `counts.forgotten` says how many records the store no longer keeps."""
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
    # Profiles and catalog items stay alive until a reset; with the default thresholds the cyclic
    # collector keeps walking that heap (p99 latency of 100+ ms under load).
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
