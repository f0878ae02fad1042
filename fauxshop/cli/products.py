"""Product verbs: products (compose, check, store, gallery), export-products, serve,
augment-study."""

from __future__ import annotations

from pathlib import Path

from fauxshop.cli.common import model_flags, open_store, verb
from fauxshop.config_args import add_dataclass_args, dataclass_from_args
from fauxshop.errors import FauxshopError
from fauxshop.products.config import CHUNK, ComposeConfig
from fauxshop.products.export_config import EXPORT_FORMATS, STUDIO, ShopOptions
from fauxshop.study.config import StudyConfig
from fauxshop.workspace import Workspace


def cmd_products(args) -> int:
    """compose products that don't exist: photo → tags → description → checks → gallery

    fauxshop products --n 20 --category dress
    """
    from fauxshop.products.compose import compose, format_report
    from fauxshop.products.export import first_new_seed, run_folder, save_products
    from fauxshop.products.models import choose_real_archive, open_generator, product_models

    seeds = _seed_range(args)
    ws = Workspace.open(args.workdir)
    generator = open_generator(args.generator)
    real, why = choose_real_archive(ws, args.real, generator)
    print(f"real catalog: {real} ({why})")
    models = product_models(real, generator, args.tagger, args.writer)
    if args.regenerate:
        return _regenerate(args, models)
    if seeds or args.merge:
        return _sharded(args, ws, models, seeds)
    config = dataclass_from_args(ComposeConfig, args)
    if config.seed_start is None:
        config.seed_start = first_new_seed(ws.db_path, models.hashes)
    result = compose(models, config)
    out = args.out or run_folder(ws.exports_dir / "products", result, config.category)
    paths = save_products(result, models.real, out, ws.db_path)
    print(format_report(result.report()))
    print(f"gallery: {paths['html']}\nrecords: {paths['jsonl']}, {paths['csv']}")
    return 0 if result.accepted else 1


def _seed_range(args) -> tuple[int, int] | None:
    """--seeds as (first, last), refused beside the flags it replaces (before models load)."""
    from fauxshop.products.shards import UNUSED, parse_seeds

    if not args.seeds:
        return None
    if args.merge:
        raise FauxshopError("products: --seeds composes and merges, --merge only merges: not both")
    given = getattr(args, "given_flags", set())
    replaced = [f"--{k.replace('_', '-')}" for k in UNUSED if f"cfg_{k}" in given]
    if replaced:
        raise FauxshopError(f"products: --seeds tries each seed once; drop {', '.join(replaced)}")
    return parse_seeds(args.seeds)


def _sharded(args, ws, models, seeds: tuple[int, int] | None) -> int:
    """--seeds: each seed of the range once, split over torchrun's ranks in resumable shards,
    merged by rank 0; --merge: only the merge, of a shard folder a job finished."""
    from fauxshop.products.compose import format_report
    from fauxshop.products.export import save_products
    from fauxshop.products.shards import compose_seeds, merge_shards, shard_folder

    if seeds is None:
        folder = args.merge
        result = merge_shards(models, folder)
    else:
        config = dataclass_from_args(ComposeConfig, args)
        folder = shard_folder(ws.exports_dir / "products", *seeds, config.category)
        result = compose_seeds(models, config, *seeds, folder, args.shard_size)
        if result is None:  # not rank 0: rank 0 merges
            return 0
    out = args.out or ws.exports_dir / "products" / folder.name  # seeds-FIRST-LAST[-CATEGORY]
    paths = save_products(result, models.real, out, ws.db_path)
    print(format_report(result.report()))
    print(f"gallery: {paths['html']}\nrecords: {paths['jsonl']}, {paths['csv']}")
    return 0 if result.accepted else 1


def _regenerate(args, models) -> int:
    """Rebuild a stored product from its provenance; compare with the saved photo and text."""
    from fauxshop.products.compose import check_regenerated

    with open_store(args) as store:
        row = next((r for r in store.generated() if r["sku"] == args.regenerate), None)
    if row is None:
        raise FauxshopError(f"no composed product {args.regenerate!r} in the store")
    description, same_photo, same_text = check_regenerated(models, row)
    print(f"{row['sku']}: photo {'identical' if same_photo else same_photo}, "
          f"text {'identical' if same_text else 'differs'}")  # fmt: skip
    print(description)
    return 0 if same_text and same_photo is not False else 1


def cmd_export_products(args) -> int:
    """export composed products as a Shopify CSV, a Google Merchant feed or a Hugging Face
    imagefolder dataset, photos as files beside them

    fauxshop export-products fauxshop-work/exports/products/seeds-0-47 --format shopify
    """
    from fauxshop.products.export_run import export_products

    name = STUDIO if args.source == STUDIO else Path(args.source).name
    out = args.out or Workspace(args.workdir).exports_dir / args.format / name
    options = dataclass_from_args(ShopOptions, args)
    report = export_products(args.source, args.format, out, args.workdir, options)
    print(report.format_text())
    return 0


def cmd_serve(args) -> int:
    """the web studio: a product that doesn't exist per visit, editing, mixing, projection

    fauxshop serve --port 8000 --workers 2
    """
    from fauxshop.web.serve import load_studio, serve, serve_workers

    def say(message: str) -> None:
        print(message, flush=True)

    models = (args.generator, args.tagger, args.writer, args.real)
    if args.workers > 1:
        serve_workers(args.workdir, args.host, args.port, args.workers, *models, say=say)
        return 0
    serve(load_studio(args.workdir, *models, say), args.host, args.port, say)
    return 0


def cmd_augment_study(args) -> int:
    """does adding synthetic images of a rare class raise a classifier's accuracy on it?

    fauxshop augment-study --archive archives/demo-64x32.zip --generator runs/demo --category
    jumpsuit --multiples 0,1,4 --seeds 0,1,2
    """
    from fauxshop.study.augmentation import format_table, run_study

    config = dataclass_from_args(StudyConfig, args)
    out = args.out or Workspace.open(args.workdir).reports_dir / f"augment-{config.category}"
    results = run_study(config, out)
    counts = results["counts"]
    rare = config.category
    print(f"{counts['rare_train']} real {rare} of {counts['train']} training images; scored on "
          f"{counts['test']} real test images ({counts['rare_test']} {rare})")  # fmt: skip
    print(format_table(results))
    print(f"results: {out / 'results.json'}, plot: {out / 'plot.png'}")
    return 0


def register(sub, common) -> None:
    p = verb(sub, cmd_products, common)
    model_flags(p)
    p.add_argument(
        "--out", type=Path, help="folder (default: WORKDIR/exports/products/seeds-FIRST-LAST)"
    )
    p.add_argument("--regenerate", metavar="SKU", help="rebuild a stored product and compare")
    p.add_argument(
        "--seeds", metavar="FIRST-LAST",
        help="try each of these seeds once (instead of --n), in resumable shards split over "
        "torchrun's ranks (WORKDIR/exports/products/shards/seeds-FIRST-LAST)",
    )  # fmt: skip
    p.add_argument(
        "--shard-size", type=int, default=CHUNK, help=f"seeds per shard (default: {CHUNK})"
    )
    p.add_argument("--merge", type=Path, metavar="DIR", help="merge a finished shard folder")
    add_dataclass_args(p, ComposeConfig, "composition")

    p = verb(sub, cmd_export_products, common)
    p.add_argument(
        "source", metavar="SOURCE",
        help=f"a products run folder (with products.jsonl), or '{STUDIO}' for the products "
        "the studio saved in the workspace",
    )  # fmt: skip
    p.add_argument("--format", required=True, choices=EXPORT_FORMATS, help="what to write")
    p.add_argument("--out", type=Path, help="folder (default: WORKDIR/exports/FORMAT/SOURCE)")
    add_dataclass_args(p, ShopOptions, "shop (shopify, merchant)")

    p = verb(sub, cmd_serve, common)
    p.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    p.add_argument(
        "--workers", type=int, default=1,
        help="uvicorn worker processes over one workspace (default: 1)",
    )  # fmt: skip
    model_flags(p)

    p = verb(sub, cmd_augment_study, common)
    p.add_argument("--out", type=Path, help="folder (default: WORKDIR/reports/augment-CLASS)")
    add_dataclass_args(p, StudyConfig, "study")
