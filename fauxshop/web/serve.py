"""Load the studio's models (the shipped demo ones unless told otherwise) and serve the app.

The sliders are InterFaceGAN directions found with the tagger, as `make demo` finds them;
they are cached per generator in WORKDIR/runs/studio-directions.safetensors, so only the
first start spends the ~10 s of sampling.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import generator_fingerprint
from fauxshop.latent.directions import (
    Direction,
    interfacegan,
    load_directions,
    save_directions,
)
from fauxshop.products.compose import ProductModels
from fauxshop.web.app import Studio
from fauxshop.workspace import Workspace

# (target, ws rows) of the demo generator's sliders: see fauxshop.demo.DEMO_DIRECTIONS.
SLIDERS = (("length:midi,maxi", [0, 1, 2, 3]), ("colour:red", [4, 5, 6, 7]))


def studio_directions(models: ProductModels, cache: Path) -> list[Direction]:
    fingerprint = generator_fingerprint(models.G)
    if cache.with_suffix(".json").is_file():
        try:
            return load_directions(cache, fingerprint)
        except FauxshopError:
            pass  # made for another generator: find them again
    cls = 0 if models.G.c_dim else None
    found = [
        replace(interfacegan(models.G, models.tagger, target, n=1000, class_index=cls), layers=rows)
        for target, rows in SLIDERS
    ]
    save_directions(cache, found, fingerprint)
    return found


def load_studio(
    workdir: Path,
    generator: Path | None = None,
    tagger: Path | None = None,
    writer: Path | None = None,
    real: Path | None = None,
) -> Studio:
    from fauxshop.demo import product_models

    ws = Workspace.open(workdir)
    real = real or ws.newest_archive()
    if real is None:
        raise FauxshopError(f"{ws.archives_dir}: no real catalog; run `make demo` or --real")
    models = product_models(real, generator, tagger, writer)
    directions = studio_directions(models, ws.runs_dir / "studio-directions.safetensors")
    return Studio(models, directions, ws.root)
