"""What shoppers download, beside its anchors: the guide's loader (577 B minified, 297 B gzip at
level 9, as measured for the issue) against loader.min.js (budget 480 B / 280 B), and the bundle of
all the guide's events plus the loader against 2 KiB gzip.

    python benchmarks/bench_bytes.py          # measures a fresh build of the default plan

Exits 1 when a budget is missed, which the bundle's is today (docs/design.md, "Bundle size").
"""

from __future__ import annotations

import gzip
import re
import sys
import tempfile
from pathlib import Path

import rjsmin
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from klaviyo_snippets.generator import generate  # noqa: E402
from _report import Report  # noqa: E402

GUIDE_MIN, GUIDE_GZ = 577, 297  # the anchor from the issue
LOADER_MIN_BUDGET, LOADER_GZ_BUDGET = 480, 280
BUNDLE_GZ_BUDGET = 2048


def gz(data: bytes) -> int:
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def functions_only_bundle(tmp: Path) -> bytes:
    """The default plan with every `fire:` removed (the theme calls each function itself): no data
    islands, click or submit triggers, navigation hold. A reference point for the budget."""
    plan = yaml.safe_load((ROOT / "snippets" / "plan.yaml").read_text(encoding="utf-8"))
    for event in plan["events"].values():
        event.pop("fire", None)
    path = tmp / "functions-only.yaml"
    path.write_text(yaml.safe_dump(plan, sort_keys=False), encoding="utf-8")
    generate(path, tmp / "functions-only")
    return (tmp / "functions-only" / "klaviyo-snippets.min.js").read_bytes()


def main() -> int:
    guide = (ROOT / "tests" / "golden" / "guide" / "loader.js").read_bytes()
    guide_rjsmin = rjsmin.jsmin(guide.decode()).encode()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "dist"
        generate(out_dir=out)
        loader = (out / "loader.min.js").read_bytes()
        bundle = (out / "klaviyo-snippets.min.js").read_bytes()
        loader_readable = (out / "loader.js").read_bytes()
        functions_only = functions_only_bundle(Path(tmp))
    print("guide's loader (tests/golden/guide/loader.js)")
    print(f"  as printed in the guide                      {len(guide):>6,} B, {gz(guide):,} B gzip")
    print(f"  rjsmin of it                                 {len(guide_rjsmin):>6,} B, {gz(guide_rjsmin):,} B gzip "
          f"(the issue's anchor: {GUIDE_MIN} B, {GUIDE_GZ} B gzip)")
    print("ours")
    report = Report(width=44)
    report.at_most("loader.min.js bytes (guide: 577)", len(loader), LOADER_MIN_BUDGET, "B")
    report.at_most("loader.min.js gzip -9 (guide: 297)", gz(loader), LOADER_GZ_BUDGET, "B")
    report.note("loader.js (readable, with header)", f"{len(loader_readable):,} B")
    # Over on purpose: docs/design.md, "Bundle size", says why and what the bytes buy.
    report.at_most("klaviyo-snippets.min.js gzip -9 (all events)", gz(bundle), BUNDLE_GZ_BUDGET, "B")
    report.note("klaviyo-snippets.min.js bytes", f"{len(bundle):,} B")
    # Where the bundle's gzip bytes go: what removing each part saves (parts share gzip context).
    text = bundle.decode()
    found = re.search(r"S\.\w+=F\(", text)
    start = found.start() if found else len(text)
    end = text.rfind("})(window,document)")
    total = gz(bundle)
    loader_end = len(loader.rstrip(b"\n"))
    data = total - gz((text[:start] + text[end:]).encode())
    loader_part = total - gz(text[loader_end:].encode())
    report.note("where the bundle's gzip bytes go", f"the plan's data (names, paths, metrics, selectors) {data:,} B, "
                f"the loader {loader_part:,} B, the runtime and triggers {total - data - loader_part:,} B")
    report.note("the same without triggers (functions only)", f"{gz(functions_only):,} B gzip, {len(functions_only):,} B")
    return report.finish()


if __name__ == "__main__":
    sys.exit(main())
