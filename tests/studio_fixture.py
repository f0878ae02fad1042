"""A studio on the shipped demo models, small enough to start in seconds, for the web tests."""

from __future__ import annotations

from pathlib import Path

from fauxshop.image.checkpoint import load_generator, read_snapshot
from fauxshop.latent.directions import sefa
from fauxshop.latent.generate import generate
from fauxshop.metrics.text import TrainingIndex
from fauxshop.products.checks import RealCatalog
from fauxshop.products.models import DEMO_GENERATOR, DEMO_TAGGER, DEMO_WRITER, ProductModels
from fauxshop.tagger.model import load_tagger
from fauxshop.tagger.scoring import image_features
from fauxshop.tagger.text import load_text_tagger
from fauxshop.text.models import load_trained
from fauxshop.web.app import Studio


def studio_models() -> ProductModels:
    """The demo models with a small real catalog (generated photos stand in for it)."""
    G = load_generator(DEMO_GENERATOR)
    tagger = load_tagger(DEMO_TAGGER)
    writer, tokenizer, meta = load_trained(DEMO_WRITER)
    photos = generate(G, range(1000, 1012), psi=0.7, class_index=0)
    skus = [f"REAL-{i}" for i in range(12)]
    real = RealCatalog(skus, image_features(tagger, photos), TrainingIndex(["a hat"]), photos)
    return ProductModels(
        G, read_snapshot(DEMO_GENERATOR).meta["label_names"], tagger,
        load_text_tagger(DEMO_TAGGER), writer, tokenizer, meta["format"], real,
        {"generator": "g", "tagger": "t", "writer": "w"},
    )  # fmt: skip


def demo_studio(workdir: Path) -> Studio:
    """SeFa sliders (instant; the served app finds InterFaceGAN ones) and short projections."""
    models = studio_models()
    return Studio(models, sefa(models.G, k=2), workdir, project_steps=20)
