"""`catalog push` against the real stand-in on loopback, over real HTTP."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from klaviyo_snippets.generator.server.catalog import read_products
from klaviyo_snippets.harness.cli import main
from klaviyo_snippets.harness.standin import StubKlaviyo, StubSettings
from klaviyo_snippets.harness.standin._limits import RateLimits

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_PRODUCTS = ROOT / "examples/products.jsonl"
KEY = "pk_catalogPushTest0123456789"
JOBS = "/api/catalog-item-bulk-create-jobs"


def push(*argv: str) -> int:
    return main(["catalog", "push", *argv])


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("KLAVIYO_PRIVATE_KEY", KEY)
    monkeypatch.delenv("KLAVIYO_CATALOG_FEED_IN_USE", raising=False)
    return KEY


@pytest.fixture
def products(tmp_path):
    path = tmp_path / "products.jsonl"
    path.write_text(EXAMPLE_PRODUCTS.read_text(encoding="utf-8"), encoding="utf-8")
    return path


def synthetic_products(path: Path, count: int) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for n in range(count):
            handle.write(json.dumps({
                "id": f"SKU{n:05d}", "title": f"Product {n}", "description": f"The product number {n}.",
                "link": f"https://shop.example.com/p/{n}", "image_link": f"https://cdn.example.com/{n}.png",
                "price": 3 + n % 40, "categories": ["Books"]}) + "\n")
    return path


def catalog_ids(stub: StubKlaviyo) -> list[str]:
    return [item["id"].split(":::")[-1] for item in stub.catalog()]


def job_requests(stub: StubKlaviyo) -> list[dict]:
    return [r for r in stub.requests() if r["path"].rstrip("/") == JOBS]


def test_push_creates_every_product_and_a_rerun_sends_nothing(stub, key, products, capsys):
    assert push("--products", str(products), "--api-url", stub.url) == 0
    out = capsys.readouterr().out
    ids = [p["id"] for p in read_products(products)]
    assert sorted(catalog_ids(stub)) == sorted(ids)
    [request] = job_requests(stub)
    assert request["response"]["status"] == 202
    item = next(i for i in stub.catalog() if i["id"] == "$custom:::$default:::1111")
    assert item["attributes"]["title"] == "Winnie the Pooh"
    assert "created                               5" in out

    assert push("--products", str(products), "--api-url", stub.url) == 0
    out = capsys.readouterr().out
    assert len(job_requests(stub)) == 1
    assert "already sent (state file)             5" in out
    state = products.with_name("products.jsonl.push-state")
    assert KEY not in state.read_text() and KEY not in out


def test_a_push_without_state_reports_items_already_in_the_catalog(stub, key, products, capsys):
    assert push("--products", str(products), "--api-url", stub.url, "--no-state") == 0
    assert push("--products", str(products), "--api-url", stub.url, "--no-state") == 0
    out = capsys.readouterr().out
    assert "already in the catalog (not updated)  5" in out
    assert len(stub.catalog()) == 5


def test_at_most_100_items_a_request(stub, key, tmp_path, capsys):
    path = synthetic_products(tmp_path / "products.jsonl", 250)
    assert push("--products", str(path), "--api-url", stub.url) == 0
    sizes = [len(r["body"]["data"]["attributes"]["items"]["data"]) for r in job_requests(stub)]
    assert sorted(sizes) == [50, 100, 100]
    assert Counter(catalog_ids(stub)) == Counter(f"SKU{n:05d}" for n in range(250))


def test_klaviyos_catalog_limit_is_kept_without_a_single_429(key, tmp_path, capsys):
    """Klaviyo's own catalog write limits (75/s, 750/min), unscaled: 120 jobs of 2 items."""
    path = synthetic_products(tmp_path / "products.jsonl", 240)
    with StubKlaviyo(settings=StubSettings(rate_limits=RateLimits.klaviyo())) as stub:
        assert push("--products", str(path), "--api-url", stub.url, "--batch-size", "2",
                    "--concurrency", "8") == 0
        # The stand-in enforces 75 a second: 120 requests and no 429 means the limiter held them.
        assert Counter(r["response"]["status"] for r in job_requests(stub)) == {202: 120}
        assert len(stub.catalog()) == 240


def test_faults_are_retried_and_every_item_lands_once(stub, key, tmp_path, capsys):
    path = synthetic_products(tmp_path / "products.jsonl", 300)
    stub.inject_fault("503", 1, path=JOBS)
    stub.inject_fault("drop", 1, path=JOBS)
    stub.inject_fault("429", 1, path=JOBS, retry_after=1)
    assert push("--products", str(path), "--api-url", stub.url, "--max-backoff", "0.1") == 0
    assert Counter(r["response"]["status"] for r in job_requests(stub)) == {503: 1, 0: 1, 429: 1, 202: 3}
    assert Counter(catalog_ids(stub)) == Counter(f"SKU{n:05d}" for n in range(300))
    out = capsys.readouterr().out
    assert "created                               300" in out and "already in the catalog (not updated)  0" in out


def test_a_feed_in_use_is_refused_with_the_guides_rule(stub, key, products, capsys, monkeypatch):
    assert push("--products", str(products), "--api-url", stub.url, "--feed-in-use") == 2
    err = capsys.readouterr().err
    assert "custom catalog feed is in use (--feed-in-use)" in err
    assert "only populate products using one option" in err
    assert "disable the feed" in err and "catalog build" in err
    monkeypatch.setenv("KLAVIYO_CATALOG_FEED_IN_USE", "1")
    assert push("--products", str(products), "--api-url", stub.url) == 2
    assert "KLAVIYO_CATALOG_FEED_IN_USE=1" in capsys.readouterr().err
    assert stub.requests() == []


def test_dry_run_prints_the_jobs_and_sends_nothing(stub, products, capsys, monkeypatch):
    monkeypatch.delenv("KLAVIYO_PRIVATE_KEY", raising=False)
    assert push("--products", str(products), "--api-url", stub.url, "--dry-run", "--batch-size", "2") == 0
    out = capsys.readouterr().out
    jobs = [json.loads(line) for line in out.splitlines()]
    assert [len(j["data"]["attributes"]["items"]["data"]) for j in jobs] == [2, 2, 1]
    assert stub.requests() == []


def test_a_job_that_keeps_failing_is_dead_lettered_and_replayable(stub, key, products, capsys):
    """A job answered 503 until the attempts run out goes to the dead-letter file with its items;
    a replay creates them. (A valid product the stand-in refuses with 400 cannot be made: the
    builders check everything the stand-in checks.)"""
    stub.inject_fault("503", 2, path=JOBS)
    assert push("--products", str(products), "--api-url", stub.url, "--batch-size", "2",
                "--concurrency", "1", "--max-attempts", "2", "--max-backoff", "0.05") == 1
    out = capsys.readouterr().out
    assert "failed                                2" in out
    dead_file = products.with_name("products.jsonl.dead-letter.jsonl")
    [entry] = [json.loads(line) for line in dead_file.read_text().splitlines()]
    assert entry["catalog_items"] == ["1111", "1112"] and entry["status"] == 503
    assert entry["transient"] is True and entry["reason"].startswith("gave up after 2 attempts")
    assert [i["attributes"]["external_id"] for i in entry["body"]["data"]["attributes"]["items"]["data"]] == ["1111", "1112"]
    assert sorted(catalog_ids(stub)) == ["1113", "1114", "2001"]
    assert push("--replay", str(dead_file), "--api-url", stub.url) == 0
    out = capsys.readouterr().out
    assert sorted(catalog_ids(stub)) == ["1111", "1112", "1113", "1114", "2001"]
    assert not dead_file.exists() and "is empty now and was removed" in out
    assert KEY not in out
    # The state file now lists every item: a plain re-run sends nothing.
    before = len(job_requests(stub))
    assert push("--products", str(products), "--api-url", stub.url) == 0
    assert len(job_requests(stub)) == before
