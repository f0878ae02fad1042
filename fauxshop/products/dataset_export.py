"""Composed products as a training set: the Hugging Face `datasets` imagefolder layout.

`datasets.load_dataset("imagefolder", data_dir=FOLDER)` reads the photos under images/ and
one metadata.jsonl row per photo: `file_name` (relative to the metadata file), the product's
fields, one column per attribute the tagger can claim (null where the photo's tags did not
claim it, so every row has the same columns), `synthetic: true` and the full provenance, so
a pipeline mixing these rows with real ones can always tell them apart and trace each back.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from fauxshop.atomic import atomic_open
from fauxshop.errors import FauxshopError

FIELDS = ("sku", "title", "description", "category")


def metadata_row(record: dict, image: str, attributes: Sequence[str]) -> dict:
    """One metadata.jsonl row: the photo's path, the product's fields and its provenance."""
    return {
        "file_name": image,
        **{k: record[k] for k in FIELDS},
        **{name: record["attributes"].get(name) for name in attributes},
        "synthetic": True,
        "nearest_sku": record.get("nearest_sku"),
        "provenance": record.get("provenance", {}),
    }


def write_imagefolder(products: Sequence[tuple[dict, str]], folder: Path) -> Path:
    """`products` as (record, image path relative to `folder`) into folder/metadata.jsonl."""
    attributes = sorted({name for record, _ in products for name in record["attributes"]})
    clash = sorted(set(attributes) & {*FIELDS, "file_name", "synthetic", "nearest_sku"})
    if clash:  # a tagger head named like a field would silently overwrite it
        raise FauxshopError(f"attribute names clash with metadata fields: {', '.join(clash)}")
    path = folder / "metadata.jsonl"
    with atomic_open(path, encoding="utf-8") as f:
        for record, image in products:
            row = metadata_row(record, image, attributes)
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path
