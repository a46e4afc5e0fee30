"""The stand-in Klaviyo: a real HTTP server on loopback that answers as Klaviyo's `/client/*`
and `/api/*` endpoints do, serves a stand-in onsite script, records every request, and judges
each event good, bad (with reasons), duplicate or dropped.

It is the independent oracle of everything else in the project: its copy of Klaviyo's rules
(`wire`) is written from Klaviyo's documentation, never imported from the client code it checks
(``klaviyo_snippets.generator.server``).

    with StubKlaviyo() as stub:        # port 0: any free port; its own event loop in a thread
        ...                            # point a page or a sender at stub.url
        stub.expect_event("Viewed Product", properties={"ProductID": "1111"})
"""

from __future__ import annotations

from klaviyo_snippets.harness.standin import wire
from klaviyo_snippets.harness.standin._inspection import refuse_foreign
from klaviyo_snippets.harness.standin._limits import FAULT_KINDS, RateLimits
from klaviyo_snippets.harness.standin._loopthread import LoopThread, serve_until_interrupted
from klaviyo_snippets.harness.standin._server import StubKlaviyo, serve_forever
from klaviyo_snippets.harness.standin._settings import StubSettings
from klaviyo_snippets.harness.standin._store import now_iso

__all__ = [
    "StubKlaviyo", "StubSettings", "RateLimits", "FAULT_KINDS", "serve_forever", "refuse_foreign",
    "LoopThread", "serve_until_interrupted", "now_iso", "wire",
]
