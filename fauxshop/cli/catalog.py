"""Catalog verbs: the demo, demo-catalog, ingest, prune, pack and status."""

from __future__ import annotations

import json
from pathlib import Path

from fauxshop.atomic import atomic_open
from fauxshop.catalog.config import FEED_FORMATS, DownloadConfig, PruneConfig
from fauxshop.catalog.images import DEFAULT_MAX_PIXELS
from fauxshop.cli.common import open_store, verb
from fauxshop.config_args import add_dataclass_args, dataclass_from_args
from fauxshop.errors import FauxshopError
from fauxshop.workspace import Workspace

FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")


def cmd_demo(args) -> int:
    """run the whole pipeline end to end on the built-in demo catalog

    fauxshop demo --n 600
    """
    from fauxshop.demo import run_demo

    run_demo(Workspace.open(args.workdir), n=args.n, seed=args.seed)
    return 0


def cmd_demo_catalog(args) -> int:
    """render a procedural catalog of garment photos with descriptions and ground truth

    fauxshop demo-catalog demo-catalog/ --n 3000 --seed 0
    """
    from fauxshop.catalog.demo_catalog import demo_corpus, write_demo_catalog

    if args.corpus_only:
        rows = demo_corpus(args.n, args.seed)
        path = args.out / "corpus.jsonl"
        with atomic_open(path, encoding="utf-8") as f:
            f.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        print(f"wrote {len(rows)} records to {path}; next: fauxshop train-text --corpus {path}")
        return 0
    summary = write_demo_catalog(args.out, n=args.n, seed=args.seed, flaw_rate=args.flaw_rate)
    print(json.dumps(summary, indent=2))
    print(f"wrote {args.out}/products.jsonl; next: fauxshop ingest {args.out}/products.jsonl")
    return 0


def cmd_ingest(args) -> int:
    """load a catalog table (JSONL, CSV, TSV, Parquet) or a Shopify / Google Merchant feed
    and its photos (files, or http(s) URLs fetched into WORKDIR/downloads), or Fashion-MNIST

    fauxshop ingest products_export.csv --format shopify
    """
    from fauxshop.catalog.ingest import ingest_table
    from fauxshop.catalog.tables import parse_mapping

    if (args.table is None) == (args.fashion_mnist is None):
        raise FauxshopError("ingest: give a TABLE (with --images) or --fashion-mnist [DIR]")
    with open_store(args) as store:
        if args.fashion_mnist is not None:
            from fauxshop.catalog.fashion_mnist import ingest_fashion_mnist  # imports torch

            ws = Workspace.open(args.workdir)
            report = ingest_fashion_mnist(store, ws, args.fashion_mnist, limit=args.limit)
        else:
            images = args.images or args.table.parent
            mapping = parse_mapping(args.map) if args.map else None
            report = ingest_table(
                store,
                args.table,
                images,
                mapping,
                max_pixels=args.max_pixels,
                allow_outside=args.allow_images_outside,
                feed_format=args.format,
                download=dataclass_from_args(DownloadConfig, args),
                downloads_dir=Workspace.open(args.workdir).downloads_dir,
            )
    print(report.format())
    return 0


def cmd_prune(args) -> int:
    """mark unusable photos (too small, off-centre, busy background, non-product) as pruned

    fauxshop prune --min-side 300
    """
    from fauxshop.catalog.prune import (
        discover_ground_truth,
        format_report,
        load_ground_truth,
        prune,
    )

    config = dataclass_from_args(PruneConfig, args)
    ws = Workspace.open(args.workdir)
    with open_store(args) as store:
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
    """pack kept products into a training archive (zip + dataset.json) and a text corpus

    fauxshop pack --size 128x64 --out archives/dresses-128x64.zip
    """
    from fauxshop.catalog.pack import PackConfig, pack, parse_colour, parse_size

    height, width = parse_size(args.size)
    config = PackConfig(height, width, parse_colour(args.background), args.split)
    ws = Workspace.open(args.workdir)
    out = args.out or ws.archives_dir / f"catalog-{height}x{width}.zip"
    with open_store(args) as store:
        summary = pack(store, out, config)
    print(json.dumps(summary, indent=2))
    return 0


def cmd_status(args) -> int:
    """show what the workspace holds: products, rejects, runs, composed products, training runs

    fauxshop status --workdir fauxshop-work
    """
    from fauxshop.catalog.status import format_status

    with open_store(args) as store:
        print(format_status(store, Workspace.open(args.workdir).runs_dir))
    return 0


def register(sub, common) -> None:
    p = verb(sub, cmd_demo, common)
    p.add_argument("--n", type=int, default=600, help="products in the demo catalog")
    p.add_argument("--seed", type=int, default=0)

    p = verb(sub, cmd_demo_catalog, common)
    p.add_argument("out", type=Path, help="folder to write products.jsonl and images/ into")
    p.add_argument("--n", type=int, default=1000, help="number of products")
    p.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    p.add_argument("--flaw-rate", type=float, default=0.08, help="share of flawed photos")
    p.add_argument(
        "--corpus-only",
        action="store_true",
        help="write only the text corpus (OUT/corpus.jsonl, as pack writes it): no photos",
    )

    p = verb(sub, cmd_ingest, common)
    p.add_argument(
        "table",
        type=Path,
        nargs="?",
        help="catalog table (.jsonl, .csv, .tsv, .parquet) or feed (Shopify .csv, Merchant "
        ".tsv/.txt/.xml)",
    )
    p.add_argument(
        "--format",
        choices=FEED_FORMATS,
        default="auto",
        help="table, shopify or merchant; auto tells them by the header (default: auto; "
        "with --map: table)",
    )
    p.add_argument("--images", type=Path, help="folder the table's image paths are relative to")
    p.add_argument(
        "--map",
        help="column mapping FIELD=COLUMN,... for sku,title,description,category,image,split; "
        "other columns become attributes (with --format shopify|merchant: the feed columns "
        "to take those fields from)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=DEFAULT_MAX_PIXELS,
        help="refuse larger images as decompression bombs (default: %(default)s)",
    )
    p.add_argument(
        "--allow-images-outside",
        action="store_true",
        help="accept image paths that resolve outside --images (absolute, ../, symlinks)",
    )
    p.add_argument(
        "--fashion-mnist",
        type=Path,
        nargs="?",
        const=FASHION_MNIST_DIR,
        help=f"ingest Fashion-MNIST idx files from DIR (default: {FASHION_MNIST_DIR})",
    )
    p.add_argument("--limit", type=int, help="with --fashion-mnist: at most N images per split")
    add_dataclass_args(p, DownloadConfig, "image download")

    p = verb(sub, cmd_prune, common)
    add_dataclass_args(p, PruneConfig, "prune rule")
    p.add_argument(
        "--ground-truth",
        type=Path,
        help="ground_truth.jsonl to score the rules against "
        "(default: found beside each ingested table)",
    )
    p.add_argument("--no-contact-sheets", action="store_true", help="skip the reject PNGs")

    p = verb(sub, cmd_pack, common)
    p.add_argument("--size", default="64x64", help="HxW or N, powers of two (default: 64x64)")
    p.add_argument("--out", type=Path, help="archive path (default: WORKDIR/archives/...)")
    p.add_argument("--background", default="white", help="letterbox colour (default: white)")
    p.add_argument("--split", choices=("train", "val", "test"), help="pack one split only")


def register_status(sub, common) -> None:
    verb(sub, cmd_status, common)
