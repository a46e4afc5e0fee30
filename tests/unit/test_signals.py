"""`klaviyo-snippets stub` and `preview` stop cleanly on SIGINT and SIGTERM however they were
started: exit 0, "stopped" as the last line, no traceback.

The hard starts, reproduced for real: a background job of a non-interactive shell (SIGINT is
ignored in it, and an ignored signal stays ignored through exec, so Python never turns Ctrl-C
into KeyboardInterrupt), and PID 1 of a new PID namespace, as in a container (the kernel drops
any signal PID 1 has no handler for, so a default SIGTERM does nothing).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.processes import read_until, running

CLI = Path(sys.executable).with_name("klaviyo-snippets")
READY = "press Ctrl-C to stop"
#: Seconds a command gets to stop after the signal.
STOP_WITHIN = 5

#: As a script or a CI step runs it; the shell hands on the job's exit status.
BACKGROUND_JOB = '"$@" & wait $!'

COMMANDS = {"stub": ["stub", "--port", "0"], "preview": ["preview", "--port", "0"]}


def _pipes() -> dict:
    """Output into pipes, as under a script, systemd or a container; each line must reach them as
    it is printed, without PYTHONUNBUFFERED."""
    env = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    return {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "stdin": subprocess.DEVNULL,
            "env": env}


def _assert_stopped_cleanly(proc: subprocess.Popen, sig: signal.Signals, printed: str) -> None:
    try:
        out, err = proc.communicate(timeout=STOP_WITHIN)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_WITHIN} s after {sig.name}")
    assert proc.returncode == 0, f"exit {proc.returncode} after {sig.name}\n{err}"
    assert (printed + out).endswith(f"\nstopping ({sig.name})\nstopped\n"), printed + out
    assert "Traceback" not in err, err


def test_a_background_job_starts_with_sigint_ignored():
    """The premise of the tests below: what they start does inherit SIGINT ignored."""
    probe = [sys.executable, "-c", "import signal; print(signal.getsignal(signal.SIGINT) == signal.SIG_IGN)"]
    done = subprocess.run(["bash", "-c", BACKGROUND_JOB, "bash", *probe], capture_output=True, text=True, timeout=30)
    assert done.stdout == "True\n", done.stdout + done.stderr


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
@pytest.mark.parametrize("command", COMMANDS.values(), ids=COMMANDS.keys())
def test_a_background_job_of_a_script_stops_cleanly(command, sig):
    with running(["bash", "-c", BACKGROUND_JOB, "bash", str(CLI), *command], **_pipes()) as shell:
        printed = read_until(shell, READY)
        os.kill(_only_child(shell.pid), sig)
        _assert_stopped_cleanly(shell, sig, printed)  # `wait $!` hands on the job's exit status


def _only_child(pid: int) -> int:
    [child] = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return int(child)


def _pid_namespace() -> list[str]:
    """`unshare` arguments that make the command PID 1 of a new PID namespace here, as root or not."""
    for flags in (["--pid"], ["--user", "--map-root-user", "--pid"]):
        argv = ["unshare", *flags, "--fork", "--kill-child"]
        try:
            if subprocess.run([*argv, "true"], capture_output=True, timeout=30).returncode == 0:
                return argv
        except FileNotFoundError:
            break
    pytest.skip("cannot start a process as PID 1 of a new PID namespace here (unshare missing or not permitted)")


def test_the_stub_as_pid_1_of_a_container_stops_cleanly_on_sigterm():
    """`docker stop`: SIGTERM from outside to the container's PID 1."""
    with running([*_pid_namespace(), str(CLI), "stub", "--port", "0"], **_pipes()) as unshare:
        printed = read_until(unshare, READY)
        os.kill(_only_child(unshare.pid), signal.SIGTERM)  # its pid out here; in there it is 1
        _assert_stopped_cleanly(unshare, signal.SIGTERM, printed)  # unshare hands on its exit status


def test_the_wait_puts_back_the_handlers_and_wakeup_fd_it_found():
    """In-process: the handlers and the wake-up socket are the wait's own, for its duration only."""
    from klaviyo_snippets.harness.standin import serve_until_interrupted

    def mine(signum, frame):  # what a caller had before (never called: the wait has its own)
        raise AssertionError("the caller's handler ran during the wait")

    saved = {sig: signal.signal(sig, mine) for sig in (signal.SIGINT, signal.SIGTERM)}
    wakeup_fd = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(wakeup_fd)
    lines = []

    def echo(text: str) -> None:
        lines.append(text)
        if text == READY:
            os.kill(os.getpid(), signal.SIGTERM)

    try:
        serve_until_interrupted(echo)
        assert lines == [READY, "stopping (SIGTERM)"]
        assert signal.getsignal(signal.SIGINT) is mine and signal.getsignal(signal.SIGTERM) is mine
        assert signal.set_wakeup_fd(wakeup_fd) == wakeup_fd
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
