"""The `klaviyo-snippets` command, in-process (`main(argv)`) and, for `stub`, as a real process."""

from __future__ import annotations

import json
import re
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from klaviyo_snippets.harness.cli import main
from tests.http_client import CLIENT_HEADERS, event_body, get, post
from tests.processes import read_until, running

REPO = Path(__file__).resolve().parents[2]
GUIDE_PAGE = REPO / "examples" / "guide-examples.html"


def test_help_lists_every_command(capsys):
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for command in ("generate", "stub", "verify", "catalog"):
        assert command in out


def test_verify_a_missing_page_is_a_clear_error(capsys):
    assert main(["verify", "no/such/page.html"]) == 2
    err = capsys.readouterr().err
    assert "no such page: no/such/page.html" in err
    assert "Traceback" not in err


@pytest.mark.browser
def test_verify_the_guide_page_reports_every_event(capsys):
    assert main(["verify", str(GUIDE_PAGE), "--click", "#Like", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True
    metrics = {e["metric"]: e["status"] for e in report["events"]}
    assert metrics == {name: "good" for name in (
        "__activity__", "Viewed Product", "Added to Cart", "Started Checkout", "Shared Article", "Referred Friend",
        "Viewed Category", "Searched Site", "Clicked Banner", "Added Like")}
    assert [i["status"] for i in report["identifies"]] == ["good"]
    assert report["blocked"] == []


@pytest.mark.browser
def test_verify_exits_1_and_says_why_when_events_are_dropped(tmp_path, capsys):
    page = GUIDE_PAGE.read_text().replace("klaviyo.identify(", "Promise.resolve(")  # forget to identify
    (tmp_path / "shop.html").write_text(page)
    assert main(["verify", str(tmp_path / "shop.html")]) == 1
    out = capsys.readouterr().out
    assert re.search(r"^  \d+ +Added to Cart +dropped +\"Added to Cart\" was dropped: the visitor was never identified",
                     out, re.M)
    assert re.search(r"^  Added to Cart +1 dropped$", out, re.M)
    assert out.rstrip().endswith("bad or dropped.")


@pytest.mark.browser
def test_verify_identify_option_identifies_the_visitor_first(tmp_path, capsys):
    page = GUIDE_PAGE.read_text().replace("klaviyo.identify(", "Promise.resolve(")
    (tmp_path / "shop.html").write_text(page)
    assert main(["verify", str(tmp_path / "shop.html"), "--identify", "ann@example.com", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {e["profile"]["email"] for e in report["events"]} == {"ann@example.com"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_stub_command_serves_until_interrupted():
    port = _free_port()
    cli = Path(sys.executable).with_name("klaviyo-snippets")
    buffered = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}
    with running([str(cli), "stub", "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                 text=True, env=buffered) as proc:  # each line must reach the pipe as it is printed
        printed = read_until(proc, "press Ctrl-C to stop")
        assert printed.splitlines()[0] == f"stand-in Klaviyo listening on http://127.0.0.1:{port}"
        url = f"http://127.0.0.1:{port}"
        assert post(url + "/client/events/?company_id=ABC123", event_body(), CLIENT_HEADERS).status == 202
        assert get(url + "/__stub__/events").json["count"] == 1
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert (printed + out).endswith("\nstopping (SIGINT)\nstopped\n"), printed + out


def test_stub_max_records_bounds_the_log_and_counts_what_it_forgot():
    port = _free_port()
    cli = Path(sys.executable).with_name("klaviyo-snippets")
    with running([str(cli), "stub", "--port", str(port), "--max-records", "2"], stdout=subprocess.PIPE,
                 stderr=subprocess.PIPE, text=True) as proc:
        read_until(proc, "press Ctrl-C to stop")
        url = f"http://127.0.0.1:{port}"
        for n in range(3):
            body = event_body(unique_id=f"order-{n}")  # without one, Klaviyo dedups by profile, metric and second
            assert post(url + "/client/events/?company_id=ABC123", body, CLIENT_HEADERS).status == 202
        assert get(url + "/__stub__/events").json["count"] == 2
        counts = get(url + "/__stub__/all").json
        assert (counts["good"], counts["forgotten"]["events"]) == (3, 1)
        assert get(url + "/__stub__/config").json["max_records"] == 2
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)


def test_stub_on_a_busy_port_is_a_clear_error(capsys):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["stub", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


@pytest.mark.browser
def test_verify_generated_fires_every_event_of_the_default_plan(capsys):
    assert main(["verify", "--generated", str(REPO / "dist"), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    good = {e["metric"] for e in report["events"] if e["status"] == "good"}
    assert good == {"__activity__", "Viewed Product", "Added to Cart", "Started Checkout", "Viewed Category",
                    "Searched Site", "Clicked Banner", "Added Like", "Shared Article", "Referred Friend"}
    assert report["ok"] is True


def test_verify_needs_pages_or_generated(capsys):
    assert main(["verify"]) == 2
    assert "nothing to verify" in capsys.readouterr().err
    assert main(["verify", "--generated", "no-such-dir"]) == 2
    assert "no-such-dir has no install.html" in capsys.readouterr().err


def test_stub_refuses_a_port_out_of_range(capsys):
    with pytest.raises(SystemExit) as done:
        main(["stub", "--port", "99999"])
    assert done.value.code == 2
    assert "'99999' is not a port" in capsys.readouterr().err


def test_stub_on_an_address_not_of_this_machine_points_at_the_host(capsys):
    assert main(["stub", "--host", "999.1.1.1", "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on 999.1.1.1:0" in err and "check --host" in err and "--port" not in err
    assert "Traceback" not in err


def test_stub_never_echoes_a_private_key_given_as_company_id(capsys):
    secret = "pk_0123456789abcdef0123456789abcdef01"
    assert main(["stub", "--company-id", secret]) == 2
    err = capsys.readouterr().err
    assert "private API key" in err and secret not in err and "0123456789" not in err


def test_stub_rate_limit_scale_without_rate_limits_is_refused(capsys):
    assert main(["stub", "--port", "0", "--rate-limit-scale", "10"]) == 2
    assert "only applies with --rate-limits klaviyo" in capsys.readouterr().err


@pytest.mark.parametrize("value", ["-5", "0", "nan", "inf", "ten"])
def test_verify_timeout_must_be_a_positive_duration(capsys, value):
    with pytest.raises(SystemExit) as done:
        main(["verify", "--timeout", value, "page.html"])
    assert done.value.code == 2
    assert f"{value!r} is not a duration" in capsys.readouterr().err


def test_verify_options_that_would_be_ignored_are_refused(capsys):
    assert main(["verify", "--generated", "dist", "--click", "#Like"]) == 2
    assert "--click only applies to PAGE arguments" in capsys.readouterr().err


def test_verify_a_folder_or_a_file_that_is_not_html_is_a_clear_error(tmp_path, capsys):
    assert main(["verify", str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder" in capsys.readouterr().err
    template = tmp_path / "product.liquid"
    template.write_text("<p>{{ product.title }}</p>")
    assert main(["verify", str(template)]) == 2
    err = capsys.readouterr().err
    assert "is not an .html file" in err and "Traceback" not in err


@pytest.mark.parametrize("selector", ["[[", "##Like", "[data-klaviyo-banner"])
def test_verify_click_must_be_a_css_selector(tmp_path, capsys, selector):
    page = tmp_path / "p.html"
    page.write_text("<p>shop</p>")
    assert main(["verify", str(page), "--click", selector]) == 2
    err = capsys.readouterr().err
    assert f"--click {selector!r} is not a CSS selector" in err and "Traceback" not in err


def test_an_unknown_option_is_reported_with_the_commands_own_usage(capsys):
    with pytest.raises(SystemExit) as done:
        main(["generate", "--bogus"])
    assert done.value.code == 2
    err = capsys.readouterr().err
    assert "usage: klaviyo-snippets generate" in err
    assert "klaviyo-snippets generate: error: unrecognized arguments: --bogus" in err


def test_verify_generated_checks_the_plan_that_made_the_folder(tmp_path, capsys):
    from klaviyo_snippets.harness.verify import generated_storefront

    plan = tmp_path / "my-plan.yaml"
    plan.write_text((REPO / "snippets" / "plan.yaml").read_text(encoding="utf-8").replace(
        "metric: Viewed Category", "metric: Viewed Collection"), encoding="utf-8")
    assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "dist")]) == 0
    capsys.readouterr()
    _, pages = generated_storefront(tmp_path / "dist")  # the manifest names my-plan.yaml
    assert "<title>Viewed Collection</title>" in pages["/viewed-category.html"]
    assert main(["verify", "--generated", str(tmp_path / "dist"), "--plan", str(REPO / "snippets" / "plan.yaml")]) == 2
    err = capsys.readouterr().err
    assert "was not generated from the built-in plan" in err and "my-plan.yaml" in err


def test_init_copies_the_built_in_plan_with_its_schema_and_never_overwrites(tmp_path, capsys):
    plan = tmp_path / "my-plan.yaml"
    assert main(["init", str(plan)]) == 0
    assert plan.read_bytes() == (REPO / "snippets" / "plan.yaml").read_bytes()
    assert (tmp_path / "plan.schema.json").read_bytes() == (REPO / "snippets" / "plan.schema.json").read_bytes()
    assert main(["generate", "--plan", str(plan), "--out", str(tmp_path / "dist")]) == 0
    plan.write_text("# mine\n")
    capsys.readouterr()
    assert main(["init", str(plan)]) == 2
    assert "exists; nothing was written" in capsys.readouterr().err
    assert plan.read_text() == "# mine\n"


@pytest.mark.parametrize("platform", ["shopify", "bigcommerce", "woocommerce"])
def test_a_platform_target_with_the_built_in_plan_points_at_the_platforms_preset(tmp_path, capsys, platform):
    assert main(["generate", "--target", platform, "--out", str(tmp_path / "theme")]) == 2
    err = capsys.readouterr().err
    assert f"start from its preset with `klaviyo-snippets init --platform {platform}`" in err, err
    assert not (tmp_path / "theme").exists()


def test_init_says_what_is_wrong_with_a_path_it_cannot_write_and_leaves_nothing(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where a relative plan's schema would go
    assert main(["init", str(tmp_path / ("x" * 300))]) == 2
    assert capsys.readouterr().err.endswith(": File name too long\n  hint: choose a shorter path\n")
    assert main(["init", "a\0b.yaml"]) == 2
    assert "holds a NUL character" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_verify_report_escapes_what_a_terminal_would_act_on():
    from klaviyo_snippets.harness.verify import VerifyReport

    report = VerifyReport(browser="chromium", pages=["p.html"], page_errors=["boom \u202e\x1b[2J"])
    text = report.format()
    assert "\u202e" not in text and "\x1b" not in text
    assert "boom \\u202e\\x1b[2J" in text
