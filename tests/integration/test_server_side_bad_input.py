"""Bad input to `orders sync` and `catalog build | push | check`: a clear error (exit 2, what is
wrong, where, how to fix it), no traceback, no input file changed, nothing sent.

The stand-in runs on loopback; nothing goes to the real internet. Permission tests drop root's
powers with `setpriv` (root can write anywhere otherwise).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from klaviyo_snippets.harness.cli import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE_ORDERS = ROOT / "examples/orders.jsonl"
EXAMPLE_PRODUCTS = ROOT / "examples/products.jsonl"
KEY = "pk_badInputTest0123456789"


# -- helpers -----------------------------------------------------------------------------------

@pytest.fixture(autouse=True)
def key(monkeypatch):
    monkeypatch.setenv("KLAVIYO_PRIVATE_KEY", KEY)
    monkeypatch.delenv("KLAVIYO_CATALOG_FEED_IN_USE", raising=False)


@pytest.fixture
def orders(tmp_path):
    path = tmp_path / "orders.jsonl"
    path.write_bytes(EXAMPLE_ORDERS.read_bytes())
    return path


@pytest.fixture
def products(tmp_path):
    path = tmp_path / "products.jsonl"
    path.write_bytes(EXAMPLE_PRODUCTS.read_bytes())
    return path


def cli(capsys, *argv: str, entry=main) -> tuple[int, str, str]:
    """Run the CLI in-process; an argparse error (SystemExit) counts as its exit code."""
    try:
        code = entry(list(argv))
    except SystemExit as stop:
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def unprivileged(*argv: str) -> tuple[int, str, str]:
    """Run the CLI in a subprocess that cannot bypass file permissions, even as root."""
    prefix: list[str] = []
    if os.geteuid() == 0:
        if not shutil.which("setpriv"):
            pytest.skip("root without setpriv: file permissions cannot be tested")
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search"]
    done = subprocess.run([*prefix, sys.executable, "-m", "klaviyo_snippets", *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "KLAVIYO_PRIVATE_KEY": KEY})
    return done.returncode, done.stdout, done.stderr


def snapshot(*paths: Path) -> dict[Path, bytes | None]:
    return {path: path.read_bytes() if path.is_file() else None for path in paths}


def assert_refused(code: int, err: str, *words: str) -> None:
    assert code == 2, err
    assert "Traceback" not in err, err
    assert KEY not in err and KEY[3:] not in err
    for word in words:
        assert word in err, (word, err)


def _order(**fields) -> str:
    order = json.loads(EXAMPLE_ORDERS.read_text(encoding="utf-8").splitlines()[0])
    return json.dumps(order | fields) + "\n"


def _product(**fields) -> str:
    product = json.loads(EXAMPLE_PRODUCTS.read_text(encoding="utf-8").splitlines()[0])
    return json.dumps(product | fields) + "\n"


# -- 1. two of a run's files are one file ------------------------------------------------------

def test_orders_sync_refuses_a_dead_letter_file_that_is_the_orders_file(stub, orders, tmp_path, capsys):
    stub.inject_fault("503", 100, path="/api/events")  # every request fails: dead letters to write
    link = tmp_path / "hard-link-to-orders.jsonl"
    os.link(orders, link)
    before = snapshot(orders)
    for dead in (str(orders), str(tmp_path / "x" / ".." / "orders.jsonl"), str(link)):
        code, _, err = cli(capsys, "orders", "sync", "--orders", str(orders), "--dead-letter", dead,
                           "--api-url", stub.url, "--no-state", "--max-attempts", "1")
        assert_refused(code, err, "--orders and --dead-letter are the same file", "give --orders")
    assert snapshot(orders) == before
    assert stub.requests() == []


def test_catalog_push_refuses_a_state_file_that_is_the_dead_letter_file(stub, products, tmp_path, capsys):
    stub.inject_fault("503", 100)
    shared = tmp_path / "shared.jsonl"
    code, _, err = cli(capsys, "catalog", "push", "--products", str(products), "--state", str(shared),
                       "--dead-letter", str(shared), "--api-url", stub.url, "--max-attempts", "1")
    assert_refused(code, err, "--state and --dead-letter are the same file")
    assert not shared.exists() and stub.requests() == []


def test_catalog_build_refuses_to_write_the_feed_over_its_products(products, capsys):
    before = snapshot(products)
    code, _, err = cli(capsys, "catalog", "build", "--products", str(products), "--out", str(products),
                       "--format", "json")
    assert_refused(code, err, "--products and --out are the same file")
    assert snapshot(products) == before


# -- 2. a state file that is not one ---------------------------------------------------------

@pytest.mark.parametrize("content", [b"my notes about the sync\nsecond line\n", b"garbage{"])
def test_a_file_that_is_not_a_state_file_is_refused_and_left_alone(stub, orders, tmp_path, capsys, content):
    notes = tmp_path / "notes.txt"
    notes.write_bytes(content)
    for dry_run in ((), ("--dry-run",)):
        code, _, err = cli(capsys, "orders", "sync", "--orders", str(orders), "--state", str(notes),
                           "--api-url", stub.url, *dry_run)
        assert_refused(code, err, f"{notes}:1", "not a klaviyo-snippets state file", "--state")
    assert notes.read_bytes() == content
    assert stub.requests() == []


# -- 3. an empty replay file -------------------------------------------------------------------

def test_replaying_an_empty_file_says_so_and_keeps_the_file(stub, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    code, _, err = cli(capsys, "orders", "sync", "--replay", str(empty), "--api-url", stub.url, "--no-state")
    assert code == 0 and "nothing to replay" in err and "Traceback" not in err
    assert empty.exists() and empty.read_bytes() == b""
    assert stub.requests() == []


# -- 4. text that is not UTF-8 -----------------------------------------------------------------

@pytest.mark.parametrize("command", [
    ("orders", "sync", "--orders", "{bad}", "--dry-run"),
    ("orders", "sync", "--replay", "{bad}", "--dry-run", "--no-state"),
    ("catalog", "check", "--products", str(EXAMPLE_PRODUCTS), "--orders", "{bad}"),
    ("catalog", "build", "--products", "{bad}", "--out", "{out}"),
])
def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path, capsys, command):
    bad = tmp_path / "latin1.jsonl"
    bad.write_bytes(_order().encode() + '{"OrderId": "Müller"}\n'.encode("latin-1"))
    argv = [part.format(bad=bad, out=tmp_path / "feed.json") for part in command]
    before = snapshot(bad)
    code, out, err = cli(capsys, *argv)
    assert_refused(code, err, f"{bad}:2", "not UTF-8 text", "save the", "as UTF-8")
    assert snapshot(bad) == before and out == ""


# -- 5. --rate ----------------------------------------------------------------------------------

@pytest.mark.parametrize("rate", ["10", "0/0", "abc"])
def test_a_bad_rate_is_a_usage_error(orders, products, capsys, rate):
    code, _, err = cli(capsys, "orders", "sync", "--orders", str(orders), "--rate", rate, "--dry-run")
    assert_refused(code, err, "argument --rate", "BURST/STEADY", "350/3500")
    code, _, err = cli(capsys, "catalog", "push", "--products", str(products), "--rate", rate, "--dry-run")
    assert_refused(code, err, "argument --rate", "BURST/STEADY")


# -- 6. a dead-letter path that cannot be written ------------------------------------------------

def test_a_dead_letter_path_that_cannot_be_written_is_refused_before_anything_is_sent(
        stub, orders, tmp_path, capsys):
    stub.inject_fault("503", 100, path="/api/events")  # every request would be dead-lettered
    before = snapshot(orders)
    for dead, words in ((tmp_path, ("--dead-letter", "is a folder")),
                        (tmp_path / "missing" / "dead.jsonl", ("--dead-letter", "does not exist"))):
        code, _, err = cli(capsys, "orders", "sync", "--orders", str(orders), "--dead-letter", str(dead),
                           "--api-url", stub.url, "--no-state", "--max-attempts", "1")
        assert_refused(code, err, *words)
    assert stub.requests() == [] and snapshot(orders) == before


def test_a_read_only_dead_letter_folder_is_refused_before_anything_is_sent(stub, orders, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    stub.inject_fault("503", 100, path="/api/events")
    code, _, err = unprivileged("orders", "sync", "--orders", str(orders), "--api-url", stub.url,
                                "--dead-letter", str(locked / "dead.jsonl"), "--no-state",
                                "--max-attempts", "1")
    assert_refused(code, err, "--dead-letter", "permission denied")
    assert stub.requests() == [] and list(locked.iterdir()) == []


# -- 7. catalog build --out ----------------------------------------------------------------------

def test_catalog_build_out_must_be_a_writable_file_with_a_known_suffix(products, tmp_path, capsys):
    code, _, err = cli(capsys, "catalog", "build", "--products", str(products), "--out", str(tmp_path))
    assert_refused(code, err, "--out", "is a folder")

    csv = tmp_path / "feed.csv"
    code, _, err = cli(capsys, "catalog", "build", "--products", str(products), "--out", str(csv))
    assert_refused(code, err, "--out", "feed.csv", ".json", ".xml", "--format")
    assert not csv.exists()
    code, out, _ = cli(capsys, "catalog", "build", "--products", str(products), "--out", str(csv),
                       "--format", "json")
    assert code == 0 and json.loads(csv.read_text())  # asked for by name: written


def test_catalog_build_into_a_read_only_folder_is_a_clear_error(products, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    code, _, err = unprivileged("catalog", "build", "--products", str(products),
                                "--out", str(locked / "feed.json"))
    assert_refused(code, err, "--out", "permission denied")
    assert list(locked.iterdir()) == []


# -- 8. numbers too large for a float --------------------------------------------------------------

@pytest.mark.parametrize("line, words", [
    (_order(value=10 ** 400), (":1 (OrderId '1234') at /value", "finite number")),
    (_order()[:-2] + ', "DiscountValue": ' + "9" * 5000 + "}\n", (":1", "more than 4300 digits")),
])
def test_an_order_number_no_float_can_hold_is_refused(stub, tmp_path, capsys, line, words):
    path = tmp_path / "orders.jsonl"
    path.write_text(line)
    code, _, err = cli(capsys, "orders", "sync", "--orders", str(path), "--api-url", stub.url, "--no-state")
    assert_refused(code, err, *words)
    assert stub.requests() == []


@pytest.mark.parametrize("command", [
    ("catalog", "build", "--products", "{path}", "--out", "{out}"),
    ("catalog", "push", "--products", "{path}", "--dry-run"),
    ("catalog", "check", "--products", "{path}", "--orders", str(EXAMPLE_ORDERS)),
])
def test_a_product_price_no_float_can_hold_is_refused(tmp_path, capsys, command):
    path = tmp_path / "products.jsonl"
    path.write_text(_product(price=10 ** 400))
    argv = [part.format(path=path, out=tmp_path / "feed.json") for part in command]
    code, out, err = cli(capsys, *argv)
    assert_refused(code, err, f"{path}:1 (id '1111') at price", "finite number")
    assert out == "" and not (tmp_path / "feed.json").exists()


# -- 9. --api-url --------------------------------------------------------------------------------

@pytest.mark.parametrize("url", ["http://[::1", "ftp://a.klaviyo.com", "http://127.0.0.1:99999",
                                 "a.klaviyo.com"])
def test_a_bad_api_url_is_refused_up_front(orders, products, capsys, url):
    code, out, err = cli(capsys, "orders", "sync", "--orders", str(orders), "--api-url", url, "--dry-run")
    assert_refused(code, err, "argument --api-url", "not an http(s) URL")
    assert out == ""
    code, _, err = cli(capsys, "catalog", "push", "--products", str(products), "--api-url", url, "--dry-run")
    assert_refused(code, err, "argument --api-url")


@pytest.mark.parametrize("url, ok", [("http://api.example.com", False), ("http://10.0.0.5:8765", False),
                                     ("https://a.klaviyo.com", True), ("http://127.0.0.1:8765", True),
                                     ("http://localhost:8765", True), ("http://[::1]:8765", True),
                                     ("http://LOCALHOST.:8765", True), ("http://127.8.9.10", True),
                                     ("http://evil.localhost", False), ("http://0.0.0.0:8765", False)])
def test_api_url_sends_the_key_over_plain_http_only_to_this_machine(url, ok):
    from klaviyo_snippets.generator.errors import UserError
    from klaviyo_snippets.generator.server.sending import check_api_url

    if ok:
        assert check_api_url(url) == url
    else:
        with pytest.raises(UserError, match="unencrypted"):
            check_api_url(url)


# -- 10. credentials in --api-url (issue 12, item 8) ------------------------------------------------

@pytest.mark.parametrize("userinfo", ["jane:pa55w0rd@", "jane@", ":s3cr3t-pw@", "ja%40ne:p%3A55@"])
def test_credentials_in_the_api_url_are_refused_up_front_and_never_echoed(stub, orders, products,
                                                                          capsys, userinfo):
    """Was a `ValueError` traceback mid-run from aiohttp (an Authorization header and URL
    credentials cannot be combined), after the state file was opened."""
    url = stub.url.replace("http://", f"http://{userinfo}")
    for argv in (("orders", "sync", "--orders", str(orders)),
                 ("catalog", "push", "--products", str(products))):
        for extra in ((), ("--dry-run",)):
            code, out, err = cli(capsys, *argv, "--api-url", url, *extra)
            assert_refused(code, err, "argument --api-url", "user name or password in the URL")
            for secret in ("jane", "pa55w0rd", "s3cr3t", "p%3A55", "ja%40ne"):
                assert secret not in err + out
    assert stub.requests() == []
    assert not orders.with_name("orders.jsonl.sync-state").exists()


def test_an_unparseable_url_with_credentials_is_refused_without_echoing_them(orders, capsys):
    code, out, err = cli(capsys, "orders", "sync", "--orders", str(orders), "--api-url",
                         "http://admin:hunter2@[::1", "--dry-run")
    assert_refused(code, err, "argument --api-url")
    assert "hunter2" not in err + out and "admin" not in err + out


def test_names_under_localhost_are_this_machine_for_a_browser_but_not_for_a_secret():
    """generator/net.py's two answers: the browser routing and the DNS-rebinding guard keep
    `*.localhost` (browsers map it to loopback themselves); the key goes over http only where
    `is_this_machine` says."""
    from klaviyo_snippets.generator import net

    assert net.is_loopback_host("shop.localhost") and not net.is_this_machine("shop.localhost")
    for host in ("localhost", "LOCALHOST.", "127.0.0.1", "127.8.9.10", "::1", "[::1]"):
        assert net.is_this_machine(host) and net.is_loopback_host(host), host
    for host in ("0.0.0.0", "10.0.0.1", "localhost.evil.example", "127.0.0.1.nip.io", ""):
        assert not net.is_this_machine(host) and not net.is_loopback_host(host), host


@pytest.mark.parametrize("url", ["http://evil.localhost", "http://evil.localhost:8765",
                                 "http://localhost.evil.example", "http://127.0.0.1.nip.io:8765"])
def test_a_name_under_localhost_is_not_trusted_with_the_key_over_plain_http(orders, capsys, url):
    """Python's resolver asks DNS for `evil.localhost` (only browsers map *.localhost to loopback
    themselves), so the private key would travel in clear text to whatever DNS answers."""
    code, out, err = cli(capsys, "orders", "sync", "--orders", str(orders), "--api-url", url, "--dry-run")
    assert_refused(code, err, "argument --api-url", "unencrypted")


# -- 11. what the CLI fuzz found (tests/unit/test_cli_fuzz.py) ------------------------------------

@pytest.mark.parametrize("value, words", [
    ("", "expected a file's path"), ("a\0b", "NUL character"), ("x" * 5000, "File name too long"),
])
def test_a_path_no_file_can_have_is_a_usage_error(stub, orders, products, capsys, value, words):
    """Were tracebacks: `--orders ''` (a ValueError making the state file's name), a NUL in
    --dead-letter (os.path.samefile), a 5,000-character name (OSError from Path.is_dir)."""
    for argv in (("orders", "sync", "--orders", value), ("orders", "sync", "--orders", str(orders), "--dead-letter", value),
                 ("catalog", "push", "--products", str(products), "--state", value, "--dry-run"),
                 ("catalog", "build", "--products", str(products), "--out", value),
                 ("catalog", "check", "--products", str(products), "--events", value)):
        code, out, err = cli(capsys, *argv, *(("--api-url", stub.url) if argv[1] in ("sync", "push") else ()))
        assert_refused(code, err, "argument --", words)
        assert len(err) < 2000  # a huge value is not echoed whole
    assert stub.requests() == []


def test_a_lone_surrogate_in_the_input_is_refused_before_anything_is_sent(stub, tmp_path, capsys):
    r"""JSON may escape half of a UTF-16 pair ("\udcff"): Python reads it as a lone surrogate,
    which no UTF-8 encoder takes. It was a UnicodeEncodeError mid-run (the request body) or when
    the dry run printed it."""
    orders = tmp_path / "orders.jsonl"
    orders.write_text(_order(OrderId="9\\udcff9").replace("9\\\\udcff9", "9\\udcff9"), encoding="utf-8")
    products = tmp_path / "products.json"
    products.write_text("[" + _product(title="Pooh \\ud83d").replace("\\\\ud83d", "\\ud83d") + "]",
                        encoding="utf-8")
    for argv in (("orders", "sync", "--orders", str(orders), "--api-url", stub.url),
                 ("orders", "sync", "--orders", str(orders), "--dry-run"),
                 ("catalog", "push", "--products", str(products), "--api-url", stub.url),
                 ("catalog", "build", "--products", str(products), "--out", str(tmp_path / "feed.json"))):
        code, out, err = cli(capsys, *argv)
        assert_refused(code, err, ":1", "\\udcff" if argv[0] == "orders" else "\\ud83d",
                       "half of a UTF-16 pair")
        assert out == ""
    assert stub.requests() == [] and not (tmp_path / "feed.json").exists()


def test_a_pipe_or_a_device_is_refused_as_an_input_or_an_output(stub, orders, products, tmp_path, capsys):
    """A pipe as --state blocked the run for good (reading it waits for a writer); as --out,
    `catalog build` renamed its feed over it (as root, `--out /dev/null` would replace the
    machine's /dev/null). Inputs are read twice, so a pipe cannot be one either."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    for argv, words in (
            (("orders", "sync", "--orders", str(orders), "--state", str(fifo), "--api-url", stub.url), "state file"),
            (("orders", "sync", "--orders", str(orders), "--dead-letter", str(fifo), "--api-url", stub.url),
             "--dead-letter"),
            (("orders", "sync", "--orders", str(orders), "--state", str(fifo), "--dry-run"), "state file"),
            (("orders", "sync", "--orders", str(fifo), "--dry-run"), "orders file"),
            (("orders", "sync", "--orders", "/dev/zero", "--dry-run", "--no-state"), "orders file"),
            (("orders", "sync", "--replay", "/dev/zero", "--dry-run", "--no-state"), "dead-letter file"),
            (("catalog", "build", "--products", str(products), "--out", str(fifo)), "--out"),
            (("catalog", "check", "--products", str(products), "--events", "/dev/zero"), "--events file")):
        code, out, err = cli(capsys, *argv)
        assert_refused(code, err, words, "not a regular file")
    assert stat.S_ISFIFO(fifo.stat().st_mode)  # still the pipe
    assert stub.requests() == []
