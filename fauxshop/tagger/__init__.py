"""The tagger: category and attribute scores for product photos (and, later, their text).

Latent tools (projection, directions, rare classes) and the product composer depend only on
the `ImageScorer` protocol below, so any classifier with these three members plugs in.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:  # annotations only: the light fauxshop.tagger.config must not pull in torch
    import torch


class ImageScorer(Protocol):
    """Scores images the way the generator makes them: float N x 3 x H x W in [-1, 1]."""

    heads: dict[str, tuple[str, ...]]  # head name (category, colour, ...) -> class names

    def predict(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Softmax probabilities per head, N x len(heads[name]); any H x W is accepted."""
        ...

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """N x D embedding, differentiable in `images` (perceptual loss, novelty, diversity)."""
        ...
