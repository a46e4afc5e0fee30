"""The preview never blocks on a plan: a save that never finishes loading is stopped at the time
limit, a hostile plan is an error at once, later saves still load, and `/api/state` says which
version the storefront shows all along.

The hanging plan is real, not a mock: the plan file is replaced by a FIFO with no writer, so
reading it blocks for good (as a plan on a stalled network share would). Before the fix the
watcher waited on it for ever: later saves were ignored while /api/state said ok."""

from __future__ import annotations

import contextlib
import json
import os
import time
import urllib.request
from pathlib import Path

import pytest

from klaviyo_snippets.harness.preview import Preview

PLAN = """\
version: 1
public_key: AbC123
events:
  added_like:
    metric: Added Like
    inputs: [product]
    properties:
      ProductName: {type: string, from: product.title}
"""
BOMB = "version: 1\nsamples:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 11)) + PLAN.split("\n", 2)[2]


def state(preview: Preview) -> dict:
    with urllib.request.urlopen(preview.url + "api/state", timeout=10) as answer:
        return json.loads(answer.read())["plan"]


def wait_for(preview: Preview, check, what: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        plan = state(preview)
        if check(plan):
            return plan
        assert time.monotonic() < deadline, f"{what}: {plan}"
        time.sleep(0.05)


def save(path: Path, text: str) -> None:
    """Write a new version the way editors do: a new file renamed over the old one."""
    fresh = path.with_suffix(".new")
    fresh.write_text(text, encoding="utf-8")
    os.replace(fresh, path)


@contextlib.contextmanager
def a_plan_that_never_loads(path: Path):
    """Replace the plan by a FIFO nobody writes to: opening it blocks for good. Afterwards, open
    it for writing once (if a reader still waits) so that nothing stays blocked."""
    fifo = path.with_suffix(".fifo")
    os.mkfifo(fifo)
    os.replace(fifo, path)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))


@pytest.mark.timeout(60)
def test_a_save_that_never_finishes_loading_is_stopped_and_the_next_save_loads(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    with Preview(plan, port=0, poll_interval=0.05) as preview:
        first = wait_for(preview, lambda p: p["ok"] and p["version"] == 1, "the first version")
        preview.load_timeout = 1.0
        with a_plan_that_never_loads(plan):
            stopped = wait_for(preview, lambda p: not p["ok"], "the stuck load reported")
            assert "took longer than 1 s" in stopped["error"]
            assert "the storefront still shows version 1" in stopped["error"]
            assert stopped["version"] == 1 and stopped["shown"] == first["shown"] and not stopped["loading"]
            with urllib.request.urlopen(preview.url + "shop/", timeout=10) as answer:
                assert answer.status == 200  # the last good version, still served
            preview.load_timeout = 30.0  # a busy machine must not fail the good save below
            save(plan, PLAN.replace("Added Like", "Added Like Again"))
            loaded = wait_for(preview, lambda p: p["ok"] and p["version"] == 2, "the next save loaded")
        assert loaded["shown"]["sha256"] != first["shown"]["sha256"] and loaded["error"] is None


@pytest.mark.timeout(60)
def test_an_alias_bomb_saved_in_the_preview_is_an_error_at_once_and_the_fix_loads(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    with Preview(plan, port=0, poll_interval=0.05) as preview:  # the default time limit
        wait_for(preview, lambda p: p["ok"] and p["version"] == 1, "the first version")
        save(plan, BOMB)
        refused = wait_for(preview, lambda p: not p["ok"], "the bomb refused", timeout=20)
        assert "aliases repeat more than" in refused["error"] and "plan.yaml:" in refused["error"]
        assert refused["version"] == 1 and "still shows version 1" in refused["error"]
        save(plan, PLAN.replace("Added Like", "Added Like Again"))
        wait_for(preview, lambda p: p["ok"] and p["version"] == 2, "the fix loaded")


@pytest.mark.timeout(60)
def test_a_newer_save_replaces_a_load_in_progress(tmp_path):
    plan = tmp_path / "plan.yaml"
    plan.write_text(PLAN)
    with Preview(plan, port=0, poll_interval=0.05, load_timeout=30.0) as preview:
        wait_for(preview, lambda p: p["ok"] and p["version"] == 1, "the first version")
        with a_plan_that_never_loads(plan):
            wait_for(preview, lambda p: p["loading"], "the stuck load under way")
            save(plan, PLAN.replace("Added Like", "Added Like Again"))
            # long before the 30 s limit: the stuck load was stopped for the newer save
            loaded = wait_for(preview, lambda p: p["ok"] and p["version"] == 2 and not p["loading"],
                              "the newer save loaded", timeout=15)
        assert loaded["error"] is None
