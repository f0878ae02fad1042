"""Image generator verbs: train-image, generate, mix, walk, metrics, export-generator, convert."""

from __future__ import annotations

import json
from pathlib import Path

from fauxshop.cli.common import (
    class_index_of,
    field_help,
    generator_verb,
    resumed_config,
    run_generator,
    sampling_flags,
    trainer_verb,
    truncate_flag,
    verb,
)
from fauxshop.config_args import dataclass_from_args
from fauxshop.errors import FauxshopError
from fauxshop.image.config import TrainConfig
from fauxshop.image.presets import PRESETS, describe_presets, preset_values
from fauxshop.workspace import Workspace


def cmd_train_image(args) -> int:
    """train the StyleGAN2 image generator on a packed archive (or resume a run)

    fauxshop train-image --data archives/demo-64x32.zip --kimg 100 --out runs/demo
    """
    from fauxshop.image.train import train

    if args.resume:
        config = resumed_config(args, TrainConfig)
    else:
        missing = [f"--{k}" for k in ("data", "out", "kimg") if getattr(args, f"cfg_{k}") is None]
        if missing:
            raise FauxshopError(f"train-image: {', '.join(missing)} required (or --resume RUN)")
        preset = preset_values(args.preset) if args.preset else {}
        if args.cfg_init_from:  # the checkpoint's architecture, unless flags say otherwise
            from fauxshop.image.importers import architecture_of

            preset = {**preset, **architecture_of(args.cfg_init_from)}
        budget = args.cfg_budget_minutes or TrainConfig.budget_minutes
        config = dataclass_from_args(TrainConfig, args, preset, budget_minutes=budget)
    result = train(config, resume=bool(args.resume))
    print(json.dumps(result, indent=2, default=str))
    return 0


def cmd_generate(args) -> int:
    """generate one image per seed (and a grid) from a trained generator

    fauxshop generate runs/demo --seeds 0-63 --psi 0.7 --grid grid.png
    """
    from fauxshop.latent.generate import generate
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.pixels import save_grid, save_images

    G, snapshot = run_generator(args)
    seeds = parse_seeds(args.seeds)
    class_index = class_index_of(G, snapshot, args.class_name)
    images = generate(G, seeds, args.psi, class_index, truncate_to=args.truncate_to)
    if args.grid:
        print(f"grid: {save_grid(images, args.grid)}")
    if args.outdir or not args.grid:
        outdir = args.outdir or Path("generated")
        save_images(images, outdir, [f"seed{seed:06d}.png" for seed in seeds])
        print(f"{len(seeds)} images: {outdir}/seed*.png")
    return 0


def cmd_mix(args) -> int:
    """style-mixing grid: row seeds take the chosen style layers from column seeds

    fauxshop mix runs/demo --rows 1,2,3 --cols 10,11 --styles coarse --out mix.png
    """
    from fauxshop.latent.mixing import parse_styles, style_mix_grid
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.pixels import save_png

    G, snapshot = run_generator(args)
    styles = parse_styles(args.styles, G.num_ws, G.img_resolution)
    grid = style_mix_grid(
        G,
        parse_seeds(args.rows),
        parse_seeds(args.cols),
        styles,
        args.psi,
        class_index_of(G, snapshot, args.class_name),
    )
    print(f"style-mixing grid (layers {styles}): {save_png(grid, args.out)}")
    return 0


def cmd_walk(args) -> int:
    """a looping latent walk through the seeds' W points, as mp4 (or GIF)

    fauxshop walk runs/demo --seeds 1,2,3 --frames 120 --out walk.mp4
    """
    from fauxshop.latent.sampling import parse_seeds
    from fauxshop.latent.walk import latent_walk, write_video

    G, snapshot = run_generator(args)
    frames = latent_walk(
        G,
        parse_seeds(args.seeds),
        args.frames,
        args.psi,
        class_index=class_index_of(G, snapshot, args.class_name),
    )
    print(f"{len(frames)} frames: {write_video(frames, args.out, fps=args.fps)}")
    return 0


def cmd_metrics(args) -> int:
    """FID / KID / precision-recall of a generator against its training archive

    fauxshop metrics runs/demo --metrics fid --num 10000 --per-class 1000
    """
    import torch

    from fauxshop.metrics.fid import compute_metrics, per_class_fid
    from fauxshop.metrics.inception import InceptionFeatures
    from fauxshop.runtime import configure_torch

    G, snapshot = run_generator(args)
    configure_torch(torch.device(args.device))  # flushed denormals: a young G renders ~20x faster
    archive = args.data or snapshot.meta.get("config", {}).get("data")
    if not archive:
        raise FauxshopError(f"{args.run}: no archive recorded; pass --data ARCHIVE.zip")
    names = [n.strip() for n in args.metrics.split(",") if n.strip()]
    if args.classes and not args.per_class:
        raise FauxshopError("--classes names the labels of --per-class N: pass both")
    cache = Workspace.open(args.workdir).root / "metric-cache"
    extractor = InceptionFeatures(G.mapping.w_avg.device, precision=args.precision)
    per_class = None
    if args.per_class:  # first: a class the archive lacks fails before the long FID
        per_class = per_class_fid(
            G,
            Path(archive),
            args.per_class,
            cache,
            feature_extractor=extractor,
            truncation_psi=args.psi,
            max_real=args.max_real,
            classes=[c.strip() for c in args.classes.split(",")] if args.classes else None,
        )
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
    if per_class is not None:
        result["per_class"] = per_class
    print(json.dumps(result, indent=2))
    return 0


def cmd_export_generator(args) -> int:
    """write a run's G_ema alone as a small snapshot for shipping or serving

    fauxshop export-generator runs/demo --out models/dresses.safetensors
    """
    from fauxshop.image.checkpoint import export_generator

    print(f"exported G_ema: {export_generator(args.run, args.out)}")
    return 0


def cmd_convert(args) -> int:
    """convert an NVIDIA .pkl or rosinality .pt generator to fauxshop's safetensors, once

    fauxshop convert network-snapshot-000400.pkl --out models/dresses.safetensors
    """
    from fauxshop.image.checkpoint import export_generator, read_snapshot

    out = export_generator(args.source, args.out)
    meta = read_snapshot(out).meta
    print(f"converted {meta.get('source_kind', 'fauxshop')} G_ema: {out}")
    return 0


def register(sub, common) -> None:
    budget = field_help(TrainConfig, "budget_minutes")
    p = trainer_verb(sub, cmd_train_image, common, TrainConfig, {
        "data": (None, "ARCHIVE", field_help(TrainConfig, "data")),
        "out": (None, "RUN_DIR", field_help(TrainConfig, "out")),
        "kimg": (float, "KIMG", "training length in kimg (with --resume: the new total)"),
        "budget_minutes": (float, "MIN", f"{budget} (with --resume: the new total)"),
    }, skip=("preset",))  # fmt: skip
    p.add_argument(
        "--preset", choices=sorted(PRESETS), help=f"recipe for unset flags: {describe_presets()}"
    )

    p = generator_verb(sub, cmd_generate, common)
    p.add_argument("--seeds", default="0-15", help="seeds, e.g. 0-63 or 1,5,9 (default: 0-15)")
    sampling_flags(p, 0.7)
    truncate_flag(p)
    p.add_argument("--grid", type=Path, help="write all images as one grid PNG")
    p.add_argument("--outdir", type=Path, help="write one PNG per seed (default without --grid)")

    p = generator_verb(sub, cmd_mix, common)
    p.add_argument("--rows", required=True, help="row seeds, e.g. 1,2,3")
    p.add_argument("--cols", required=True, help="column seeds, e.g. 10,11")
    p.add_argument("--styles", default="coarse", help="coarse, middle, fine or layers like 0-3")
    p.add_argument("--out", type=Path, required=True, help="grid PNG")
    sampling_flags(p, 1.0)

    p = generator_verb(sub, cmd_walk, common)
    p.add_argument("--seeds", required=True, help="at least two seeds, e.g. 1,2,3")
    p.add_argument("--frames", type=int, default=120, help="frames in the whole loop")
    p.add_argument("--fps", type=float, default=24)
    p.add_argument("--out", type=Path, required=True, help="walk.mp4 or walk.gif")
    sampling_flags(p, 1.0)

    p = generator_verb(sub, cmd_metrics, common)
    p.add_argument(
        "--metrics",
        default="fid,kid",
        help="comma-separated: fid, fid_inf (FID with the 1/N bias of the generated count "
        "extrapolated away), kid, pr",
    )
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
    p.add_argument("--classes", help="with --per-class: only these labels (comma-separated)")
    p.add_argument("--max-real", type=int, help="cap on real images (default: the archive)")
    p.add_argument("--data", type=Path, help="archive (default: the run's training archive)")
    p.add_argument("--psi", type=float, default=1.0, help="truncation psi (default: 1.0)")

    p = generator_verb(sub, cmd_export_generator, common)
    p.add_argument("--out", type=Path, required=True, help="output .safetensors (+ .json)")

    p = verb(sub, cmd_convert, common)
    p.add_argument("source", type=Path, help="NVIDIA .pkl, rosinality .pt (or a snapshot)")
    p.add_argument("--out", type=Path, required=True, help="output .safetensors (+ .json)")
