"""`consent:` and `onsite_script:` in the plan (issue 15, item 1; docs/consent.md): their defaults,
their errors (said with file:line and a fix), what the generated files say (no script tag to paste
once the bundle loads the script; the manifest's entries for verify), and that a plan without
them carries none of their bytes. The browser proofs are tests/browser/test_consent.py and
tests/browser/test_onsite_load.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from klaviyo_snippets.generator import generate
from klaviyo_snippets.generator.plan import Consent, load_plan
from klaviyo_snippets.harness.cli import main

PLAN = """\
version: 1
public_key: AbC123
{settings}
events:
  viewed:
    metric: Viewed Thing
    inputs: [thing]
    properties:
      Name: {{type: string, required: true, from: thing.name}}
"""
SCRIPT_URL = "https://static.klaviyo.com/onsite/js/AbC123/klaviyo.js"
#: names only the two runtime partials use: none may appear in a bundle without the settings
RUNTIME_NAMES = ("__kla_off", "function Ol(", "function Ow(", "function Cn(", "Cs !== !0", "consent")


def write(tmp_path: Path, settings: str) -> Path:
    path = tmp_path / "plan.yaml"
    path.write_text(PLAN.format(settings=settings), encoding="utf-8")
    return path


@pytest.mark.parametrize("settings, load, consent", [
    ("", "tag", None),
    ("onsite_script: {load: idle}", "idle", None),
    ("consent: {signal: api}", "now", Consent("api", "nothing")),
    ("consent: {signal: shopify, denied: forms-only}\nonsite_script: {load: interaction}", "interaction",
     Consent("shopify", "forms-only", ("analytics", "marketing"))),
    ("consent: {signal: google}", "now", Consent("google", "nothing", ("analytics_storage", "ad_storage"))),
    ("consent: {signal: google, require: ad_storage}", "now", Consent("google", "nothing", ("ad_storage",))),
    ("consent: {signal: onetrust}", "now", Consent("onetrust", "nothing", ("C0004",))),
    ("consent: {signal: onetrust, require: [C0002, C0004]}", "now", Consent("onetrust", "nothing", ("C0002", "C0004"))),
    ("consent: {signal: cookie, cookie: {name: cc, granted: 'yes'}}", "now",
     Consent("cookie", "nothing", (), ("cc", "yes"))),
])
def test_settings_and_their_defaults(tmp_path, settings, load, consent):
    plan = load_plan(write(tmp_path, settings))
    assert (plan.onsite_load, plan.consent) == (load, consent)


@pytest.mark.parametrize("settings, message", [
    ("consent: {signal: api}\nonsite_script: {load: tag}",
     "plan.yaml:4:23 at /onsite_script/load: consent: with onsite_script.load: tag would load Klaviyo's onsite "
     "script before consent (the tag runs whatever the visitor chose)\n  hint: remove onsite_script (the bundle then "
     "loads the script on grant: now), or set load: now, idle or interaction, and remove the script tag from your pages\n"),
    ("consent: {signal: cookie}", "at /consent: signal: cookie needs the cookie's name and the value that means granted\n"
                                  "  hint: add cookie: {name: cookie_consent, granted: \"yes\"}\n"),
    ("consent: {signal: api, require: C0004}", "at /consent/require: require: is for the shopify, google and onetrust "
                                               "signals, not api\n  hint: remove require:\n"),
    ("consent: {signal: google, require: [ad_storage, analytic_storage]}",
     "at /consent/require/1: 'analytic_storage' is not something the google signal can require\n"
     "  hint: did you mean 'analytics_storage'? use one of:"),
    ("consent: {signal: shopify, require: marketting}", "'marketting' is not something the shopify signal can require\n"
                                                        "  hint: did you mean 'marketing'?"),
    ("consent: {signal: onetrust, cookie: {name: a, granted: b}}", "cookie: is for signal: cookie, not onetrust"),
    ("consent: {signal: usercentrics}", "at /consent/signal: 'usercentrics' is not allowed here\n"
                                        "  hint: use one of: api, shopify, google, onetrust, cookie\n"),
    ("consent: {signal: api, denied: forms}", "'forms' is not allowed here\n  hint: use one of: nothing, forms-only\n"),
    ("onsite_script: {load: lazy}", "'lazy' is not allowed here\n  hint: use one of: tag, now, idle, interaction\n"),
    ("consent: {signal: onetrust, require: 5}", "at /consent/require: 5 is not what consent requires\n"
                                                "  hint: one name or a list of names (letters, digits, - and _)"),
])
def test_a_wrong_setting_says_where_and_how_to_fix_it(tmp_path, capsys, settings, message):
    assert main(["generate", "--plan", str(write(tmp_path, settings)), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert message in err, err


def test_an_event_named_consent_is_refused_with_consent_set(tmp_path, capsys):
    path = write(tmp_path, "consent: {signal: api}")
    path.write_text(path.read_text().replace("  viewed:", "  consent:"))
    assert main(["generate", "--plan", str(path), "--out", str(tmp_path / "out")]) == 2
    assert "an event named consent would hide klaviyoSnippets.consent()" in capsys.readouterr().err


def test_the_manifest_says_both_settings_for_verify(tmp_path):
    generate(write(tmp_path, "consent: {signal: cookie, denied: forms-only, cookie: {name: cc, granted: '1'}}\n"
                             "onsite_script: {load: idle}"), tmp_path / "a")
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["consent"] == {"signal": "cookie", "denied": "forms-only", "require": [],
                                   "cookie": {"name": "cc", "granted": "1"}}
    assert manifest["onsite_script"] == {"load": "idle"}
    generate(write(tmp_path, ""), tmp_path / "b")
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert (manifest["consent"], manifest["onsite_script"]) == (None, {"load": "tag"})


def test_with_the_bundle_loading_the_script_no_snippet_prints_the_tag(tmp_path):
    generate(write(tmp_path, "onsite_script: {load: interaction}"), tmp_path / "out")
    for name in ("script-tag.html", "install.html"):
        text = (tmp_path / "out" / name).read_text()
        assert "<script async" not in text and "(onsite_script.load: interaction)" in text, name
    assert SCRIPT_URL in (tmp_path / "out" / "klaviyo-snippets.min.js").read_text()
    generate(write(tmp_path, ""), tmp_path / "tag")
    for name in ("script-tag.html", "install.html"):
        assert f'<script async src="{SCRIPT_URL}"></script>' in (tmp_path / "tag" / name).read_text(), name


@pytest.mark.parametrize("target, path, tag", [
    ("shopify", "snippets/klaviyo-install.liquid", f'<script async src="{SCRIPT_URL}"></script>'),
    ("bigcommerce", "templates/components/klaviyo/install.html", f'async src="{SCRIPT_URL}"'),
    ("woocommerce", "klaviyo-snippets.php", "wp_enqueue_script( 'klaviyo-onsite'"),
])
def test_platform_targets_leave_the_tag_out_too(tmp_path, target, path, tag):
    generate(write(tmp_path, "consent: {signal: api}"), tmp_path / "consent", target=target)
    text = (tmp_path / "consent" / path).read_text()
    assert tag not in text and "the bundle loads Klaviyo's onsite script itself" in text
    generate(write(tmp_path, ""), tmp_path / "tag", target=target)
    assert tag in (tmp_path / "tag" / path).read_text()


def test_the_types_declare_the_consent_api_only_with_consent(tmp_path):
    generate(write(tmp_path, "consent: {signal: api}"), tmp_path / "c")
    types = (tmp_path / "c" / "klaviyo-snippets.d.ts").read_text()
    assert "consent(choice?: {tracking: boolean}): {tracking: boolean | null};" in types
    assert "type KlaviyoSnippetResult<T> = Promise<T | false> | boolean;" in types
    generate(write(tmp_path, ""), tmp_path / "n")
    assert "consent(" not in (tmp_path / "n" / "klaviyo-snippets.d.ts").read_text()


def test_a_plan_without_the_settings_carries_none_of_their_bytes(tmp_path):
    generate(write(tmp_path, ""), tmp_path / "out")
    text = (tmp_path / "out" / "klaviyo-snippets.min.js").read_text()  # the readable one's legend names them
    assert [n for n in RUNTIME_NAMES if n in text] == []
    generate(write(tmp_path, "onsite_script: {load: now}"), tmp_path / "now")
    text = (tmp_path / "now" / "klaviyo-snippets.min.js").read_text()
    assert "function Ol(" in text and "__kla_off" not in text and "function Cn(" not in text
