"""The preview server: a sample storefront and a live inspector beside a stand-in Klaviyo.

`Preview` is a plain object like `StubKlaviyo` (start/close, a context manager, port 0 for any
free port): it starts a stand-in Klaviyo in "direct" mode (its onsite script posts straight back
to it, docs/design.md "Preview") and its own aiohttp app on its own event loop thread:

    GET  /                  the inspector, with the storefront in a frame
    GET  /shop/...          the storefront (harness/preview/_shop.py)
    GET  /static/...        the inspector's and the storefront's CSS and JS (no build step)
    GET  /api/stream        server-sent events: hello, plan, entries, reset
    GET  /api/session       the session as JSON (entries, profiles, the stand-in's traffic)
    GET  /api/state         the plan's state and the URLs, as JSON
    POST /api/warnings      what the generated code said on the console (a refused event)

The plan file is polled; an edit regenerates the snippets in memory and reloads the storefront.
A plan never stops or blocks the server: each load runs in a worker process (`_worker.py`, kept
between loads) with a time limit, `load_timeout`; a load that takes longer is killed with its
worker, and a newer save replaces a load still running. A plan with an error (or too
slow to load) is shown in the inspector, and the storefront keeps the last good version, which
`/api/state` names (`version`, `shown`), with `loading` while a load runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.harness.standin import LoopThread
from klaviyo_snippets.harness.preview._session import build_entries, parse_snippet_warning
from klaviyo_snippets.harness.preview._shop import Storefront, error_page
from klaviyo_snippets.harness.standin import now_iso
from klaviyo_snippets.harness.standin import StubKlaviyo, StubSettings, refuse_foreign

if TYPE_CHECKING:
    from klaviyo_snippets.generator.plan import Plan

log = logging.getLogger("klaviyo_snippets.preview")
WORKER = Path(__file__).with_name("_worker.py")

STATIC = Path(__file__).parent / "static"
FALLBACK_PUBLIC_KEY = "XXXXXX"  # a plan without a key still previews; the stand-in takes any 6 characters
KEEPALIVE_SECONDS = 15.0
BATCH_SECONDS = 0.03  # gather the changes of one request before telling the browsers
MAX_WARNINGS = 500
NO_STORE = {"Cache-Control": "no-store"}
#: Seconds a plan may take to load and generate in its worker before the preview stops it (the
#: default plan takes a tenth of a second; a 50 MB plan about 20).
LOAD_SECONDS = 60.0
#: Seconds a new worker may take to start (Python and the generator's imports), not counted in
#: the time limit of a load.
WORKER_START_SECONDS = 60.0


@dataclass
class _Client:
    """What one inspector (one SSE connection) has been sent."""

    generation: int = -1
    plan_version: int = -1
    plan_error: str | None = None
    entries: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, str] = field(default_factory=dict)


@dataclass
class _Snapshot:
    change: int
    generation: int
    entries: list[dict]
    entry_json: dict[str, str]
    profiles: dict[str, dict]
    profile_json: dict[str, str]
    counts: dict


class Preview:
    """The preview on a background thread. Usable without the CLI:

        with Preview("my-plan.yaml") as preview:     # port 0: any free port
            print(preview.url)                        # open it in a browser
    """

    def __init__(
        self,
        plan_path: str | Path | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        stub_port: int = 0,
        public_key: str | None = None,
        poll_interval: float = 0.25,
        stub_settings: StubSettings | None = None,
        echo: Callable[[str], None] | None = None,
        load_timeout: float = LOAD_SECONDS,
    ):
        from klaviyo_snippets.generator import default_plan_path

        self.plan_path = Path(plan_path) if plan_path is not None else Path(default_plan_path())
        self.host = host
        self.port = port
        self.public_key = public_key
        self.poll_interval = poll_interval
        self.load_timeout = load_timeout
        self.echo = echo or (lambda text: None)
        self.stub = StubKlaviyo(host, stub_port, settings=stub_settings or StubSettings())
        self.storefront: Storefront | None = None
        self.plan_error: str | None = None
        self.plan_version = 0
        self.plan_loaded_at: str | None = None  # when the version shown was loaded
        self.loading = False  # a load is running in the worker
        self._plan_sha: str | None = None
        self._loads = 0  # numbers each load: only the newest one's outcome is kept
        self._worker: _Worker | None = None
        self._load_lock = threading.Lock()  # one load at a time
        self._server = LoopThread("klaviyo-preview")
        self._watcher: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._stopping = threading.Event()
        self._closing = False
        self._listeners: set[asyncio.Event] = set()
        self._change = 0  # bumped on every change of the stand-in's store or of the plan
        self._snap: _Snapshot | None = None
        self._generation = None
        self._snippets_seen: dict[str, dict | None] = {}
        self._warnings: list[dict] = []
        self._warning_ids = itertools.count(1)
        self._tasks: list[asyncio.Task] = []

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Preview:
        if self._server.running:
            return self
        if self.public_key is not None:
            from klaviyo_snippets.generator import check_public_key

            self.public_key = check_public_key(self.public_key, where="--public-key")
        if not self.plan_path.is_file():
            what = "a folder, not a plan" if self.plan_path.is_dir() else "no such plan"
            raise UserError(f"{what}: {self.plan_path}", where="--plan",
                            hint="give the path of a tracking plan (YAML), or leave --plan out for the default plan")
        self.stub.start()
        try:
            # Direct mode: the onsite script served by the stand-in posts back to the stand-in.
            self.stub.settings.onsite_api_base = self.stub_url
            self._load_plan_now()
            self._start_server()
        except BaseException:
            self.stub.close()
            raise
        self._watcher = threading.Thread(target=self._watch_store, name="klaviyo-preview-watch", daemon=True)
        self._watcher.start()
        return self

    def _start_server(self) -> None:
        self._server.start(self._serve, self._shutdown, address=f"{self.host}:{self.port}")

    async def _serve(self) -> None:
        self._runner = web.AppRunner(self._make_app(), access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        self.port = self._runner.addresses[0][1]
        self._tasks.append(asyncio.get_running_loop().create_task(self._watch_plan()))

    async def _shutdown(self) -> None:
        self._closing = True
        self._stop_worker()
        self._wake()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()

    def close(self) -> None:
        self._stopping.set()
        self._closing = True
        self._stop_worker()
        self._server.stop()
        while not self._load_lock.acquire(timeout=0.1):
            self._stop_worker()  # a load that started its worker as we closed
        try:
            if self._worker is not None:
                self._worker.close()
                self._worker = None
        finally:
            self._load_lock.release()
        if self._watcher is not None:
            with self.stub.store.changed:
                self.stub.store.changed.notify_all()
            self._watcher.join(5)
            self._watcher = None
        self.stub.close()

    def __enter__(self) -> Preview:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://{_url_host(self.host)}:{self.port}/"

    @property
    def stub_url(self) -> str:
        return f"http://{_url_host(self.stub.host)}:{self.stub.port}"

    # -- the plan ----------------------------------------------------------------------------

    def _stat(self) -> tuple[int, int] | None:
        try:
            st = self.plan_path.stat()
        except OSError:
            return None
        return st.st_mtime_ns, st.st_size

    def _load(self) -> tuple[Plan, dict[str, bytes]]:
        """The plan and its generated files, from the worker, which gets `load_timeout` seconds;
        `_LoadStopped` when it took longer (the worker is killed) or was stopped for a newer save
        or for closing."""
        with self._load_lock:
            if self._closing:
                raise _LoadStopped("the preview is closing")
            worker = self._worker
            fresh = worker is None or worker.process.poll() is not None
            if fresh:
                worker = self._worker = _Worker()
            done = False
            try:
                if fresh and not (worker.outcomes.poll(WORKER_START_SECONDS) and worker.outcomes.recv()[0] == "ready"):
                    raise _LoadStopped(f"the plan worker did not start within {WORKER_START_SECONDS:g} s")
                worker.requests.send((str(self.plan_path), self.public_key, FALLBACK_PUBLIC_KEY))
                if not worker.outcomes.poll(self.load_timeout):
                    raise _LoadStopped(f"loading the plan and generating its snippets took longer than "
                                       f"{self.load_timeout:g} s, so the preview stopped it (is the plan "
                                       "far larger than a tracking plan needs?)")
                outcome, value = worker.outcomes.recv()
                done = True
            except (EOFError, OSError):  # killed (a newer save, closing), or it died
                code = worker.process.poll()
                raise _LoadStopped("loading the plan stopped before it finished"
                                   + (f" (its worker exited with {code})" if code not in (None, -9) else "")) from None
            finally:
                if not done:
                    worker.close()
                    if self._worker is worker:
                        self._worker = None
        if outcome == "error":
            raise UserError(value)
        if outcome == "bug":
            raise _WorkerBug(value)
        return value

    def _stop_worker(self) -> None:
        """Kill the worker, and so the load in progress (its thread sees the pipe close)."""
        worker = self._worker
        if worker is not None:
            worker.kill()

    def _storefront(self, plan: Plan, files: dict[str, bytes], version: int) -> Storefront:
        key = self.public_key or plan.public_key or FALLBACK_PUBLIC_KEY
        return Storefront(plan, files, self.stub_url, version=version, public_key=key)

    def _load_plan_now(self) -> None:
        try:
            plan, files = self._load()
        except Exception as exc:  # noqa: BLE001 - shown, never raised
            self._accept(error=exc)
        else:
            self._accept(self._storefront(plan, files, self.plan_version + 1))

    def _accept(self, storefront: Storefront | None = None, error: BaseException | None = None) -> bool:
        """Keep a new storefront, or the error that stopped it; True when the storefront changed."""
        if error is not None:
            if isinstance(error, (UserError, _LoadStopped)):
                self.plan_error = str(error)
            else:  # a plan must never stop the preview, even through a bug
                log.error("building the preview from %s failed: %s", self.plan_path, error,
                          exc_info=None if isinstance(error, _WorkerBug) else error)
                self.plan_error = f"{error} (a bug in klaviyo-snippets: please report it)"
            if self.storefront is not None:
                self.plan_error += f"\nthe storefront still shows version {self.plan_version}, loaded at {self.plan_loaded_at}"
            self.echo(f"plan error: {self.plan_error}")
            return False
        assert storefront is not None
        was_error = self.plan_error is not None
        self.plan_error = None
        if storefront.plan.sha256 == self._plan_sha and self.storefront is not None:
            if was_error:
                self.echo("plan loaded again (unchanged)")
            return False
        self._plan_sha = storefront.plan.sha256
        self.plan_version = storefront.version
        self.plan_loaded_at = now_iso()
        self.storefront = storefront
        if self._server.running:  # not the first load
            self.echo(f"plan reloaded: {len(storefront.plan.events)} events (version {storefront.version})")
        return True

    async def _watch_plan(self) -> None:
        last = self._stat()
        load: asyncio.Task | None = None
        while not self._closing:
            await asyncio.sleep(self.poll_interval)
            current = self._stat()
            if current == last:
                continue
            await asyncio.sleep(0.05)  # let the editor finish writing
            if self._stat() != current:
                continue
            last = current
            if load is not None and not load.done():
                self._stop_worker()  # a newer save replaces the load in progress
            load = asyncio.get_running_loop().create_task(self._reload())
            self._tasks.append(load)
            self._tasks = [task for task in self._tasks if not task.done()]

    async def _reload(self) -> None:
        self._loads += 1
        number = self._loads
        self.loading = True
        self._bump()
        try:
            plan, files = await asyncio.get_running_loop().run_in_executor(None, self._load)
        except _LoadStopped as exc:
            if number == self._loads and not self._closing:
                self._accept(error=exc)
        except Exception as exc:  # noqa: BLE001 - shown in the inspector
            if number == self._loads:
                self._accept(error=exc)
        else:
            if number == self._loads:
                self._accept(self._storefront(plan, files, self.plan_version + 1))
        finally:
            if number == self._loads:
                self.loading = False
            self._bump()

    def plan_state(self) -> dict:
        """The plan as the inspector shows it: `version` is the version the storefront shows
        (`shown`: when it was loaded, the sha256 of its text), `ok` whether the last save loaded,
        `loading` whether a newer save is being loaded."""
        sf = self.storefront
        return {
            "path": str(self.plan_path),
            "name": self.plan_path.name,
            "version": self.plan_version,
            "ok": self.plan_error is None,
            "error": self.plan_error,
            "loading": self.loading,
            "shown": {"version": self.plan_version, "loaded_at": self.plan_loaded_at, "sha256": self._plan_sha}
            if sf else None,
            "public_key": sf.public_key if sf else None,
            "events": sf.events_summary() if sf else [],
        }

    # -- changes -----------------------------------------------------------------------------

    def _watch_store(self) -> None:
        """Wake the inspectors whenever the stand-in's store changes (a thread: the store's
        Condition is a threading one). The lock is held except while waiting, so no change is missed."""
        changed = self.stub.store.changed
        with changed:
            while not self._stopping.is_set():
                if changed.wait(0.5) and not self._stopping.is_set():
                    loop = self._server.loop
                    if loop is None or loop.is_closed():
                        continue
                    try:
                        loop.call_soon_threadsafe(self._bump)
                    except RuntimeError:  # the loop closed meanwhile
                        return

    def _bump(self) -> None:
        self._change += 1
        self._wake()

    def _wake(self) -> None:
        for event in self._listeners:
            event.set()

    def _snapshot(self, fresh: bool = False) -> _Snapshot:
        """Everything the inspector shows, computed once per change (`fresh`: read the store now,
        not waiting for the watcher thread's wake-up)."""
        if not fresh and self._snap is not None and self._snap.change == self._change:
            return self._snap
        store = self.stub.store
        with store.changed:  # re-entrant: the four reads see one state
            generation = store.generation
            requests = store.requests()
            events = store.events()
            diagnostics = store.diagnostics()
            profiles = store.profiles()
            counts = store.counts()
        if generation != self._generation:
            self._generation = generation
            self._snippets_seen.clear()
        warnings = [w for w in self._warnings if w["generation"] == generation]
        sf = self.storefront
        entries = build_entries(
            requests=requests, events=events, diagnostics=diagnostics, profiles=profiles,
            warnings=warnings, snippet_for=sf.snippet_for if sf else None,
        )
        for entry in entries:
            # The snippet as it was when the entry first showed up, even after the plan changed.
            entry["snippet"] = self._snippets_seen.setdefault(entry["key"], entry.get("snippet"))
        for status in ("warning", "pending"):
            counts[status] = sum(1 for e in entries if e["status"] == status)
        counts["dropped"] = sum(1 for e in entries if e["status"] == "dropped")
        by_id = {p["id"]: p for p in profiles}
        self._snap = _Snapshot(
            change=self._change,
            generation=generation,
            entries=entries,
            entry_json={e["key"]: json.dumps(e, ensure_ascii=False, sort_keys=True) for e in entries},
            profiles=by_id,
            profile_json={pid: json.dumps(p, ensure_ascii=False, sort_keys=True) for pid, p in by_id.items()},
            counts=counts,
        )
        return self._snap

    # -- the web app -------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 1024, middlewares=[_local_only])
        r = app.router
        r.add_get("/", self.index)
        r.add_get("/shop", self.shop_root)
        r.add_get("/shop/", self.shop)
        r.add_get("/shop/{slug:.+}", self.shop)
        r.add_get("/api/stream", self.stream)
        r.add_get("/api/session", self.session)
        r.add_get("/api/state", self.state)
        r.add_post("/api/warnings", self.warning)
        r.add_post("/api/clear", self.clear)
        r.add_get("/favicon.ico", self.favicon)
        r.add_static("/static/", STATIC, show_index=False, append_version=False)
        return app

    async def index(self, request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC / "index.html", headers=NO_STORE)

    async def favicon(self, request: web.Request) -> web.Response:
        return web.Response(status=204)

    async def shop_root(self, request: web.Request) -> web.Response:
        raise web.HTTPFound("/shop/")

    async def shop(self, request: web.Request) -> web.Response:
        sf = self.storefront
        if sf is None:
            return web.Response(text=error_page(self.plan_error or "the plan has not loaded yet"),
                                content_type="text/html", status=503, headers=NO_STORE)
        slug = request.match_info.get("slug", "").strip("/")
        text = sf.render(slug)
        if text is None:
            raise web.HTTPNotFound(text=f"no page /shop/{slug} in this storefront")
        return web.Response(text=text, content_type="text/html", headers=NO_STORE)

    async def state(self, request: web.Request) -> web.Response:
        return web.json_response({"url": self.url, "stand_in": self.stub_url, "plan": self.plan_state()},
                                 headers=NO_STORE)

    async def clear(self, request: web.Request) -> web.Response:
        """The inspector's Clear: the stand-in forgets requests, events and profiles."""
        self.stub.reset()
        return web.Response(status=204)

    async def warning(self, request: web.Request) -> web.Response:
        try:
            report = json.loads(await request.text())
            message = str(report["message"])[:2000]
        except (ValueError, KeyError, TypeError):
            return web.json_response({"error": 'expected {"message": "...", "page": "..."}'}, status=400)
        metric, status = parse_snippet_warning(message)
        self._warnings.append({
            "id": next(self._warning_ids),
            "seq": 0,
            "time": now_iso(),
            "generation": self.stub.store.generation,
            "message": message,
            "metric": metric,
            "status": status,
            "page": str(report.get("page") or "")[:2000],
        })
        del self._warnings[:-MAX_WARNINGS]
        self._bump()
        return web.Response(status=204)

    async def session(self, request: web.Request) -> web.Response:
        snap = self._snapshot(fresh=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        document = {
            "exported_at": now_iso(),
            "tool": "klaviyo-snippets preview",
            "plan": self.plan_state(),
            "stand_in": self.stub_url,
            "counts": snap.counts,
            "entries": snap.entries,
            "profiles": list(snap.profiles.values()),
            "traffic": self.stub.traffic(),
        }
        return web.Response(
            text=json.dumps(document, indent=2, ensure_ascii=False),
            content_type="application/json",
            headers={**NO_STORE, "Content-Disposition": f'attachment; filename="klaviyo-preview-{stamp}.json"'},
        )

    async def stream(self, request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        })
        await resp.prepare(request)
        wake = asyncio.Event()
        self._listeners.add(wake)
        client = _Client()
        try:
            await _send(resp, "hello", json.dumps({
                "url": self.url, "stand_in": self.stub_url, "plan": self.plan_state(),
            }, ensure_ascii=False))
            await self._push(resp, client)
            while not self._closing:
                try:
                    await asyncio.wait_for(wake.wait(), KEEPALIVE_SECONDS)
                except TimeoutError:
                    await resp.write(b": keepalive\n\n")
                    continue
                if self._closing:
                    break
                await asyncio.sleep(BATCH_SECONDS)
                wake.clear()
                await self._push(resp, client)
        except (ConnectionResetError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._listeners.discard(wake)
        return resp

    async def _push(self, resp: web.StreamResponse, client: _Client) -> None:
        if client.plan_version != self.plan_version or client.plan_error != self.plan_error:
            client.plan_version, client.plan_error = self.plan_version, self.plan_error
            await _send(resp, "plan", json.dumps(self.plan_state(), ensure_ascii=False))
        snap = self._snapshot()
        if client.generation != snap.generation:
            if client.generation != -1:
                await _send(resp, "reset", "{}")
            client.generation = snap.generation
            client.entries.clear()
            client.profiles.clear()
        upsert = [text for key, text in snap.entry_json.items() if client.entries.get(key) != text]
        gone = [key for key in client.entries if key not in snap.entry_json]
        profiles = [f"{json.dumps(pid)}:{text}" for pid, text in snap.profile_json.items()
                    if client.profiles.get(pid) != text]
        if not (upsert or gone or profiles):
            return
        client.entries = dict(snap.entry_json)
        client.profiles = dict(snap.profile_json)
        data = (
            '{"upsert":[' + ",".join(upsert) + '],"remove":' + json.dumps(gone)
            + ',"profiles":{' + ",".join(profiles) + '},"counts":' + json.dumps(snap.counts) + "}"
        )
        await _send(resp, "entries", data)


class _LoadStopped(Exception):
    """A plan's load took longer than the time limit, or was stopped for a newer save."""


class _WorkerBug(Exception):
    """An exception other than a `UserError` in the worker (a bug): its type, text and traceback."""


class _Worker:
    """The plan worker process (`_worker.py`) and its pipes: requests in, outcomes out."""

    def __init__(self) -> None:
        requests_in, requests_out = os.pipe()
        outcomes_in, outcomes_out = os.pipe()
        try:
            self.process = subprocess.Popen(
                [sys.executable, str(WORKER), str(requests_in), str(outcomes_out)],
                pass_fds=(requests_in, outcomes_out), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
        except BaseException:
            for fd in (requests_out, outcomes_in):
                os.close(fd)
            raise
        finally:
            os.close(requests_in)
            os.close(outcomes_out)
        self.requests = Connection(requests_out, readable=False)
        self.outcomes = Connection(outcomes_in, writable=False)

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()

    def close(self) -> None:
        self.kill()
        self.process.wait()
        self.requests.close()
        self.outcomes.close()


async def _send(resp: web.StreamResponse, event: str, data: str) -> None:
    # One line of JSON: json.dumps escapes every newline inside strings.
    await resp.write(f"event: {event}\ndata: {data}\n\n".encode())


def _url_host(host: str) -> str:
    if host in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


@web.middleware
async def _local_only(request: web.Request, handler):
    """Only this machine's own pages may read the session or change it (see `refuse_foreign`)."""
    return refuse_foreign(request) or await handler(request)
