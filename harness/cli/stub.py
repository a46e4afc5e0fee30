"""`klaviyo-snippets stub`: the stand-in Klaviyo in the foreground, until Ctrl-C or SIGTERM (then
it closes the server, says "stopped" and exits 0).

With `--direct` the onsite script posts to this server instead of a.klaviyo.com, for pages loaded
without request routing.
"""

from __future__ import annotations

import argparse
import os

from klaviyo_snippets.generator.errors import UserError
from klaviyo_snippets.generator.keys import is_public_key, looks_private
from klaviyo_snippets.harness.cli._options import port_number, positive_int

__all__ = ["configure_parser", "run"]


def configure_parser(p: argparse.ArgumentParser) -> None:
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    p.add_argument("--port", type=port_number, default=8765, help="port to listen on, 0 for any free one (default: 8765)")
    p.add_argument("--rate-limits", choices=("off", "klaviyo"), default="off",
                   help="enforce Klaviyo's per-endpoint rate limits (default: off)")
    p.add_argument("--rate-limit-scale", type=float, default=1.0, metavar="X",
                   help="multiply Klaviyo's limits by X (with --rate-limits klaviyo)")
    p.add_argument("--api-key-env", metavar="VAR", action="append", default=[],
                   help="accept only the private key held in this environment variable "
                        "(repeatable; default: any key shaped like pk_...)")
    p.add_argument("--company-id", action="append", default=[], metavar="KEY",
                   help="accept only this public key (repeatable; default: any 6-character key)")
    p.add_argument("--max-records", type=positive_int, default=None, metavar="N",
                   help="keep at most N of each record kind (requests, events, diagnostics); older ones are "
                        "forgotten and counted in /__stub__/all (default: 50,000)")
    p.add_argument("--max-record-mb", type=positive_int, default=None, metavar="MB",
                   help="keep at most MB megabytes of records in all (default: 128)")
    p.add_argument("--direct", action="store_true",
                   help="make the onsite script post to this server instead of a.klaviyo.com "
                        "(for pages loaded without request routing)")


def run(args: argparse.Namespace) -> int:
    from klaviyo_snippets.harness.standin import RateLimits, StubSettings, serve_forever

    keys = []
    for var in args.api_key_env:
        if not os.environ.get(var):
            raise UserError(f"--api-key-env {var}: the variable is not set", hint=f"export {var}=pk_...")
        keys.append(os.environ[var])
    for company in args.company_id:
        if looks_private(company):  # never echo a private key
            raise UserError("--company-id was given a private API key (pk_...)",
                            hint="give the 6-character public key (company id); a private key belongs in --api-key-env")
        if not is_public_key(company):
            raise UserError(f"--company-id {company!r} is not a public key", hint="a Klaviyo company id is 6 letters and digits")
    if args.rate_limit_scale != 1.0 and args.rate_limits != "klaviyo":
        raise UserError("--rate-limit-scale only applies with --rate-limits klaviyo",
                        hint="add --rate-limits klaviyo, or leave out --rate-limit-scale")
    if args.rate_limit_scale <= 0:
        raise UserError("--rate-limit-scale must be more than 0", hint="e.g. 10 for ten times Klaviyo's limits")
    settings = StubSettings(
        api_keys=tuple(keys) or None,
        company_ids=tuple(args.company_id) or None,
        rate_limits=RateLimits.klaviyo(scale=args.rate_limit_scale) if args.rate_limits == "klaviyo" else None,
    )
    if args.max_records is not None:
        settings.max_records = args.max_records
    if args.max_record_mb is not None:
        settings.max_record_bytes = args.max_record_mb * 1024 * 1024
    if args.direct:
        host = f"[{args.host}]" if ":" in args.host else args.host
        settings.onsite_api_base = f"http://{host}:{args.port}"
        if args.port == 0:
            raise UserError("--direct needs a fixed --port", hint="e.g. --port 8765")
    serve_forever(args.host, args.port, settings, echo=_echo)
    _echo("stopped")
    return 0


def _echo(text: str) -> None:
    print(text, flush=True)  # each line as it happens, also into a pipe (a log, systemd's journal)
