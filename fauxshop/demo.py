"""`fauxshop demo`: the whole pipeline on the built-in demo catalog, printing each stage.

Catalog → store → prune → pack, short training runs to show the commands work, then the
shipped demo models (trained longer with the same commands, see docs/image.md and
docs/text.md): a grid per category, a style-mixing grid and a latent walk from the
generator; descriptions for contexts, graded, from the writer.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from fauxshop.atomic import atomic_open
from fauxshop.catalog.demo_catalog import demo_corpus, write_demo_catalog
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
from fauxshop.metrics.text import TrainingIndex, format_table, text_metrics
from fauxshop.text.corpus import read_corpus
from fauxshop.text.models import load_trained
from fauxshop.text.sample import SamplingConfig, write
from fauxshop.text.train import TextTrainConfig, train_text
from fauxshop.workspace import Workspace

DEMO_SIZES = ((64, 32), (128, 64))
DEMO_GENERATOR = Path(__file__).parent / "assets" / "demo-generator.safetensors"
DEMO_WRITER = Path(__file__).parent / "assets" / "demo-writer"
# The corpus the shipped writer learned from (`demo-catalog --corpus-only`), for the
# memorisation check: a description it writes must not be a copy of one of these.
DEMO_WRITER_CORPUS = {"n": 6000, "seed": 1}
# The shipped writer's architecture; the smoke run trains the same one briefly.
DEMO_WRITER_CONFIG = dict(from_scratch="tiny", bpe_vocab=2048, block_size=256)
DEMO_CONTEXTS = (
    "sleeveless red midi dress",
    "long-sleeved black polka-dot maxi v-neck dress",
    "short-sleeved striped top",
    "green jumpsuit",
)
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

    t = _stage("train-text: a short run of the demo writer's config (the command works)")
    text_dir = ws.runs_dir / "demo-text-smoke"
    shutil.rmtree(text_dir, ignore_errors=True)
    corpus = ws.archives_dir / "demo-64x32.corpus.jsonl"
    text_config = TextTrainConfig(
        out=str(text_dir), corpus=str(corpus), max_steps=20, eval_every=20, batch=8,
        sample_every=0, seed=seed, **DEMO_WRITER_CONFIG,
    )  # fmt: skip
    row = train_text(text_config)
    print(f"{row['step']} steps, val loss {row['val_loss']:.3f}, {row['tokens_per_s']:.0f} tok/s")
    _done(t)

    show_generator(DEMO_GENERATOR, ws.exports_dir / "demo")
    show_writer(DEMO_WRITER, corpus, ws.exports_dir / "demo")


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


def show_writer(model: Path, corpus: Path, out: Path, contexts: int = 48) -> None:
    """Descriptions for a few contexts, then graded on the catalog's held-out contexts."""
    t = _stage(f"write: {model.name}")
    writer, tokenizer, meta = load_trained(model)
    settings = SamplingConfig(seed=0, max_new_tokens=200)
    for record in write(writer, tokenizer, list(DEMO_CONTEXTS), settings, meta["format"]):
        print(f"-- {record['context']}\n{record['description']}\n")

    records = read_corpus(corpus)
    held_out = list(dict.fromkeys(r.context for r in records.val))[:contexts]
    samples = write(writer, tokenizer, held_out, settings, meta["format"])
    seen = [r["description"] for r in demo_corpus(**DEMO_WRITER_CORPUS)]
    index = TrainingIndex(seen + [r.description for r in records.train])
    metrics = text_metrics([(s["context"], s["description"]) for s in samples], index)
    print(format_table({model.name: metrics}))
    path = out / "descriptions.jsonl"
    with atomic_open(path, encoding="utf-8") as f:
        f.writelines(json.dumps(s, ensure_ascii=False) + "\n" for s in samples)
    print(f"{len(samples)} descriptions for held-out contexts: {path}")
    _done(t)
