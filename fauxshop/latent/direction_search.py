"""The `directions` verb's work: find directions by one method, confine them, name them, keep them.

InterFaceGAN needs the tagger's labels; GANSpace and SeFa find unnamed axes, which the
tagger (when given) names by what they change. Found directions are merged into the
generator's directions file, replacing any of the same name.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import generator_fingerprint
from fauxshop.latent.directions import (
    Direction,
    ganspace,
    interfacegan,
    load_directions,
    save_directions,
    sefa,
)
from fauxshop.latent.edit import match_names
from fauxshop.tagger import ImageScorer


def find_directions(
    G, method: str, scorer: ImageScorer | None, targets: Sequence[str], num: int, k: int,
    layers: list[int] | None, layer_spec: str | None, psi: float, class_index: int | None,
    seeds: Sequence[int], strength: float,
) -> list[Direction]:  # fmt: skip
    """Directions by `method`; with `layers`, edits confined to those ws rows (name gets
    @LAYER_SPEC; SeFa instead reads only those rows); named by `scorer` unless InterFaceGAN."""
    if method == "interfacegan":
        if not targets:
            raise FauxshopError("directions: interfacegan needs --target HEAD:CLASS")
        found = [interfacegan(G, scorer, t, num, psi=psi, class_index=class_index) for t in targets]
    elif method == "ganspace":
        found = ganspace(G, k=k, n=num, class_index=class_index)
    else:
        found = sefa(G, k=k, layers=layers)
    if layers is not None and method != "sefa":
        found = [replace(d, name=f"{d.name}@{layer_spec}", layers=layers) for d in found]
    if scorer is not None and method != "interfacegan":
        found = match_names(G, scorer, found, seeds, strength, class_index=class_index)
    return found


def merge_directions(path: Path, found: list[Direction], G) -> None:
    """Save `found` into `path`, keeping the file's other directions for this generator."""
    fingerprint = generator_fingerprint(G)
    kept = load_directions(path, fingerprint) if path.with_suffix(".json").is_file() else []
    names = {d.name for d in found}
    save_directions(path, [d for d in kept if d.name not in names] + found, fingerprint)
