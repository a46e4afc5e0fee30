"""Hostile strings from a theme's data island arrive at Klaviyo byte-exact, in a real browser.

The path a shopper's data takes: the theme renders a JSON data island (escaped with the
generator's `json_island`), the generated code reads it and calls `klaviyo.track`, the onsite
script posts it, the stand-in records it. 2,000 strings (the escaping unit tests push 10,000
through node) go through that whole path, 100 per event.
"""

from __future__ import annotations

import random

import pytest

from klaviyo_snippets.generator import generate
from klaviyo_snippets.generator.codegen._escape import json_island
from tests.unit.test_escaping import HOSTILE, same

pytestmark = pytest.mark.browser

PER_EVENT = 100
EVENTS = 20


def hostile_strings(count: int, seed: int = 2028) -> list[str]:
    rng = random.Random(seed)
    pool = HOSTILE + ["a", "Ω", " ", "\u00a0", "0"]
    out = list(HOSTILE)
    while len(out) < count:
        out.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 8))))
    return [s for s in out if s][:count]


def plan_text() -> str:
    props = "\n".join(f"      s{i}: {{type: string, from: batch.s{i}}}" for i in range(PER_EVENT))
    return (
        "version: 1\npublic_key: AbC123\nevents:\n"
        "  hostile:\n"
        "    metric: Hostile Strings\n"
        "    inputs: [batch]\n"
        "    properties:\n"
        '      "$event_id": {type: string, required: true, from: batch.id}\n'
        f"{props}\n"
    )


def test_two_thousand_hostile_strings_arrive_byte_exact(tmp_path, klaviyo_shop, klaviyo_stub):
    (tmp_path / "plan.yaml").write_text(plan_text(), encoding="utf-8")
    generate(tmp_path / "plan.yaml", tmp_path / "out")
    strings = hostile_strings(PER_EVENT * EVENTS)
    batches = [
        {"id": f"batch-{n}", **{f"s{i}": strings[n * PER_EVENT + i] for i in range(PER_EVENT)}}
        for n in range(EVENTS)
    ]
    head = (tmp_path / "out" / "install.html").read_text(encoding="utf-8")
    page = (
        f"<!doctype html><html><head><meta charset='utf-8'>{head}</head><body>"
        f'<script type="application/json" data-klaviyo="batches">{json_island(batches)}</script>'
        "<script>klaviyo.identify({email: 'hostile@example.com'}).then(function () {"
        "  JSON.parse(document.querySelector('script[data-klaviyo=batches]').textContent)"
        "    .forEach(function (b) { klaviyoSnippets.hostile(b); });"
        "});</script></body></html>"
    )
    errors = []
    klaviyo_shop.page.on("pageerror", lambda e: errors.append(str(e)))
    klaviyo_shop.open(page)
    got = klaviyo_stub.wait_for(lambda: len(klaviyo_stub.events(metric="Hostile Strings")) == EVENTS, 30)
    assert got, f"{len(klaviyo_stub.events(metric='Hostile Strings'))} of {EVENTS} events arrived"
    assert errors == []
    by_id = {e["unique_id"]: e for e in klaviyo_stub.events(metric="Hostile Strings")}
    assert {e["status"] for e in by_id.values()} == {"good"}
    for batch in batches:
        recorded = by_id[batch["id"]]["properties"]
        for i in range(PER_EVENT):
            sent = batch[f"s{i}"]
            assert same(recorded[f"s{i}"], sent), f"s{i}: sent {sent!r}, recorded {recorded[f's{i}']!r}"
