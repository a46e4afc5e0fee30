"""`klaviyo-snippets generate [--target TARGET]`: the tracking plan in, JavaScript, types and
docs out (or a platform's own files, into a theme's or plugin's folder); prints what it
wrote and what shoppers download, and on stderr a warning for each sample that gives a mapped
property no value. Exit codes: 0 done or current, 1 stale with --check (a mistake in the plan or
the options is a `UserError`, exit 2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["configure_parser", "run"]



def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Generate Klaviyo onsite JavaScript, HTML snippets, TypeScript types and docs from a "
        "tracking plan. With --check, write nothing and exit 1 if the output folder is stale."
    )
    parser.add_argument(
        "--plan", metavar="FILE", default=None,
        help="the tracking plan (YAML); default: the plan that ships with klaviyo-snippets, "
        "covering every onsite event of Klaviyo's integration guide",
    )
    parser.add_argument(
        "--public-key", metavar="KEY", default=None,
        help="your Klaviyo public API key (6-character company id); overrides the plan's public_key. "
        "Never a private key (pk_...)",
    )
    parser.add_argument(
        "--target", metavar="TARGET", default="plain",
        help="the layout to write: plain (the default: JavaScript, TypeScript, HTML snippets and docs), "
        "shopify (a theme's snippets/klaviyo-*.liquid, assets/ and a checkout pixel), bigcommerce (a Stencil "
        "theme's templates/components/klaviyo/ partials and assets/), or woocommerce (a WordPress plugin "
        "folder); every target but plain writes into the folder given with --out",
    )
    parser.add_argument("--out", metavar="DIR", type=Path, default=None,
                        help="output folder (default: dist; with a platform --target, the theme's or plugin's folder, required)")
    parser.add_argument(
        "--check", action="store_true",
        help="write nothing; exit 1 with a summary of the differences when DIR is not what the plan generates, 0 when current",
    )
    csp = parser.add_argument_group("Content-Security-Policy")
    csp.add_argument(
        "--csp-nonce", metavar="NONCE", default=None,
        help="stamp nonce=\"NONCE\" on every inline script; usually a placeholder your templates fill "
        "per response, e.g. '{{ csp_nonce }}'",
    )
    csp.add_argument(
        "--no-inline", dest="inline", action="store_false",
        help="no inline code at all: install.html loads klaviyo-snippets.min.js with its SRI integrity hash",
    )
    csp.add_argument(
        "--assets-url", metavar="URL", default=None,
        help="where you host klaviyo-snippets.min.js, with --no-inline: an https:// URL or a path "
        "starting with / (default: /)",
    )
    return parser


def _size(n: int) -> str:
    return f"{n:,} B"


def run(args: argparse.Namespace) -> int:
    from klaviyo_snippets.generator.codegen import generate, get_target
    from klaviyo_snippets.generator.errors import printable

    result = generate(
        args.plan, args.out, public_key=args.public_key, check=args.check,
        csp_nonce=args.csp_nonce, inline=args.inline, assets_url=args.assets_url, target=args.target,
    )
    for warning in result.warnings:  # not errors: stderr, and the exit status is unchanged
        print(f"warning: {printable(warning)}", file=sys.stderr)
    if result.warnings:
        print("  hint: the samples (under samples:) and the plan's paths disagree; fix whichever is wrong, "
              "so the docs, the preview and the tests show real values", file=sys.stderr)
    files = result.manifest["files"]
    plan_name = result.manifest["plan"]["path"]
    where = f"{result.out_dir}/"
    if args.check:
        if result.current:
            print(f"{where} is current: {len(files) + 1} files match the {plan_name} plan")
            return 0
        print(f"{where} is stale: {len(result.stale)} of {len(files) + 1} files differ from what the {plan_name} plan generates")
        for name in result.stale:
            state = "changed" if name in result.diffs else ("missing" if name in result.files else "not generated any more")
            print(f"  {state:<22} {name}")
        for name, diff in result.diffs.items():
            print(f"\n{diff.rstrip()}")
        command = result.manifest["_generated"].split("regenerate with `", 1)[-1].rstrip("`.")
        print(f"\nregenerate with: {command}")
        return 1
    print(f"generated {where} from the {plan_name} plan ({len(files) + 1} files)")
    width = max(len(name) for name in files)
    for name in sorted(set(result.written) | set(result.unchanged)):
        facts = files.get(name)
        state = "wrote" if name in result.written else "same"
        sizes = f"{facts['bytes']:>8,} B {facts['gzip_bytes']:>7,} B gz" if facts else ""
        print(f"  {state:<6} {name:<{width}} {sizes}")
    for name in result.removed:
        print(f"  removed {name}")
    for name in result.kept:
        print(f"  kept    {name} (no longer generated, but edited since: delete it yourself if you do not need it)")
    # Our own size budget is checked by benchmarks/bench_bytes.py, not here: a user can act on
    # the sizes (a plan without triggers gets a smaller bundle), not on a target of ours.
    target = get_target(args.target)
    download = [(name, files[name]) for name in target.downloads if name in files]
    print("shoppers download: " + "; ".join(
        f"{name.rpartition('/')[2]} {_size(facts['bytes'])} ({_size(facts['gzip_bytes'])} gzip)" for name, facts in download))
    if target.next_step:
        print("next: " + target.next_step.replace("{out}", str(result.out_dir)))
    return 0
