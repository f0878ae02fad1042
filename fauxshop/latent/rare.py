"""Rare classes on demand (jumpsuits in a catalog of dresses), three ways, each measured.

- filter: sample seeds in chunks, keep the images the tagger puts in the class; stop at `n`
  kept or `max_samples` looked at. What "looking through a few hundred random images by hand"
  did, automated and counted: its yield (hits per 1,000 samples) is the class's rate in G.
- centroid: the class's region in W is the mean of class ws (found by filtering, or given:
  e.g. projected real photos). Samples around it are w = centroid + sigma * (w_random - w_avg),
  i.e. truncation re-centred on the class: sigma=0 gives the centroid itself, sigma=1 the spread
  of all samples moved onto it. A share `mix` of the output instead mixes two class ws, the
  coarse rows (silhouette) from one and the rest from another: the original project's plan.
- conditional: a generator trained with class labels, sampled with the class's label.

Each run reports: yield per 1,000 images generated (setup included), precision (share of the
returned images whose top class is the target; 1.0 by construction for filter, which keeps
only those), diversity (mean pairwise distance of the tagger's features), and, when real
photos of the class are given: novelty (mean distance to the nearest real image's features) and
realism (the share of images inside the real photos' k-NN manifold: improved precision,
Kynkäänniemi et al. 2019). Realism guards the tagger-judged numbers: a tagger can call a blurred
blob a jumpsuit, but a blob lies far from every real jumpsuit.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fauxshop.errors import FauxshopError
from fauxshop.image.networks import Generator
from fauxshop.latent.config import RareConfig
from fauxshop.latent.directions import Target, parse_target
from fauxshop.latent.generate import render_ws, seeds_to_ws
from fauxshop.latent.mixing import band_indices
from fauxshop.latent.sampling import class_index
from fauxshop.metrics.fid import precision_recall
from fauxshop.progress import bar
from fauxshop.tagger import ImageScorer
from fauxshop.tagger.data import read_archive
from fauxshop.tagger.scoring import image_features, score_images

REALISM_K = 3  # neighbours that set each real image's ball (improved precision's k)


@dataclass
class RareResult:
    """Returned images with their ws (render_ws(G, ws) redraws them) and seeds: the seed of
    each image's random draw, None for a style mix of two class ws."""

    images: np.ndarray  # N x H x W x C uint8
    ws: torch.Tensor  # N x num_ws x w_dim
    seeds: list[int | None]
    hits: torch.Tensor  # whether the tagger puts each image in the class
    sampled: int  # images generated and scored to get these
    report: dict[str, Any] = field(default_factory=dict)


def _hits(
    scorer: ImageScorer, target: Target, images: np.ndarray, ws: torch.Tensor
) -> torch.Tensor:
    """Whether the tagger puts each image in the class, scored where its ws live."""
    return target.hit(score_images(scorer, images, device=ws.device))


def filter_class(
    G: Generator,
    scorer: ImageScorer,
    target: Target,
    config: RareConfig,
    n: int,
    cls: int | None = None,
) -> RareResult:
    """The first `n` seeds from seed_start on whose image's top class is the target, looking
    at most at max_samples; `sampled` counts up to the n-th hit, so the yield is exact.

    The bar counts hits out of `n`, so its ETA follows the class's real rate; max_samples is
    only a bound (most runs stop far short of it), shown beside the images looked at."""
    images, ws, seeds = [], [], []
    sampled, chunk, end = 0, 256, config.seed_start + config.max_samples
    with bar(n, f"filter {target}", unit="hit") as progress:
        for start in range(config.seed_start, end, chunk):
            batch_seeds = list(range(start, min(start + chunk, end)))
            batch_ws = seeds_to_ws(G, batch_seeds, config.psi, cls, config.batch)
            batch_images = render_ws(G, batch_ws, batch=config.batch)
            found = _hits(scorer, target, batch_images, batch_ws).nonzero().flatten()
            keep = found[: n - len(seeds)]
            images.append(batch_images[keep.numpy()])
            ws.append(batch_ws[keep])
            seeds += [batch_seeds[i] for i in keep.tolist()]
            looked = batch_seeds[-1] - config.seed_start + 1
            progress.set_postfix_str(f"looked at {looked} of at most {config.max_samples}", False)
            progress.update(len(keep))
            if len(seeds) == n:
                sampled += int(keep[-1]) + 1
                break
            sampled += len(batch_seeds)
    all_hits = torch.ones(len(seeds), dtype=torch.bool)
    return RareResult(np.concatenate(images), torch.cat(ws), seeds, all_hits, sampled)


def around_centroid(
    G: Generator, centroid: torch.Tensor, seeds: Sequence[int], sigma: float, cls: int | None
) -> torch.Tensor:
    """ws = centroid + sigma * (w_random - w_avg), centroid num_ws x w_dim (see the module)."""
    if not seeds:
        return centroid.new_zeros(0, *centroid.shape)
    return centroid + sigma * (seeds_to_ws(G, seeds, 1.0, cls) - G.mapping.w_avg)


def mix_class_ws(class_ws: torch.Tensor, count: int, seed: int) -> torch.Tensor:
    """`count` mixes of two different class ws: coarse rows from one, the rest from the other;
    pairs drawn with RandomState(seed)."""
    k, num_ws = class_ws.shape[:2]
    if k < 2 or count == 0:
        return class_ws.new_zeros(0, *class_ws.shape[1:])
    rng = np.random.RandomState(seed)
    first = rng.randint(k, size=count)
    second = (first + rng.randint(1, k, size=count)) % k  # never the same w twice
    mixed = class_ws[first].clone()
    rest = [i for i in range(num_ws) if i not in band_indices("coarse", num_ws)]
    mixed[:, rest] = class_ws[second][:, rest]
    return mixed


def _class_ws(
    G: Generator,
    scorer: ImageScorer,
    target: Target,
    config: RareConfig,
    given: torch.Tensor | None,
    cls: int | None,
) -> tuple[torch.Tensor, int]:
    """N x num_ws x w_dim class ws (given, or the first class_n filter hits), and the images
    generated to find them."""
    setup = 0
    if given is None:
        found = filter_class(G, scorer, target, config, config.class_n, cls)
        given, setup = found.ws, found.sampled
    if len(given) == 0:
        raise FauxshopError(
            f"centroid: no {target} among {setup} samples; pass class ws (e.g. projected photos)"
        )
    given = given.to(G.mapping.w_avg)
    return (given.unsqueeze(1).repeat(1, G.num_ws, 1) if given.ndim == 2 else given), setup


def centroid_class(
    G: Generator,
    scorer: ImageScorer,
    target: Target,
    config: RareConfig,
    class_ws: torch.Tensor,
    cls: int | None,
) -> RareResult:
    """n images: around the class ws' centroid, and a share `mix` of style mixes of them."""
    n_mix = round(config.mix * config.n) if len(class_ws) >= 2 else 0
    seeds = list(range(config.seed_start, config.seed_start + config.n - n_mix))
    centroid = class_ws.mean(dim=0)
    ws = torch.cat(
        [
            around_centroid(G, centroid, seeds, config.sigma, cls),
            mix_class_ws(class_ws, n_mix, config.seed_start),
        ]
    )
    images = render_ws(G, ws, batch=config.batch, desc="centroid")
    hits = _hits(scorer, target, images, ws)
    return RareResult(images, ws, seeds + [None] * n_mix, hits, config.n)


def conditional_class(
    G: Generator, scorer: ImageScorer, target: Target, config: RareConfig, cls: int
) -> RareResult:
    """n images of G's class `cls`."""
    seeds = list(range(config.seed_start, config.seed_start + config.n))
    ws = seeds_to_ws(G, seeds, config.psi, cls, config.batch)
    images = render_ws(G, ws, batch=config.batch, desc="conditional")
    return RareResult(images, ws, seeds, _hits(scorer, target, images, ws), config.n)


def _generator_class(
    G: Generator, target: Target, config: RareConfig, label_names: Sequence[str] | None
) -> int | None:
    """G's class to sample: `label` (a conditional G needs one for filter and centroid too),
    for the conditional method defaulting to the target's first class name."""
    if config.method != "conditional":
        return class_index(G, config.label, label_names)
    if G.c_dim == 0:
        raise FauxshopError(
            "conditional: this generator is unconditional (c_dim=0); train one with class "
            "labels, or use --method filter or centroid"
        )
    return class_index(G, config.label or target.classes[0], label_names)


def _report(
    result: RareResult,
    features: torch.Tensor,
    real_features: torch.Tensor | None,
    setup: int,
    seconds: float,
) -> dict[str, Any]:
    """Yield counts setup images too: it is the cost of each hit."""
    total = result.sampled + setup
    kept = len(result.images)
    hits = int(result.hits.sum())
    novelty = realism = None
    if real_features is not None and kept:
        real = real_features.to(features)
        novelty = float(torch.cdist(features, real).min(dim=1).values.mean())
        if len(real) > REALISM_K and kept > REALISM_K:
            pr = precision_recall(real.numpy(), features.numpy(), k=REALISM_K)
            realism = pr["precision"]
    return {
        "kept": kept,
        "sampled": result.sampled,
        "setup_samples": setup,
        "yield_per_1000": 1000 * hits / total,
        "precision": hits / kept if kept else None,
        "diversity": float(torch.pdist(features).mean()) if kept >= 2 else None,
        "novelty": novelty,
        "realism": realism,
        "samples_per_s": total / seconds,
    }


def real_class_features(
    scorer: ImageScorer, archive: str | Path, target: Target, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The tagger's features of an archive's real photos of the target class (by label)."""
    data = read_archive(archive)
    names = data.heads.get(target.head)
    if names is None:
        raise FauxshopError(f"{archive}: no {target.head!r} labels to find real {target} in")
    wanted = [i for i, name in enumerate(names) if name in target.classes]
    mask = torch.isin(data.labels[target.head], torch.tensor(wanted, dtype=torch.long))
    if not mask.any():
        raise FauxshopError(f"{archive}: no real {target} photos")
    images = data.images[mask].permute(0, 2, 3, 1).numpy()
    return image_features(scorer, images, device=device)


def rare_samples(
    G: Generator,
    scorer: ImageScorer,
    config: RareConfig,
    class_ws: torch.Tensor | None = None,
    label_names: Sequence[str] | None = None,
    real_features: torch.Tensor | None = None,
    class_ws_cost: int = 0,
) -> RareResult:
    """Images of config.category by config.method, with the report the module describes.

    class_ws (centroid): N x w_dim or N x num_ws x w_dim ws of the class, e.g. projected
    photos; default: the first class_n filter hits. label_names (conditional): G's class
    names. real_features: the tagger's features of real photos, for novelty and realism.
    class_ws_cost: images generated to find the given class_ws (counted in the yield).
    """
    target = parse_target(config.category, scorer.heads, default_head="category")
    cls = _generator_class(G, target, config, label_names)
    start, setup = time.perf_counter(), class_ws_cost
    if config.method == "filter":
        result = filter_class(G, scorer, target, config, config.n, cls)
    elif config.method == "centroid":
        class_ws, searched = _class_ws(G, scorer, target, config, class_ws, cls)
        setup += searched
        result = centroid_class(G, scorer, target, config, class_ws, cls)
    else:
        result = conditional_class(G, scorer, target, config, cls)
    seconds = time.perf_counter() - start
    if len(result.images):
        features = image_features(scorer, result.images, device=result.ws.device)
    else:
        features = torch.zeros(0, 1)
    result.report = {
        "method": config.method,
        "target": str(target),
        **_report(result, features, real_features, setup, seconds),
        "precision_note": (
            "1.0 by construction: filter keeps only what this tagger puts in the class"
            if config.method == "filter"
            else "share of returned images this tagger puts in the class"
        ),
    }
    return result
