"""The rules a composed product must pass: it agrees with itself, and it is not the catalog's.

- tags: the photo's tags are its top class per head, kept when the tagger is at least
  `min_confidence` sure, and as sure as its calibration says that class needs to be right
  often enough on held-out real photos (`tagger/calibration.py`), and the category has that
  attribute (a skirt has no sleeve). A tag below its threshold is left out, not guessed.
- category agreement: the fused tagger (photo + the written text) puts it in the category
  the photo alone gave; a description that reads as another garment fails.
- no contradiction: the text names no value of an attribute the tags fix other than the tag
  ("long sleeves" for a photo tagged sleeveless).
- image novelty: the nearest real photo in the tagger's feature space is at least
  `min_image_distance` x the median real-to-real nearest-neighbour distance away. The scale
  comes from the catalog itself, so the rule means the same on any catalog: 0 would accept
  a pixel copy, 1 demands a product as far from the catalog as a typical real one is from
  its nearest neighbour.
- text novelty: not a real description (case and spacing aside), and no run of words shared
  with one real description covering `max_shared_share` or more of the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fauxshop.catalog.taxonomy import CATEGORY_ATTRIBUTES
from fauxshop.metrics.text import TrainingIndex, contradictions, words
from fauxshop.tagger.calibration import Calibration
from fauxshop.text.corpus import context_from_tags

CHECKS = ("category_agrees", "no_contradiction", "image_novel", "text_novel")


def tags_from_probs(
    probs: Mapping[str, torch.Tensor], heads: Mapping[str, Sequence[str]], min_confidence: float,
    calibration: Calibration | None = None,
) -> tuple[str, dict[str, str], dict[str, float]]:  # fmt: skip
    """(category, attributes, confidence per kept tag) of one image's head probabilities.
    The category is always named; an attribute only when it clears both thresholds."""
    category = heads["category"][int(probs["category"].argmax())]
    applies = CATEGORY_ATTRIBUTES.get(category, tuple(h for h in heads if h != "category"))
    attributes, confidence = {}, {"category": float(probs["category"].max())}
    for head in heads:
        if head == "category" or head not in applies:
            continue
        p, top = float(probs[head].max()), heads[head][int(probs[head].argmax())]
        if p >= max(min_confidence, calibration.threshold(head, top) if calibration else 0.0):
            attributes[head] = top
            confidence[head] = p
    return category, attributes, confidence


def title_from_tags(category: str, attributes: Mapping[str, str]) -> str:
    """'Sleeveless red knee-length dress': the context a shopper would type, capitalised."""
    context = context_from_tags(category, dict(attributes))
    return context[:1].upper() + context[1:]


def contradicted(title: str, description: str) -> dict[str, list[str]]:
    """Attribute -> values the description names against the title's tags ({} when none)."""
    return {k: sorted(v) for k, v in contradictions(title.lower(), description).items()}


@dataclass
class RealCatalog:
    """What novelty is measured against: the real products' tagger features and descriptions."""

    skus: list[str]
    features: torch.Tensor  # N x D
    descriptions: TrainingIndex
    images: np.ndarray | None = None  # N x H x W x C uint8, for showing the nearest one

    def __post_init__(self) -> None:
        if len(self.skus) < 2:
            raise ValueError("novelty needs at least 2 real products")
        distances = torch.cdist(self.features, self.features)
        distances.fill_diagonal_(float("inf"))
        self.typical_distance = float(distances.min(dim=1).values.quantile(0.5))

    def nearest(self, features: torch.Tensor, k: int = 1) -> list[tuple[int, float]]:
        """The k nearest real products, nearest first: (index, distance in units of
        typical_distance)."""
        distances = torch.cdist(features[None].float(), self.features.float())[0]
        order = distances.argsort()[:k].tolist()
        return [(i, float(distances[i]) / self.typical_distance) for i in order]


def text_novelty(description: str, index: TrainingIndex) -> tuple[bool, float]:
    """(exact copy, share of the text's words in its longest run shared with a real text)."""
    n = len(words(description))
    share = index.longest_shared_ngram(description) / n if n else 1.0
    return index.is_copy(description), share
