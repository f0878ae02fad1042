"""The demo catalog: reproducible bytes, a long-tailed assortment, planted flaws on record."""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fauxshop.catalog.demo_catalog import (
    SMALL_SIDE,
    SOURCE_SIZES,
    demo_product,
    plan_product,
    write_demo_catalog,
)
from fauxshop.catalog.demo_render import FLAWS, render_product
from fauxshop.catalog.taxonomy import ATTRIBUTE_VALUES, CATEGORIES, CATEGORY_ATTRIBUTES


def _read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _files(folder: Path) -> dict[str, bytes]:
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in files}


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo") / "catalog"
    return out, write_demo_catalog(out, n=24, seed=5, flaw_rate=0.5)


def test_same_seed_gives_identical_bytes(catalog, tmp_path):
    out, _ = catalog
    again = tmp_path / "again"
    write_demo_catalog(again, n=24, seed=5, flaw_rate=0.5)
    assert _files(again) == _files(out)


def test_different_seed_gives_different_catalog(catalog, tmp_path):
    out, _ = catalog
    other = tmp_path / "other"
    write_demo_catalog(other, n=6, seed=6, flaw_rate=0.5)
    assert (other / "products.jsonl").read_bytes() != (out / "products.jsonl").read_bytes()
    ours = {p.read_bytes() for p in (out / "images").iterdir()}
    assert not ours & {p.read_bytes() for p in (other / "images").iterdir()}


def test_any_product_reproduces_alone(catalog):
    out, _ = catalog
    rows = _read_jsonl(out / "products.jsonl")
    product = demo_product(5, 17, 0.5)
    assert product.record == rows[17]
    with Image.open(out / rows[17]["image"]) as img:
        assert np.array_equal(np.asarray(img), np.asarray(product.image))


def test_products_file_has_the_promised_fields(catalog):
    out, summary = catalog
    rows = _read_jsonl(out / "products.jsonl")
    assert len(rows) == summary["products"] == 24
    assert len({r["sku"] for r in rows}) == 24
    for row in rows:
        assert re.fullmatch(r"FX-\d{6}", row["sku"])
        assert row["title"] and row["description"]
        assert row["image"] == f"images/{row['sku']}.png"
        assert row["split"] in ("train", "test")
        attributes = set(row) - {"sku", "title", "description", "category", "image", "split"}
        assert attributes == set(CATEGORY_ATTRIBUTES[row["category"]])
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*"))


def test_images_are_portrait_and_of_the_declared_sizes(catalog):
    out, _ = catalog
    truth = {t["sku"]: t for t in _read_jsonl(out / "ground_truth.jsonl")}
    rows = _read_jsonl(out / "products.jsonl")
    assert rows
    for row in rows:
        with Image.open(out / row["image"]) as img:
            assert img.mode == "RGB"
            width, height = img.size
        assert height > width
        if truth[row["sku"]]["flaw"] == "too_small":
            assert SMALL_SIDE[0] <= width <= SMALL_SIDE[1]
        else:
            assert (width, height) in SOURCE_SIZES


def test_ground_truth_matches_products_and_summary(catalog):
    out, summary = catalog
    rows = _read_jsonl(out / "products.jsonl")
    truths = _read_jsonl(out / "ground_truth.jsonl")
    assert rows and [t["sku"] for t in truths] == [r["sku"] for r in rows]
    for row, truth in zip(rows, truths, strict=True):
        assert truth["flaw"] is None or truth["flaw"] in FLAWS
        attributes = CATEGORY_ATTRIBUTES[row["category"]]
        assert attributes
        for attribute in attributes:
            assert truth[attribute] == row[attribute]
    flaws = Counter(t["flaw"] or "none" for t in truths)
    assert summary["per_flaw"] == dict(sorted(flaws.items()))
    assert sum(summary["per_category"].values()) == 24


def test_categories_are_long_tailed():
    counts = Counter(plan_product(0, i, 0.08).category for i in range(600))
    assert set(counts) == set(CATEGORIES)
    assert counts["dress"] / 600 > 0.6
    assert counts["dress"] > counts["skirt"] > counts["jumpsuit"]
    assert counts["dress"] > counts["top"] > counts["jumpsuit"]
    assert 0 < counts["jumpsuit"] / 600 < 0.07


def test_every_attribute_value_is_reachable_and_frequencies_vary():
    seen: dict[str, Counter] = {a: Counter() for a in ATTRIBUTE_VALUES}
    for i in range(1500):
        plan = plan_product(1, i, 0.08)
        assert set(plan.attrs) == set(CATEGORY_ATTRIBUTES[plan.category])
        for attribute, value in plan.attrs.items():
            seen[attribute][value] += 1
    assert ATTRIBUTE_VALUES
    for attribute, values in ATTRIBUTE_VALUES.items():
        assert set(seen[attribute]) == set(values), attribute
    colours = seen["colour"].most_common()
    assert colours[0][1] > 3 * colours[-1][1]


def test_flaws_have_the_requested_share_split_evenly():
    plans = [plan_product(2, i, 0.2) for i in range(3000)]
    flaws = Counter(p.flaw for p in plans if p.flaw)
    assert abs(sum(flaws.values()) / 3000 - 0.2) < 0.03
    assert set(flaws) == set(FLAWS)
    for flaw in FLAWS:
        assert abs(flaws[flaw] / sum(flaws.values()) - 0.2) < 0.05
    assert abs(sum(p.split == "test" for p in plans) / 3000 - 0.1) < 0.03
    assert all(plan_product(2, i, 0.0).flaw is None for i in range(200))


@pytest.mark.parametrize("flaw", [None, *FLAWS])
def test_render_gives_the_requested_size_for_every_flaw(flaw):
    attrs = {
        "category": "jumpsuit",
        "colour": "white",
        "pattern": "plaid",
        "sleeve": "long",
        "length": "maxi",
        "neckline": "boat",
    }
    img = render_product(attrs, np.random.default_rng(0), (150, 200), flaw)
    assert img.mode == "RGB" and img.size == (150, 200)
    small = np.asarray(img.resize((48, 64), Image.Resampling.BOX), dtype=float)
    assert small.std() > 1.0 or flaw == "blank_placeholder"


def test_garment_sits_centred_on_a_light_backdrop_unless_off_centre():
    attrs = {
        "category": "dress",
        "colour": "navy",
        "pattern": "solid",
        "sleeve": "short",
        "length": "knee",
        "neckline": "crew",
    }
    for flaw, centred in ((None, True), ("off_centre", False)):
        pixels = np.asarray(render_product(attrs, np.random.default_rng(3), (240, 320), flaw))
        dark = pixels.mean(axis=2) < 150
        ys, xs = np.nonzero(dark)
        offset = max(abs(xs.mean() / 240 - 0.5), abs(ys.mean() / 320 - 0.5))
        assert (offset < 0.08) == centred
        if centred:
            assert min(pixels[0, 0].min(), pixels[-1, -1].min()) > 230


def test_unknown_flaw_is_refused():
    with pytest.raises(ValueError, match="unknown flaw"):
        render_product(
            {"category": "skirt", "colour": "red", "pattern": "solid", "length": "mini"},
            np.random.default_rng(0),
            (100, 120),
            "smudged",
        )
