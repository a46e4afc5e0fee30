"""An asyncio server on a daemon thread, for synchronous callers (tests, sync Playwright, the CLI).

One home for the start-up handshake both servers need (the stand-in and the preview): start the
loop, wait until the server listens, hand any start-up error (a busy port) back to the caller.
And the foreground commands' wait (`serve_until_interrupted`): until SIGINT or SIGTERM, however
the process was started.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import signal
import socket
import threading
from collections.abc import Awaitable, Callable

from klaviyo_snippets.generator.errors import UserError


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:  # uvloop roughly doubles the stand-in's throughput; optional (not on Windows)
        import uvloop
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class LoopThread:
    """`start(serve, shutdown)` runs `serve()` then the loop until `stop()`, then `shutdown()`."""

    def __init__(self, name: str):
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self, serve: Callable[[], Awaitable[None]], shutdown: Callable[[], Awaitable[None]], *,
              address: str) -> None:
        ready = threading.Event()
        failure: list[BaseException] = []
        loop = self.loop = new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(serve())
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                with contextlib.suppress(Exception):
                    loop.run_until_complete(shutdown())
                loop.close()
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(shutdown())
            loop.close()

        self._thread = threading.Thread(target=run, name=self.name, daemon=True)
        self._thread.start()
        ready.wait(30)
        if failure:
            self._thread = None
            exc = failure[0]
            if isinstance(exc, OSError):
                wrong_host = isinstance(exc, socket.gaierror) or exc.errno == errno.EADDRNOTAVAIL
                raise UserError(f"cannot listen on {address}: {exc.strerror or exc}",
                                hint="check --host: an address of this machine, e.g. 127.0.0.1, or 0.0.0.0 for all"
                                if wrong_host else "choose another --port, or 0 for any free port") from exc
            raise exc

    def stop(self) -> None:
        if self._thread is None or self.loop is None:
            return
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self._thread = None


#: What stops a foreground server: Ctrl-C, and what `kill`, systemd and container runtimes send.
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def serve_until_interrupted(echo: Callable[[str], None]) -> None:
    """Block the main thread while the servers run in theirs, until SIGINT (Ctrl-C) or SIGTERM
    (the foreground `stub` and `preview` commands); then return, so the caller closes them.

    Handlers are installed for both signals, whatever this process inherited: a background job
    of a non-interactive shell starts with SIGINT ignored, SIGTERM's default kills without
    cleaning up, and a container's PID 1 gets neither unless it handles them. The handler does
    nothing itself; the signal's number arrives on a wake-up socket the main thread reads, so no
    exception lands in the middle of other code. The previous handlers are restored before
    returning. Call from the main thread.
    """
    reader, writer = socket.socketpair()
    writer.setblocking(False)  # set_wakeup_fd requires it; the reader blocks
    previous: dict[int, object] = {}
    previous_fd = signal.set_wakeup_fd(writer.fileno())
    try:
        for sig in STOP_SIGNALS:
            previous[sig] = signal.signal(sig, _wake)
        echo("press Ctrl-C to stop")
        received = 0
        while received not in STOP_SIGNALS:  # another signal with a Python handler wakes it too
            received = reader.recv(1)[0]
    finally:
        for sig, handler in previous.items():
            if handler is not None:  # None: set outside Python, cannot be put back
                signal.signal(sig, handler)
        signal.set_wakeup_fd(previous_fd)
        reader.close()
        writer.close()
    echo(f"stopping ({signal.Signals(received).name})")


def _wake(signum: int, frame: object) -> None:
    """The wake-up byte is written by the interpreter before this runs; nothing to do here."""
