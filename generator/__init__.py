"""Plans in, files and Klaviyo API bodies out: the library half of klaviyo-snippets.

    plan = load_plan("my-plan.yaml")              # or load_plan() for the default plan
    result = generate("my-plan.yaml", Path("dist"), public_key="AbC123")
    result.written, result.unchanged, result.removed, result.stale, result.manifest

Subpackages, each with its own ``__all__``:

* ``plan``: the tracking plan's model, loading (YAML, schema, rules) and the Python evaluator.
* ``codegen``: JavaScript, TypeScript, HTML snippets and docs from a plan; the writer.
* ``server``: Klaviyo's server API: request bodies, order/share/catalog builders, ``sending``.

And one home each for facts every part shares: ``errors`` (the error root, `UserError`),
``keys`` (key shapes, redaction), ``net`` (loopback, URL rules), ``resources`` (data files,
version). No argparse and no printing here; the command line is ``klaviyo_snippets.harness.cli``.
Names are imported on first use, so ``import klaviyo_snippets.generator.server`` does not pay
for Jinja and jsonschema.
"""

from __future__ import annotations

import importlib

from klaviyo_snippets.generator.errors import UserError

__all__ = [
    "generate", "render_files", "load_plan", "default_plan_path", "schema_path", "evaluate", "file_facts",
    "check_public_key", "version",
    "Plan", "Event", "Property", "Outcome", "Result", "UserError", "PlanError",
]

_LAZY = {
    "generate": "codegen", "render_files": "codegen", "file_facts": "codegen", "Result": "codegen",
    "load_plan": "plan", "check_public_key": "plan", "Plan": "plan", "Event": "plan",
    "Property": "plan", "PlanError": "plan", "evaluate": "plan", "Outcome": "plan",
    "default_plan_path": "resources", "schema_path": "resources", "version": "resources",
}


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
