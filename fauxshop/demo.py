"""`fauxshop demo`: the whole pipeline on the built-in demo catalog, printing each stage.

Catalog → store → prune → pack, short training runs to show the commands work, then the
shipped demo models (trained longer with the same commands, see docs/image.md, docs/text.md
and docs/latent.md): a grid per category, a style-mixing grid and a latent walk from the
generator; descriptions for contexts, graded, from the writer; directions found with the
tagger, measured and shown as edit grids; rare jumpsuits made three ways, graded; and last,
products that don't exist, checked and shown in an HTML gallery.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import numpy as np

from fauxshop.atomic import atomic_open
from fauxshop.catalog.config import PruneConfig
from fauxshop.catalog.demo_catalog import demo_corpus, write_demo_catalog
from fauxshop.catalog.ingest import ingest_table
from fauxshop.catalog.pack import PackConfig, pack
from fauxshop.catalog.prune import format_report, load_ground_truth, prune
from fauxshop.catalog.status import format_status
from fauxshop.catalog.store import Store
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import load_generator, read_snapshot
from fauxshop.image.config import TrainConfig
from fauxshop.image.train import train
from fauxshop.latent.config import RareConfig
from fauxshop.latent.directions import parse_target
from fauxshop.latent.edit import (
    disentanglement,
    disentanglement_summary,
    edit_grid,
)
from fauxshop.latent.generate import generate, seeds_to_ws
from fauxshop.latent.mixing import parse_styles, style_mix_grid
from fauxshop.latent.rare import rare_samples, real_class_features
from fauxshop.latent.walk import latent_walk, write_video
from fauxshop.markdown import markdown_table
from fauxshop.metrics.text import TrainingIndex, format_table, text_metrics
from fauxshop.pixels import save_grid, save_png
from fauxshop.products.compose import compose
from fauxshop.products.compose import format_report as format_products_report
from fauxshop.products.config import ComposeConfig
from fauxshop.products.export import first_new_seed, run_folder, save_products
from fauxshop.products.models import (
    DEMO_GENERATOR,
    DEMO_TAGGER,
    DEMO_WRITER,
    DEMO_WRITER_CORPUS,
    product_models,
    slider_range,
    studio_directions,
)
from fauxshop.tagger.config import TaggerConfig
from fauxshop.tagger.model import load_tagger
from fauxshop.tagger.train import evaluate_tagger, train_tagger
from fauxshop.tagger.train import format_report as format_tagger_report
from fauxshop.text.config import SamplingConfig, TextTrainConfig
from fauxshop.text.corpus import read_corpus
from fauxshop.text.models import load_trained
from fauxshop.text.sample import write
from fauxshop.text.train import train_text
from fauxshop.web.serve import STUDIO_DIRECTIONS
from fauxshop.workspace import Workspace

DEMO_SIZES = ((64, 32), (128, 64))
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

    t = _stage("train-tagger: a short run of the demo tagger's config (the command works)")
    tagger_dir = ws.runs_dir / "demo-tagger-smoke"
    report = train_tagger(archive, tagger_dir, TaggerConfig(epochs=1, seed=seed))
    print(format_tagger_report(report))
    _done(t)

    show_generator(DEMO_GENERATOR, ws.exports_dir / "demo")
    show_writer(DEMO_WRITER, corpus, ws.exports_dir / "demo")
    sliders = ws.runs_dir / STUDIO_DIRECTIONS
    show_latent_tools(DEMO_GENERATOR, DEMO_TAGGER, archive, ws.exports_dir / "demo", sliders)
    show_products(ws, archive)
    print(f"fauxshop serve --workdir {ws.root} --port 8000")
    print("then open http://127.0.0.1:8000/ (a product per visit) and /studio (editing)")


def show_products(ws: Workspace, archive: Path, n: int = 12) -> None:
    """Products that don't exist, composed by the shipped models, checked against the demo
    catalog (and the writer's own training texts), stored, and shown in a gallery."""
    t = _stage(f"products: {n} products that don't exist, checked against {archive.name}")
    models = product_models(archive)
    seed_start = first_new_seed(ws.db_path, models.hashes)  # a rerun makes new products
    # Each class in turn. The demo generator rarely draws a jumpsuit the tagger accepts (0 of
    # 20 at psi 0.7, docs/products.md), so 4 candidates per product, not the default 200, keep
    # the demo from spending minutes chasing one class.
    config = ComposeConfig(n=n, seed_start=seed_start, max_candidates=4 * n)
    result = compose(models, config)
    out = run_folder(ws.exports_dir / "products", result)
    paths = save_products(result, models.real, out, ws.db_path)
    print(format_products_report(result.report()))
    first = result.accepted[0].record if result.accepted else None
    if first:
        print(f"-- {first['title']}\n{first['description']}")
    print(f"gallery: {paths['html']}")
    _done(t)


def show_generator(model: Path, out: Path) -> None:
    """A grid per class, a style-mixing grid and a looping walk from a trained generator."""
    t = _stage(f"generate: {model.name}")
    G = load_generator(model)
    names = read_snapshot(model).meta["label_names"]
    # towards each class's own mean w, as products are made: the global mean is a dress
    rows = [generate(G, range(8), 0.7, i, truncate_to="class") for i in range(len(names))]
    grid = save_grid(np.concatenate(rows), out / "grid.png", cols=8)
    print(f"8 seeds per category ({', '.join(names)}), psi 0.7 towards the class: {grid}")
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


def show_latent_tools(
    model: Path, tagger_path: Path, archive: Path, out: Path, sliders_cache: Path
) -> None:
    """The shipped tagger graded on held-out photos; the studio's sliders found with it (and
    cached for `serve`), measured, and shown as edit grids; jumpsuits (the catalog's rare
    class) made three ways, graded."""
    t = _stage(f"tagger: the shipped {tagger_path.name}, graded on held-out {archive.name}")
    tagger = load_tagger(tagger_path)
    heads = evaluate_tagger(tagger, archive)["heads"]
    rows = [
        {"head": h, "accuracy": m["accuracy"], "majority": m["majority"]} for h, m in heads.items()
    ]
    print(markdown_table(rows))
    _done(t)

    t = _stage("directions + edit: InterFaceGAN with the tagger's labels, on dresses")
    G = load_generator(model)
    names = read_snapshot(model).meta["label_names"]
    dress = names.index("dress")
    # The studio's sliders (found on class 0, the dress), kept where `serve` looks for them, so
    # its first start after the demo takes seconds instead of this sampling.
    found = studio_directions(G, tagger, sliders_cache)
    print(f"sliders for `fauxshop serve`: {sliders_cache}")
    table = disentanglement(G, tagger, found, range(32), 3.0, class_index=dress)
    print(markdown_table(disentanglement_summary(table)))
    dress_ws = seeds_to_ws(G, range(4), 0.7, dress)
    for d in found:  # across the range the studio's slider offers: what G draws cleanly
        path = out / f"edit-{d.name.partition(':')[0]}.png"
        low, high = slider_range(d.name)
        strengths = [low, low * 2 / 3, low / 3, 0.0, high / 3, high * 2 / 3, high]  # 0: as drawn
        grid = edit_grid(G, dress_ws, d, strengths)
        print(f"{d.name} on rows {d.layers}, strength {low:g}..{high:g}: {save_png(grid, path)}")
    _done(t)

    t = _stage("rare: jumpsuits on demand by filter, centroid and conditional")
    try:
        real = real_class_features(tagger, archive, parse_target("category:jumpsuit", tagger.heads))
        print(f"{len(real)} real jumpsuits in {archive.name} (for novelty and realism)")
    except FauxshopError as e:  # a small demo catalog may hold none
        real = None
        print(f"{e}: no novelty or realism")
    found_by_filter = rare_samples(
        G, tagger, RareConfig("jumpsuit", n=16, label="dress"), None, names, real
    )
    centroid = rare_samples(
        G, tagger, RareConfig("jumpsuit", n=16, method="centroid", label="dress"),
        found_by_filter.ws, names, real, class_ws_cost=found_by_filter.sampled,
    )  # fmt: skip
    conditional = rare_samples(
        G, tagger, RareConfig("jumpsuit", n=16, method="conditional"), None, names, real
    )
    for result in (found_by_filter, centroid, conditional):
        method = result.report["method"]
        print(f"{method}: {save_grid(result.images, out / f'rare-{method}.png', cols=8)}")
    reports = [r.report for r in (found_by_filter, centroid, conditional)]
    print(markdown_table([{k: v for k, v in r.items() if k != "precision_note"} for r in reports]))
    print("(centroid starts from filter's 16 hits: their cost is in its yield too)")
    _done(t)
