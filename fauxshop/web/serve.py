"""Load the studio's models (the shipped demo ones unless told otherwise) for the web app.

The sliders are the models layer's InterFaceGAN directions, cached per generator in
WORKDIR/runs/studio-directions.safetensors, so only the first start spends the sampling.
"""

from __future__ import annotations

from pathlib import Path

from fauxshop.errors import FauxshopError
from fauxshop.products.models import product_models, studio_directions
from fauxshop.web.app import Studio
from fauxshop.workspace import Workspace


def load_studio(
    workdir: Path,
    generator: Path | None = None,
    tagger: Path | None = None,
    writer: Path | None = None,
    real: Path | None = None,
) -> Studio:
    ws = Workspace.open(workdir)
    real = real or ws.newest_archive()
    if real is None:
        raise FauxshopError(f"{ws.archives_dir}: no real catalog; run `make demo` or --real")
    models = product_models(real, generator, tagger, writer)
    directions = studio_directions(models, ws.runs_dir / "studio-directions.safetensors")
    return Studio(models, directions, ws.root)
