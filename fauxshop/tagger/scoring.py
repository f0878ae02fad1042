"""Scoring uint8 images with any `ImageScorer`, as saved photos and generated images are.

Pixels go in as N x H x W x C uint8 (what a PNG decodes to and what `render_ws` returns), are
converted one fixed-size batch at a time (so an image's score never depends on its batch
neighbours) and come back on the CPU: the same numbers for a real photo, a generated image
and the same image read back from disk.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np
import torch

from fauxshop.pixels import from_uint8
from fauxshop.runtime import in_fixed_batches
from fauxshop.tagger import ImageScorer

if TYPE_CHECKING:
    from fauxshop.tagger.model import Tagger


def to_scorer_input(images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """N x H x W x C uint8 -> N x 3 x H x W float in [-1, 1], as real photos are scored."""
    x = from_uint8(images.to(device).permute(0, 3, 1, 2))
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x


def _scorer_batches(
    fn: Callable[[torch.Tensor], torch.Tensor],
    images: np.ndarray,
    batch: int,
    device: torch.device | str,
) -> torch.Tensor:
    """fn over uint8 images in fixed batches, converted one batch at a time."""
    pixels = torch.from_numpy(np.ascontiguousarray(images))
    with torch.no_grad():
        return in_fixed_batches(lambda rows: fn(to_scorer_input(rows, device)), pixels, batch)


def _by_head(heads: dict[str, tuple[str, ...]], flat: torch.Tensor) -> dict[str, torch.Tensor]:
    """N x sum(classes) columns split back into one N x classes block per head."""
    sizes = [len(classes) for classes in heads.values()]
    return dict(zip(heads, flat.split(sizes, dim=1), strict=True))


def score_images(
    scorer: ImageScorer, images: np.ndarray, batch: int = 64, device: torch.device | str = "cpu"
) -> dict[str, torch.Tensor]:
    """Every head's probabilities for N x H x W x C uint8 images, on the CPU."""

    def predict(x: torch.Tensor) -> torch.Tensor:
        probs = scorer.predict(x)
        return torch.cat([probs[h].float().cpu() for h in scorer.heads], dim=1)

    return _by_head(scorer.heads, _scorer_batches(predict, images, batch, device))


def image_features(
    scorer: ImageScorer, images: np.ndarray, batch: int = 64, device: torch.device | str = "cpu"
) -> torch.Tensor:
    """The scorer's N x D embedding of uint8 images, on the CPU."""
    return _scorer_batches(lambda x: scorer.features(x).float().cpu(), images, batch, device)


def scores_and_features(
    tagger: Tagger, images: np.ndarray, batch: int = 64, device: torch.device | str = "cpu"
) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    """`score_images` and `image_features` of the same images from one pass of the tagger's
    convolutions (the composer needs both; they are most of its cost): the heads read the
    features as `predict` does, so the numbers are the same bits as the two calls'."""
    dim = tagger.embedding_dim

    def both(x: torch.Tensor) -> torch.Tensor:
        features = tagger.features(x)
        embedding = tagger.dropout(features)
        probs = [tagger.classifiers[h](embedding).softmax(dim=1) for h in tagger.heads]
        return torch.cat([features, *probs], dim=1).float().cpu()

    flat = _scorer_batches(both, images, batch, device)
    return _by_head(tagger.heads, flat[:, dim:]), flat[:, :dim]
