"""The training-image archive format, read and written in one place.

An archive is a zip of PNGs plus `dataset.json`, in the layout of NVIDIA's dataset_tool:
image members read in sorted name order, labels as `{"labels": [[name, int], ...]}`, and
fauxshop's own extras (label names, per-image sku, split and attributes) under a `fauxshop`
key that dataset_tool ignores (among them the sha256 of the text corpus packed beside it).
Training, FID, the tagger, `pack` and `cut_class` all meet here, so they agree on member
names, labels, decoding and the bytes written.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from fauxshop.atomic import atomic_path
from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError

METADATA = "dataset.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# A fixed timestamp in every zip entry, so the same images give the same bytes.
ZIP_DATE = (2020, 1, 1, 0, 0, 0)


# -- reading -------------------------------------------------------------------------------------


def open_archive(path: str | Path) -> zipfile.ZipFile:
    """The archive's zip, or a FauxshopError saying why it cannot be read."""
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as e:
        raise FauxshopError(f"{path}: not a readable zip archive ({e})") from e


def image_names(zf: zipfile.ZipFile, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[str]:
    """Image members in sorted order, as NVIDIA's dataset loader reads them."""
    return sorted(n for n in zf.namelist() if n.lower().endswith(suffixes))


def read_member(zf: zipfile.ZipFile, name: str) -> bytes:
    try:
        return zf.read(name)
    except (zipfile.BadZipFile, OSError, KeyError) as e:
        raise FauxshopError(f"{zf.filename}: {name}: cannot read entry ({e})") from e


def image_shape(zf: zipfile.ZipFile, name: str) -> tuple[int, tuple[int, int]]:
    """Channels (1 grey, else 3) and (H, W) of one member, from its header only."""
    try:
        with Image.open(io.BytesIO(read_member(zf, name))) as img:
            return 1 if img.mode == "L" else 3, (img.height, img.width)
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{zf.filename}: {name}: unreadable image ({e})") from e


def decode_image(zf: zipfile.ZipFile, name: str) -> np.ndarray:
    """One member as H x W x C uint8: grey stays one channel, anything else becomes RGB."""
    try:
        with Image.open(io.BytesIO(read_member(zf, name))) as img:
            return np.asarray(img if img.mode == "L" else img.convert("RGB")).reshape(
                img.height, img.width, -1
            )
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{zf.filename}: {name}: unreadable image ({e})") from e


def metadata(zf: zipfile.ZipFile) -> dict | None:
    """The archive's dataset.json, None when it has none."""
    if METADATA not in zf.namelist():
        return None
    try:
        return json.loads(read_member(zf, METADATA))
    except ValueError as e:
        raise FauxshopError(f"{zf.filename}: {METADATA} is not valid JSON ({e})") from e


def read_metadata(path: str | Path) -> dict:
    """An archive's dataset.json (labels, and fauxshop's per-image metadata); it must have one."""
    with open_archive(path) as zf:
        meta = metadata(zf)
    if meta is None:
        raise FauxshopError(f"{path}: no {METADATA} in the archive (labels needed)")
    return meta


def label_names(meta: dict) -> list[str]:
    """The class names fauxshop's `pack` recorded ([] when the archive has none)."""
    return list((meta.get("fauxshop") or {}).get("label_names") or [])


def products(meta: dict) -> dict[str, dict]:
    """Per-image extras by member name: sku, split and attributes ({} when absent)."""
    return (meta.get("fauxshop") or {}).get("products") or {}


def corpus_sha256(meta: dict) -> str | None:
    """The sha256 of the text corpus `pack` wrote with the archive (None: not recorded)."""
    return (meta.get("fauxshop") or {}).get("corpus_sha256")


def archive_fingerprint(path: str | Path) -> str:
    """sha256 of the archive's bytes: names the data a run or a stats cache was made from."""
    return file_sha256(path)


# -- writing -------------------------------------------------------------------------------------


def member_name(index: int) -> str:
    """The name `pack` gives its `index`-th image, in dataset_tool's layout."""
    return f"{index // 1000:05d}/img{index:08d}.png"


class ArchiveWriter:
    """Members added one by one, then dataset.json; stored uncompressed with a fixed date."""

    def __init__(self, zf: zipfile.ZipFile) -> None:
        self._zf = zf

    def add(self, name: str, data: bytes) -> None:
        self._zf.writestr(zipfile.ZipInfo(name, ZIP_DATE), data)

    def add_metadata(self, meta: dict) -> None:
        self.add(METADATA, json.dumps(meta, sort_keys=True, ensure_ascii=False).encode())


@contextlib.contextmanager
def write_archive(path: str | Path) -> Iterator[ArchiveWriter]:
    """An archive written atomically: `path` appears, complete, only if the block succeeds."""
    with atomic_path(path) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
        yield ArchiveWriter(zf)
