"""The `fauxshop` command: parses arguments and calls one library function per verb."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from fauxshop import __version__
from fauxshop.atomic import atomic_open
from fauxshop.catalog.images import DEFAULT_MAX_PIXELS
from fauxshop.catalog.prune import PruneConfig
from fauxshop.config_args import add_dataclass_args, dataclass_from_args
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
        discover_ground_truth,
        format_report,
        load_ground_truth,
        prune,
    )

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


def _saved_config(run: Path) -> dict:
    """A run's config.json, pointed at where the run is now (it may have moved)."""
    config_path = run / "config.json"
    try:
        saved = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{config_path}: cannot read the run's config ({e})") from e
    saved["out"] = str(run)
    return saved


def _resumed_config(args, config_class, *limits: str):
    """The config a run was started with; a resume may only raise its length (`limits`)."""
    saved = _saved_config(args.resume)
    for limit in limits:
        if getattr(args, f"cfg_{limit}") is not None:
            saved[limit] = getattr(args, f"cfg_{limit}")
    return config_class(**saved)


def cmd_train_image(args) -> int:
    from fauxshop.image.config import TrainConfig
    from fauxshop.image.presets import preset_values
    from fauxshop.image.train import train

    if args.resume:
        config = _resumed_config(args, TrainConfig, "kimg", "budget_minutes")
    else:
        missing = [f"--{k}" for k in ("data", "out", "kimg") if getattr(args, f"cfg_{k}") is None]
        if missing:
            raise FauxshopError(f"train-image: {', '.join(missing)} required (or --resume RUN)")
        preset = preset_values(args.preset) if args.preset else None
        budget = args.cfg_budget_minutes or TrainConfig.budget_minutes
        config = dataclass_from_args(TrainConfig, args, preset, budget_minutes=budget)
    result = train(config, resume=bool(args.resume))
    print(json.dumps(result, indent=2, default=str))
    return 0


def _generator(args):
    """The EMA generator named by RUN (run folder or snapshot file) and its snapshot."""
    from fauxshop.image.checkpoint import resolve_snapshot, snapshot_generator

    snapshot = resolve_snapshot(args.run)
    return snapshot_generator(snapshot, args.device), snapshot


def _class_index(G, snapshot, name):
    from fauxshop.latent.sampling import class_index

    return None if name is None else class_index(G, name, snapshot.meta.get("label_names"))


def cmd_generate(args) -> int:
    from fauxshop.latent.generate import generate
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.pixels import save_grid, save_images

    G, snapshot = _generator(args)
    seeds = parse_seeds(args.seeds)
    images = generate(G, seeds, args.psi, _class_index(G, snapshot, args.class_name))
    if args.grid:
        print(f"grid: {save_grid(images, args.grid)}")
    if args.outdir or not args.grid:
        outdir = args.outdir or Path("generated")
        save_images(images, outdir, [f"seed{seed:06d}.png" for seed in seeds])
        print(f"{len(seeds)} images: {outdir}/seed*.png")
    return 0


def cmd_mix(args) -> int:
    from fauxshop.latent.mixing import parse_styles, style_mix_grid
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.pixels import save_png

    G, snapshot = _generator(args)
    styles = parse_styles(args.styles, G.num_ws, G.img_resolution)
    grid = style_mix_grid(
        G,
        parse_seeds(args.rows),
        parse_seeds(args.cols),
        styles,
        args.psi,
        _class_index(G, snapshot, args.class_name),
    )
    print(f"style-mixing grid (layers {styles}): {save_png(grid, args.out)}")
    return 0


def cmd_walk(args) -> int:
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.latent.walk import latent_walk, write_video

    G, snapshot = _generator(args)
    frames = latent_walk(
        G,
        parse_seeds(args.seeds),
        args.frames,
        args.psi,
        class_index=_class_index(G, snapshot, args.class_name),
    )
    print(f"{len(frames)} frames: {write_video(frames, args.out, fps=args.fps)}")
    return 0


def cmd_metrics(args) -> int:
    from fauxshop.metrics.fid import compute_metrics, per_class_fid
    from fauxshop.metrics.inception import InceptionFeatures

    G, snapshot = _generator(args)
    archive = args.data or snapshot.meta.get("config", {}).get("data")
    if not archive:
        raise FauxshopError(f"{args.run}: no archive recorded; pass --data ARCHIVE.zip")
    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    cache = Workspace.open(args.workdir).root / "metric-cache"
    extractor = InceptionFeatures(G.mapping.w_avg.device, precision=args.precision)
    result = compute_metrics(
        names,
        G,
        Path(archive),
        args.num,
        cache,
        max_real=args.max_real,
        truncation_psi=args.psi,
        feature_extractor=extractor,
    )
    result.update(kimg=snapshot.meta.get("kimg"), num=args.num, archive=str(archive))
    if args.per_class:
        result["per_class"] = per_class_fid(
            G,
            Path(archive),
            args.per_class,
            cache,
            feature_extractor=extractor,
            truncation_psi=args.psi,
        )
    print(json.dumps(result, indent=2))
    return 0


def cmd_export_generator(args) -> int:
    from fauxshop.image.checkpoint import export_generator

    print(f"exported G_ema: {export_generator(args.run, args.out)}")
    return 0


def cmd_train_tagger(args) -> int:
    from fauxshop.tagger.config import TaggerConfig
    from fauxshop.tagger.train import format_report, train_tagger

    config = dataclass_from_args(TaggerConfig, args)
    out = args.out or Workspace.open(args.workdir).runs_dir / f"tagger-{args.archive.stem}"
    report = train_tagger(args.archive, out, config)
    print(format_report(report))
    print(f"tagger: {out}/tagger.safetensors (report: {out}/report.json)")
    return 0


def _tagger(args):
    from fauxshop.tagger.model import load_tagger

    if args.tagger is None:
        raise FauxshopError(f"{args.verb}: --tagger PATH required (train one with train-tagger)")
    return load_tagger(args.tagger, args.device)


def _directions_path(args) -> Path:
    """--directions, else directions.safetensors in the run folder (or beside the snapshot)."""
    if args.directions:
        return args.directions
    folder = args.run if args.run.is_dir() else args.run.parent
    return folder / "directions.safetensors"


def cmd_project(args) -> int:
    import torch

    from fauxshop.latent.projection import ProjectConfig, perceptual_net, project_many
    from fauxshop.runtime import configure_torch

    G, snapshot = _generator(args)
    configure_torch(torch.device(args.device))  # flushed denormals: much faster on CPU
    config = dataclass_from_args(ProjectConfig, args, device=args.device)
    if args.from_store:
        with _store(args) as store:
            rows = list(store.products(status="kept", category=args.category))
        images = [(row["sku"], row["image_path"]) for row in rows][: args.limit]
    else:
        images = [(Path(p).stem, p) for p in args.images]
    if not images:
        raise FauxshopError("project: no images (give IMAGE paths or --from-store)")
    class_index = _class_index(G, snapshot, args.class_name or (args.category if G.c_dim else None))
    scorer = _tagger(args) if config.features == "scorer" else None
    features = perceptual_net(config, args.device, scorer=scorer)
    batch = project_many(G, images, config, args.out, features=features, class_index=class_index)
    for row in batch.rows:
        print(
            f"{row['name']}: PSNR {row['psnr']:.2f} dB, SSIM {row['ssim']:.3f}, "
            f"perceptual {row['perceptual']}, {row['seconds']:.1f} s"
        )
    for name, reason, detail in batch.skipped:
        print(f"skipped {name}: {reason}: {detail}")
    print(json.dumps(batch.counts()))
    return 0


def cmd_directions(args) -> int:
    from dataclasses import replace

    from fauxshop.image.checkpoint import generator_fingerprint
    from fauxshop.latent.directions import (
        ganspace,
        interfacegan,
        load_directions,
        save_directions,
        sefa,
    )
    from fauxshop.latent.edit import disentanglement, disentanglement_summary, match_names
    from fauxshop.latent.mixing import parse_styles
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.markdown import markdown_table

    G, snapshot = _generator(args)
    cls = _class_index(G, snapshot, args.class_name)
    scorer = _tagger(args) if args.tagger or args.method == "interfacegan" else None
    layers = parse_styles(args.layers, G.num_ws, G.img_resolution) if args.layers else None
    if args.method == "interfacegan":
        if not args.target:
            raise FauxshopError("directions: interfacegan needs --target HEAD:CLASS")
        found = [
            interfacegan(G, scorer, target, args.num, psi=args.psi, class_index=cls)
            for target in args.target
        ]
    elif args.method == "ganspace":
        found = ganspace(G, k=args.k, n=args.num, class_index=cls)
    else:
        found = sefa(G, k=args.k, layers=layers)
    if layers is not None and args.method != "sefa":  # edits confined to these rows
        found = [replace(d, name=f"{d.name}@{args.layers}", layers=layers) for d in found]
    seeds = parse_seeds(args.seeds)
    if scorer is not None and args.method != "interfacegan":
        found = match_names(G, scorer, found, seeds, args.strength, class_index=cls)
    path, fingerprint = _directions_path(args), generator_fingerprint(G)
    kept = load_directions(path, fingerprint) if path.with_suffix(".json").is_file() else []
    names = {d.name for d in found}
    save_directions(path, [d for d in kept if d.name not in names] + found, fingerprint)
    print(f"{len(found)} direction(s) ({', '.join(sorted(names))}) → {path}")
    if scorer is not None:
        rows = disentanglement(G, scorer, found, seeds, args.strength, (), args.psi, cls)
        print(f"what each direction changes, ±{args.strength} steps over {len(seeds)} seeds:")
        print(markdown_table(disentanglement_summary(rows)))
    return 0


def cmd_edit(args) -> int:
    from fauxshop.image.checkpoint import generator_fingerprint
    from fauxshop.latent.directions import find_direction, load_directions
    from fauxshop.latent.edit import edit_grid, parse_strengths
    from fauxshop.latent.generate import seeds_to_ws
    from fauxshop.latent.mixing import parse_styles
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.pixels import save_png

    G, snapshot = _generator(args)
    fingerprint = generator_fingerprint(G)
    direction = find_direction(load_directions(_directions_path(args), fingerprint), args.direction)
    layers = parse_styles(args.layers, G.num_ws, G.img_resolution) if args.layers else None
    noises = None
    if args.latent:
        ws, noises = _projected_latents(args.latent, fingerprint)
    else:
        class_index = _class_index(G, snapshot, args.class_name)
        ws = seeds_to_ws(G, parse_seeds(args.seeds), args.psi, class_index)
    grid = edit_grid(G, ws, direction, parse_strengths(args.strength), layers, noises)
    print(f"edit grid ({direction.name}): {save_png(grid, args.out)}")
    return 0


def _projected_latents(paths: list[Path], fingerprint: str):
    """The ws (N x num_ws x w_dim) and noise maps of projections made with this generator."""
    import torch

    from fauxshop.latent.projection import load_projection

    ws, noises = [], []
    for path in paths:
        w, noise, meta = load_projection(path)
        if meta.get("generator") != fingerprint:
            raise FauxshopError(f"{path}: projected with another generator; project it again")
        ws.append(w)
        noises.append(noise)
    return torch.stack(ws), noises


def cmd_rare(args) -> int:
    from fauxshop.image.checkpoint import generator_fingerprint
    from fauxshop.latent.directions import parse_target
    from fauxshop.latent.rare import RareConfig, rare_samples, real_class_features
    from fauxshop.markdown import markdown_table
    from fauxshop.pixels import save_grid

    G, snapshot = _generator(args)
    config = dataclass_from_args(RareConfig, args)
    tagger = _tagger(args)
    real = None
    if args.real:
        target = parse_target(config.category, tagger.heads, default_head="category")
        real = real_class_features(tagger, args.real, target, args.device)
        print(f"{len(real)} real {target} photos in {args.real}")
    class_ws = None
    if args.latent:
        if config.method != "centroid":
            raise FauxshopError("rare: --latent gives class ws to the centroid method only")
        class_ws, _ = _projected_latents(args.latent, generator_fingerprint(G))
    labels = snapshot.meta.get("label_names")
    result = rare_samples(G, tagger, config, class_ws, labels, real)
    out = args.out / f"{config.method}.png"
    if len(result.images):
        print(f"{len(result.images)} images: {save_grid(result.images, out, cols=10)}")
    print(markdown_table([result.report]))
    return 0


def cmd_products(args) -> int:
    from fauxshop.products.compose import ComposeConfig, compose, format_report, regenerate
    from fauxshop.products.export import save_products
    from fauxshop.products.models import product_models

    ws = Workspace.open(args.workdir)
    real = args.real or ws.newest_archive()
    if real is None:
        raise FauxshopError(f"{ws.archives_dir}: no archive of real products; pass --real")
    models = product_models(real, args.generator, args.tagger, args.writer)
    if args.regenerate:
        return _regenerate(args, models, regenerate)
    result = compose(models, dataclass_from_args(ComposeConfig, args))
    out = args.out or ws.exports_dir / "products"
    paths = save_products(result, models.real, out, ws.db_path)
    print(format_report(result.report()))
    print(f"gallery: {paths['html']}\nrecords: {paths['jsonl']}, {paths['csv']}")
    return 0 if result.accepted else 1


def cmd_augment_study(args) -> int:
    from fauxshop.study.augmentation import StudyConfig, format_table, run_study

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


def cmd_serve(args) -> int:
    import uvicorn

    from fauxshop.web.app import create_app
    from fauxshop.web.serve import load_studio

    studio = load_studio(args.workdir, args.generator, args.tagger, args.writer, args.real)
    print(f"fauxshop studio on http://{args.host}:{args.port}/ (studio: /studio, API: /docs)")
    uvicorn.run(create_app(studio), host=args.host, port=args.port, log_level="warning")
    return 0


def _regenerate(args, models, regenerate) -> int:
    """Rebuild a stored product from its provenance; compare with the saved photo and text."""
    import numpy as np
    from PIL import Image

    with _store(args) as store:
        row = next((r for r in store.generated() if r["sku"] == args.regenerate), None)
    if row is None:
        raise FauxshopError(f"no composed product {args.regenerate!r} in the store")
    image, description = regenerate(models, json.loads(row["provenance"]))
    same_text = description == row["description"]
    same_photo = None
    if row["image_path"] and Path(row["image_path"]).is_file():
        with Image.open(row["image_path"]) as saved:
            same_photo = np.array_equal(np.asarray(saved), image.squeeze())
    print(f"{row['sku']}: photo {'identical' if same_photo else same_photo}, "
          f"text {'identical' if same_text else 'differs'}")  # fmt: skip
    print(description)
    return 0 if same_text and same_photo is not False else 1


def _default_corpus(args) -> Path:
    """The corpus of the newest archive in the workspace (pack writes one beside each)."""
    ws = Workspace.open(args.workdir)
    corpus = ws.newest_archive("*.corpus.jsonl")
    if corpus is None:
        raise FauxshopError(
            f"{ws.archives_dir}: no corpus; run `fauxshop pack` first or pass --corpus"
        )
    return corpus


def cmd_train_text(args) -> int:
    from fauxshop.text.config import TextTrainConfig
    from fauxshop.text.train import train_text

    if args.resume:
        config = _resumed_config(args, TextTrainConfig, "max_steps")
    else:
        if args.cfg_out is None:
            raise FauxshopError("train-text: --out RUN_DIR required (or --resume RUN)")
        corpus = args.cfg_corpus or _default_corpus(args)
        overrides = {"corpus": str(corpus)}
        if args.cfg_max_steps is None:
            overrides["max_steps"] = TextTrainConfig.max_steps
        config = dataclass_from_args(TextTrainConfig, args, **overrides)
        print(f"corpus: {config.corpus}")
    result = train_text(config, resume=bool(args.resume))
    print(json.dumps(result, indent=2))
    return 0


def _sampling_config(args):
    from fauxshop.text.sample import SamplingConfig

    return dataclass_from_args(SamplingConfig, args)


def cmd_write(args) -> int:
    from fauxshop.text.models import load_trained
    from fauxshop.text.sample import write

    model, tokenizer, meta = load_trained(args.run, args.device)
    contexts = args.context or [None]
    fmt = meta.get("format", "context")
    records = write(model, tokenizer, contexts, _sampling_config(args), fmt)
    for record in records:
        if args.jsonl:
            print(json.dumps(record, ensure_ascii=False))
        else:
            print(f"== {record['context'] or '(free)'}\n{record['description']}\n")
    return 0


def cmd_eval_text(args) -> int:
    from fauxshop.metrics.text import format_table
    from fauxshop.text.evaluate import evaluate_run

    rows = {}
    for run in args.runs:
        result = evaluate_run(run, args.corpus, args.contexts, _sampling_config(args))
        rows[str(run)] = {k: v for k, v in result.items() if k not in ("run", "examples")}
        print(f"{run}: wrote {run}/eval.json", file=sys.stderr)
    print(format_table(rows))
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
    p.add_argument(
        "--corpus-only",
        action="store_true",
        help="write only the text corpus (OUT/corpus.jsonl, as pack writes it): no photos",
    )

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

    _add_image_verbs(sub, common)
    _add_text_verbs(sub, common)
    _add_latent_verbs(sub, common)
    _verb(
        sub,
        "status",
        cmd_status,
        "show what the store holds: products per status, rejects per reason, runs",
        "fauxshop status --workdir fauxshop-work",
        common,
    )
    return parser


def _generator_verb(sub, name, func, help, example, common) -> argparse.ArgumentParser:
    p = _verb(sub, name, func, help, example, common)
    p.add_argument("run", type=Path, help="run folder (its newest snapshot) or snapshot file")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    return p


def _model_flags(p) -> None:
    """The four models a product comes from (the shipped demo ones by default)."""
    p.add_argument("--generator", type=Path, help="snapshot (default: the demo generator)")
    p.add_argument("--tagger", type=Path, help="tagger .safetensors (default: the demo tagger)")
    p.add_argument("--writer", type=Path, help="text run or model (default: the demo writer)")
    p.add_argument("--real", type=Path, help="archive of the real catalog (default: newest)")


def _sampling_flags(p, psi: float) -> None:
    p.add_argument("--psi", type=float, default=psi, help=f"truncation psi (default: {psi})")
    p.add_argument("--class", dest="class_name", help="class name or index (conditional G)")


def _add_image_verbs(sub, common) -> None:
    from fauxshop.image.config import TrainConfig
    from fauxshop.image.presets import PRESETS, describe_presets

    p = _verb(
        sub,
        "train-image",
        cmd_train_image,
        "train the StyleGAN2 image generator on a packed archive (or resume a run)",
        "fauxshop train-image --data archives/demo-64x32.zip --kimg 100 --out runs/demo",
        common,
    )
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue this run exactly")
    help_of = {name: f.metadata["help"] for name, f in TrainConfig.__dataclass_fields__.items()}
    p.add_argument("--data", dest="cfg_data", metavar="ARCHIVE", help=help_of["data"])
    p.add_argument("--out", dest="cfg_out", metavar="RUN_DIR", help=help_of["out"])
    p.add_argument(
        "--kimg",
        dest="cfg_kimg",
        type=float,
        metavar="KIMG",
        help="training length in kimg (with --resume: the new total)",
    )
    p.add_argument(
        "--budget-minutes",
        dest="cfg_budget_minutes",
        type=float,
        metavar="MIN",
        help=f"{help_of['budget_minutes']} (with --resume: the new total)",
    )
    p.add_argument(
        "--preset", choices=sorted(PRESETS), help=f"recipe for unset flags: {describe_presets()}"
    )
    add_dataclass_args(
        p, TrainConfig, "training", skip=("data", "out", "kimg", "budget_minutes", "preset")
    )

    p = _generator_verb(
        sub,
        "generate",
        cmd_generate,
        "generate one image per seed (and a grid) from a trained generator",
        "fauxshop generate runs/demo --seeds 0-63 --psi 0.7 --grid grid.png",
        common,
    )
    p.add_argument("--seeds", default="0-15", help="seeds, e.g. 0-63 or 1,5,9 (default: 0-15)")
    _sampling_flags(p, 0.7)
    p.add_argument("--grid", type=Path, help="write all images as one grid PNG")
    p.add_argument("--outdir", type=Path, help="write one PNG per seed (default without --grid)")

    p = _generator_verb(
        sub,
        "mix",
        cmd_mix,
        "style-mixing grid: row seeds take the chosen style layers from column seeds",
        "fauxshop mix runs/demo --rows 1,2,3 --cols 10,11 --styles coarse --out mix.png",
        common,
    )
    p.add_argument("--rows", required=True, help="row seeds, e.g. 1,2,3")
    p.add_argument("--cols", required=True, help="column seeds, e.g. 10,11")
    p.add_argument("--styles", default="coarse", help="coarse, middle, fine or layers like 0-3")
    p.add_argument("--out", type=Path, required=True, help="grid PNG")
    _sampling_flags(p, 1.0)

    p = _generator_verb(
        sub,
        "walk",
        cmd_walk,
        "a looping latent walk through the seeds' W points, as mp4 (or GIF)",
        "fauxshop walk runs/demo --seeds 1,2,3 --frames 120 --out walk.mp4",
        common,
    )
    p.add_argument("--seeds", required=True, help="at least two seeds, e.g. 1,2,3")
    p.add_argument("--frames", type=int, default=120, help="frames in the whole loop")
    p.add_argument("--fps", type=float, default=24)
    p.add_argument("--out", type=Path, required=True, help="walk.mp4 or walk.gif")
    _sampling_flags(p, 1.0)

    p = _generator_verb(
        sub,
        "metrics",
        cmd_metrics,
        "FID / KID / precision-recall of a generator against its training archive",
        "fauxshop metrics runs/demo --metrics fid --num 10000 --per-class 1000",
        common,
    )
    p.add_argument("--metrics", default="fid,kid", help="comma-separated: fid, kid, pr")
    p.add_argument("--num", type=int, default=10000, help="generated images (FID@10k)")
    p.add_argument(
        "--precision",
        choices=("fp32", "bf16"),
        default="fp32",
        help="Inception precision: bf16 is ~2x faster on CPUs with AMX, its FID ~1%% lower "
        "(default: fp32, the number docs report)",
    )
    p.add_argument(
        "--per-class",
        type=int,
        metavar="N",
        help="also FID per class: N generated images of each label against its real images",
    )
    p.add_argument("--max-real", type=int, help="cap on real images (default: the archive)")
    p.add_argument("--data", type=Path, help="archive (default: the run's training archive)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi (default: 1.0)")

    p = _generator_verb(
        sub,
        "export-generator",
        cmd_export_generator,
        "write a run's G_ema alone as a small snapshot for shipping or serving",
        "fauxshop export-generator runs/demo --out models/dresses.safetensors",
        common,
    )
    p.add_argument("--out", type=Path, required=True, help="output .safetensors (+ .json)")


def _add_latent_verbs(sub, common) -> None:
    from fauxshop.latent.directions import METHODS
    from fauxshop.latent.projection import ProjectConfig
    from fauxshop.latent.rare import RareConfig
    from fauxshop.products.compose import ComposeConfig
    from fauxshop.study.augmentation import StudyConfig
    from fauxshop.tagger.config import TaggerConfig

    p = _verb(
        sub,
        "train-tagger",
        cmd_train_tagger,
        "train the category + attribute tagger (image branch) on a packed archive",
        "fauxshop train-tagger archives/demo-64x32.zip --epochs 60",
        common,
    )
    p.add_argument("archive", type=Path, help="image archive from `fauxshop pack`")
    p.add_argument("--out", type=Path, help="run folder (default: WORKDIR/runs/tagger-ARCHIVE)")
    add_dataclass_args(p, TaggerConfig, "tagger")

    p = _generator_verb(
        sub,
        "project",
        cmd_project,
        "project photos into the generator's latent space (W or W+), with metrics and a video",
        "fauxshop project runs/demo photo.jpg --class dress --space w+ --steps 300 --out proj/",
        common,
    )
    p.add_argument("images", nargs="*", type=Path, help="photos to project")
    p.add_argument("--from-store", action="store_true", help="project the store's kept products")
    p.add_argument("--category", help="with --from-store: only this category (and G's class)")
    p.add_argument("--limit", type=int, help="with --from-store: the first N products only")
    p.add_argument("--class", dest="class_name", help="class name or index (conditional G)")
    p.add_argument("--tagger", type=Path, help="tagger for --features scorer")
    p.add_argument("--out", type=Path, required=True, help="folder for NAME.npz/.png/.mp4")
    add_dataclass_args(p, ProjectConfig, "projection", skip=("device",))

    p = _generator_verb(
        sub,
        "directions",
        cmd_directions,
        "find attribute directions in W: InterFaceGAN (tagger labels), GANSpace (PCA), SeFa",
        "fauxshop directions runs/demo --method interfacegan --target sleeve:long "
        "--tagger runs/tagger/tagger.safetensors",
        common,
    )
    p.add_argument("--method", choices=METHODS, required=True)
    p.add_argument(
        "--target", nargs="+", help="interfacegan: HEAD:CLASS[,CLASS] each, e.g. length:midi,maxi"
    )
    p.add_argument("--tagger", type=Path, help="tagger (interfacegan; names other directions)")
    p.add_argument("--num", type=int, default=2000, help="sampled ws (default: 2000)")
    p.add_argument("--k", type=int, default=10, help="ganspace/sefa: directions (default: 10)")
    p.add_argument(
        "--layers",
        help="ws rows, e.g. coarse or 0-3; sefa: the rows it reads; others: the rows their "
        "edits apply to (name gets @LAYERS)",
    )
    p.add_argument("--seeds", default="0-31", help="seeds for naming and the table")
    p.add_argument("--strength", type=float, default=2.0, help="step measured (default: 2)")
    p.add_argument("--directions", type=Path, help="file (default: RUN/directions.safetensors)")
    _sampling_flags(p, 1.0)

    p = _generator_verb(
        sub,
        "edit",
        cmd_edit,
        "an edit grid: seeds (rows) moved along a direction by each strength (columns)",
        "fauxshop edit runs/demo --seeds 12 --direction sleeve:long --strength=-3:3:7 --out e.png",
        common,
    )
    p.add_argument("--seeds", default="0-3", help="row seeds (default: 0-3)")
    p.add_argument(
        "--latent", type=Path, nargs="+", help="rows from projections (NAME.npz), not seeds"
    )
    p.add_argument("--direction", required=True, help="a direction's name in the file")
    p.add_argument("--strength", default="-3:3:7", help="START:STOP:COUNT or a,b,c (use =)")
    p.add_argument("--layers", help="W+ rows to edit, e.g. coarse or 0-6 (default: all)")
    p.add_argument("--directions", type=Path, help="file (default: RUN/directions.safetensors)")
    p.add_argument("--out", type=Path, required=True, help="grid PNG")
    _sampling_flags(p, 0.7)

    p = _verb(
        sub,
        "products",
        cmd_products,
        "compose products that don't exist: photo → tags → description → checks → gallery",
        "fauxshop products --n 20 --category dress",
        common,
    )
    _model_flags(p)
    p.add_argument("--out", type=Path, help="folder (default: WORKDIR/exports/products)")
    p.add_argument("--regenerate", metavar="SKU", help="rebuild a stored product and compare")
    add_dataclass_args(p, ComposeConfig, "composition")

    p = _verb(
        sub,
        "serve",
        cmd_serve,
        "the web studio: a product that doesn't exist per visit, editing, mixing, projection",
        "fauxshop serve --port 8000",
        common,
    )
    p.add_argument("--host", default="127.0.0.1", help="address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="port (default: 8000)")
    _model_flags(p)

    p = _verb(
        sub,
        "augment-study",
        cmd_augment_study,
        "does adding synthetic images of a rare class raise a classifier's accuracy on it?",
        "fauxshop augment-study --archive archives/demo-64x32.zip --generator runs/demo "
        "--category jumpsuit --multiples 0,1,4 --seeds 0,1,2",
        common,
    )
    p.add_argument("--out", type=Path, help="folder (default: WORKDIR/reports/augment-CLASS)")
    add_dataclass_args(p, StudyConfig, "study")

    p = _generator_verb(
        sub,
        "rare",
        cmd_rare,
        "rare classes on demand (filter, centroid, conditional) with yield, precision, diversity",
        "fauxshop rare runs/demo --tagger runs/tagger/tagger.safetensors --category jumpsuit "
        "--n 100 --method filter --out rare/",
        common,
    )
    p.add_argument("--tagger", type=Path, help="tagger that judges the class")
    p.add_argument("--real", type=Path, help="archive of real photos: novelty and realism")
    p.add_argument(
        "--latent", type=Path, nargs="+", help="centroid: projected photos (NAME.npz) of the class"
    )
    p.add_argument("--out", type=Path, required=True, help="folder for METHOD.png")
    add_dataclass_args(p, RareConfig, "rare")


def _add_text_verbs(sub, common) -> None:
    from fauxshop.text.config import TextTrainConfig
    from fauxshop.text.sample import SamplingConfig

    p = _verb(
        sub,
        "train-text",
        cmd_train_text,
        "fine-tune a causal LM (or train a GPT-2 from zero) on the catalog's descriptions",
        "fauxshop train-text --from-scratch tiny --max-steps 2000 --out runs/text",
        common,
    )
    p.add_argument("--resume", type=Path, metavar="RUN", help="continue this run exactly")
    help_of = {n: f.metadata["help"] for n, f in TextTrainConfig.__dataclass_fields__.items()}
    p.add_argument("--out", dest="cfg_out", metavar="RUN_DIR", help=help_of["out"])
    p.add_argument(
        "--corpus",
        dest="cfg_corpus",
        metavar="JSONL",
        help="corpus JSONL (default: the newest in WORKDIR/archives, written by pack)",
    )
    p.add_argument(
        "--max-steps",
        dest="cfg_max_steps",
        type=int,
        metavar="N",
        help=f"optimizer steps in all (default: {TextTrainConfig.max_steps}; "
        "with --resume: the new total)",
    )
    add_dataclass_args(p, TextTrainConfig, "training", skip=("out", "corpus", "max_steps"))

    p = _verb(
        sub,
        "write",
        cmd_write,
        "write product descriptions from contexts (or freely) with a trained text model",
        'fauxshop write runs/text --context "sleeveless red asymmetric dress" --n 5',
        common,
    )
    p.add_argument("run", type=Path, help="text run folder (or any saved model folder)")
    p.add_argument(
        "--context",
        action="append",
        help="tags to write from, e.g. 'sleeveless red midi dress' (repeatable; none: free)",
    )
    p.add_argument("--jsonl", action="store_true", help="one JSON record per line")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    add_dataclass_args(p, SamplingConfig, "sampling")

    p = _verb(
        sub,
        "eval-text",
        cmd_eval_text,
        "val perplexity and text metrics (coverage, contradictions, distinct-n, memorisation)",
        "fauxshop eval-text runs/text runs/text-smollm2 --contexts 100",
        common,
    )
    p.add_argument("runs", type=Path, nargs="+", help="text run folders, one table row each")
    p.add_argument("--corpus", type=Path, help="corpus JSONL (default: the one the run used)")
    p.add_argument("--contexts", type=int, default=100, help="held-out contexts to write from")
    add_dataclass_args(p, SamplingConfig, "sampling")


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
