"""`fauxshop demo`: the whole pipeline on the built-in demo catalog, printing each stage.

Catalog → store → prune → pack, a short training run to show the command works, then
generation from the shipped demo generator (trained longer with the same command, see
docs/image.md): a grid per category, a style-mixing grid and a latent walk.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from fauxshop.catalog.demo_catalog import write_demo_catalog
from fauxshop.catalog.ingest import ingest_table
from fauxshop.catalog.pack import PackConfig, pack
from fauxshop.catalog.prune import PruneConfig, format_report, load_ground_truth, prune
from fauxshop.catalog.status import format_status
from fauxshop.catalog.store import Store
from fauxshop.image.checkpoint import load_generator, read_snapshot
from fauxshop.image.train import TrainConfig, train
from fauxshop.latent.generate import generate
from fauxshop.latent.mixing import parse_styles, style_mix_grid
from fauxshop.latent.sampling import save_grid, save_png
from fauxshop.latent.walk import latent_walk, write_video
from fauxshop.workspace import Workspace

DEMO_SIZES = ((64, 32), (128, 64))
DEMO_GENERATOR = Path(__file__).parent / "assets" / "demo-generator.safetensors"
# The shipped generator's architecture; the smoke run trains the same one briefly.
DEMO_NETWORK = dict(
    batch=16, cond=True, mirror=True, z_dim=128, w_dim=128, mapping_layers=2,
    channel_base=2048, channel_max=128,
)  # fmt: skip


def _stage(title: str) -> float:
    print(f"\n== {title} ==", flush=True)
    return time.perf_counter()


def _done(start: float) -> None:
    print(f"({time.perf_counter() - start:.1f} s)", flush=True)


def run_demo(ws: Workspace, n: int = 600, seed: int = 0) -> None:
    catalog_dir = ws.root / "demo-catalog"
    t = _stage(f"demo-catalog: rendering {n} products into {catalog_dir}")
    summary = write_demo_catalog(catalog_dir, n=n, seed=seed)
    print(json.dumps(summary))
    _done(t)

    with Store(ws.db_path) as store:
        t = _stage("ingest: products.jsonl + images/ into the store")
        report = ingest_table(store, catalog_dir / "products.jsonl", catalog_dir)
        print(report.format())
        _done(t)

        t = _stage("prune: size, composition, background, non-product rules")
        truth = load_ground_truth(catalog_dir / "ground_truth.jsonl")
        result = prune(store, PruneConfig(), truth, ws.reports_dir / "prune")
        print(format_report(result))
        print(f"contact sheets of rejects: {ws.reports_dir / 'prune'}/")
        _done(t)

        for height, width in DEMO_SIZES:
            out = ws.archives_dir / f"demo-{height}x{width}.zip"
            t = _stage(f"pack: {height}x{width} archive and text corpus")
            packed = pack(store, out, PackConfig(height, width))
            print(f"{packed['packed']} images → {out}; corpus → {packed['corpus']}")
            print(f"per category: {packed['per_label']}")
            _done(t)

        print("\n== workspace ==")
        print(format_status(store))

    t = _stage("train-image: a short run of the demo generator's config (the command works)")
    run_dir = ws.runs_dir / "demo-smoke"
    shutil.rmtree(run_dir, ignore_errors=True)  # the demo's own run, redone each time
    archive = ws.archives_dir / "demo-64x32.zip"
    config = TrainConfig(
        data=str(archive), out=str(run_dir), kimg=0.25, tick_kimg=0.125, snap_kimg=0.25,
        seed=seed, **DEMO_NETWORK,
    )  # fmt: skip
    stats = train(config)
    print(f"{stats.get('kimg')} kimg at {stats.get('img_per_s', 0):.1f} img/s → {run_dir}")
    _done(t)

    show_generator(DEMO_GENERATOR, ws.exports_dir / "demo")


def show_generator(model: Path, out: Path) -> None:
    """A grid per class, a style-mixing grid and a looping walk from a trained generator."""
    t = _stage(f"generate: {model.name}")
    G = load_generator(model)
    names = read_snapshot(model).meta["label_names"]
    rows = [generate(G, range(8), psi=0.7, class_index=i) for i in range(len(names))]
    grid = save_grid(np.concatenate(rows), out / "grid.png", cols=8)
    print(f"8 seeds per category ({', '.join(names)}), psi 0.7: {grid}")
    dress = names.index("dress")
    styles = parse_styles("coarse", G.num_ws, G.img_resolution)
    mix = style_mix_grid(G, [1, 2, 3], [10, 11, 12, 13], styles, 0.7, class_index=dress)
    print(f"style mixing, coarse layers {styles}: {save_png(mix, out / 'mix.png')}")
    frames = latent_walk(G, [1, 2, 3, 4], frames=96, psi=0.7, class_index=dress)
    print(f"latent walk, {len(frames)} frames: {write_video(frames, out / 'walk.mp4')}")
    _done(t)
