from __future__ import annotations

import gzip
import hashlib
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fauxshop.catalog.fashion_mnist import (
    CLASSES,
    DEFAULT_SOURCE_DIR,
    IdxError,
    ingest_fashion_mnist,
    load_idx,
)
from fauxshop.catalog.store import Store
from fauxshop.workspace import Workspace


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool) -> Path:
    data = idx_bytes(array)
    if gz:
        path = path.with_name(path.name + ".gz")
        data = gzip.compress(data)
    path.write_bytes(data)
    return path


@pytest.fixture
def source(tmp_path) -> Path:
    """3 train images (gzipped files) and 2 test images (raw files), 6x5 pixels."""
    folder = tmp_path / "fmnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for stem, n, labels, gz in (("train", 3, [3, 0, 9], True), ("t10k", 2, [1, 3], False)):
        images = rng.integers(0, 256, (n, 6, 5), dtype=np.uint8)
        write_idx(folder / f"{stem}-images-idx3-ubyte", images, gz)
        write_idx(folder / f"{stem}-labels-idx1-ubyte", np.array(labels), gz)
    return folder


@pytest.fixture
def workspace(tmp_path) -> Workspace:
    return Workspace.open(tmp_path / "work")


@pytest.fixture
def store(workspace):
    with Store(workspace.db_path) as s:
        yield s


def test_load_idx_reads_gzipped_and_raw_alike(tmp_path):
    array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    raw = write_idx(tmp_path / "a-idx3-ubyte", array, gz=False)
    gz = write_idx(tmp_path / "b-idx3-ubyte", array, gz=True)
    np.testing.assert_array_equal(load_idx(raw), array)
    np.testing.assert_array_equal(load_idx(gz, magic=0x0803), array)


def test_ingest_small_files(source, workspace, store):
    report = ingest_fashion_mnist(store, workspace, source)
    assert (report.added, report.rows) == (5, 5)
    dress = store.product("fmnist-train-00000")
    assert (dress["category"], dress["title"], dress["split"]) == ("dress", "Dress", "train")
    assert json.loads(dress["attributes"]) == {"label": 3}
    assert (dress["width"], dress["height"], dress["description"]) == (5, 6, "")
    assert store.product("fmnist-train-00001")["category"] == "t-shirt"
    assert store.product("fmnist-train-00002")["title"] == "Ankle boot"
    test = store.product("fmnist-test-00001")
    assert (test["split"], test["category"]) == ("test", "dress")

    path = Path(dress["image_path"])
    assert path == (workspace.images_dir / "fashion-mnist" / "train" / "00000.png").resolve()
    assert dress["image_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    pixels = np.asarray(Image.open(path))
    expected = load_idx(source / "train-images-idx3-ubyte.gz")[0]
    np.testing.assert_array_equal(pixels, expected)


def test_second_ingest_changes_and_rewrites_nothing(source, workspace, store):
    ingest_fashion_mnist(store, workspace, source)
    png = workspace.images_dir / "fashion-mnist" / "test" / "00001.png"
    before = png.stat().st_mtime_ns
    report = ingest_fashion_mnist(store, workspace, source)
    assert (report.added, report.updated, report.unchanged) == (0, 0, 5)
    assert png.stat().st_mtime_ns == before


def test_damaged_png_is_rewritten(source, workspace, store):
    ingest_fashion_mnist(store, workspace, source)
    product = store.product("fmnist-train-00001")
    Path(product["image_path"]).write_bytes(b"scribbled over")
    report = ingest_fashion_mnist(store, workspace, source)
    assert report.unchanged == 5
    data = Path(product["image_path"]).read_bytes()
    assert hashlib.sha256(data).hexdigest() == product["image_sha256"]


def test_limit_per_split(source, workspace, store):
    report = ingest_fashion_mnist(store, workspace, source, limit=1)
    assert report.added == 2
    assert [p["sku"] for p in store.products()] == ["fmnist-train-00000", "fmnist-test-00000"]


def test_bad_magic_number(source, workspace, store):
    path = source / "t10k-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(np.zeros((2, 1, 1), np.uint8)))  # an images file where labels go
    with pytest.raises(IdxError) as caught:
        ingest_fashion_mnist(store, workspace, source)
    assert str(path) in str(caught.value) and "magic number 0x0803, expected 0x0801" in str(
        caught.value
    )
    assert store.count() == 0


def test_not_an_idx_file(tmp_path):
    path = tmp_path / "x-ubyte"
    path.write_bytes(b"hello world")
    with pytest.raises(IdxError, match="not an unsigned-byte idx file"):
        load_idx(path)


def test_size_mismatch(tmp_path):
    path = tmp_path / "x-ubyte"
    path.write_bytes(idx_bytes(np.zeros((4, 2, 2), np.uint8))[:-3])
    with pytest.raises(IdxError, match=r"shape \(4, 2, 2\) \(16 bytes\) but 13 bytes follow"):
        load_idx(path)


def test_cut_off_gzip(tmp_path):
    path = tmp_path / "x-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(np.zeros((40, 2, 2), np.uint8)))[:-12])
    with pytest.raises(IdxError, match="cannot read"):
        load_idx(path)


def test_missing_file_and_label_count(source, workspace, store):
    (source / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(IdxError, match=r"t10k-images-idx3-ubyte\[\.gz\]: no such file"):
        ingest_fashion_mnist(store, workspace, source)
    write_idx(source / "t10k-images-idx3-ubyte", np.zeros((3, 6, 5), np.uint8), gz=False)
    with pytest.raises(IdxError, match="2 labels for 3 images"):
        ingest_fashion_mnist(store, workspace, source)


def test_label_out_of_range(source, workspace, store):
    write_idx(source / "t10k-labels-idx1-ubyte", np.array([1, 10]), gz=False)
    with pytest.raises(IdxError, match="label 10 at index 1 is not 0-9"):
        ingest_fashion_mnist(store, workspace, source)


def test_real_debian_files(workspace, store):
    # The Makefile installs dataset-fashion-mnist before the tests run.
    assert (DEFAULT_SOURCE_DIR / "train-images-idx3-ubyte.gz").is_file()
    report = ingest_fashion_mnist(store, workspace, limit=500)
    assert report.added == 1000
    counts = {split: sum(1 for _ in store.products(split=split)) for split in ("train", "test")}
    assert counts == {"train": 500, "test": 500}
    slugs = {slug for slug, _ in CLASSES}
    rows = list(store.products())
    assert {r["category"] for r in rows} == slugs  # 500 images hold every class
    for row in rows:
        label = json.loads(row["attributes"])["label"]
        assert (row["category"], row["title"]) == CLASSES[label]
        assert (row["width"], row["height"]) == (28, 28)
    # Zalando's first training image is an ankle boot.
    assert store.product("fmnist-train-00000")["category"] == "ankle-boot"
    assert store.product("fmnist-test-00499")["split"] == "test"
