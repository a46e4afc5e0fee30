"""A fuzz test of every command's arguments (issue 12): Hypothesis draws argument lists from each
subcommand's own options, read from the CLI's parsers, with hostile values (empty, huge, control
characters, text from non-UTF-8 bytes, NUL, paths to folders, missing files, pipes and devices,
URLs with credentials) beside good ones, and runs `main(argv)` in-process. No run may end in a
traceback: an exception escaping `main`, a "Traceback" in the output, or an exit code other than
0, 1, 2.

Bounded: `stub` and `preview` (they serve until stopped), `verify` (it launches a browser) and
`browsers ensure` (it installs packages) are only parsed, not run; `orders sync` and `catalog
push` send to a stand-in on loopback (their `--api-url` is put first, so a drawn one overrides it,
and the drawn ones never name another machine). Output goes to a UTF-8 stdout with strict errors
and a stderr with backslashreplace, as on a terminal. Fixed seed, a few hundred examples.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from klaviyo_snippets.harness.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[2]
KEY = "pk_fuzzTest0123456789abcdef"

#: Commands that are parsed only: they serve forever, launch a browser or install packages.
PARSE_ONLY = {("stub",), ("preview",), ("verify",), ("browsers", "ensure")}
#: Options whose value is a file the command reads.
READS = {"orders", "products", "replay", "samples", "events", "plan", "generated", "executable",
         "browser_executable"}
#: Options whose value is a path the command writes (never a device: a bug could replace it).
WRITES = {"out", "state", "dead_letter"}

HOSTILE = ["", " ", "-", "--", "0", "-1", "1.5", "nan", "inf", "-inf", "1e309", "9" * 400, "x" * 20_000,
           "\x00", "a\x00b", "\x1b[31mred\x1b[0m", "\u202egnp.exe", "line\nbreak", "tab\there", "😀",
           "\udcff\udcfe",  # what Python makes of the bytes 0xff 0xfe in argv (not UTF-8)
           "%s%n%x", "{}", "[]", "null", "../../../../etc/passwd", "/", ".", "~",
           "2024-13-45", "2024-01-01T25:00", "350/0", "1/0", "0/0", "-5/10", "1/2/3",
           "http://jane:pa55w0rd@127.0.0.1:1", "http://evil.localhost:1", "http://[::1",
           "http://127.0.0.1:99999", "ftp://a.klaviyo.com", "javascript:alert(1)", "pk_live", "pk_é0123456789"]


def leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
        return
    for name, child in subs[0].choices.items():
        yield from leaf_parsers(child, path + (name,))


COMMANDS = dict(leaf_parsers(build_parser()))
SERVER_SIDE = [("orders", "sync"), ("catalog", "build"), ("catalog", "push"), ("catalog", "check")]


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Files to point options at: good inputs, and the hostile kinds."""
    base = tmp_path_factory.mktemp("fuzz")
    good = {name: base / name for name in ("orders.jsonl", "products.jsonl")}
    shutil.copy(ROOT / "examples/orders.jsonl", good["orders.jsonl"])
    shutil.copy(ROOT / "examples/products.jsonl", good["products.jsonl"])
    (base / "empty.jsonl").write_bytes(b"")
    (base / "latin1.jsonl").write_bytes('{"OrderId": "Müller"}\n'.encode("latin-1"))
    (base / "binary.bin").write_bytes(bytes(range(256)) * 4)
    (base / "array.json").write_bytes(b'[{"id": 1}, 2, [3], "x", null,')  # cut short
    (base / "deep.json").write_bytes(b"[" * 100_000)
    order = (ROOT / "examples/orders.jsonl").read_text(encoding="utf-8").splitlines()[0]
    (base / "surrogate.jsonl").write_text(order.replace('"1234"', '"12\\udcff34"'), encoding="utf-8")
    (base / "folder").mkdir()
    os.mkfifo(base / "pipe")
    reads = [str(p) for p in good.values()] + [str(base / n) for n in (
        "empty.jsonl", "latin1.jsonl", "binary.bin", "array.json", "deep.json", "surrogate.jsonl", "folder",
        "pipe", "missing.jsonl")] + ["/dev/null", "/dev/zero", str(ROOT / "examples")]
    writes = [str(base / n) for n in ("out.json", "out.xml", "state", "dead.jsonl", "folder",
                                      "missing/deeper.json", "pipe", "\udcff.json")] + [str(good["orders.jsonl"])]
    return {"base": base, "reads": reads, "writes": writes, "orders": str(good["orders.jsonl"]),
            "products": str(good["products.jsonl"])}


#: Good values for the options a command needs, put before the drawn ones half the time.
REQUIRED = {
    ("orders", "sync"): ("--orders", "{orders}"),
    ("catalog", "push"): ("--products", "{products}"),
    ("catalog", "build"): ("--products", "{products}", "--out", "{base}/feed.json"),
    ("catalog", "check"): ("--products", "{products}", "--orders", "{orders}"),
}

#: Input paths that only the server-side commands (whose reading this test guards) are given: an
#: endless device or a pipe with no writer would block another command's reader for good.
ENDLESS = ("/dev/zero", "pipe")


def value_for(action: argparse.Action, command: tuple[str, ...], files: dict) -> st.SearchStrategy[str]:
    """A hostile value a third of the time, else one of the option's own kind (so that a drawn
    command line gets past its parser often enough to reach the command's work)."""
    pools = []
    if action.choices:
        pools.append(st.sampled_from(list(action.choices)))
    if action.dest in READS:
        reads = files["reads"] if command[0] in ("orders", "catalog") else \
            [p for p in files["reads"] if not p.endswith(ENDLESS)]
        pools.append(st.sampled_from(reads))
    elif action.dest in WRITES:
        pools.append(st.sampled_from(files["writes"]))
    elif action.dest in ("since", "until"):
        pools.append(st.sampled_from(["2022-11-10", "2023-01-01T00:00:00Z", "2022-11-12T15:42:07+02:00"]))
    elif action.dest == "api_url":
        stub = files["stub_url"]
        pools.append(st.sampled_from([stub, stub.replace("//", "//jane:pa55w0rd@"), stub.replace("//", "//:@"),
                                      stub + "/path?query#fragment", stub.replace("127.0.0.1", "evil.localhost")]))
    elif action.dest == "assets_url":
        pools.append(st.sampled_from(["https://cdn.example.com/x/", "http://jane:pa55w0rd@cdn.example.com/"]))
    elif action.dest in ("public_key", "company_id"):
        pools.append(st.sampled_from(["ABC123", "abc", "pk_" + "a" * 30]))
    elif action.type is not None:
        pools.append(st.sampled_from(["1", "2", "3"]))
    hostile = st.sampled_from(HOSTILE)
    return st.one_of(hostile, *pools, *pools) if pools else hostile


@st.composite
def command_lines(draw, files, commands: list[tuple[str, ...]], *, good_base: bool = False):
    """(command, argv): the command's words, the required options with good values (always with
    `good_base`, else half the time), then up to four options drawn from the command's own, and
    now and then a stray hostile word."""
    command = draw(st.sampled_from(commands))
    parser = COMMANDS[command]
    actions = [a for a in parser._actions if not isinstance(a, argparse._HelpAction)]
    argv = list(command)
    if command in (("orders", "sync"), ("catalog", "push")):
        argv += ["--api-url", files["stub_url"], "--max-backoff", "0.05"]
    if good_base or draw(st.booleans()):  # so that the drawn options reach the command's work
        argv += [part.format(**files) for part in REQUIRED.get(command, ())]
    for action in draw(st.lists(st.sampled_from(actions), min_size=int(good_base), max_size=4)):
        if action.option_strings:
            argv.append(draw(st.sampled_from(action.option_strings)))
            if action.nargs == 0:
                continue
        argv.append(draw(value_for(action, command, files)))
    if draw(st.integers(0, 3)) == 0:
        argv.insert(draw(st.integers(len(command), len(argv))), draw(st.sampled_from(HOSTILE)))
    return command, argv


def run(argv: list[str], command: tuple[str, ...]) -> tuple[int, str]:
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="backslashreplace")
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            if command in PARSE_ONLY:
                args, unknown = build_parser().parse_known_args(argv)
                if unknown:
                    args.command_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
                code = 0
            else:
                code = main(argv)
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else 2
        stdout.flush()
        stderr.flush()
    output = stdout.buffer.getvalue().decode() + stderr.buffer.getvalue().decode()
    return code, output


@pytest.fixture(scope="module")
def setting(files, server, tmp_path_factory):
    """The fuzz's world: the stand-in's URL, a private key, the files' folder as the working
    directory (generate and init write there)."""
    files["stub_url"] = server.url
    saved = {name: os.environ.get(name) for name in ("KLAVIYO_PRIVATE_KEY", "KLAVIYO_CATALOG_FEED_IN_USE")}
    os.environ["KLAVIYO_PRIVATE_KEY"] = KEY
    os.environ.pop("KLAVIYO_CATALOG_FEED_IN_USE", None)
    cwd = os.getcwd()
    os.chdir(files["base"])
    try:
        yield files
    finally:
        os.chdir(cwd)
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def check(command: tuple[str, ...], argv: list[str]) -> None:
    code, output = run(argv, command)
    assert code in (0, 1, 2), (argv, code, output[-2000:])
    assert "Traceback" not in output, (argv, output[-2000:])


FUZZ = settings(max_examples=250, derandomize=True, database=None, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


#: A run that blocks (the fuzz's first run found one: a pipe as --state, opened and waited on
#: for good) would block Hypothesis's shrinking again and again after a signal-based timeout:
#: the thread method dumps every stack and ends the test process instead.
BOUNDED = pytest.mark.timeout(180, method="thread")


@BOUNDED
def test_no_command_line_ends_in_a_traceback(setting):
    seen: set[tuple[str, ...]] = set()

    @FUZZ
    @given(command_lines(setting, sorted(COMMANDS)))
    def one(drawn):
        seen.add(drawn[0])
        check(*drawn)

    one()
    assert seen == set(COMMANDS)  # every command was tried


#: Command lines that ended in a traceback before this change (issue 12 and this fuzz), always
#: run besides the drawn ones; "{...}" are the files above.
FOUND = [
    ["orders", "sync", "--orders", "{orders}", "--no-state", "--api-url", "{stub_auth}"],  # aiohttp's ValueError
    ["catalog", "push", "--products", "{products}", "--no-state", "--api-url", "{stub_auth}"],
    ["orders", "sync", "--orders", ""],                                       # ValueError: empty name
    ["catalog", "push", "--products", "{products}", "--dead-letter", "\0", "--dry-run"],  # embedded NUL
    ["catalog", "push", "--products", "x" * 20_000],                          # OSError: name too long
    ["orders", "sync", "--orders", "{base}/surrogate.jsonl", "--dry-run"],     # UnicodeEncodeError
    ["orders", "sync", "--orders", "{base}/surrogate.jsonl", "--no-state"],
    ["catalog", "build", "--products", "{products}", "--out", "{base}/\udcff.json"],  # printing the path
    ["catalog", "check", "--products", "{products}", "--events", "/dev/zero"],  # read without end
]


@BOUNDED
def test_no_server_side_command_line_ends_in_a_traceback(setting):
    """The same with the server-side commands' required options always good, so most runs get
    past the parser and do their work (read, check, write, send) with the drawn options; and
    the command lines that used to fail."""
    values = {**setting, "stub_auth": setting["stub_url"].replace("//", "//jane:pa55w0rd@")}
    for argv in FOUND:
        check(tuple(argv[:2]), [part.format(**values) if "{" in part else part for part in argv])

    @FUZZ
    @given(command_lines(setting, SERVER_SIDE, good_base=True))
    def one(drawn):
        check(*drawn)

    one()


@pytest.mark.parametrize("argv, says", [
    pytest.param(["generate", "--plan", "a\0b"], "error: --plan: the plan's path a\\x00b holds a NUL character",
                 id="generate-plan-nul"),  # was ValueError: embedded null byte
    pytest.param(["generate", "--out", "\udcff-out"],
                 'error: --out: the output folder\'s name "\\xff-out" cannot be encoded as UTF-8',
                 id="generate-out-not-utf8"),  # was UnicodeEncodeError (manifest)
    # init's message depends on what an earlier run left in the folder (its plan.schema.json)
    pytest.param(["init", "x" * 300], "error: ", id="init-long-name"),  # was OSError: File name too long
    pytest.param(["init", "a\0b"], "error: ", id="init-nul"),
    pytest.param(["generate", "--out", "a\0b"], "error: --out: the output folder 'a\\x00b' holds a NUL character",
                 id="generate-out-nul"),
])
def test_known_tracebacks_outside_the_server_side_commands(setting, argv, says):
    code, output = run(argv, tuple(argv[:1]))
    assert (code, output.startswith(says), "Traceback" in output) == (2, True, False), output[:600]
