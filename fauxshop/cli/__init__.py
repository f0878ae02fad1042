"""The `fauxshop` command: each verb parses its flags, calls one library function, prints.

Verbs are registered per area (one module each, mirroring the library's packages). Building
the parser imports only light modules (config dataclasses, no torch), so `fauxshop --help`
answers at once; a verb imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import sys

from fauxshop import __version__
from fauxshop.cli import catalog, design, image, latent, products, tagger, text
from fauxshop.cli.common import workdir_flag
from fauxshop.errors import FauxshopError


def build_parser() -> argparse.ArgumentParser:
    common = workdir_flag()
    parser = argparse.ArgumentParser(
        prog="fauxshop",
        description="Generate realistic, verified products that don't exist, "
        "learned from a retailer's catalog.",
    )
    parser.add_argument("--version", action="version", version=f"fauxshop {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    for area in (catalog, image, text, tagger, latent, products, design):
        area.register(sub, common)
    catalog.register_status(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except FauxshopError as e:
        print(f"fauxshop {args.verb}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fauxshop {args.verb}: interrupted", file=sys.stderr)
        return 130
