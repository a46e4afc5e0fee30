"""`klaviyo-snippets verify`: load pages in a headless browser routed to the stand-in, and report.

Pages are local HTML files (served on https://shop.test from their folder, so cookies and
storage behave as in production), URLs (a theme's dev server), or, with `--generated DIR`, a
storefront made of the generated snippets with every trigger fired. The report lists, page by
page, every event Klaviyo received with its status and reasons, the identify calls, what the
generated code and the onsite script dropped or left out and why, the expected events that did
not arrive, the requests that were blocked, and the pages that ran out of time with what they
still had to send.

Modules by job: `_visits` (what to load and what it must send), `_engine` (the Playwright driver
on its own thread and the one browser, killed rather than asked), `_driver` (a lane's page, a
visit's end told by events, the hard per-page bound), `_run` (visits in parallel lanes, each with
its own stand-in), `_report` (the report and what counts as a problem). Public beside this one:
`conditions` (real page conditions a run can be made under, `--condition`, docs/conditions.md:
what each does to a page and how a visit is judged; the pytest plugin's `klaviyo_conditions`
marker applies the same), with `_optimizers` (the delay-JS optimizers it models).
"""

from __future__ import annotations

from klaviyo_snippets.harness.verify._driver import REPORT_EVERY_MS, SILENT_SECONDS
from klaviyo_snippets.harness.verify._engine import CLOSE_SECONDS, GRACE_SECONDS, LAUNCH_SECONDS
from klaviyo_snippets.harness.verify import conditions
from klaviyo_snippets.harness.verify.conditions import ALL as ALL_CONDITIONS, CONDITIONS, Condition, condition_names
from klaviyo_snippets.harness.verify._report import ConditionsReport, VerifyReport, findings
from klaviyo_snippets.harness.verify._run import default_jobs, run_visits, verify, verify_generated
from klaviyo_snippets.harness.verify._visits import Visit, generated_storefront, plan_triggers

__all__ = [
    "verify", "verify_generated", "run_visits", "VerifyReport", "Visit", "generated_storefront",
    "findings", "plan_triggers", "default_jobs",
    "ConditionsReport", "Condition", "CONDITIONS", "ALL_CONDITIONS", "condition_names",
    "conditions",
    "GRACE_SECONDS", "CLOSE_SECONDS", "LAUNCH_SECONDS", "REPORT_EVERY_MS", "SILENT_SECONDS",
]
