"""The products an export reads: a `products` run folder or the studio's saved products.

A run folder (written by `products/export.py`) holds products.jsonl and images/SKU.png; the
studio keeps each saved product's record in the store and its photo in WORKDIR/exports/studio.
Either way every photo is decoded before an export trusts it (`catalog.images.inspect_image`):
a product whose photo is missing or broken is skipped and counted by reason, never copied
half-way into a shop's feed or a training set. The studio also saves products that failed a
check (a near copy of a real product, a text naming what the photo does not show); those are
skipped as `failed_checks`, and a hand-edited record without the fields an export reads as
`bad_record` (a sku that is no file name: `bad_sku`).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from fauxshop.catalog.images import ImageInfo, ImageProblem, inspect_image
from fauxshop.catalog.store import Store
from fauxshop.errors import FauxshopError
from fauxshop.products.export_config import STUDIO
from fauxshop.progress import progress
from fauxshop.workspace import Workspace

# What every exporter reads from a record, and its type.
FIELDS = {"title": str, "description": str, "category": str, "attributes": dict}


@dataclass
class SourceProduct:
    record: dict  # sku, title, description, category, attributes, status, provenance, ...
    photo: Path
    info: ImageInfo  # the decoded photo's format and size


@dataclass
class Source:
    name: str  # the run folder's name, or "studio"
    products: list[SourceProduct] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> products
    examples: dict[str, str] = field(default_factory=dict)  # reason -> one detail, for people

    def skip(self, reason: str, detail: str) -> None:
        self.skipped[reason] += 1
        self.examples.setdefault(reason, detail)


def read_source(source: str | Path, workdir: Path) -> Source:
    """The products of `source` (a run folder, or `STUDIO` for the workspace's studio saves)
    whose photos decode, in their saved order; the rest counted in `skipped`."""
    if str(source) == STUDIO:
        return _checked(STUDIO, _studio_records(Workspace(Path(workdir))))
    folder = Path(source)
    table = folder / "products.jsonl"
    if not table.is_file():
        raise FauxshopError(f"{folder}: not a products run folder (no products.jsonl)")
    records = []
    with open(table, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            if line.strip():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise FauxshopError(f"{table}: line {number}: not JSON ({e.msg})") from None
    # The run folder may have moved since: its photos are found by its layout, not by the
    # absolute image_path recorded when it was written.
    pairs = [(r, folder / "images" / f"{r.get('sku', '')}.png") for r in records]
    return _checked(folder.name, pairs)


def _studio_records(ws: Workspace) -> list[tuple[dict, Path | None]]:
    """The store's composed products whose photo the studio saved, records as dicts."""
    studio_dir = (ws.exports_dir / "studio").resolve()
    if not ws.db_path.is_file():
        raise FauxshopError(f"{ws.db_path}: no store, so no studio products to export")
    pairs = []
    with Store(ws.db_path) as store:
        for row in store.generated():
            path = Path(row["image_path"]) if row["image_path"] else None
            if path is None or path.resolve().parent != studio_dir:
                continue  # a `products` run's candidate: export its run folder instead
            record = {k: row[k] for k in ("sku", "title", "description", "category", "status")}
            for key in ("attributes", "checks", "provenance"):
                record[key] = json.loads(row[key])
            pairs.append((record, path))
    return pairs


def _checked(name: str, pairs: list[tuple[dict, Path]]) -> Source:
    source = Source(name)
    for record, photo in progress(pairs, "check photos", unit="photo"):
        sku = record.get("sku")
        missing = [k for k, kind in FIELDS.items() if not isinstance(record.get(k), kind)]
        if not isinstance(sku, str) or not sku or Path(sku).name != sku:
            source.skip("bad_sku", f"{sku!r}: not a file name")
        elif missing:
            source.skip("bad_record", f"{sku}: no {', '.join(missing)}")
        elif record.get("status", "accepted") != "accepted":
            source.skip("failed_checks", f"{sku}: status {record['status']}")
        else:
            try:
                source.products.append(SourceProduct(record, photo, inspect_image(photo)))
            except ImageProblem as e:
                source.skip(e.reason, e.detail)
    return source
