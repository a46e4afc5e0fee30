"""Every command whose output goes to a pipe that closes early (`klaviyo-snippets generate | head
-1`): no traceback and no "Exception ignored" line, and the exit status a shell gives a command
stopped by a closed pipe (141, 128 + SIGPIPE), whatever the command.

The pipe is closed before the command starts, so every first write fails: the same as `head -1`
leaving before the command has written its second line, without the race."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def run_into_a_closed_pipe(argv: list[str], cwd: Path) -> subprocess.CompletedProcess:
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "klaviyo_snippets", *argv], cwd=cwd, stdout=write,
                              stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write)


@pytest.mark.parametrize("argv", [
    ["generate", "--out", "dist"],
    ["generate", "--out", "dist", "--check"],
    ["docs", "tracking-plan"],
    ["init", "my-plan.yaml"],
    ["catalog", "build", "--products", str(EXAMPLES / "products.jsonl"), "--out", "feed.json"],
    ["catalog", "check", "--products", str(EXAMPLES / "products.jsonl"), "--orders", str(EXAMPLES / "orders.jsonl")],
], ids=lambda argv: " ".join(a for a in argv if not a.startswith("/"))[:40])
def test_a_closed_pipe_ends_any_command_quietly(tmp_path, argv):
    proc = run_into_a_closed_pipe(argv, tmp_path)
    assert proc.stderr == "", proc.stderr
    assert proc.returncode == 141


def test_a_dry_run_into_a_closed_pipe_still_says_what_it_would_send(tmp_path):
    """orders sync --dry-run catches the closed pipe itself (harness/cli/_sending.py), then
    prints its summary on stderr and exits 0."""
    proc = run_into_a_closed_pipe(["orders", "sync", "--orders", str(EXAMPLES / "orders.jsonl"), "--dry-run"], tmp_path)
    assert proc.returncode == 0
    assert proc.stderr.startswith("dry run, nothing sent.") and proc.stderr.count("\n") == 1, proc.stderr


def test_help_into_a_closed_pipe_ends_quietly(tmp_path):
    """argparse prints help itself and ignores a failed write: exit 0, nothing on stderr."""
    proc = run_into_a_closed_pipe(["generate", "--help"], tmp_path)
    assert (proc.returncode, proc.stderr) == (0, "")


def test_an_error_still_reaches_stderr_when_stdout_is_closed(tmp_path):
    proc = run_into_a_closed_pipe(["generate", "--plan", "missing.yaml"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: no tracking plan at missing.yaml") and "Traceback" not in proc.stderr


def test_a_closed_stderr_ends_an_error_quietly(tmp_path):
    read, write = os.pipe()
    os.close(read)
    try:
        proc = subprocess.run([sys.executable, "-m", "klaviyo_snippets", "generate", "--plan", "missing.yaml"],
                              cwd=tmp_path, stdout=subprocess.PIPE, stderr=write, text=True, timeout=60)
    finally:
        os.close(write)
    assert proc.returncode == 2 and proc.stdout == ""
