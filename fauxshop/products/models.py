"""The models a product comes from, loaded in one place: generator, tagger, writer, real catalog.

It also owns the shipped demo models' paths and the studio's sliders, so the CLI, the web
studio, the demo and the benches load models the same way without importing each other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fauxshop.catalog.demo_catalog import demo_corpus
from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import (
    Snapshot,
    generator_fingerprint,
    resolve_snapshot,
    snapshot_generator,
)
from fauxshop.latent.directions import (
    Direction,
    interfacegan,
    load_directions,
    save_directions,
)
from fauxshop.metrics.text import TrainingIndex
from fauxshop.products.checks import RealCatalog
from fauxshop.tagger.calibration import Calibration, load_calibration
from fauxshop.tagger.data import read_archive
from fauxshop.tagger.model import Tagger, load_tagger, sidecar_path
from fauxshop.tagger.scoring import image_features
from fauxshop.tagger.text import TextTagger, load_text_tagger, text_tagger_path
from fauxshop.text.models import load_trained, model_folder
from fauxshop.workspace import Workspace

ASSETS = Path(__file__).parent.parent / "assets"
DEMO_GENERATOR = ASSETS / "demo-generator.safetensors"
DEMO_WRITER = ASSETS / "demo-writer"
# Trained on a 3,000-product demo catalog (seed 0) with `train-tagger`, see docs/latent.md;
# the demo's held-out photos are held out for it too (a product's split depends on its index).
# Its claim thresholds (`calibrate-tagger`, on those held-out photos) lie beside it.
DEMO_TAGGER = ASSETS / "demo-tagger.safetensors"
# The corpus the shipped writer learned from (`demo-catalog --corpus-only`), for the
# memorisation check: a description it writes must not be a copy of one of these.
DEMO_WRITER_CORPUS = {"n": 6000, "seed": 1}
# The studio's sliders: (tagger target, ws rows). Length lives in the coarse ws rows of the
# 64x32 demo generator, colour in the middle ones: edits confined there change less else
# (measured in docs/latent.md).
SLIDERS = (("length:midi,maxi", [0, 1, 2, 3]), ("colour:red", [4, 5, 6, 7]))
# How far each slider goes: the strengths the demo generator still draws cleanly, read off
# edit grids of 8 dresses and 8 skirts at -4..4 (docs/web.md). Shorter than -0.5 a garment
# grows long sleeves and opens down the middle (legs from -2); longer than 1 a pale collar
# and a blurred hem appear; colour keeps the shape throughout but turns neon past +-3.
SLIDER_RANGES = {"length:midi,maxi": (-0.5, 1.0), "colour:red": (-3.0, 3.0)}
# A direction whose range nobody measured (SeFa's, a custom one's): a cautious one, as the demo
# sliders' edit grids start to break between 1.5 and 2.
UNMEASURED_RANGE = (-1.5, 1.5)


def slider_range(name: str) -> tuple[float, float]:
    """How far the direction `name` may be moved: its measured range, else a cautious one."""
    return SLIDER_RANGES.get(name, UNMEASURED_RANGE)


@dataclass
class ProductModels:
    """The four models a product comes from, their hashes, and the real catalog."""

    G: Any
    label_names: list[str] | None
    tagger: Tagger
    text_tagger: TextTagger | None
    writer: Any
    tokenizer: Any
    writer_format: str
    real: RealCatalog
    hashes: dict[str, str]
    calibration: Calibration | None = None  # the tagger's claim thresholds, when calibrated
    real_archive: str = ""  # the archive the real catalog came from


def real_catalog(tagger: Tagger, archive: Path, extra_texts: list[str] = ()) -> RealCatalog:
    """Features of every photo in a packed archive, and its products' descriptions (plus any
    other real texts, e.g. the writer's training corpus)."""
    data = read_archive(archive, heads=tagger.heads)
    images = data.images.permute(0, 2, 3, 1).numpy()
    descriptions = [t for t in (data.texts or []) if t] + list(extra_texts)
    if not descriptions:
        raise FauxshopError(f"{archive}: no descriptions beside it (its .corpus.jsonl)")
    skus = data.skus or [str(i) for i in range(len(data))]
    return RealCatalog(skus, image_features(tagger, images), TrainingIndex(descriptions), images)


def load_models(
    generator: Path | Snapshot | None, tagger: Path, writer: Path, real: Path,
    extra_texts: list[str] = (),
) -> ProductModels:  # fmt: skip
    snapshot = open_generator(generator)
    G = snapshot_generator(snapshot)
    image_tagger = load_tagger(tagger)
    writer_model, tokenizer, meta = load_trained(writer)
    text_tagger = load_text_tagger(tagger)
    hashes = {
        "generator": generator_fingerprint(G),
        "tagger": json.loads(sidecar_path(tagger).read_text())["weights_sha256"],
        "writer": file_sha256(model_folder(writer) / "model.safetensors"),
    }
    if text_tagger is not None:
        text_json = text_tagger_path(tagger).with_suffix(".json")
        hashes["text_tagger"] = json.loads(text_json.read_text())["weights_sha256"]
    return ProductModels(
        G, snapshot.meta.get("label_names"),
        image_tagger, text_tagger, writer_model, tokenizer, meta.get("format", "context"),
        real_catalog(image_tagger, real, extra_texts), hashes,
        load_calibration(tagger, hashes["tagger"]), str(real),
    )  # fmt: skip


def open_generator(generator: Path | Snapshot | None = None) -> Snapshot:
    """The generator's snapshot (the shipped demo one unless given), opened once: an imported
    NVIDIA or rosinality checkpoint is converted here, not again by each reader."""
    if isinstance(generator, Snapshot):
        return generator
    return resolve_snapshot(generator or DEMO_GENERATOR)


def choose_real_archive(
    ws: Workspace, given: Path | None = None, generator: Path | Snapshot | None = None
) -> tuple[Path, str]:
    """The real archive novelty is judged against, and why: the one given, else the one the
    generator was trained on (its snapshot's config "data"), else an archive of that name in
    the workspace (the shipped generator's was on another machine), else the newest one.
    A generator's own catalog, not whichever archive was packed last, is what it could copy."""
    if given:
        return Path(given), "--real"
    recorded = open_generator(generator).meta.get("config", {}).get("data")
    if recorded and Path(recorded).is_file():
        return Path(recorded), "the generator's training archive"
    if recorded and (ws.archives_dir / Path(recorded).name).is_file():
        return ws.archives_dir / Path(recorded).name, "named as the generator's training archive"
    newest = ws.newest_archive()
    if newest is None:
        raise FauxshopError(f"{ws.archives_dir}: no real catalog; run `make demo` or pass --real")
    if recorded:
        return newest, f"newest in the workspace; the generator's {recorded} is not here"
    return newest, "newest in the workspace; the generator records no training archive"


def product_models(
    real: Path, generator: Path | Snapshot | None = None, tagger: Path | None = None,
    writer: Path | None = None,
) -> ProductModels:  # fmt: skip
    """The four models a product comes from (the shipped demo ones unless given; the generator
    as a path or an already opened snapshot) and the real catalog novelty is checked against.
    With the demo writer, the texts it learned from count as real too: a copy of one of them
    is no new description."""
    seen = [r["description"] for r in demo_corpus(**DEMO_WRITER_CORPUS)] if writer is None else []
    return load_models(generator, tagger or DEMO_TAGGER, writer or DEMO_WRITER, real, seen)


def slider_directions(G, tagger: Tagger, class_index: int | None, n: int = 1000) -> list[Direction]:
    """The sliders found by InterFaceGAN with the tagger's labels, each confined to its rows."""
    return [
        replace(interfacegan(G, tagger, target, n=n, class_index=class_index), layers=rows)
        for target, rows in SLIDERS
    ]


def cached_sliders(G, cache: Path) -> list[Direction] | None:
    """The sliders kept in `cache` for this generator, or None (none yet, or another's)."""
    if not cache.with_suffix(".json").is_file():
        return None
    try:
        return load_directions(cache, generator_fingerprint(G))
    except FauxshopError:
        return None  # made for another generator: find them again


def studio_directions(G, tagger: Tagger, cache: Path, n: int = 1000) -> list[Direction]:
    """The sliders, cached per generator in `cache`: only the first start spends the sampling
    (`n` images per direction)."""
    found = cached_sliders(G, cache)
    if found is None:
        found = slider_directions(G, tagger, 0 if G.c_dim else None, n)
        save_directions(cache, found, generator_fingerprint(G))
    return found
