"""`orders sync` and `catalog build | push | check` stream their input (issue 12, item 5): the
memory a run needs does not grow with the file, and a long read says how far it has got.

Memory is measured in-process with `tracemalloc` (every Python allocation, the peak over the
run), for the same command on a file and on a file four times longer: the peaks must be about
the same. Before streaming, `orders sync --dry-run` held every order, every body and every
request (about 6 KB an order), so four times the orders meant several MB more at these sizes.
Figures for a million lines, as RSS, are printed by benchmarks/bench_orders_memory.py.
"""

from __future__ import annotations

import json
import os
import sys
import tracemalloc
from pathlib import Path

import pytest

from klaviyo_snippets.generator.server import sending as snd
from klaviyo_snippets.harness.cli import main

KEY = "pk_streamingTest0123456789"
SMALL, LARGE = 100, 400
#: How much more the peak may be for four times the lines: the index of OrderIds / product ids
#: seen (a few dozen bytes a line) and allocator noise. Held whole, the larger file needed 0.9 MB
#: (products) to 1.8 MB (orders) more.
ALLOWED_GROWTH = 400_000


def write_orders(path: Path, count: int, *, start: int = 0) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for n in range(start, start + count):
            handle.write(json.dumps({
                "OrderId": f"M{n:07d}", "time": f"2024-02-{1 + n % 28:02d}T08:{n % 60:02d}:00Z",
                "value": 10 + n % 50, "currency": "USD", "customer": {"email": f"m{n % 97}@example.com"},
                "Items": [{"ProductID": f"SKU{n % 300:06d}", "ProductName": f"Product {n % 300}", "Quantity": 1,
                           "ItemPrice": 10 + n % 50, "RowTotal": 10 + n % 50}]}) + "\n")
    return path


def write_products(path: Path, count: int, *, array: bool = False) -> Path:
    products = ({"id": f"SKU{n:06d}", "title": f"Product {n}", "description": f"The product number {n}.",
                 "link": f"https://shop.example.com/p/{n}", "image_link": f"https://cdn.example.com/{n}.png",
                 "price": 3 + n % 40, "categories": ["Books"], "Brand": f"Brand {n % 7}"}
                for n in range(count))
    with path.open("w", encoding="utf-8") as handle:
        if array:
            handle.write("[\n" + ",\n".join(json.dumps(p) for p in products) + "\n]\n")
        else:
            handle.writelines(json.dumps(p) + "\n" for p in products)
    return path


def peak_bytes(argv: list[str], monkeypatch) -> int:
    """The peak of Python allocations while the CLI runs `argv`; its output goes to /dev/null
    (captured output would be memory too)."""
    with open(os.devnull, "w") as sink:
        monkeypatch.setattr(sys, "stdout", sink)
        monkeypatch.setattr(sys, "stderr", sink)
        tracemalloc.start()
        try:
            code = main(argv)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
            monkeypatch.undo()
    assert code == 0
    return peak


def assert_flat(small: int, large: int) -> None:
    assert large - small < ALLOWED_GROWTH, f"peak {small:,} B for {SMALL} lines, {large:,} B for {LARGE}"


@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("KLAVIYO_PRIVATE_KEY", KEY)
    monkeypatch.delenv("KLAVIYO_CATALOG_FEED_IN_USE", raising=False)


# -- memory does not grow with the file ------------------------------------------------------------

def test_orders_sync_dry_run_needs_the_same_memory_for_four_times_the_orders(tmp_path, monkeypatch):
    peaks = [peak_bytes(["orders", "sync", "--orders", str(write_orders(tmp_path / f"{n}.jsonl", n)),
                         "--dry-run"], monkeypatch) for n in (SMALL, LARGE)]
    assert_flat(*peaks)


@pytest.mark.parametrize("fmt, array", [("json", False), ("xml", True)])
def test_catalog_build_needs_the_same_memory_for_four_times_the_products(tmp_path, monkeypatch, fmt, array):
    peaks = []
    for n in (SMALL, LARGE):
        products = write_products(tmp_path / f"{n}.json", n, array=array)
        peaks.append(peak_bytes(["catalog", "build", "--products", str(products),
                                 "--out", str(tmp_path / f"feed-{n}.{fmt}")], monkeypatch))
    assert_flat(*peaks)
    feed = (tmp_path / f"feed-{LARGE}.{fmt}").read_bytes()  # and the feed is whole
    assert feed.count(b"SKU00") == LARGE and feed.rstrip().endswith(b"]" if fmt == "json" else b"</rss>")


def test_catalog_push_dry_run_and_check_need_the_same_memory_for_four_times_the_lines(tmp_path, monkeypatch):
    for command in (["catalog", "push", "--dry-run", "--products", "{products}"],
                    ["catalog", "check", "--products", "{products}", "--orders", "{orders}"]):
        peaks = []
        for n in (SMALL, LARGE):
            files = {"products": write_products(tmp_path / f"p{n}.jsonl", n),
                     "orders": write_orders(tmp_path / f"o{n}.jsonl", n)}
            peaks.append(peak_bytes([part.format(**files) for part in command], monkeypatch))
        assert_flat(*peaks)


def test_a_state_file_of_many_events_is_read_into_a_compact_index(tmp_path):
    """A re-run loads the state file to skip what was sent: a Python set of the keys took ~200
    bytes a key (a GB for a few million events); the index takes under 50."""
    path = tmp_path / "orders.jsonl.sync-state"
    count = 8_000
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"state": snd.StateFile.HEADER, "version": 1, "api_url": "http://x",
                                 "account": "0", "salt": "0"}) + "\n")
        for n in range(count):
            handle.write(json.dumps({"metric": "Placed Order", "unique_id": f"U{n:07d}",
                                     "result": "accepted", "status": 202, "at": "2024-01-01T00:00:00Z"}) + "\n")
    tracemalloc.start()
    try:
        state = snd.StateFile.read(path)
        current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(state.accepted) == count
    assert state.done(snd.Key("event", "U0001234", "Placed Order"))
    assert not state.done(snd.Key("event", "U0001234", "Ordered Product"))
    assert current < 50 * count, f"{current:,} B held for {count} keys"
    assert peak < 4_000_000, f"peak {peak:,} B while reading {path.stat().st_size:,} B"


# -- progress while reading -------------------------------------------------------------------------

def test_orders_sync_says_how_far_it_has_got_while_checking_the_file(tmp_path, capsys):
    orders = write_orders(tmp_path / "orders.jsonl", 300)
    assert main(["orders", "sync", "--orders", str(orders), "--dry-run", "--progress-interval", "0.0001"]) == 0
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("progress: checking")]
    assert lines, err
    assert f"progress: checking {orders}: " in lines[0] and " lines" in lines[0] and "% (" in lines[0]
    assert "0 bad" in lines[-1]


@pytest.mark.parametrize("command", [
    ["catalog", "build", "--products", "{products}", "--out", "{out}"],
    ["catalog", "push", "--dry-run", "--products", "{products}"],
    ["catalog", "check", "--products", "{products}", "--orders", "{orders}"],
])
def test_catalog_commands_say_how_far_they_have_got_while_checking(tmp_path, capsys, command):
    files = {"products": write_products(tmp_path / "products.jsonl", 300), "out": tmp_path / "feed.json",
             "orders": write_orders(tmp_path / "orders.jsonl", 50)}
    argv = [part.format(**files) for part in command] + ["--progress-interval", "0.0001"]
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert f"progress: checking {files['products']}: " in err, err
