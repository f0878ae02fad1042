import fcntl
import io
import json
import os
import zipfile

import numpy as np
import pytest
from PIL import Image

from fauxshop.catalog.archive import read_metadata
from fauxshop.catalog.pack import PackConfig, corpus_path, pack, parse_size
from fauxshop.catalog.store import ProductRecord, Store
from fauxshop.errors import FauxshopError
from fauxshop.pixels import letterbox


def _kept_store(tmp_path, n=5):
    store = Store(tmp_path / "catalog.db")
    records = []
    for i in range(n):
        path = tmp_path / f"p{i}.png"
        Image.new("RGB", (60, 90), (200, 20 * i, 30)).save(path)
        category = "jumpsuit" if i == 0 else "dress"
        split = "test" if i == n - 1 else "train"
        records.append(
            ProductRecord(
                sku=f"S{i}",
                source="t",
                title=f"Red dress {i}",
                description=f"A red dress number {i}.",
                category=category,
                attributes={"colour": "red"},
                image_path=str(path),
                split=split,
            )
        )
    store.upsert_products(records)
    for row in store.products():
        store.set_verdict(row["id"], "kept", None, {})
    return store


def test_archive_has_dataset_tool_layout_with_labels_and_extras(tmp_path):
    store = _kept_store(tmp_path)
    out = tmp_path / "a.zip"
    summary = pack(store, out, PackConfig(64, 32))
    assert summary["packed"] == 5 and summary["per_label"] == {"dress": 4, "jumpsuit": 1}
    dataset = read_metadata(out)
    with zipfile.ZipFile(out) as zf:
        names = [n for n in zf.namelist() if n.endswith(".png")]
        assert names == [f"00000/img{i:08d}.png" for i in range(5)]
        first = Image.open(io.BytesIO(zf.read(names[0])))
        assert first.size == (32, 64) and first.mode == "RGB"
    assert dataset["labels"][0] == ["00000/img00000000.png", 1]  # jumpsuit sorts after dress
    extras = dataset["fauxshop"]
    assert extras["label_names"] == ["dress", "jumpsuit"]
    assert extras["products"]["00000/img00000004.png"]["split"] == "test"


def test_corpus_has_one_record_per_kept_product_with_split(tmp_path):
    store = _kept_store(tmp_path)
    out = tmp_path / "a.zip"
    pack(store, out, PackConfig(32, 32))
    lines = corpus_path(out).read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["sku"] for r in records] == [f"S{i}" for i in range(5)]
    assert records[2]["description"] == "A red dress number 2."
    assert [r["split"] for r in records].count("test") == 1
    assert set(records[0]) == {"sku", "title", "category", "attributes", "description", "split"}


def test_same_store_gives_same_bytes(tmp_path):
    store = _kept_store(tmp_path)
    pack(store, tmp_path / "a.zip", PackConfig(32, 32))
    pack(store, tmp_path / "b.zip", PackConfig(32, 32))
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_split_filter_packs_one_split(tmp_path):
    store = _kept_store(tmp_path)
    assert pack(store, tmp_path / "t.zip", PackConfig(32, 32, split="test"))["packed"] == 1


def test_unreadable_image_is_skipped_and_counted(tmp_path):
    store = _kept_store(tmp_path)
    (tmp_path / "p2.png").write_bytes(b"not a png")
    summary = pack(store, tmp_path / "a.zip", PackConfig(32, 32))
    assert summary["packed"] == 4
    assert sum(summary["skipped"].values()) == 1


def test_letterbox_keeps_aspect_and_pads_with_background():
    tall = Image.new("RGB", (50, 100), (255, 0, 0))
    framed = np.asarray(letterbox(tall, 64, 64, (255, 255, 255)))
    assert framed.shape == (64, 64, 3)
    assert (framed[:, :8] == 255).all() and (framed[:, -8:] == 255).all()  # padded sides
    assert (framed[:, 24:40, 0] > 250).all() and (framed[:, 24:40, 1] < 5).all()  # red centre


def test_no_kept_products_is_a_clear_error(tmp_path):
    with pytest.raises(FauxshopError, match="no kept products"):
        pack(Store(tmp_path / "c.db"), tmp_path / "a.zip", PackConfig(32, 32))
    assert not (tmp_path / "a.zip").exists()


@pytest.mark.parametrize("text,expected", [("64", (64, 64)), ("128x64", (128, 64))])
def test_parse_size(text, expected):
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["64x", "abc", "1x2x3"])
def test_parse_size_rejects_garbage(text):
    with pytest.raises(FauxshopError):
        parse_size(text)


def test_sides_must_be_powers_of_two():
    with pytest.raises(FauxshopError, match="powers of two"):
        PackConfig(100, 64)


def test_pack_is_recorded_as_a_run(tmp_path):
    store = _kept_store(tmp_path)
    pack(store, tmp_path / "a.zip", PackConfig(32, 32))
    run = store.db.execute("SELECT * FROM runs WHERE kind = 'pack'").fetchone()
    assert run["status"] == "finished" and json.loads(run["summary"])["packed"] == 5


def test_cut_class_keeps_k_train_images_of_the_class_and_everything_else(tmp_path):
    from fauxshop.catalog.subset import cut_class
    from fauxshop.tagger.data import read_archive

    store = _kept_store(tmp_path, n=9)  # 8 dresses: 7 train (+ the test one), 1 jumpsuit
    pack(store, tmp_path / "a.zip", PackConfig(32, 16))
    summary = cut_class(tmp_path / "a.zip", tmp_path / "cut.zip", "dress", keep=2, seed=1)
    assert summary == {"archive": str(tmp_path / "cut.zip"), "images": 4, "kept": 2, "cut": 5}
    before, after = read_archive(tmp_path / "a.zip"), read_archive(tmp_path / "cut.zip")
    dress = after.heads["category"].index("dress")
    is_dress = after.labels["category"] == dress
    assert sorted(after.splits[is_dress.numpy()].tolist()) == ["test", "train", "train"]
    assert (after.labels["category"] != dress).sum() == 1  # the jumpsuit stays
    with zipfile.ZipFile(tmp_path / "a.zip") as a, zipfile.ZipFile(tmp_path / "cut.zip") as c:
        kept = [n for n in c.namelist() if n.endswith(".png")]
        assert all(a.read(n) == c.read(n) for n in kept)  # same bytes under the same names
    assert read_metadata(tmp_path / "cut.zip")["fauxshop"]["cut"]["of"] == 7
    again = cut_class(tmp_path / "a.zip", tmp_path / "again.zip", "dress", keep=2, seed=1)
    assert again == {**summary, "archive": str(tmp_path / "again.zip")}
    assert len(before) == 9
    kept_skus = {s for s, c in zip(after.skus, after.labels["category"].tolist(), strict=True)
                 if c == dress}  # fmt: skip
    same = cut_class(tmp_path / "a.zip", tmp_path / "same.zip", "dress", 0, keep_skus=kept_skus)
    assert same["kept"] == 2 and set(read_archive(tmp_path / "same.zip").skus) == set(after.skus)
    with pytest.raises(FauxshopError, match="no class 'coat'"):
        cut_class(tmp_path / "a.zip", tmp_path / "x.zip", "coat", keep=1)
    with pytest.raises(FauxshopError, match="keep must be 0..7"):
        cut_class(tmp_path / "a.zip", tmp_path / "x.zip", "dress", keep=8)


def test_a_pack_killed_between_its_two_renames_leaves_a_pair_readers_refuse(tmp_path, monkeypatch):
    store = _kept_store(tmp_path)
    out = tmp_path / "a.zip"
    pack(store, out, PackConfig(32, 32))
    store.set_verdict(next(store.products())["id"], "pruned", "test", {})

    class Killed(BaseException):
        """Stops pack where a SIGKILL could: after the corpus's rename, before the archive's."""

    real_replace = os.replace

    def replace(src, dst):
        if str(dst).endswith(".zip"):
            raise Killed
        real_replace(src, dst)

    monkeypatch.setattr("fauxshop.atomic.os.replace", replace)
    with pytest.raises(Killed):
        pack(store, out, PackConfig(32, 32))
    with pytest.raises(FauxshopError, match=r"a.corpus.jsonl: not the corpus packed with a.zip"):
        corpus_path(out)
    monkeypatch.setattr("fauxshop.atomic.os.replace", real_replace)
    assert pack(store, out, PackConfig(32, 32))["packed"] == 4
    assert len(corpus_path(out).read_text().splitlines()) == 4


def test_pack_removes_a_killed_packs_temp_files_and_refuses_a_concurrent_pack(tmp_path):
    store = _kept_store(tmp_path)
    out = tmp_path / "a.zip"
    stale = [tmp_path / ".a.zip.k2j4x.tmp", tmp_path / ".a.corpus.jsonl.q81z.tmp"]
    other = tmp_path / ".b.zip.a1b2.tmp"  # another archive's: not this pack's to remove
    for path in (*stale, other):
        path.write_bytes(b"PK half a zip")
    pack(store, out, PackConfig(32, 32))
    assert [p.exists() for p in stale] == [False, False] and other.exists()
    with open(tmp_path / ".a.zip.lock", "a") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        with pytest.raises(FauxshopError, match="a.zip: another pack is writing it"):
            pack(store, out, PackConfig(32, 32))
