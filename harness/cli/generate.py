"""`klaviyo-snippets generate`: the tracking plan in, JavaScript, types and docs out; prints what it
wrote and what shoppers download. Exit codes: 0 done or current, 1 stale with --check (a mistake
in the plan or the options is a `UserError`, exit 2)."""

from __future__ import annotations

import argparse
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
    parser.add_argument("--out", metavar="DIR", type=Path, default=Path("dist"), help="output folder (default: dist)")
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
    from klaviyo_snippets.generator.codegen import BUNDLE, LOADER, generate

    result = generate(
        args.plan, args.out, public_key=args.public_key, check=args.check,
        csp_nonce=args.csp_nonce, inline=args.inline, assets_url=args.assets_url,
    )
    files = result.manifest["files"]
    plan_name = result.manifest["plan"]["path"]
    where = f"{args.out}/"
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
    loader = files[f"{LOADER}.min.js"]
    bundle = files[f"{BUNDLE}.min.js"]
    # Our own size budget is checked by benchmarks/bench_bytes.py, not here: a user can act on
    # the sizes (a plan without triggers gets a smaller bundle), not on a target of ours.
    print(
        f"shoppers download: {LOADER}.min.js {_size(loader['bytes'])} ({_size(loader['gzip_bytes'])} gzip); "
        f"{BUNDLE}.min.js {_size(bundle['bytes'])} ({_size(bundle['gzip_bytes'])} gzip)",
    )
    return 0
