"""Prune: each rule on hand-made photos, the store pass, and scores on the demo catalog."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from fauxshop.catalog.demo_catalog import write_demo_catalog
from fauxshop.catalog.prune import (
    FLAW_RULES,
    RULES,
    PruneConfig,
    discover_ground_truth,
    format_report,
    judge,
    load_ground_truth,
    measure,
    prune,
)
from fauxshop.catalog.store import ProductRecord, Store


# -- hand-made photos, one per rule ---------------------------------------------------------------
def _dress(size=(400, 520), shift=(0.0, 0.0), backdrop=(246, 246, 246), colour=(40, 60, 150)):
    """A plain trapezoid 'dress' on a flat backdrop."""
    width, height = size
    img = Image.new("RGB", size, backdrop)
    cx, cy = width * (0.5 + shift[0]), height * (0.5 + shift[1])
    w, h = 0.4 * width, 0.75 * height
    outline = [
        (cx - w * 0.3, cy - h / 2),
        (cx + w * 0.3, cy - h / 2),
        (cx + w / 2, cy + h / 2),
        (cx - w / 2, cy + h / 2),
    ]
    ImageDraw.Draw(img).polygon(outline, fill=colour)
    return img


def _busy(size=(400, 520)):
    rng = np.random.default_rng(0)
    cells = rng.integers(0, 256, size=(size[1] // 20, size[0] // 20, 3), dtype=np.uint8)
    img = Image.fromarray(cells)
    img = img.resize(size, Image.Resampling.NEAREST)
    dress = _dress(size)
    mask = Image.fromarray((np.asarray(dress).sum(axis=2) < 600).astype(np.uint8) * 255)
    img.paste(dress, (0, 0), mask)
    return img


def _placeholder(size=(400, 520)):
    img = Image.new("RGB", size, (225, 225, 225))
    ImageDraw.Draw(img).rectangle((160, 220, 240, 280), outline=(190, 190, 190), width=1)
    return img


def _stripes(size=(400, 520)):
    pixels = np.zeros((size[1], size[0], 3), np.uint8) + np.array([200, 30, 40], np.uint8)
    pixels[(np.arange(size[1]) // 14) % 2 == 1] = (240, 230, 220)
    return Image.fromarray(pixels)


def _fashion_mnist_like():
    img = Image.new("L", (28, 28), 0)
    ImageDraw.Draw(img).rectangle((8, 2, 19, 25), fill=180)
    return img


def _failed(image, config=None):
    config = config or PruneConfig()
    return judge(measure(image, config), *image.size, config)


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        (_dress(), []),
        (_dress(colour=(236, 234, 228), backdrop=(250, 250, 250)), []),
        (_dress(size=(200, 260)), ["size"]),
        (_placeholder(), ["non_product"]),
        (Image.new("RGB", (400, 520), (250, 250, 250)), ["non_product"]),
        (_stripes(), ["non_product"]),
        (_busy(), ["background"]),
        (_dress(shift=(0.3, 0.0)), ["composition"]),
        (_dress(shift=(0.0, -0.25)), ["composition"]),
        (_dress(size=(200, 260), shift=(0.3, 0.3)), ["size", "composition"]),
    ],
    ids=[
        "clean",
        "white-on-white",
        "small",
        "placeholder",
        "blank",
        "fabric",
        "busy",
        "right",
        "up",
        "small-and-off-centre",
    ],
)
def test_each_rule_on_made_photos(image, expected):
    assert _failed(image) == expected


def test_fashion_mnist_style_light_garment_on_black_is_kept():
    assert _failed(_fashion_mnist_like(), PruneConfig(min_side=28)) == []
    assert _failed(_fashion_mnist_like()) == ["size"]


def test_thresholds_are_configurable():
    shifted = _dress(shift=(0.15, 0.0))
    assert _failed(shifted) == ["composition"]
    assert _failed(shifted, PruneConfig(max_offset=0.2, max_centroid_offset=0.3)) == []
    assert _failed(_dress(size=(200, 260)), PruneConfig(min_side=150)) == []


# -- the pass over the store ----------------------------------------------------------------------
def _stock(store: Store, folder: Path, images: dict[str, Image.Image]) -> None:
    records = []
    for sku, image in images.items():
        path = folder / f"{sku}.png"
        image.save(path)
        records.append(
            ProductRecord(
                sku=sku,
                source=str(folder / "products.jsonl"),
                image_path=str(path),
                width=image.width,
                height=image.height,
                category="dress",
            )
        )
    store.upsert_products(records)


def test_prune_records_verdicts_sheets_and_scores(tmp_path):
    images = {
        "ok": _dress(),
        "small": _dress(size=(200, 260)),
        "busy": _busy(),
        "blank": _placeholder(),
        "right": _dress(shift=(0.3, 0.0)),
        "gone": _dress(),
    }
    truth = {
        "ok": None,
        "small": "too_small",
        "busy": "busy_background",
        "blank": "blank_placeholder",
        "right": "off_centre",
        "gone": None,
    }
    with Store(tmp_path / "catalog.db") as store:
        _stock(store, tmp_path, images)
        store.upsert_products(
            [ProductRecord(sku="bad", source="x", status="rejected", reject_reason="image_missing")]
        )
        (tmp_path / "gone.png").write_bytes(b"not a png any more")
        summary = prune(store, PruneConfig(), truth, tmp_path / "sheets")

        assert summary["judged"] == 6 and summary["kept"] == 1 and summary["pruned"] == 5
        assert summary["per_rule"] == {
            "size": 1,
            "non_product": 1,
            "background": 1,
            "composition": 1,
            "unreadable": 1,
        }
        assert store.product("ok")["status"] == "kept"
        assert store.product("bad")["status"] == "rejected"
        gone = store.product("gone")
        assert gone["status"] == "pruned" and gone["reject_reason"] == "unreadable"
        right = store.product("right")
        assert right["status"] == "pruned" and right["reject_reason"] == "composition"
        measurements = json.loads(right["measurements"])
        assert measurements["failed"] == ["composition"] and measurements["box_dx"] > 0.2

        assert RULES
        for rule in RULES:
            scores = summary["scores"][rule]
            assert scores["precision"] == scores["recall"] == 1.0, rule
        for rule in RULES:
            with Image.open(summary["contact_sheets"][rule]) as sheet:
                assert sheet.width > 0
        report = format_report(summary)
        assert "composition" in report and "precision" in report and "1.000" in report

        # A second pass re-judges kept and pruned products alike, with the same outcome.
        again = prune(store, PruneConfig(), truth)
        assert again["per_rule"] == summary["per_rule"] and "contact_sheets" not in again


def test_ground_truth_loads_from_file_and_beside_the_table(tmp_path):
    rows = [{"sku": "a", "flaw": None, "colour": "red"}, {"sku": "b", "flaw": "off_centre"}]
    (tmp_path / "ground_truth.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert load_ground_truth(tmp_path / "ground_truth.jsonl") == {"a": None, "b": "off_centre"}
    with Store(tmp_path / "catalog.db") as store:
        assert discover_ground_truth(store) is None
        _stock(store, tmp_path, {"a": _dress()})
        assert discover_ground_truth(store) == {"a": None, "b": "off_centre"}


# -- scored against the demo catalog's planted flaws ----------------------------------------------
@pytest.fixture(scope="module")
def demo_scores(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("prune-demo")
    summary = write_demo_catalog(folder / "catalog", n=400, seed=0, flaw_rate=0.4)
    assert all(summary["per_flaw"][flaw] >= 15 for flaw in FLAW_RULES), summary["per_flaw"]
    records = []
    for line in (folder / "catalog" / "products.jsonl").read_text().splitlines():
        row = json.loads(line)
        with Image.open(folder / "catalog" / row["image"]) as img:
            width, height = img.size
        records.append(
            ProductRecord(
                sku=row["sku"],
                source="demo",
                category=row["category"],
                image_path=str(folder / "catalog" / row["image"]),
                width=width,
                height=height,
            )
        )
    truth = load_ground_truth(folder / "catalog" / "ground_truth.jsonl")
    with Store(folder / "catalog.db") as store:
        store.upsert_products(records)
        return prune(store, PruneConfig(), truth)["scores"]


@pytest.mark.parametrize("rule", RULES)
def test_each_rule_is_precise_and_complete_on_the_demo_catalog(demo_scores, rule):
    scores = demo_scores[rule]
    assert scores["actual"] >= 15
    assert scores["precision"] >= 0.9, scores
    assert scores["recall"] >= 0.9, scores
