"""Processes started by tests, stopped on every path.

`running(argv, ...)` starts a process in a session of its own and, when the `with` block ends
however it ends (a failed assertion, a timeout), stops what is still running: SIGTERM to the
whole session's process group, a grace period, then SIGKILL. A test that stops the process
itself (to check how it exits) does so inside the block; the finalizer is the safety net, so no
test leaves a server behind. `start`/`stop` are the same for a process a fixture holds.
`read_until` waits for a line on a process's stdout with a deadline, never blocking for good.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import time
from collections.abc import Iterator

#: Seconds a process gets to exit after SIGTERM before it is killed.
GRACE = 5.0


def start(argv: list[str], **popen: object) -> subprocess.Popen:
    """Popen in a new session, so `stop` reaches its children too (a shell's background job)."""
    return subprocess.Popen(argv, start_new_session=True, **popen)


def stop(proc: subprocess.Popen, grace: float = GRACE) -> None:
    """SIGTERM, `grace` seconds, SIGKILL: to the process's group, then reap it and close its pipes."""
    if proc.poll() is None:
        _signal_group(proc, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)
    _signal_group(proc, signal.SIGKILL)  # whatever of the group is left (a shell's children)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=grace)  # reaps it and closes the pipes


@contextlib.contextmanager
def running(argv: list[str], *, grace: float = GRACE, **popen: object) -> Iterator[subprocess.Popen]:
    proc = start(argv, **popen)
    try:
        yield proc
    finally:
        stop(proc, grace)


def read_until(proc: subprocess.Popen, marker: str, timeout: float = 30.0) -> str:
    """Everything `proc` has printed on stdout (a pipe) up to the end of the first line holding
    `marker`, perhaps a little more; fails with what it printed if it exits or `timeout` passes
    first. Reads the pipe directly: read the rest with `proc.communicate()`."""
    fd, needle = proc.stdout.fileno(), marker.encode()
    seen = b""
    deadline = time.monotonic() + timeout
    while True:
        at = seen.find(needle)
        if at >= 0 and b"\n" in seen[at:]:
            return seen.decode()
        left = deadline - time.monotonic()
        assert left > 0, f"no {marker!r} within {timeout} s; it printed: {seen.decode(errors='replace')!r}"
        if select.select([fd], [], [], left)[0]:
            chunk = os.read(fd, 65536)
            assert chunk, (f"it exited ({proc.wait(GRACE)}) before printing {marker!r}; "
                           f"it printed: {seen.decode(errors='replace')!r}")
            seen += chunk


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    # The group id is the leader's pid (start_new_session); the system gives no new process that
    # id while any member of the group lives.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
