"""The augmentation study: its scores, its aggregation, and a whole tiny run."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from tiny_models import tiny_generator

from fauxshop.catalog.pack import PackConfig, pack
from fauxshop.catalog.store import ProductRecord, Store
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import save_checkpoint
from fauxshop.study.augmentation import (
    StudyConfig,
    aggregate,
    format_table,
    run_study,
    scores,
    to_archive_format,
)
from fauxshop.tagger.data import read_archive
from fauxshop.tagger.train import evaluate, fit_tagger

CLASSES = ("dress", "jumpsuit", "top")
COLOURS = {"dress": (200, 40, 40), "jumpsuit": (40, 200, 40), "top": (40, 40, 200)}


def test_scores_from_a_confusion_matrix():
    confusion = np.array([[8, 2, 0], [1, 3, 0], [0, 0, 6]])  # rows true, columns predicted
    s = scores(confusion, rare=1)
    assert s["rare_recall"] == pytest.approx(3 / 4) and s["rare_precision"] == pytest.approx(3 / 5)
    assert s["rare_f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    f1_dress = 2 * 0.8 * (8 / 9) / (0.8 + 8 / 9)
    assert s["macro_f1"] == pytest.approx((f1_dress + s["rare_f1"] + 1.0) / 3)
    assert s["accuracy"] == pytest.approx(17 / 20)
    assert scores(np.array([[5, 0], [2, 0]]), rare=1)["rare_f1"] == 0.0  # never predicted


def test_aggregate_is_mean_and_sample_std_per_multiple():
    runs = [
        {"multiple": m, "synthetic": 10 * m, **{k: v + m for k, v in zip(
            ("rare_recall", "rare_precision", "rare_f1", "macro_f1", "accuracy"),
            (s, s, s, s, s), strict=True)}}
        for m in (0, 1) for s in (0.1, 0.3)
    ]  # fmt: skip
    rows = aggregate(runs, [0, 1])
    assert [r["synthetic"] for r in rows] == [0, 10] and rows[0]["runs"] == 2
    assert rows[1]["rare_recall"] == pytest.approx(1.2)
    assert rows[1]["rare_recall_std"] == pytest.approx(np.std([1.1, 1.3], ddof=1))


def test_generated_images_take_the_archives_channels_and_size():
    rgb = np.zeros((2, 8, 4, 3), dtype=np.uint8)
    rgb[..., 0] = 255  # pure red
    grey = to_archive_format(rgb, channels=1, size=(4, 2))
    assert grey.shape == (2, 1, 4, 2) and grey.dtype == torch.uint8
    assert int(grey[0, 0, 0, 0]) == 85  # the channel mean
    assert torch.equal(to_archive_format(rgb, 3, (8, 4)), torch.from_numpy(rgb).permute(0, 3, 1, 2))


@pytest.fixture(scope="module")
def study_inputs(tmp_path_factory):
    """A 3-class archive of flat-colour photos (jumpsuits rare) and a tiny conditional G."""
    root = tmp_path_factory.mktemp("study")
    rng = np.random.default_rng(0)
    records = []
    counts = {"dress": 30, "jumpsuit": 6, "top": 24}
    for category, count in counts.items():
        for i in range(count):
            colour = np.clip(np.array(COLOURS[category]) + rng.integers(-30, 30, 3), 0, 255)
            path = root / f"{category}{i}.png"
            Image.new("RGB", (16, 16), tuple(int(c) for c in colour)).save(path)
            split = "test" if i % 3 == 0 else "train"
            records.append(ProductRecord(sku=f"{category}{i}", source="t", category=category,
                                         image_path=str(path), split=split))  # fmt: skip
    with Store(root / "catalog.db") as store:
        store.upsert_products(records)
        for row in store.products():
            store.set_verdict(row["id"], "kept", None, {})
        pack(store, root / "real.zip", PackConfig(16, 16))
    G = tiny_generator(16, c_dim=3)
    state = {"cur_nimg": 0, "G_ema": G, "G_kwargs": G.config, "label_names": list(CLASSES)}
    generator = save_checkpoint(root / "run", state)
    return root / "real.zip", generator


def test_a_tiny_study_runs_every_seed_and_multiple(study_inputs, tmp_path):
    archive, generator = study_inputs
    config = StudyConfig(str(archive), str(generator), "jumpsuit", multiples="0,2",
                         seeds="0,1", epochs=2, widths="4,8", batch=8, device="cpu")  # fmt: skip
    results = run_study(config, tmp_path / "out")
    assert results["counts"] == {"train": 40, "rare_train": 4, "test": 20, "rare_test": 2}
    assert [(r["seed"], r["multiple"], r["synthetic"]) for r in results["runs"]] == [
        (0, 0, 0), (0, 2, 8), (1, 0, 0), (1, 2, 8),
    ]  # fmt: skip
    assert results["aggregate"] == aggregate(results["runs"], [0, 2])
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert saved["runs"] == results["runs"]
    assert "| 8 (2x) | 2 |" in (tmp_path / "out" / "table.md").read_text()
    assert format_table(results).count("±") == 2 * 5
    with Image.open(tmp_path / "out" / "plot.png") as plot:
        assert plot.format == "PNG" and plot.size[0] > 100

    # no synthetic images: exactly a classifier trained on the real split alone, same seed
    data = read_archive(archive)
    real = data.select("train")
    only_real = type(real)(real.images, {"category": real.labels["category"]},
                           {"category": real.heads["category"]}, real.splits)  # fmt: skip
    classifier, _ = fit_tagger(only_real, config.classifier(0))
    test = data.select("test")
    confusion = np.array(evaluate(classifier, type(test)(
        test.images, {"category": test.labels["category"]}, {"category": test.heads["category"]},
        test.splits))["heads"]["category"]["confusion"]["matrix"])  # fmt: skip
    assert results["runs"][0] | scores(confusion, 1) == results["runs"][0]
    assert confusion.sum() == 20  # scored on the real test split only


def test_bad_study_inputs_are_one_line_errors(study_inputs, tmp_path):
    archive, generator = study_inputs
    with pytest.raises(FauxshopError, match="no class 'coat'"):
        run_study(StudyConfig(str(archive), str(generator), "coat"), tmp_path)
    with pytest.raises(FauxshopError, match="multiples must be"):
        StudyConfig(str(archive), str(generator), "jumpsuit", multiples="1,x")
