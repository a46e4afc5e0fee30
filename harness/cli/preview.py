"""`klaviyo-snippets preview`: a sample storefront and a live inspector beside a stand-in Klaviyo,
served until Ctrl-C or SIGTERM (then it closes both, says "stopped" and exits 0). The work is
`klaviyo_snippets.harness.preview.Preview`; docs/preview.md.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from klaviyo_snippets.harness.cli._options import port_number

__all__ = ["configure_parser", "run"]


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.description = (
        "Start a stand-in Klaviyo and a local web app: a sample storefront built from the plan's "
        "sample data and its generated snippets, and beside it a live inspector of every request "
        "Klaviyo would receive (good, bad with reasons, duplicate, or dropped by the onsite script "
        "and why). Editing the plan regenerates the snippets and reloads the page. Nothing is "
        "fetched from the network."
    )
    parser.add_argument(
        "--plan", metavar="FILE", type=Path, default=None,
        help="the tracking plan (YAML) to preview; default: the plan that ships with klaviyo-snippets",
    )
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default: 127.0.0.1; the stand-in listens there too)")
    parser.add_argument("--port", type=port_number, default=8800,
                        help="port of the preview, 0 for any free one (default: 8800)")
    parser.add_argument("--stub-port", type=port_number, default=0, metavar="PORT",
                        help="port of the stand-in Klaviyo (default: any free one)")
    parser.add_argument("--public-key", metavar="KEY", default=None,
                        help="the public key the snippets use; default: the plan's public_key")
    return parser


def run(args: argparse.Namespace) -> int:
    # Imported here: the preview's web app (aiohttp, Jinja) is not needed by the other commands.
    from klaviyo_snippets.harness.preview import Preview
    from klaviyo_snippets.harness.standin import serve_until_interrupted

    def echo(text: str) -> None:
        print(text, flush=True)

    preview = Preview(args.plan, host=args.host, port=args.port, stub_port=args.stub_port,
                      public_key=args.public_key, echo=echo)
    preview.start()
    try:
        echo(f"klaviyo-snippets preview: {preview.url}")
        echo(f"  storefront   {preview.url}shop/")
        echo(f"  stand-in     {preview.stub_url}   (inspection API: {preview.stub_url}/__stub__/events)")
        echo(f"  plan         {preview.plan_path}   (saving it regenerates the snippets and reloads the page)")
        if preview.plan_error:
            print(f"warning: the plan has an error; the inspector shows it until it is fixed:\n{preview.plan_error}",
                  file=sys.stderr, flush=True)
        serve_until_interrupted(echo)
    finally:
        preview.close()
    echo("stopped")
    return 0
