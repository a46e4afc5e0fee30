"""`verify` against pages that never finish (issue 12, items 1 and 9).

`--timeout` is a hard bound per page, whatever the page does: a page past it is reported as timed
out with what it still had to send, its browser is killed (never waited on), the pages after it
run in a new browser, and the run exits 1. Before, a page looping after an identify or a server
that never answered hung `verify` for good, a page that kept navigating ended in a traceback (or
a hang), and events still queued or in flight at the end were counted nowhere: the report said OK.

Each test runs in Chromium and Firefox (`browser_name`); a hang fails at the test's timeout.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from klaviyo_snippets import StubSettings, verify
from klaviyo_snippets.harness.browser import BrowserUnavailable, choose_browser
from klaviyo_snippets.harness.cli import main
from klaviyo_snippets.harness.standin import RateLimits
from tests.processes import running

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

TIMEOUT = 2  # seconds per page
# With two lanes and a browser restarted mid-run, a good page on a loaded 2-core machine can take
# longer than 2 s in Firefox; the spin page costs this once.
LANE_TIMEOUT = 5

# The guide's loader (the `klaviyo` object queues calls until the onsite script runs) and the
# onsite script's tag, which the harness routes to the stand-in.
LOADER = (
    "<script>!function(w,k){if(!w[k]){w._klOnsite=w._klOnsite||[];var p=function(){var q=w._klOnsite;"
    "q.push.apply(q,arguments);};try{w[k]=new Proxy({},{get:function(o,m){return\"push\"==m?p:function(){"
    "var a=[].slice.call(arguments),c=\"function\"==typeof a[a.length-1]&&a.pop();return new Promise("
    "function(r){p([m].concat(a,[function(v){c&&c(v);r(v);}]));});};}});}catch(e){(w[k]=[]).push=p;}}}"
    "(window,\"klaviyo\");</script>"
)
SCRIPT_TAG = "<script async src='https://static.klaviyo.com/onsite/js/AbC123/klaviyo.js'></script>"


def page(body_script: str, *, head: str = LOADER + SCRIPT_TAG) -> str:
    return f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body><script>{body_script}</script></body></html>"


@pytest.fixture
def lane(browser_name: str) -> str:
    try:
        choose_browser(browser_name)
    except BrowserUnavailable as error:
        pytest.skip(f"no {browser_name} to run: {error.one_line()}")
    return browser_name


@pytest.fixture
def silent_server():
    """A URL whose server accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"


def test_pages_that_never_finish_are_given_up_on_and_the_run_goes_on(tmp_path, lane, silent_server, capsys,
                                                                     monkeypatch):
    (tmp_path / "spin.html").write_text(page(
        "klaviyo.identify({email: 'ann@example.com'}).then(function () { while (true) {} });"))
    (tmp_path / "good.html").write_text(page(
        "klaviyo.identify({email: 'bob@example.com'}); klaviyo.track('Viewed Product', {ProductName: 'Mug'});"))
    # Playwright makes the browser's profile under TMPDIR, so its command line names this folder.
    monkeypatch.setenv("TMPDIR", str(tmp_path / "browsers"))
    (tmp_path / "browsers").mkdir()

    code = main(["verify", silent_server, str(tmp_path / "spin.html"), str(tmp_path / "good.html"),
                 "--timeout", str(TIMEOUT), "--browser", lane, "--json"])

    report = json.loads(capsys.readouterr().out)
    assert code == 1 and report["ok"] is False
    silent, spin = report["timed_out"]
    assert (silent["page"], silent["while"], silent["last_heard"]) == (silent_server, "loading", None)
    # Whether the browser still answered when time ran out depends on whether identify's answer
    # (which starts the loop) reached the page first: on a loaded machine it may not have.
    assert (spin["page"], spin["while"]) == ("https://shop.test/spin.html", "waiting for its requests")
    assert {i["detail"] for i in report["identifies"]} == {"email=ann@example.com", "email=bob@example.com"}
    assert [e["status"] for e in report["events"] if e["metric"] == "Viewed Product"] == ["good"]
    assert _left_behind(str(tmp_path / "browsers")) == [], "a killed browser is still running"


def test_a_page_that_keeps_navigating_times_out_without_a_traceback(tmp_path, lane):
    # Reloads as it unloads, replaces itself at once, and keeps requests in flight the whole time:
    # the harness's routes are busy whenever the browser goes.
    (tmp_path / "navigating.html").write_text(page(
        "setInterval(function () { for (var i = 0; i < 20; i++) fetch('/poll?' + Math.random()).catch(function () {}); }, 5);"
        "window.onbeforeunload = function () { location.reload(); };"
        "setTimeout(function () { location.replace(location.pathname + '?n=' + Date.now()); }, 0);"))
    cli = Path(sys.executable).with_name("klaviyo-snippets")
    argv = [str(cli), "verify", str(tmp_path / "navigating.html"), "--timeout", str(TIMEOUT), "--browser", lane]
    with running(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        out, err = proc.communicate(timeout=60)
    for noise in ("Traceback", "Exception in callback", "Task was destroyed", "exception was never retrieved"):
        assert noise not in err, err
    assert proc.returncode == 1, err
    assert f"Timed out: https://shop.test/navigating.html after {TIMEOUT} s, while loading:" in out


def test_what_a_page_never_sent_is_counted_and_fails_the_run(tmp_path, lane):
    # 30 events against a Klaviyo that takes 3 a second: the rest wait in 429 retries when time is
    # up. Then a page whose onsite script tag is missing: its calls stay queued for good.
    (tmp_path / "busy.html").write_text(page(
        "klaviyo.identify({email: 'ann@example.com'}).then(function () {"
        "  for (var i = 0; i < 30; i++) { klaviyo.track('Busy', {n: i, $event_id: 'busy-' + i}); } });"))
    (tmp_path / "untagged.html").write_text(page(
        "klaviyo.identify({email: 'ann@example.com'}); klaviyo.track('Viewed Product', {ProductName: 'Mug'});",
        head=LOADER))

    report = verify([str(tmp_path / "busy.html"), str(tmp_path / "untagged.html")], browser=lane, timeout=TIMEOUT,
                    settings=StubSettings(rate_limits=RateLimits.klaviyo(scale=0.01)))

    assert report.ok is False
    busy, untagged = report.timed_out
    arrived = [e for e in report.events if e["metric"] == "Busy"]
    in_flight = busy["unsent"]["POST /client/events/"]
    assert busy["answering"] and in_flight >= 10
    assert len(arrived) + in_flight >= 30, "an event neither arrived nor counted as unsent"
    assert untagged["unsent"] == {"call(s) queued for an onsite script that never ran": 2}
    text = report.format()
    assert f"it still had {sum(busy['unsent'].values())} request(s) or call(s) queued or in flight" in text
    assert text.endswith(f"2 page(s) timed out with {report.unsent} request(s) or call(s) unsent.")
    assert report.unsent == sum(busy["unsent"].values()) + 2


def _left_behind(marker: str, wait: float = 5.0) -> list[str]:
    """Running processes whose command line holds `marker` (a browser launched with its profile
    there, orphaned or not), after up to `wait` seconds for them to go."""
    deadline = time.monotonic() + wait
    while True:
        left = []
        for entry in Path("/proc").iterdir():
            try:
                if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                    left.append(f"{entry.name} {(entry / 'comm').read_text().strip()}")
            except OSError:
                continue
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.1)


def test_a_page_that_hangs_the_browser_costs_the_other_lanes_nothing(tmp_path, lane):
    """Issue 13: pages run in lanes sharing one browser. A page stuck in a loop makes the browser
    go (it is killed, never asked); the pages the other lane had open in it run again in the
    next browser, each reported once, as if nothing had happened."""
    (tmp_path / "spin.html").write_text(page("klaviyo.identify({email: 'ann@example.com'}).then(function () { while (true) {} });"))
    names = [f"good{i}" for i in range(8)]
    for name in names:
        (tmp_path / f"{name}.html").write_text(page(
            f"klaviyo.identify({{email: 'bob@example.com'}}); klaviyo.track('Viewed Product', {{ProductName: '{name}'}});"))

    report = verify([str(tmp_path / "spin.html"), *(str(tmp_path / f"{n}.html") for n in names)], browser=lane,
                    timeout=LANE_TIMEOUT, jobs=2)

    assert len(report.timed_out) == 1, report.format()
    [spin] = report.timed_out
    assert spin["page"] == "https://shop.test/spin.html" and spin["ended"] == "its browser was killed"
    assert report.page_errors == []
    viewed = sorted((Path(e["visit"]).stem, e["status"]) for e in report.events if e["metric"] == "Viewed Product")
    assert viewed == [(name, "good") for name in names]
