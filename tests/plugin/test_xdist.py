"""The plugin under pytest-xdist (`pytest -n 2`): each worker has its own stand-in, and what a failed
test saves (`klaviyo-traffic.json`, traces) stays in that test's folder, whichever worker wrote it
and whenever a worker started."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.browser.guide import LOADER, SCRIPT_TAG

pytest.importorskip("xdist", reason="pytest-xdist is in the test extras")

REPO = Path(__file__).resolve().parents[2]
PAGE = f"<!doctype html><body>{SCRIPT_TAG}<script>{LOADER}</script><script>%s</script></body>"

# Two files with a test of the same name; each waits until the other has started, so they run at
# once on two workers, then fails after its own event arrived, so its traffic is saved.
WORKER_TEST = """
import json, os, time
from pathlib import Path

PAGE = __PAGE__
SKU = "SKU-__SKU__"


def test_same_name(klaviyo_shop, klaviyo_stub):
    klaviyo_shop.open(PAGE % ("klaviyo.identify({email: 'a@example.com'});"
                              "klaviyo.track('Added to Cart', {$value: 1, AddedItemSKU: '%s'});" % SKU))
    klaviyo_stub.expect_event("Added to Cart", properties={"AddedItemSKU": SKU})
    here = {"sku": SKU, "pid": os.getpid(), "worker": os.environ.get("PYTEST_XDIST_WORKER"), "stub": klaviyo_stub.url}
    Path("ran-__SKU__.json").write_text(json.dumps(here))
    deadline = time.monotonic() + 60
    while len(list(Path().glob("ran-*.json"))) < 2:
        assert time.monotonic() < deadline, "the other test never ran beside this one"
        klaviyo_shop.page.wait_for_timeout(50)
    assert [e["properties"].get("AddedItemSKU") for e in klaviyo_stub.events(metric="Added to Cart")] == [SKU]
    klaviyo_stub.expect_event("Never Sent", timeout=0.5)
"""


def _worker_test(sku: str) -> str:
    return WORKER_TEST.replace("__PAGE__", repr(PAGE)).replace("__SKU__", sku)


@pytest.mark.browser
def test_two_workers_each_with_its_own_stand_in_and_traffic_file(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makepyfile(test_a=_worker_test("A"), test_b=_worker_test("B"))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-n", "2",
                                           "--output", "out", timeout=120)
    result.assert_outcomes(failed=2)
    # Once per failure section ("E   AssertionError: ..."); the short summary's lines, whose length
    # follows the terminal's width, are not counted.
    failures = re.findall(r'^E\s+AssertionError: expected a good "Never Sent" event', result.stdout.str(), re.M)
    assert len(failures) == 2, result.stdout.str()
    ran = [json.loads(p.read_text()) for p in sorted(pytester.path.glob("ran-*.json"))]
    assert [r["sku"] for r in ran] == ["SKU-A", "SKU-B"]
    assert {r["worker"] for r in ran} == {"gw0", "gw1"}
    assert len({r["pid"] for r in ran}) == 2 and len({r["stub"] for r in ran}) == 2, ran
    for sku in ("A", "B"):
        [saved] = Path(pytester.path, "out").glob(f"test-{sku.lower()}-py-test-same-name*/klaviyo-traffic.json")
        traffic = json.loads(saved.read_text())
        skus = [e["properties"].get("AddedItemSKU") for e in traffic["events"] if e["metric"] == "Added to Cart"]
        assert skus == [f"SKU-{sku}"], (saved, traffic["events"])


CRASH_TESTS = '''
import os

def test_1_fails(klaviyo_stub):
    klaviyo_stub.expect_event("Never Sent", timeout=0.1)

def test_2_kills_its_worker(klaviyo_stub):
    os._exit(1)

def test_3_runs_on_the_new_worker(klaviyo_stub):
    pass
'''


def test_a_worker_started_late_keeps_what_the_others_saved(pytester: pytest.Pytester, monkeypatch):
    """pytest-playwright clears --output when a process's first test starts; a worker replacing a
    crashed one starts late. The run is cleared once, by the xdist controller, before any test."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makepyfile(test_crash=CRASH_TESTS)
    stale = Path(pytester.path, "out", "from-the-last-run")
    stale.mkdir(parents=True)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-n", "1",
                                           "--output", "out", timeout=120)
    result.assert_outcomes(failed=2, passed=1)
    result.stdout.fnmatch_lines(["*worker 'gw0' crashed while running 'test_crash.py::test_2_kills_its_worker'*"])
    assert not stale.exists()
    assert list(Path(pytester.path, "out").glob("*test-1-fails*/klaviyo-traffic.json"))


FALLBACK_TEST = '''
def test_same_name(klaviyo_stub):
    klaviyo_stub.expect_event("Never Sent", timeout=0.1)
'''


def test_without_pytest_playwright_each_test_saves_to_its_own_folder(pytester: pytest.Pytester, monkeypatch):
    """Named by test id, not test name, which repeats across files (and two workers would write the
    one file at once): shown in one process, where the second test would overwrite the first."""
    monkeypatch.setenv("PYTHONPATH", str(REPO))
    pytester.makepyfile(test_a=FALLBACK_TEST, test_b=FALLBACK_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-p", "no:playwright",
                                           timeout=120)
    result.assert_outcomes(failed=2)
    saved = sorted(p.parent.name for p in Path(pytester.path, "test-results").glob("*/klaviyo-traffic.json"))
    assert saved == ["test_a.py-test_same_name", "test_b.py-test_same_name"]
