"""The engine verify drives browsers with: one Playwright driver on a thread of its own (an
asyncio loop) and the one browser every lane opens its page in; a browser that must go is killed
by the processes it started (found by a mark in their environment), never asked. The pages and
visits run in it are `_driver`'s."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import gc
import logging
import os
import signal
import subprocess
import threading

from klaviyo_snippets.generator.errors import UserError

GRACE_SECONDS = 1.0  # past a page's time: for its visit to hand back before the kill
CLOSE_SECONDS = 5.0  # closing a browser, or the driver, after the last page; killed past this
LAUNCH_SECONDS = 60.0  # starting the driver, or a browser (Playwright's own launch timeout is 30 s)

_THREAD = "klaviyo-snippets verify driver"
NOTHING = object()


class Engine:
    """The Playwright driver, on a thread of its own running an asyncio loop, and the one browser
    every lane opens its page in. The caller hands it coroutines and waits for them with a limit
    (`call`), or not at all (`submit`). A browser that must go is killed (`kill_browser`), never
    asked; the next page to open launches the next one (`generation` counts them)."""

    def __init__(self, choice, *, headed: bool) -> None:
        self.choice, self.headed = choice, headed
        self.playwright = None
        self.driver: int | None = None  # the driver's pid; every browser runs below it
        self.dead = False
        self.generation = 0  # of the browser: a kill makes way for the next one
        self._browser = None
        self._browser_generation = -1
        self._mark: str | None = None  # in the environment of each of the browser's processes
        self._kill_lock = threading.Lock()
        self._launching: asyncio.Lock | None = None
        self._manager = None
        self._booted: concurrent.futures.Future | None = None
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=_THREAD, daemon=True)

    def start(self) -> Engine:
        """Start the driver; it boots while the caller goes on (`ready` waits for it)."""
        _quiet_playwright_shutdown()
        self._thread.start()
        self._booted = self.submit(self._boot())
        return self

    def ready(self) -> None:
        """Wait for the driver to have started (raising why it did not)."""
        try:
            self._booted.result(LAUNCH_SECONDS)
        except concurrent.futures.TimeoutError:
            self.kill()
            raise UserError(f"Playwright's driver did not start within {LAUNCH_SECONDS:g} s") from None
        if self.dead:
            raise UserError("the browser driver was killed: nothing left to run the pages in")

    def __enter__(self) -> Engine:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def submit(self, coro) -> concurrent.futures.Future:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def call(self, coro, seconds: float):
        """Run `coro` on the driver's loop; its result, its exception raised, or NOTHING when it
        took longer than `seconds` (then it is cancelled)."""
        future = self.submit(coro)
        try:
            return future.result(seconds)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return NOTHING

    def kill_browser(self, generation: int) -> None:
        """Kill the browser of `generation` (if it is still the current one), never asking it:
        every page open in it fails at its next call, and the next page opened gets a new one."""
        with self._kill_lock:
            if generation != self.generation:
                return
            self.generation += 1
            mark = self._mark if self._browser_generation == generation else None
        if mark is not None and not _kill_marked(mark):  # no /proc to find its processes in
            self.kill()

    def close(self) -> None:
        """Stop the driver, which closes the browser it launched (its profile removed)."""
        if self.dead:
            return
        if self._booted is not None:  # an error may come while it boots: let it finish first
            with contextlib.suppress(Exception):
                self._booted.result(LAUNCH_SECONDS)
        if self._manager is not None:
            self.call(self._manager.__aexit__(), CLOSE_SECONDS)
        self._stop()
        self.kill()  # whatever did not go

    def kill(self) -> None:
        """Kill the browser and the driver, never asking them."""
        if self.dead:
            return
        self.dead = True
        if self.driver is not None:
            _kill_below(self.driver)
            with contextlib.suppress(OSError):
                os.kill(self.driver, signal.SIGKILL)
        self._stop()

    def _stop(self) -> None:
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(GRACE_SECONDS * 2)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_forever()
        finally:
            # What Playwright leaves behind when a browser or the driver was killed (tasks still
            # pending, an error nobody read) is collected here, while asyncio's complaints are muted.
            _QUIET.active = True
            left = asyncio.all_tasks(self._loop)
            for task in left:
                task.cancel()
            if left:
                with contextlib.suppress(BaseException):
                    self._loop.run_until_complete(asyncio.wait(left, timeout=GRACE_SECONDS))
            gc.collect()

    async def _boot(self) -> None:
        from playwright.async_api import async_playwright

        self._launching = asyncio.Lock()
        self._manager = async_playwright()
        self.playwright = await self._manager.start()
        self.driver = _driver_pid(self._manager)
        # Launched now, while the caller reads its pages and the plan; the lanes take it from here.
        asyncio.ensure_future(self._prelaunch())

    async def _prelaunch(self) -> None:
        with contextlib.suppress(Exception):  # a lane launching it again says what is wrong
            await self.browser()

    async def browser(self):
        """(the current browser, its generation), launched if there is none."""
        async with self._launching:
            generation = self.generation
            if self._browser_generation != generation:
                self._browser, self._browser_generation = None, -1
                # A mark in its environment, which every process of it inherits, to find them by.
                mark = f"{os.getpid()}.{id(self)}.{generation}"
                options = self.choice.launch_options(headless=not self.headed)
                options["env"] = {**os.environ, **(options.get("env") or {}), _LANE_MARK: mark}
                with self._kill_lock:
                    self._mark = mark
                browser = await getattr(self.playwright, self.choice.name).launch(**options)
                with self._kill_lock:
                    self._browser, self._browser_generation = browser, generation
            return self._browser, generation


def _driver_pid(manager) -> int | None:
    """The Playwright driver process of a started `sync_playwright()`: the browser runs below it.
    (Playwright has no public way to say; None if a release moves it, and then a timed-out
    browser is left to the driver, which closes it when this process exits.)"""
    try:
        return manager._connection._transport._proc.pid
    except AttributeError:
        return None


_LANE_MARK = "KLAVIYO_SNIPPETS_VERIFY_BROWSER"


def _kill_marked(mark: str) -> bool:
    """SIGKILL every process whose environment has `mark` (a browser and its helpers),
    twice over, for what forked in between; False where there is no /proc to look in."""
    if not os.path.isdir("/proc/self"):
        return False
    needle = f"\0{_LANE_MARK}={mark}\0".encode()
    for _ in range(2):
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                with open(f"/proc/{name}/environ", "rb") as environ:
                    found = needle in b"\0" + environ.read() + b"\0"
            except OSError:
                continue
            if found:
                with contextlib.suppress(OSError):
                    os.kill(int(name), signal.SIGKILL)
    return True


def _kill_below(root: int) -> None:
    """SIGKILL every process below `root` (the browser and its helpers), leaving `root` itself.
    Twice over, for what forked in between."""
    for _ in range(2):
        for pid in _descendants(root):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)


def _descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for pid, parent in _parents().items():
        children.setdefault(parent, []).append(pid)
    found, todo = [], list(children.get(root, []))
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _parents() -> dict[int, int]:
    """{pid: parent pid} for every process: Linux's /proc, else `ps`."""
    if not os.path.isdir("/proc/self"):
        try:
            out = subprocess.run(["ps", "-A", "-o", "pid=", "-o", "ppid="], capture_output=True, text=True,
                                 timeout=5, check=False).stdout
        except (OSError, subprocess.SubprocessError):
            return {}
        return {int(a): int(b) for a, b in (line.split() for line in out.splitlines() if line.strip())}
    table = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as stat:
                    table[int(name)] = int(stat.read().rsplit(b")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return table


_QUIET = threading.local()  # .active: the driver's thread is shutting Playwright down


class _PlaywrightShutdownNoise(logging.Filter):
    """Mutes asyncio's log about browsers verify closed or killed on purpose: Playwright's own
    tasks for route calls that failed as the page or browser went (a page navigating as it was
    killed), whose error Playwright never reads; and, while verify's driver thread shuts
    Playwright down, tasks left pending and errors left unread. Tracebacks on the terminal that
    say nothing about the page."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(_QUIET, "active", False):
            return False
        error = record.exc_info[1] if record.exc_info else None
        return not (type(error).__name__ == "TargetClosedError" and record.getMessage().startswith(
            "Task exception was never retrieved"))


_SHUTDOWN_NOISE = _PlaywrightShutdownNoise()


def _quiet_playwright_shutdown() -> None:
    logger = logging.getLogger("asyncio")
    if _SHUTDOWN_NOISE not in logger.filters:
        logger.addFilter(_SHUTDOWN_NOISE)
