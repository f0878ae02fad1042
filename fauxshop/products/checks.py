"""The rules a composed product must pass: it agrees with itself, and it is not the catalog's.

- tags: the photo's tags are its top class per head, kept when the tagger is at least
  `min_confidence` sure, and as sure as its calibration says that class needs to be right
  often enough on held-out real photos (`tagger/calibration.py`), and the category has that
  attribute (a skirt has no sleeve). A tag below its threshold is left out, not guessed.
- category agreement: the fused tagger (photo + the written text) puts it in the category
  the photo alone gave; a description that reads as another garment fails.
- grounded text: the writer fills in what its context leaves open (a colour, a print) and
  may name another value than a tag ("long sleeves" for a photo tagged sleeveless). Every
  sentence naming an attribute value the photo's tags do not claim is dropped; the product
  fails when fewer than `min_words` words are left.
- image novelty: the nearest real photo in the tagger's feature space is at least
  `min_image_distance` x the median real-to-real nearest-neighbour distance away. The scale
  comes from the catalog itself, so the rule means the same on any catalog: 0 would accept
  a pixel copy, 1 demands a product as far from the catalog as a typical real one is from
  its nearest neighbour.
- text novelty: not a real description (case and spacing aside), and no run of words shared
  with one real description covering `max_shared_share` or more of the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from fauxshop.catalog.taxonomy import CATEGORY_ATTRIBUTES, find_mentions
from fauxshop.metrics.text import TrainingIndex, words
from fauxshop.tagger.calibration import Calibration
from fauxshop.text.corpus import context_from_tags

CHECKS = ("category_agrees", "grounded_text", "image_novel", "text_novel")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")
# A catalog's product-code line ("SKU: FX-004211", "Style no. 8812"): the writer learns the
# line and invents a code, which would name another (real or no) product in a shop's feed.
_CODE_LINE = re.compile(
    r"(-\s*)?(product code|sku|style|item|article|art|ref|model|mpn)\.?\s*(no\.?|number|#)?"
    r"\s*[:#]?\s*[A-Z]*[-/]?\d[\w/-]*\.?",
    re.IGNORECASE,
)


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


def grounded_text(description: str, context: str) -> tuple[str, list[str]]:
    """(the description keeping only the sentences whose every attribute value is one the
    context, made of the photo's tags, names; the sentences dropped). Lines stay lines; a
    heading ("Details:") whose list lost every item goes too, and so does a product-code line:
    the product's own code is its record's sku, not one the writer made up."""
    claimed = find_mentions(context)

    def supported(sentence: str) -> bool:
        named = find_mentions(sentence).items()
        return all(values <= claimed.get(head, set()) for head, values in named)

    lines: list[str] = []
    dropped: list[str] = []
    for line in description.split("\n"):
        if _CODE_LINE.fullmatch(line.strip()):
            dropped.append(line.strip())
            continue
        kept = []
        for sentence in _SENTENCE_END.split(line.strip()):
            (kept if supported(sentence) else dropped).append(sentence)
        if kept or not line.strip():
            lines.append(" ".join(kept))
    for i in reversed(range(len(lines))):
        heading = lines[i].endswith(":") and not lines[i].startswith("-")
        if heading and not (i + 1 < len(lines) and lines[i + 1].startswith("-")):
            del lines[i]
    return "\n".join(lines).strip(), dropped


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
