"""A long-tailed copy of an archive: one class cut to a few images, everything else kept.

The augmentation study needs a rare class it can control: e.g. Fashion-MNIST with dresses
cut to ~1 % of their training images. The copy keeps member names, bytes and per-image
metadata, so the cut images are simply absent; which ones stay is fixed by the seed.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fauxshop.catalog.archive import (
    label_names,
    open_archive,
    products,
    read_member,
    read_metadata,
    write_archive,
)
from fauxshop.errors import FauxshopError


def cut_class(
    archive: str | Path,
    out: str | Path,
    class_name: str,
    keep: int,
    seed: int = 0,
    split: str = "train",
    keep_skus: set[str] | None = None,
) -> dict:
    """Write `out`: `archive` with only `keep` of `class_name`'s `split` images (chosen with
    RandomState(seed)), or with exactly the ones whose sku is in `keep_skus` (the products
    another cut kept: a generator and a classifier then see the same few); returns counts."""
    archive, out = Path(archive), Path(out)
    meta = read_metadata(archive)
    names = label_names(meta)
    if class_name not in names:
        raise FauxshopError(f"{archive}: no class {class_name!r}; it has {', '.join(names)}")
    label = names.index(class_name)
    extras = products(meta)
    candidates = [
        name
        for name, lab in meta["labels"]
        if lab == label and extras.get(name, {}).get("split", split) == split
    ]
    if keep_skus is not None:
        kept = {name for name in candidates if extras.get(name, {}).get("sku") in keep_skus}
        keep = len(kept)
    elif not 0 <= keep <= len(candidates):
        raise FauxshopError(f"keep must be 0..{len(candidates)} {class_name} images, got {keep}")
    else:
        kept = set(np.random.RandomState(seed).choice(candidates, size=keep, replace=False))
    dropped = set(candidates) - kept
    labels = [[name, lab] for name, lab in meta["labels"] if name not in dropped]
    subset = {
        **meta,
        "labels": labels,
        "fauxshop": {
            **meta["fauxshop"],
            "products": {k: v for k, v in extras.items() if k not in dropped},
            "cut": {"class": class_name, "split": split, "kept": keep, "of": len(candidates),
                    "seed": seed, "source": archive.name},
        },
    }  # fmt: skip
    with open_archive(archive) as src, write_archive(out) as dst:
        for name, _ in labels:
            dst.add(name, read_member(src, name))
        dst.add_metadata(subset)
    return {"archive": str(out), "images": len(labels), "kept": keep, "cut": len(dropped)}
