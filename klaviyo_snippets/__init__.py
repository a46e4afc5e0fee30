"""klaviyo-snippets: Klaviyo onsite tracking generated from a tracking plan, and proven in a real
browser against a stand-in Klaviyo.

The public API (everything else is reached through the subpackages' own ``__all__``)::

    from klaviyo_snippets import generate, load_plan, verify, StubKlaviyo, StubSettings, UserError

    result = generate("my-plan.yaml", "dist", public_key="AbC123")   # files out, see Result
    with StubKlaviyo() as stub:                                       # a stand-in Klaviyo on loopback
        ...
    report = verify(["templates/product.html"], identify="ada@example.com")

Where things live (installed, all under this name; in the repository, the top-level folders):

* ``klaviyo_snippets.generator``: plans in, files and API bodies out (``plan``, ``codegen``,
  ``server``); no browser, no argparse.
* ``klaviyo_snippets.harness``: proving it (``standin``: the stand-in Klaviyo; ``browser``;
  ``verify``; ``preview``; ``cli``; the pytest plugin).
* ``klaviyo_snippets.snippets``: the templates, the default plan and its schema (data).

Names are imported on first use: the pytest plugin loads this package in every pytest run of an
environment, and that must cost nothing.
"""

from __future__ import annotations

import importlib

__all__ = [
    "generate", "load_plan", "verify", "verify_generated", "VerifyReport",
    "StubKlaviyo", "StubSettings", "RateLimits", "UserError", "__version__",
]

_LAZY = {
    "generate": "klaviyo_snippets.generator",
    "load_plan": "klaviyo_snippets.generator",
    "UserError": "klaviyo_snippets.generator",
    "verify": "klaviyo_snippets.harness.verify",
    "verify_generated": "klaviyo_snippets.harness.verify",
    "VerifyReport": "klaviyo_snippets.harness.verify",
    "StubKlaviyo": "klaviyo_snippets.harness.standin",
    "StubSettings": "klaviyo_snippets.harness.standin",
    "RateLimits": "klaviyo_snippets.harness.standin",
}


def __getattr__(name: str):
    if name == "__version__":
        from klaviyo_snippets.generator.resources import version

        return version()
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
