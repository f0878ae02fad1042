"""An image archive as tagger tensors: uint8 images and one label vector per head.

Heads are `category` (the archive's labels) plus every taxonomy attribute that at least one
image carries. A label that does not apply (a skirt's sleeve), is absent, or names a value
outside the taxonomy is -1, "missing": the loss and the metrics skip it rather than guess.
Unknown values are counted, so a catalog that spells "gray" for "grey" shows up in the report.

Splits come from the archive's per-image `split` (`fauxshop pack` writes it). An archive
without any test image (e.g. one packed from NVIDIA's dataset_tool) holds out every
`HOLDOUT_EVERY`-th image in name order instead, the same ones on every run.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from fauxshop.catalog.archive import products, read_metadata
from fauxshop.catalog.pack import corpus_path
from fauxshop.catalog.taxonomy import ATTRIBUTE_VALUES
from fauxshop.errors import FauxshopError
from fauxshop.image.dataset import ImageArchive
from fauxshop.progress import progress

MISSING = -1
HOLDOUT_EVERY = 10


@dataclass
class TaggerData:
    """Images (uint8 N x C x H x W) with labels per head (int64 N, -1 = missing)."""

    images: torch.Tensor
    labels: dict[str, torch.Tensor]
    heads: dict[str, tuple[str, ...]]
    splits: np.ndarray  # str per image: train / val / test, "" when the archive has none
    unknown: Counter = field(default_factory=Counter)  # "colour=teal" -> images
    texts: list[str] | None = None  # title + description per image, from the archive's corpus
    skus: list[str] | None = None  # the product behind each image, when the archive says

    def __len__(self) -> int:
        return len(self.images)

    @property
    def resolution(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    def split_mask(self, split: str) -> np.ndarray:
        """Which images belong to `split`; without test images, a deterministic holdout."""
        if (self.splits == "test").any():
            return self.splits == split
        holdout = np.arange(len(self)) % HOLDOUT_EVERY == HOLDOUT_EVERY - 1
        if split == "test":
            return holdout
        if split == "train":
            return ~holdout & np.isin(self.splits, ["train", ""])
        return ~holdout & (self.splits == split)

    def select(self, split: str | None) -> TaggerData:
        """The images of one split (None: all of them)."""
        if split is None:
            return self
        index = torch.from_numpy(np.flatnonzero(self.split_mask(split)))
        return TaggerData(
            self.images[index],
            {name: labels[index] for name, labels in self.labels.items()},
            self.heads,
            self.splits[index.numpy()],
            self.unknown,
            None if self.texts is None else [self.texts[i] for i in index.tolist()],
            None if self.skus is None else [self.skus[i] for i in index.tolist()],
        )

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Labelled images per class and head (missing labels not counted)."""
        counts = {}
        for name, classes in self.heads.items():
            labels = self.labels[name]
            per_class = torch.bincount(labels[labels >= 0], minlength=len(classes))
            counts[name] = dict(zip(classes, per_class.tolist(), strict=True))
        return counts


def _label_index(value, classes: tuple[str, ...]) -> int | None:
    """Index of `value` in `classes`, MISSING for no value, None for an unknown value."""
    if value is None or value == "":
        return MISSING
    try:
        return classes.index(str(value))
    except ValueError:
        return None


def read_archive(path: str | Path, heads: dict[str, tuple[str, ...]] | None = None) -> TaggerData:
    """Every image of the archive with its labels; `heads` fixes the vocabulary (a trained
    tagger's), otherwise category names come from the archive and attributes from the taxonomy."""
    path = Path(path)
    archive = ImageArchive(path, use_labels=True)
    extras = products(read_metadata(path))
    category_names = list(archive.label_names) or [str(i) for i in range(archive.c_dim)]
    records = [extras.get(name) or {} for name in archive.names]
    attributes = [record.get("attributes") or {} for record in records]
    if heads is None:
        present = {key for attrs in attributes for key, value in attrs.items() if value}
        heads = {"category": tuple(category_names)}
        heads |= {name: values for name, values in ATTRIBUTE_VALUES.items() if name in present}

    unknown: Counter = Counter()
    labels = {name: np.full(archive.num_images, MISSING, dtype=np.int64) for name in heads}
    for i, (category, attrs) in enumerate(zip(archive.labels, attributes, strict=True)):
        values = {"category": category_names[category] if category < len(category_names) else ""}
        for name, classes in heads.items():
            value = values.get(name, attrs.get(name))
            index = _label_index(value, classes)
            if index is None:
                unknown[f"{name}={value}"] += 1
            else:
                labels[name][i] = index

    images = torch.stack(
        [archive.image(i) for i in progress(range(archive.num_images), "read archive", unit="img")]
    )
    splits = np.array([str(record.get("split") or "") for record in records])
    tensors = {name: torch.from_numpy(values) for name, values in labels.items()}
    skus = [str(record.get("sku") or "") for record in records]
    texts = product_texts(corpus_path(path), skus)
    return TaggerData(images, tensors, heads, splits, unknown, texts, skus)


def product_text(title: str, description: str) -> str:
    """What the text branch reads of a product: its title, then its description."""
    return f"{title.strip()}. {description.strip()}".strip(". ")


def product_texts(corpus: Path, skus: list[str]) -> list[str] | None:
    """Title + description per sku from a `pack` corpus ("" for a sku it lacks); None without
    a corpus file (e.g. an archive from NVIDIA's dataset_tool)."""
    if not corpus.is_file():
        return None
    by_sku = {}
    with open(corpus, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            try:
                row = json.loads(line)
                by_sku[row["sku"]] = product_text(
                    row.get("title") or "", row.get("description") or ""
                )
            except (ValueError, KeyError, TypeError, AttributeError) as e:
                raise FauxshopError(f"{corpus}:{line_no}: not a corpus record ({e})") from e
    return [by_sku.get(sku, "") if sku else "" for sku in skus]
