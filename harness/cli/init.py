"""`klaviyo-snippets init [--platform NAME] [PLAN]`: start a tracking plan from one that ships with
the tool.

It copies the default plan (every onsite event of Klaviyo's guide), or with ``--platform`` the
preset mapped onto that platform's own objects (``shopify``, ``bigcommerce``, ``woocommerce``: money
in the platform's units, URLs made absolute; `generate --target NAME` writes the platform's files
from it), and the JSON Schema
beside it, so the plan's `# yaml-language-server: $schema=./plan.schema.json` line works in an
editor. It never overwrites a file: a plan you already have is worth more than a fresh copy.
"""

from __future__ import annotations

import argparse
import errno
import sys
from pathlib import Path

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.resources import default_plan_path, schema_path

__all__ = ["configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.description = ("Copy the built-in tracking plan (every onsite event of Klaviyo's guide) to PLAN, "
                          "with its JSON Schema beside it, to edit for your platform.")
    parser.add_argument("plan", nargs="?", default="plan.yaml", metavar="PLAN",
                        help="where to write the plan (default: plan.yaml); plan.schema.json goes beside it")
    parser.add_argument("--platform", metavar="NAME", default=None,
                        help="start from the preset for a platform, mapped onto its own objects: "
                        "shopify, bigcommerce or woocommerce (then: generate --target NAME --out DIR), "
                        "or ga4 for a store whose pages push GA4 ecommerce events to a data layer "
                        "(then: generate)")


def run(args: argparse.Namespace) -> int:
    from klaviyo_snippets.generator.codegen import TARGETS, preset_path

    source = default_plan_path() if args.platform is None else preset_path(args.platform)
    plan = Path(args.plan)
    schema = plan.parent / "plan.schema.json"
    try:
        for target in (plan, schema):
            if target.exists() or target.is_symlink():
                raise UserError(f"{target} exists; nothing was written",
                                hint="choose another path, or move that file away first")
        if not plan.parent.is_dir():
            raise UserError(f"the folder {plan.parent} does not exist", hint="create it first, or choose another path")
        schema.write_bytes(schema_path().read_bytes())
        try:
            # A preset lives one folder below the schema; the copy sits beside it.
            plan.write_bytes(source.read_bytes().replace(b"$schema=../plan.schema.json", b"$schema=./plan.schema.json", 1))
        except (OSError, ValueError):
            schema.unlink(missing_ok=True)  # all or nothing: no schema left without its plan
            raise
    except ValueError:  # a NUL in the path
        raise UserError(f"{args.plan!r} holds a NUL character, which no file name can", hint="choose another path") from None
    except OSError as error:
        raise UserError(f"cannot write {error.filename or args.plan!r}: {error.strerror}",
                        hint="choose a shorter path" if error.errno == errno.ENAMETOOLONG
                        else "check that the folder is writable, or choose another path") from None
    if args.platform is not None:
        print(f"wrote {plan} (the {args.platform} preset) and {schema} (its JSON Schema)", file=sys.stdout)
        if args.platform in TARGETS:
            print(f"next: klaviyo-snippets generate --target {args.platform} --plan {plan} --public-key <YOUR_PUBLIC_KEY> "
                  f"--out <THEME_DIR>\n  (klaviyo-snippets docs {args.platform} says where each file goes)", file=sys.stdout)
        else:  # a source rather than a platform's files: the plain output, on any platform
            print(f"next: klaviyo-snippets generate --plan {plan} --public-key <YOUR_PUBLIC_KEY>\n"
                  f"  (klaviyo-snippets docs {args.platform} says what to add to your pages)", file=sys.stdout)
        return 0
    print(f"wrote {plan} (the built-in plan) and {schema} (its JSON Schema)", file=sys.stdout)
    print(f"next: change the paths under `from:` to your platform's field names, then\n"
          f"  klaviyo-snippets generate --plan {plan} --public-key <YOUR_PUBLIC_KEY>", file=sys.stdout)
    return 0
