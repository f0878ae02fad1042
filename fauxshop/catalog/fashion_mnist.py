"""Fashion-MNIST as a catalog: the real photos every machine here has (Debian's
dataset-fashion-mnist), so the whole pipeline can be run and tested offline.

The idx files become products like any retailer's rows: one PNG per image under the
workspace's images folder, sku `fmnist-{train,test}-00000`, category from the label.
"""

from __future__ import annotations

import gzip
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import numpy as np

from fauxshop.atomic import atomic_path
from fauxshop.catalog.ingest import BATCH_SIZE, IngestReport, map_batches
from fauxshop.catalog.store import ProductRecord, Store
from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.pixels import png_bytes
from fauxshop.progress import progress
from fauxshop.workspace import Workspace

DEFAULT_SOURCE_DIR = Path("/usr/share/datasets/fashion-mnist")
# (category slug, readable name) by label, in Zalando's order.
CLASSES: tuple[tuple[str, str], ...] = (
    ("t-shirt", "T-shirt/top"),
    ("trouser", "Trouser"),
    ("pullover", "Pullover"),
    ("dress", "Dress"),
    ("coat", "Coat"),
    ("sandal", "Sandal"),
    ("shirt", "Shirt"),
    ("sneaker", "Sneaker"),
    ("bag", "Bag"),
    ("ankle-boot", "Ankle boot"),
)
# Our split name → the file stem Zalando uses for it.
SPLIT_STEMS = {"train": "train", "test": "t10k"}
IMAGES_MAGIC = 0x0803  # unsigned bytes, 3 dimensions (count, rows, columns)
LABELS_MAGIC = 0x0801  # unsigned bytes, 1 dimension (count)


class IdxError(FauxshopError, ValueError):
    """An idx file is missing or not what it claims; the message names the file."""


def load_idx(path: Path, magic: int | None = None) -> np.ndarray:
    """The array in an idx file (gzipped or not, told by its first bytes), checked whole."""
    try:
        with open(path, "rb") as f:
            gzipped = f.read(2) == b"\x1f\x8b"
        with gzip.open(path, "rb") if gzipped else open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise IdxError(f"{path}: no such file") from None
    except (OSError, EOFError) as e:  # also a bad or cut-off gzip stream
        raise IdxError(f"{path}: cannot read: {e}") from None
    if len(data) < 4 or data[:2] != b"\0\0" or data[2] != 0x08:
        raise IdxError(f"{path}: not an unsigned-byte idx file (magic bytes {data[:4].hex()})")
    found = int.from_bytes(data[:4], "big")
    if magic is not None and found != magic:
        raise IdxError(f"{path}: magic number {found:#06x}, expected {magic:#06x}")
    ndim = data[3]
    start = 4 + 4 * ndim
    if len(data) < start:
        raise IdxError(f"{path}: header cut short ({len(data)} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:start])
    if len(data) - start != int(np.prod(shape)):
        raise IdxError(
            f"{path}: header says shape {shape} ({int(np.prod(shape))} bytes)"
            f" but {len(data) - start} bytes follow"
        )
    return np.frombuffer(data, np.uint8, offset=start).reshape(shape)


def ingest_fashion_mnist(
    store: Store, workspace: Workspace, source_dir: Path | None = None, limit: int | None = None
) -> IngestReport:
    """Store Fashion-MNIST's train and test images as products (the first `limit` per split)."""
    source_dir = source_dir or DEFAULT_SOURCE_DIR
    splits = {split: _load_split(source_dir, stem, limit) for split, stem in SPLIT_STEMS.items()}
    report = IngestReport(str(source_dir.resolve()))
    config = {"dataset": "fashion-mnist", "source_dir": report.source, "limit": limit}
    # Two workers encode and write PNGs while this thread stores the previous batch; more
    # only fight over the GIL (2 workers ~23 s, 4 workers ~28 s for 70k on 2 cores).
    with (
        store.recorded_run("ingest", config, report.summary),
        ThreadPoolExecutor(max_workers=2) as pool,
    ):
        for split, (images, labels, source) in splits.items():
            out_dir = (workspace.images_dir / "fashion-mnist" / split).resolve()
            out_dir.mkdir(parents=True, exist_ok=True)
            items = progress(
                range(len(images)), desc=f"fashion-mnist {split}", total=len(images), unit="img"
            )
            make = partial(_product, split, images, labels, out_dir, source)
            for results in map_batches(pool, make, items, BATCH_SIZE):
                if any(wrote for _, wrote in results):
                    os.sync()  # the PNGs reach the disk before the store refers to them
                records = [record for record, _ in results]
                report.rows += len(records)
                report.count_upsert(store.upsert_products(records))
    return report


def _load_split(
    source_dir: Path, stem: str, limit: int | None
) -> tuple[np.ndarray, np.ndarray, str]:
    """(images, labels, source) for one split, checked against each other."""
    images_path = _find(source_dir / f"{stem}-images-idx3-ubyte")
    labels_path = _find(source_dir / f"{stem}-labels-idx1-ubyte")
    images = load_idx(images_path, IMAGES_MAGIC)
    labels = load_idx(labels_path, LABELS_MAGIC)
    if len(images) != len(labels):
        raise IdxError(f"{labels_path}: {len(labels)} labels for {len(images)} images")
    if len(labels) and labels.max() >= len(CLASSES):
        index = int(np.argmax(labels >= len(CLASSES)))
        raise IdxError(f"{labels_path}: label {labels[index]} at index {index} is not 0-9")
    return images[:limit], labels[:limit], str(images_path.resolve())


def _find(stem_path: Path) -> Path:
    """The gzipped file if present, else the raw one."""
    for path in (stem_path.with_name(stem_path.name + ".gz"), stem_path):
        if path.is_file():
            return path
    raise IdxError(f"{stem_path}[.gz]: no such file")


def _product(
    split: str, images: np.ndarray, labels: np.ndarray, out_dir: Path, source: str, index: int
) -> tuple[ProductRecord, bool]:
    """Image `index` as a product, and whether its PNG had to be (re)written."""
    path = out_dir / f"{index:05d}.png"
    png = png_bytes(images[index])
    wrote = _write_if_changed(path, png)
    label = int(labels[index])
    slug, name = CLASSES[label]
    height, width = images.shape[1:]
    record = ProductRecord(
        sku=f"fmnist-{split}-{index:05d}",
        source=source,
        title=name,
        category=slug,
        attributes={"label": label},
        image_path=str(path),
        image_sha256=file_sha256(png),
        width=width,
        height=height,
        split=split,
    )
    return record, wrote


def _write_if_changed(path: Path, data: bytes) -> bool:
    """Write `path` unless it already holds `data`; True if it wrote.

    No fsync per file (70k fsyncs took ~25 s here): the caller syncs once per batch, before
    the store refers to the files.
    """
    try:
        if os.path.getsize(path) == len(data) and path.read_bytes() == data:
            return False
    except FileNotFoundError:
        pass
    with atomic_path(path, fsync=False) as tmp:
        tmp.write_bytes(data)
    return True
