"""The `fauxshop` command: parses arguments and calls one library function per verb."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from fauxshop import __version__
from fauxshop.errors import FauxshopError
from fauxshop.workspace import DEFAULT_WORKDIR, Workspace

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--workdir",
        type=Path,
        default=Path(os.environ.get("FAUXSHOP_WORKDIR", DEFAULT_WORKDIR)),
        help="workspace folder holding catalog.db, archives, runs and exports "
        "(default: $FAUXSHOP_WORKDIR or ./fauxshop-work)",
    )
    return common


def _verb(sub, name: str, func, help: str, example: str, common) -> argparse.ArgumentParser:
    parser = sub.add_parser(
        name,
        help=help,
        description=help,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        parents=[common],
    )
    parser.set_defaults(func=func)
    return parser


def _store(args):
    from fauxshop.catalog.store import Store

    return Store(Workspace.open(args.workdir).db_path)


# -- verbs ------------------------------------------------------------------------
def cmd_demo_catalog(args) -> int:
    from fauxshop.catalog.demo_catalog import write_demo_catalog

    summary = write_demo_catalog(args.out, n=args.n, seed=args.seed, flaw_rate=args.flaw_rate)
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}/products.jsonl; next: fauxshop ingest {args.out}/products.jsonl")
    return 0


def cmd_ingest(args) -> int:
    from fauxshop.catalog.fashion_mnist import ingest_fashion_mnist
    from fauxshop.catalog.ingest import ingest_table
    from fauxshop.catalog.tables import parse_mapping

    if (args.table is None) == (args.fashion_mnist is None):
        raise FauxshopError("ingest: give a TABLE (with --images) or --fashion-mnist [DIR]")
    with _store(args) as store:
        if args.fashion_mnist is not None:
            ws = Workspace.open(args.workdir)
            report = ingest_fashion_mnist(store, ws, args.fashion_mnist, limit=args.limit)
        else:
            images = args.images or args.table.parent
            mapping = parse_mapping(args.map) if args.map else None
            report = ingest_table(store, args.table, images, mapping, max_pixels=args.max_pixels)
    print(report.format())
    return 0


def cmd_prune(args) -> int:
    from fauxshop.catalog.prune import (
        PruneConfig,
        discover_ground_truth,
        format_report,
        load_ground_truth,
        prune,
    )
    from fauxshop.config_args import dataclass_from_args

    config = dataclass_from_args(PruneConfig, args)
    ws = Workspace.open(args.workdir)
    with _store(args) as store:
        if args.ground_truth:
            truth = load_ground_truth(args.ground_truth)
        else:
            truth = discover_ground_truth(store)
        sheets = None if args.no_contact_sheets else ws.reports_dir / "prune"
        summary = prune(store, config, ground_truth=truth, contact_sheet_dir=sheets)
    print(format_report(summary))
    if sheets is not None:
        print(f"contact sheets of rejects per rule: {sheets}/")
    return 0


def cmd_pack(args) -> int:
    from fauxshop.catalog.pack import PackConfig, pack, parse_colour, parse_size

    height, width = parse_size(args.size)
    config = PackConfig(height, width, parse_colour(args.background), args.split)
    ws = Workspace.open(args.workdir)
    out = args.out or ws.archives_dir / f"catalog-{height}x{width}.zip"
    with _store(args) as store:
        summary = pack(store, out, config)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_status(args) -> int:
    from fauxshop.catalog.status import format_status

    with _store(args) as store:
        print(format_status(store))
    return 0


def cmd_demo(args) -> int:
    from fauxshop.demo import run_demo

    run_demo(Workspace.open(args.workdir), n=args.n, seed=args.seed)
    return 0


# -- parser -----------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = argparse.ArgumentParser(
        prog="fauxshop",
        description="Generate realistic, verified products that don't exist, "
        "learned from a retailer's catalog.",
    )
    parser.add_argument("--version", action="version", version=f"fauxshop {__version__}")
    sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")

    p = _verb(
        sub,
        "demo",
        cmd_demo,
        "run the whole pipeline end to end on the built-in demo catalog",
        "fauxshop demo --n 600",
        common,
    )
    p.add_argument("--n", type=int, default=600, help="products in the demo catalog")
    p.add_argument("--seed", type=int, default=0)

    p = _verb(
        sub,
        "demo-catalog",
        cmd_demo_catalog,
        "render a procedural catalog of garment photos with descriptions and ground truth",
        "fauxshop demo-catalog demo-catalog/ --n 3000 --seed 0",
        common,
    )
    p.add_argument("out", type=Path, help="folder to write products.jsonl and images/ into")
    p.add_argument("--n", type=int, default=1000, help="number of products")
    p.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    p.add_argument("--flaw-rate", type=float, default=0.08, help="share of flawed photos")

    p = _verb(
        sub,
        "ingest",
        cmd_ingest,
        "load a catalog table (JSONL, CSV, Parquet) and its photos, or Fashion-MNIST",
        "fauxshop ingest products.csv --images photos/ --map sku=product_id,image=photo",
        common,
    )
    p.add_argument("table", type=Path, nargs="?", help="catalog table: .jsonl, .csv or .parquet")
    p.add_argument("--images", type=Path, help="folder the table's image paths are relative to")
    p.add_argument(
        "--map",
        help="column mapping FIELD=COLUMN,... for sku,title,description,category,image,split; "
        "other columns become attributes",
    )
    from fauxshop.catalog.images import DEFAULT_MAX_PIXELS

    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse larger images as decompression bombs (default: %(default)s)",
    )
    p.add_argument(
        "--fashion-mnist",
        type=Path,
        nargs="?",
        const=FASHION_MNIST_DIR,
        help=f"ingest Fashion-MNIST idx files from DIR (default: {FASHION_MNIST_DIR})",
    )
    p.add_argument("--limit", type=int, help="with --fashion-mnist: at most N images per split")

    from fauxshop.catalog.prune import PruneConfig
    from fauxshop.config_args import add_dataclass_args

    p = _verb(
        sub,
        "prune",
        cmd_prune,
        "mark unusable photos (too small, off-centre, busy background, non-product) as pruned",
        "fauxshop prune --min-side 300",
        common,
    )
    add_dataclass_args(p, PruneConfig, "prune rule")
    p.add_argument(
        "--ground-truth",
        type=Path,
        help="ground_truth.jsonl to score the rules against "
        "(default: found beside each ingested table)",
    )
    p.add_argument("--no-contact-sheets", action="store_true", help="skip the reject PNGs")

    p = _verb(
        sub,
        "pack",
        cmd_pack,
        "pack kept products into a training archive (zip + dataset.json) and a text corpus",
        "fauxshop pack --size 128x64 --out archives/dresses-128x64.zip",
        common,
    )
    p.add_argument("--size", default="64x64", help="HxW or N, powers of two (default: 64x64)")
    p.add_argument("--out", type=Path, help="archive path (default: WORKDIR/archives/...)")
    p.add_argument("--background", default="white", help="letterbox colour (default: white)")
    p.add_argument("--split", choices=("train", "val", "test"), help="pack one split only")

    _verb(
        sub,
        "status",
        cmd_status,
        "show what the store holds: products per status, rejects per reason, runs",
        "fauxshop status --workdir fauxshop-work",
        common,
    )
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
