"""Latent-space verbs: project, directions, edit, rare."""

from __future__ import annotations

import json
from pathlib import Path

from fauxshop.cli.common import (
    class_index_of,
    generator_verb,
    open_store,
    run_generator,
    sampling_flags,
    tagger_of,
    truncate_flag,
)
from fauxshop.config_args import add_dataclass_args, dataclass_from_args
from fauxshop.errors import FauxshopError
from fauxshop.latent.config import DIRECTION_METHODS, ProjectConfig, RareConfig


def _directions_path(args) -> Path:
    """--directions, else directions.safetensors in the run folder (or beside the snapshot)."""
    if args.directions:
        return args.directions
    folder = args.run if args.run.is_dir() else args.run.parent
    return folder / "directions.safetensors"


def cmd_project(args) -> int:
    """project photos into the generator's latent space (W or W+), with metrics and a video

    fauxshop project runs/demo photo.jpg --class dress --space w+ --steps 300 --out proj/
    """
    import torch

    from fauxshop.latent.projection import project_many
    from fauxshop.runtime import configure_torch

    G, snapshot = run_generator(args)
    configure_torch(torch.device(args.device))  # flushed denormals: much faster on CPU
    config = dataclass_from_args(ProjectConfig, args, device=args.device)
    if args.from_store:
        with open_store(args) as store:
            rows = list(store.products(status="kept", category=args.category))
        images = [(row["sku"], row["image_path"]) for row in rows][: args.limit]
    else:
        images = [(Path(p).stem, p) for p in args.images]
    if not images:
        raise FauxshopError("project: no images (give IMAGE paths or --from-store)")
    name = args.class_name or (args.category if G.c_dim else None)
    scorer = tagger_of(args) if config.features == "scorer" else None
    batch = project_many(
        G, images, config, args.out, class_index=class_index_of(G, snapshot, name), scorer=scorer
    )
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
    """find attribute directions in W: InterFaceGAN (tagger labels), GANSpace (PCA), SeFa

    fauxshop directions runs/demo --method interfacegan --target sleeve:long --tagger
    runs/tagger/tagger.safetensors
    """
    from fauxshop.latent.direction_search import find_directions, merge_directions
    from fauxshop.latent.edit import disentanglement, disentanglement_summary
    from fauxshop.latent.mixing import parse_styles
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.markdown import markdown_table

    G, snapshot = run_generator(args)
    cls = class_index_of(G, snapshot, args.class_name)
    scorer = tagger_of(args) if args.tagger or args.method == "interfacegan" else None
    layers = parse_styles(args.layers, G.num_ws, G.img_resolution) if args.layers else None
    seeds = parse_seeds(args.seeds)
    found = find_directions(
        G, args.method, scorer, args.target, args.num, args.k, layers, args.layers, args.psi,
        cls, seeds, args.strength,
    )  # fmt: skip
    path = _directions_path(args)
    merge_directions(path, found, G)
    print(f"{len(found)} direction(s) ({', '.join(sorted(d.name for d in found))}) → {path}")
    if scorer is not None:
        rows = disentanglement(G, scorer, found, seeds, args.strength, (), args.psi, cls)
        print(f"what each direction changes, ±{args.strength} steps over {len(seeds)} seeds:")
        print(markdown_table(disentanglement_summary(rows)))
    return 0


def cmd_edit(args) -> int:
    """an edit grid: seeds (rows) moved along a direction by each strength (columns)

    fauxshop edit runs/demo --seeds 12 --direction sleeve:long --strength=-3:3:7 --out e.png
    """
    from fauxshop.image.checkpoint import generator_fingerprint
    from fauxshop.latent.directions import find_direction, load_directions
    from fauxshop.latent.edit import edit_grid, parse_strengths
    from fauxshop.latent.generate import seeds_to_ws
    from fauxshop.latent.mixing import parse_styles
    from fauxshop.latent.projection import load_projected_ws
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.pixels import save_png

    G, snapshot = run_generator(args)
    fingerprint = generator_fingerprint(G)
    direction = find_direction(load_directions(_directions_path(args), fingerprint), args.direction)
    layers = parse_styles(args.layers, G.num_ws, G.img_resolution) if args.layers else None
    noises = None
    if args.latent:
        ws, noises = load_projected_ws(args.latent, fingerprint)
    else:
        class_index = class_index_of(G, snapshot, args.class_name)
        ws = seeds_to_ws(
            G, parse_seeds(args.seeds), args.psi, class_index, truncate_to=args.truncate_to
        )
    grid = edit_grid(G, ws, direction, parse_strengths(args.strength), layers, noises)
    print(f"edit grid ({direction.name}): {save_png(grid, args.out)}")
    return 0


def cmd_rare(args) -> int:
    """rare classes on demand (filter, centroid, conditional) with yield, precision, diversity

    fauxshop rare runs/demo --tagger runs/tagger/tagger.safetensors --category jumpsuit --n 100
    --method filter --out rare/
    """
    from fauxshop.image.checkpoint import generator_fingerprint
    from fauxshop.latent.directions import parse_target
    from fauxshop.latent.projection import load_projected_ws
    from fauxshop.latent.rare import rare_samples, real_class_features
    from fauxshop.markdown import markdown_table
    from fauxshop.pixels import save_grid

    G, snapshot = run_generator(args)
    config = dataclass_from_args(RareConfig, args)
    tagger = tagger_of(args)
    real = None
    if args.real:
        target = parse_target(config.category, tagger.heads, default_head="category")
        real = real_class_features(tagger, args.real, target, args.device)
        print(f"{len(real)} real {target} photos in {args.real}")
    class_ws = None
    if args.latent:
        if config.method != "centroid":
            raise FauxshopError("rare: --latent gives class ws to the centroid method only")
        class_ws, _ = load_projected_ws(args.latent, generator_fingerprint(G))
    labels = snapshot.meta.get("label_names")
    result = rare_samples(G, tagger, config, class_ws, labels, real)
    out = args.out / f"{config.method}.png"
    if len(result.images):
        print(f"{len(result.images)} images: {save_grid(result.images, out, cols=10)}")
    print(markdown_table([result.report]))
    return 0


def register(sub, common) -> None:
    p = generator_verb(sub, cmd_project, common)
    p.add_argument("images", nargs="*", type=Path, help="photos to project")
    p.add_argument("--from-store", action="store_true", help="project the store's kept products")
    p.add_argument("--category", help="with --from-store: only this category (and G's class)")
    p.add_argument("--limit", type=int, help="with --from-store: the first N products only")
    p.add_argument("--class", dest="class_name", help="class name or index (conditional G)")
    p.add_argument("--tagger", type=Path, help="tagger for --features scorer")
    p.add_argument("--out", type=Path, required=True, help="folder for NAME.npz/.png/.mp4")
    add_dataclass_args(p, ProjectConfig, "projection", skip=("device",))

    p = generator_verb(sub, cmd_directions, common)
    p.add_argument("--method", choices=DIRECTION_METHODS, required=True)
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
    sampling_flags(p, 1.0)

    p = generator_verb(sub, cmd_edit, common)
    p.add_argument("--seeds", default="0-3", help="row seeds (default: 0-3)")
    p.add_argument(
        "--latent", type=Path, nargs="+", help="rows from projections (NAME.npz), not seeds"
    )
    p.add_argument("--direction", required=True, help="a direction's name in the file")
    p.add_argument("--strength", default="-3:3:7", help="START:STOP:COUNT or a,b,c (use =)")
    p.add_argument("--layers", help="W+ rows to edit, e.g. coarse or 0-6 (default: all)")
    p.add_argument("--directions", type=Path, help="file (default: RUN/directions.safetensors)")
    p.add_argument("--out", type=Path, required=True, help="grid PNG")
    sampling_flags(p, 0.7)
    truncate_flag(p)

    p = generator_verb(sub, cmd_rare, common)
    p.add_argument("--tagger", type=Path, help="tagger that judges the class")
    p.add_argument("--real", type=Path, help="archive of real photos: novelty and realism")
    p.add_argument(
        "--latent", type=Path, nargs="+", help="centroid: projected photos (NAME.npz) of the class"
    )
    p.add_argument("--out", type=Path, required=True, help="folder for METHOD.png")
    add_dataclass_args(p, RareConfig, "rare")
