"""The image tagger: data and missing labels, the model's contract, files, and training."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from fauxshop.catalog import archive as archive_format
from fauxshop.config_args import add_dataclass_args, dataclass_from_args
from fauxshop.errors import FauxshopError
from fauxshop.pixels import png_bytes
from fauxshop.tagger import ImageScorer
from fauxshop.tagger.config import TaggerConfig
from fauxshop.tagger.data import MISSING, read_archive
from fauxshop.tagger.loss import masked_cross_entropy
from fauxshop.tagger.model import Tagger, load_tagger, save_tagger
from fauxshop.tagger.scoring import score_images
from fauxshop.tagger.text import head_accuracy, load_text_tagger
from fauxshop.tagger.train import (
    evaluate_tagger,
    format_report,
    train_tagger,
)

TINY = {"widths": "8,16", "epochs": 2, "batch": 8, "device": "cpu"}
HEADS = {"category": ("dress", "skirt"), "colour": ("red", "blue", "green")}


@pytest.fixture(autouse=True)
def _one_thread():
    """Same thread count every run: CPU results are bit-exact only per thread count."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def demo_archive(tmp_path_factory):
    """200 rendered demo products at 32x16, every third one held out as `test`."""
    from fauxshop.catalog.config import PruneConfig
    from fauxshop.catalog.demo_catalog import write_demo_catalog
    from fauxshop.catalog.ingest import ingest_table
    from fauxshop.catalog.pack import PackConfig, pack
    from fauxshop.catalog.prune import prune
    from fauxshop.catalog.store import Store

    root = tmp_path_factory.mktemp("tagger-demo")
    catalog = root / "catalog"
    write_demo_catalog(catalog, 200, seed=5, flaw_rate=0.0)
    table = catalog / "products.jsonl"
    rows = [json.loads(line) for line in table.read_text().splitlines()]
    for i, row in enumerate(rows):
        row["split"] = "test" if i % 3 == 2 else "train"
    table.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with Store(root / "catalog.db") as store:
        ingest_table(store, table, catalog)
        prune(store, PruneConfig())
        pack(store, root / "demo.zip", PackConfig(32, 16))
    return root / "demo.zip"


def write_archive(path, images, categories, attributes=None, splits=None, label_names=None):
    """A packed-style archive from uint8 H x W (grey) or H x W x 3 arrays."""
    labels, products = [], {}
    with archive_format.write_archive(path) as zf:
        for i, (image, category) in enumerate(zip(images, categories, strict=True)):
            name = f"00000/img{i:08d}.png"
            zf.add(name, png_bytes(image))
            labels.append([name, category])
            products[name] = {
                "attributes": (attributes or [{}] * len(images))[i],
                "split": splits[i] if splits else None,
            }
        meta = {"labels": labels, "fauxshop": {"label_names": label_names, "products": products}}
        zf.add_metadata(meta)
    return path


@pytest.fixture
def colour_archive(tmp_path):
    """24 flat-colour images 16x8: category from brightness, colour from hue; one unknown
    colour and one image with no colour at all."""
    rgb = {"red": (200, 30, 30), "blue": (30, 30, 200), "green": (30, 200, 30)}
    rng = np.random.default_rng(0)
    images, categories, attributes = [], [], []
    for i in range(24):
        colour, category = ("red", "blue", "green")[i % 3], (i // 3) % 2
        image = np.full((16, 8, 3), rgb[colour], dtype=np.uint8)
        image[4:12, 2:6] = 255 if category else 0
        images.append(np.clip(image + rng.integers(0, 20, image.shape), 0, 255).astype(np.uint8))
        categories.append(category)
        attributes.append({"colour": colour})
    attributes[5] = {"colour": "teal"}
    attributes[6] = {}
    splits = ["test" if i % 4 == 3 else "train" for i in range(24)]
    path = tmp_path / "colours.zip"
    return write_archive(path, images, categories, attributes, splits, ["dress", "skirt"])


# ----------------------------------------------------------------------------------------------
# Data


def test_loader_marks_inapplicable_labels_missing(demo_archive):
    data = read_archive(demo_archive)
    assert set(data.heads) == {"category", "colour", "pattern", "sleeve", "length", "neckline"}
    category = [data.heads["category"][i] for i in data.labels["category"]]
    assert category
    for i, name in enumerate(category):
        assert (data.labels["sleeve"][i] == MISSING) == (name == "skirt")
        assert (data.labels["neckline"][i] == MISSING) == (name == "skirt")
        assert (data.labels["length"][i] == MISSING) == (name == "top")
        assert data.labels["colour"][i] != MISSING
    assert data.images.dtype == torch.uint8 and data.resolution == (32, 16)
    test = data.select("test")
    assert 0 < len(test) < len(data) and set(test.splits) == {"test"}
    counts = data.select("train").class_counts()
    assert "sleeve" in counts and sum(counts["category"].values()) == len(data) - len(test)


def test_unknown_value_is_counted_as_missing(colour_archive):
    data = read_archive(colour_archive)
    assert set(data.heads) == {"category", "colour"}
    assert data.unknown == {"colour=teal": 1}
    assert data.labels["colour"][5] == MISSING and data.labels["colour"][6] == MISSING
    assert (data.labels["colour"] != MISSING).sum() == 22


def test_archive_without_test_split_holds_out_every_tenth(tmp_path):
    images = [np.full((8, 8), i * 8, dtype=np.uint8) for i in range(30)]
    path = write_archive(tmp_path / "grey.zip", images, [i % 2 for i in range(30)])
    data = read_archive(path)
    assert data.heads == {"category": ("0", "1")} and data.images.shape == (30, 1, 8, 8)
    test, train = data.select("test"), data.select("train")
    assert len(test) == 3 and len(train) == 27
    assert test.images[:, 0, 0, 0].tolist() == [72, 152, 232]  # images 9, 19, 29


def test_masked_loss_ignores_missing_labels():
    logits = {"a": torch.randn(4, 3, requires_grad=True), "b": torch.randn(4, 2)}
    labels = {"a": torch.tensor([0, MISSING, 2, MISSING]), "b": torch.full((4,), MISSING)}
    loss = masked_cross_entropy(logits, labels)
    expected = torch.nn.functional.cross_entropy(logits["a"][[0, 2]], torch.tensor([0, 2]))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert logits["a"].grad[[1, 3]].abs().sum() == 0
    nothing = masked_cross_entropy({"b": logits["b"]}, {"b": labels["b"]})
    assert nothing.item() == 0.0


# ----------------------------------------------------------------------------------------------
# The model


def test_predict_any_size_and_grey_sums_to_one():
    tagger = Tagger(TaggerConfig(**TINY), HEADS, (32, 16)).eval()
    scorer: ImageScorer = tagger  # the protocol is not runtime-checkable: check its members
    assert scorer.heads == HEADS and callable(scorer.predict) and callable(scorer.features)
    for shape in ((2, 3, 32, 16), (3, 3, 64, 32), (1, 3, 20, 20), (2, 1, 32, 16)):
        probs = tagger.predict(torch.rand(shape) * 2 - 1)
        assert set(probs) == set(HEADS)
        for name, classes in HEADS.items():
            assert probs[name].shape == (shape[0], len(classes))
            torch.testing.assert_close(probs[name].sum(dim=1), torch.ones(shape[0]))


def test_features_are_differentiable():
    tagger = Tagger(TaggerConfig(**TINY), HEADS, (32, 16)).eval()
    images = (torch.rand(2, 3, 64, 32) * 2 - 1).requires_grad_()
    features = tagger.features(images)
    assert features.shape == (2, tagger.embedding_dim)
    features.square().sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_save_load_gives_identical_outputs(tmp_path):
    torch.manual_seed(0)
    tagger = Tagger(TaggerConfig(**TINY), HEADS, (32, 16))
    tagger.train()(torch.rand(4, 3, 32, 16))  # move the batch-norm statistics off their init
    tagger.eval().report = {"note": "kept"}
    save_tagger(tagger, tmp_path / "t.safetensors")
    loaded = load_tagger(tmp_path / "t.safetensors")
    assert loaded.heads == HEADS and loaded.report == {"note": "kept"} and not loaded.training
    images = torch.rand(3, 3, 32, 16) * 2 - 1
    for name, probs in tagger.predict(images).items():
        assert torch.equal(probs, loaded.predict(images)[name])
    assert torch.equal(tagger.features(images), load_tagger(tmp_path / "t.json").features(images))


def test_corrupt_or_missing_file_names_the_path(tmp_path):
    path = tmp_path / "t.safetensors"
    with pytest.raises(FauxshopError, match="t.json"):
        load_tagger(path)
    save_tagger(Tagger(TaggerConfig(**TINY), HEADS, (32, 16)), path)
    path.write_bytes(path.read_bytes()[:-10] + b"x" * 10)
    with pytest.raises(FauxshopError, match=r"t\.safetensors.*corrupt"):
        load_tagger(path)
    path.with_suffix(".json").write_text("{not json")
    with pytest.raises(FauxshopError, match="t.json"):
        load_tagger(path)


def test_config_maps_onto_cli_flags():
    parser = argparse.ArgumentParser()
    add_dataclass_args(parser, TaggerConfig)
    args = parser.parse_args(["--widths", "16,32", "--no-flip", "--input-size", "64x32"])
    config = dataclass_from_args(TaggerConfig, args)
    assert config.channel_widths() == (16, 32) and not config.flip
    assert config.working_size() == (64, 32)
    with pytest.raises(FauxshopError, match="widths"):
        TaggerConfig(widths="16,wide")


# ----------------------------------------------------------------------------------------------
# Training


def test_same_seed_same_weights(colour_archive, tmp_path):
    runs = {}
    for name, seed in (("a", 0), ("b", 0), ("c", 1)):
        report = train_tagger(colour_archive, tmp_path / name, TaggerConfig(**TINY, seed=seed))
        runs[name] = load_tagger(tmp_path / name / "tagger.safetensors").state_dict()
    assert report["unknown_values"] == {"colour=teal": 1}
    assert "colour=teal (1)" in format_report(report) and "macro-F1" in format_report(report)
    assert all(torch.equal(runs["a"][k], runs["b"][k]) for k in runs["a"])
    assert not all(torch.equal(runs["a"][k], runs["c"][k]) for k in runs["a"])
    assert (tmp_path / "a" / "log.csv").read_text().count("\n") == 1 + TINY["epochs"]


def test_grey_archive_trains_and_scores(tmp_path):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (12, 12), dtype=np.uint8) for _ in range(20)]
    path = write_archive(tmp_path / "grey.zip", images, [i % 3 for i in range(20)])
    report = train_tagger(path, tmp_path / "run", TaggerConfig(**TINY))
    assert report["test"]["images"] == 2 and report["test"]["heads"]["category"]["support"] == 2
    tagger = load_tagger(tmp_path / "run" / "tagger.safetensors")
    probs = score_images(tagger, np.stack(images)[:5, :, :, None])
    assert probs["category"].shape == (5, 3)
    torch.testing.assert_close(probs["category"].sum(dim=1), torch.ones(5))


def test_training_beats_majority_on_held_out_demo_products(demo_archive, tmp_path):
    config = TaggerConfig(widths="16,32,64", epochs=40, batch=16, device="cpu")
    report = train_tagger(demo_archive, tmp_path / "run", config)
    heads = report["test"]["heads"]
    assert heads["colour"]["accuracy"] > heads["colour"]["majority"] + 0.2, heads["colour"]
    # Dresses are ~80% of the held-out set: the always-"dress" guess has macro-F1 under 0.25.
    assert heads["category"]["accuracy"] > heads["category"]["majority"], heads["category"]
    assert heads["category"]["macro_f1"] > 0.4, heads["category"]
    tagger = load_tagger(tmp_path / "run" / "tagger.safetensors")
    again = evaluate_tagger(tagger, demo_archive, "test")
    assert again["heads"] == heads
    confusion = np.array(heads["category"]["confusion"]["matrix"])
    assert confusion.sum() == heads["category"]["support"] == report["test"]["images"]


def test_text_branch_is_trained_saved_and_reported_by_mode(demo_archive, tmp_path):
    config = TaggerConfig(widths="8,16", epochs=1, batch=16, device="cpu", text="tfidf")
    report = train_tagger(demo_archive, tmp_path / "run", config)
    modes = report["modes"]
    assert set(modes) == {"image", "text", "fused"}
    # the copy names the category and most attributes: text alone beats one image epoch
    assert modes["text"]["category"] > 0.9 and modes["text"]["colour"] > 0.5
    assert modes["image"]["category"] == report["test"]["heads"]["category"]["accuracy"]
    assert "(accuracy by mode)" in format_report(report)
    text_tagger = load_text_tagger(tmp_path / "run" / "tagger.safetensors")
    data = read_archive(demo_archive).select("test")
    assert data.texts is not None and all(data.texts)
    again = head_accuracy(text_tagger.predict(data.texts), data.labels)
    assert again == modes["text"]
    no_text = train_tagger(demo_archive, tmp_path / "img", TaggerConfig(**TINY, text="none"))
    assert "modes" not in no_text and load_text_tagger(tmp_path / "img" / "t.safetensors") is None
