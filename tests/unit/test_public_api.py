"""The public surface: what `klaviyo_snippets` and each package export, what loading the pytest
plugin costs, and the facts that have one home each (key shapes, redaction, loopback, version)."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import subprocess
import sys

import pytest

import klaviyo_snippets
from klaviyo_snippets.generator import keys, net, resources

PACKAGES = [
    "klaviyo_snippets.generator", "klaviyo_snippets.generator.plan", "klaviyo_snippets.generator.codegen",
    "klaviyo_snippets.generator.server", "klaviyo_snippets.generator.server.sending",
    "klaviyo_snippets.harness.standin", "klaviyo_snippets.harness.browser", "klaviyo_snippets.harness.preview",
]


def test_the_top_level_names():
    assert sorted(klaviyo_snippets.__all__) == sorted([
        "generate", "load_plan", "verify", "verify_generated", "VerifyReport",
        "StubKlaviyo", "StubSettings", "RateLimits", "UserError", "__version__",
    ])
    for name in klaviyo_snippets.__all__:
        assert getattr(klaviyo_snippets, name) is not None
    assert klaviyo_snippets.UserError is importlib.import_module("klaviyo_snippets.generator.errors").UserError
    assert klaviyo_snippets.__version__ == importlib.metadata.version("klaviyo-snippets")
    with pytest.raises(AttributeError):
        klaviyo_snippets.generator_version  # noqa: B018 - a name that is not exported


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_exists(package):
    module = importlib.import_module(package)
    missing = [name for name in module.__all__ if not hasattr(module, name)]
    assert missing == []
    assert len(set(module.__all__)) == len(module.__all__)


def test_every_error_is_a_user_error():
    from klaviyo_snippets.generator.plan import PlanError
    from klaviyo_snippets.generator.server.sending import SendAborted
    from klaviyo_snippets.harness.browser import BrowserUnavailable

    for error in (PlanError, SendAborted, BrowserUnavailable):
        assert issubclass(error, klaviyo_snippets.UserError)


def test_loading_the_pytest_plugin_imports_nothing_heavy():
    """pytest loads the plugin in every run of an environment that has us installed."""
    code = (
        "import sys, json, klaviyo_snippets.harness.pytest_plugin\n"
        "heavy = ['aiohttp', 'playwright', 'jinja2', 'yaml', 'jsonschema', 'klaviyo_snippets.harness.standin',"
        " 'klaviyo_snippets.generator.plan']\n"
        "print(json.dumps([m for m in heavy if m in sys.modules]))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


# -- one home each --------------------------------------------------------------------------

def test_key_shapes():
    assert keys.is_public_key("AbC123") and not keys.is_public_key("AbC12") and not keys.is_public_key("AbC1234")
    assert not keys.is_public_key("AbC12\n")
    assert keys.is_private_key("pk_0123456789abcdef0123456789abcdef01")
    # One shape for every part: a key with an underscore after pk_ is not a private key, so the
    # sender refuses it up front instead of the stand-in answering 401 later.
    assert not keys.is_private_key("pk_live_abcdef") and not keys.is_private_key("pk_") and not keys.is_private_key("AbC123")
    assert keys.looks_private("pk_live_abcdef") and keys.looks_private(" PK_x")
    assert keys.looks_private("see pk_0123456789abcdef0123 here")
    assert not keys.looks_private("the pk_id column") and not keys.looks_private("AbC123")


def test_the_sender_and_the_stand_in_take_the_same_private_keys():
    from klaviyo_snippets.generator.server.sending import read_private_key
    from klaviyo_snippets.harness.standin import wire

    for key in ("pk_0123456789abcdef0123456789abcdef01", "pk_live_abcdef", "pk_", "pk_abc-def"):
        try:
            read_private_key({"KLAVIYO_PRIVATE_KEY": key})
            sender_takes = True
        except klaviyo_snippets.UserError:
            sender_takes = False
        assert sender_takes == bool(wire.PRIVATE_KEY.fullmatch(key)), key


def test_redact_replaces_given_secrets_and_anything_shaped_like_a_private_key():
    secret = "pk_theSecretKeyOfThisRun0123"
    text = f"401 for {secret}; also pk_0123456789abcdef0123 and pk_id"
    assert keys.redact(text, secret) == "401 for pk_[redacted]; also pk_[redacted] and pk_id"
    assert keys.redact("short pk_abc", "pk_abc") == "short pk_[redacted]"
    assert keys.redact("nothing", None) == "nothing"


def test_redact_headers_keeps_the_scheme_and_lowers_names():
    headers = {"Authorization": "Klaviyo-API-Key pk_abc", "Cookie": "a=b", "X-Auth-Token": "t",
               "Proxy-Authorization": "Basic x", "Revision": "2026-07-15"}
    assert keys.redact_headers(headers) == {
        "authorization": "Klaviyo-API-Key [redacted]", "cookie": "[redacted]", "x-auth-token": "[redacted]",
        "proxy-authorization": "Basic [redacted]", "revision": "2026-07-15",
    }
    assert keys.redact_headers(None) == {}


@pytest.mark.parametrize("host,local", [
    ("localhost", True), ("LOCALHOST.", True), ("shop.localhost", True), ("127.0.0.1", True),
    ("127.8.9.10", True), ("::1", True), ("[::1]", True), ("0.0.0.0", False), ("10.0.0.1", False),
    ("example.com", False), ("localhost.example.com", False), ("", False),
])
def test_loopback(host, local):
    assert net.is_loopback_host(host) is local


def test_ip_literals_and_urls():
    assert net.is_ip_literal("10.0.0.1") and net.is_ip_literal("[::1]") and not net.is_ip_literal("shop.test")
    assert net.is_absolute_http_url("https://a.klaviyo.com") and net.is_absolute_http_url("http://127.0.0.1:8765")
    for bad in ("a.klaviyo.com", "ftp://x", "https://", "https://x:99999", "https://x y"):
        assert not net.is_absolute_http_url(bad), bad


def test_version_has_one_home(capsys):
    assert resources.version() == importlib.metadata.version("klaviyo-snippets")
    from klaviyo_snippets.harness.cli import main

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"klaviyo-snippets {resources.version()}\n"

