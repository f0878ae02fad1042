"""Claim thresholds: measured to reach a target precision, applied per tag, refused when stale."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_tagger import write_archive

from fauxshop.cli import main
from fauxshop.errors import FauxshopError
from fauxshop.pixels import coarsen
from fauxshop.products.checks import tags_from_probs
from fauxshop.tagger.calibration import (
    NEVER,
    Calibration,
    calibrate,
    calibration_path,
    load_calibration,
    lowest_threshold,
)
from fauxshop.tagger.config import TaggerConfig
from fauxshop.tagger.model import Tagger, save_tagger

HEADS = {"category": ("dress", "skirt"), "colour": ("red", "blue"), "pattern": ("solid", "dots")}


def precision_at(confidence, correct, t):
    return correct[confidence >= t].mean()


def test_the_lowest_threshold_that_reaches_the_target_precision():
    # red claims, surest first: right, right, right, wrong, right, wrong; blue ones always wrong
    red = np.array([0.95, 0.9, 0.8, 0.7, 0.6, 0.55])
    blue = np.array([0.9, 0.8])
    probs = torch.tensor(
        [[p, 1 - p] for p in red] + [[1 - p, p] for p in blue], dtype=torch.float64
    )
    labels = torch.tensor([0, 0, 0, 1, 0, 1, 0, 0])
    found = calibrate({"colour": probs}, {"colour": labels}, {"colour": ("red", "blue")}, 0.75)
    classes = found["colour"]["classes"]
    assert classes["red"] == {
        "threshold": 0.6, "precision": 0.8, "coverage": 5 / 6, "claimed": 6,
    }  # fmt: skip
    correct = np.array([1, 1, 1, 0, 1, 0], dtype=bool)
    assert precision_at(red, correct, 0.6) >= 0.75 > precision_at(red, correct, 0.55)
    assert classes["blue"]["threshold"] is None and classes["blue"]["coverage"] == 0
    # the head as a whole: the two wrong blue claims at 0.9 and 0.8 sink it to 0.95
    assert found["colour"]["threshold"] == 0.95 and found["colour"]["precision"] == 1.0
    assert found["colour"]["coverage"] == 1 / 8 and found["colour"]["labelled"] == 8
    calibration = Calibration("sha", 0.75, found)
    assert calibration.threshold("colour", "red") == 0.6
    assert calibration.threshold("colour", "blue") == NEVER
    assert calibration.threshold("colour", "green") == 0.95  # never claimed: the head's
    assert calibration.threshold("pattern", "dots") == 0.0  # not calibrated: the floor only


def test_tied_confidences_are_kept_or_dropped_together_and_unlabelled_photos_skipped():
    confidence = np.array([0.9, 0.8, 0.8, 0.8, 0.7])
    correct = np.array([1, 1, 0, 1, 0], dtype=bool)
    # the first two (0.9, 0.8) are all right, but a threshold of 0.8 claims all three 0.8s:
    # 3 of 4 right, 0.75 < 0.8, so the cut stays above the tie
    assert lowest_threshold(confidence, correct, 0.8) == {
        "threshold": 0.9, "precision": 1.0, "claims": 1,
    }  # fmt: skip
    probs = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.8, 0.2]], dtype=torch.float64)
    labels = torch.tensor([0, -1, 1])  # the second photo has no colour label
    found = calibrate({"colour": probs}, {"colour": labels}, {"colour": ("red", "blue")}, 0.9)
    assert found["colour"]["labelled"] == 2 and found["colour"]["threshold"] == 0.9
    with pytest.raises(FauxshopError, match="target precision"):
        calibrate({"colour": probs}, {"colour": labels}, {"colour": ("red", "blue")}, 0.0)


def test_a_tag_below_its_threshold_is_left_out():
    probs = {
        "category": torch.tensor([0.9, 0.1]),
        "colour": torch.tensor([0.8, 0.2]),
        "pattern": torch.tensor([0.3, 0.7]),  # "dots", 0.7 sure
    }
    heads = {"category": HEADS["category"], "colour": HEADS["colour"], "pattern": HEADS["pattern"]}
    assert tags_from_probs(probs, heads, 0.5)[1] == {"colour": "red", "pattern": "dots"}
    found = {
        "pattern": {"threshold": 0.6, "classes": {"dots": {"threshold": 0.95}}},
        "colour": {"threshold": 0.6, "classes": {"red": {"threshold": None}}},
    }
    category, attributes, confidence = tags_from_probs(
        probs, heads, 0.5, Calibration("s", 0.9, found)
    )
    assert (category, attributes) == ("dress", {})
    assert set(confidence) == {"category"}
    found["pattern"]["classes"]["dots"]["threshold"] = 0.65
    assert tags_from_probs(probs, heads, 0.5, Calibration("s", 0.9, found))[1] == {
        "pattern": "dots"
    }
    assert tags_from_probs(probs, heads, 0.75, Calibration("s", 0.9, found))[1] == {}  # floor


def test_coarsen_removes_fine_detail_and_keeps_flat_colour():
    checks = np.indices((16, 8)).sum(axis=0) % 2 * 255  # a one-pixel checkerboard print
    photo = np.stack([checks, checks, np.full((16, 8), 40)], axis=-1).astype(np.uint8)[None]
    soft = coarsen(photo, 2)
    assert soft.shape == photo.shape and soft.dtype == np.uint8
    assert np.abs(soft[..., :2].astype(int) - 128).max() <= 1  # the print is gone: mid grey
    assert (soft[..., 2] == 40).all()  # a flat channel stays exactly as it was
    assert coarsen(photo, 1) is photo
    with pytest.raises(ValueError, match="at least 1"):
        coarsen(photo, 0.5)


def test_calibrate_verb_saves_beside_the_tagger_and_a_retrained_tagger_refuses_it(tmp_path, capsys):
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (16, 8, 3), dtype=np.uint8) for _ in range(12)]
    attributes = [{"colour": ("red", "blue")[i % 2]} for i in range(12)]
    splits = ["test" if i % 2 else "train" for i in range(12)]
    archive = write_archive(
        tmp_path / "a.zip", images, [i % 2 for i in range(12)], attributes, splits,
        ["dress", "skirt"],
    )  # fmt: skip
    path = tmp_path / "t.safetensors"
    heads = {"category": HEADS["category"], "colour": HEADS["colour"]}
    torch.manual_seed(0)
    save_tagger(Tagger(TaggerConfig(widths="4"), heads, (16, 8)).eval(), path)
    assert main(["calibrate-tagger", str(path), str(archive), "--precision", "0.8"]) == 0
    out = capsys.readouterr().out
    saved = json.loads(calibration_path(path).read_text())
    assert saved["images"] == 6 and saved["target_precision"] == 0.8
    assert set(saved["heads"]) == {"category", "colour"}
    assert "target precision 0.8 on 6 test photos" in out and str(calibration_path(path)) in out
    sha = json.loads(path.with_suffix(".json").read_text())["weights_sha256"]
    assert load_calibration(path, sha).heads == saved["heads"] and saved["coarsen"] == 1

    argv = ["calibrate-tagger", str(path), str(archive), "--precision", "0.8", "--coarsen", "4"]
    assert main(argv) == 0
    assert "coarsened x4" in capsys.readouterr().out
    assert json.loads(calibration_path(path).read_text())["coarsen"] == 4

    torch.manual_seed(1)
    save_tagger(Tagger(TaggerConfig(widths="4"), heads, (16, 8)).eval(), path)  # retrained
    new_sha = json.loads(path.with_suffix(".json").read_text())["weights_sha256"]
    with pytest.raises(FauxshopError, match=r"stale calibration.*calibrate-tagger"):
        load_calibration(path, new_sha)
    assert load_calibration(tmp_path / "uncalibrated.safetensors", new_sha) is None


@pytest.mark.parametrize(
    "saved",
    [
        [1, 2],  # not an object
        {"format": "fauxshop-tagger-calibration/1", "weights_sha256": "s", "heads": {}},
        {"format": "fauxshop-tagger-calibration/1", "weights_sha256": "s",
         "target_precision": "x", "heads": {}},
        {"format": "fauxshop-tagger-calibration/1", "weights_sha256": "s",
         "target_precision": 0.9, "heads": 5},
        {"format": "fauxshop-tagger-calibration/1", "weights_sha256": "s",
         "target_precision": 0.9, "heads": {"colour": {"threshold": "0.5", "classes": {}}}},
        {"format": "fauxshop-tagger-calibration/1", "weights_sha256": "s",
         "target_precision": 0.9, "heads": {"colour": {"threshold": 0.5, "classes": {"red": 1}}}},
    ],
)  # fmt: skip
def test_a_malformed_calibration_file_is_one_line_naming_it(tmp_path, saved):
    tagger = tmp_path / "t.safetensors"
    calibration_path(tagger).write_text(json.dumps(saved))
    with pytest.raises(FauxshopError, match=r"t\.calibration\.json: (format|not a calibration)"):
        load_calibration(tagger, "s")
