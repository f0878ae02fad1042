"""The built-in demo catalog: procedural products with photos, copy and ground truth.

It stands in for a retailer's catalog wherever none is at hand (demo, tests,
benchmarks): long-tailed categories, uneven attribute frequencies, a controlled
share of flawed photos, and a ground-truth file to score prune and the tagger
against. Product `i` of seed `s` depends on nothing else, so any one can be
re-rendered alone with `demo_product(s, i, flaw_rate)`.
"""

from __future__ import annotations

import io
import json
import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from fauxshop.atomic import atomic_open, atomic_write_bytes
from fauxshop.catalog.demo_copy import write_copy
from fauxshop.catalog.demo_render import FLAWS, render_product
from fauxshop.catalog.taxonomy import CATEGORY_ATTRIBUTES, CATEGORY_SHARES
from fauxshop.progress import progress

SOURCE_SIZES: tuple[tuple[int, int], ...] = ((320, 400), (384, 512), (480, 640), (600, 800))
SMALL_SIDE = (100, 250)  # too_small photos: shortest side drawn from this range (inclusive)
TEST_SHARE = 0.1

# Uneven on purpose, like a real assortment: plenty of black and florals, little purple plaid.
COLOUR_WEIGHTS: dict[str, float] = {
    "black": 16, "white": 10, "red": 8, "navy": 9, "blue": 8, "green": 7, "yellow": 5,
    "pink": 7, "purple": 3, "orange": 3, "brown": 5, "grey": 6, "beige": 6,
}  # fmt: skip
ATTRIBUTE_WEIGHTS: dict[str, dict[str, float]] = {
    "colour": COLOUR_WEIGHTS,
    "pattern": {"solid": 45, "floral": 20, "stripes": 14, "dots": 12, "plaid": 9},
    "sleeve": {"sleeveless": 40, "short": 35, "long": 25},
    "length": {"mini": 25, "knee": 35, "midi": 25, "maxi": 15},
    "neckline": {"crew": 35, "v-neck": 30, "square": 15, "boat": 20},
}


@dataclass
class ProductPlan:
    """Everything drawn for one product before its photo and copy are made."""

    sku: str
    category: str
    attrs: dict[str, str]
    flaw: str | None
    size: tuple[int, int]  # (width, height)
    split: str
    rng: np.random.Generator  # continues into the renderer
    copy_seed: int


@dataclass
class DemoProduct:
    record: dict  # one line of products.jsonl
    truth: dict  # one line of ground_truth.jsonl
    image: Image.Image


def _pick(rng: np.random.Generator, weights: dict[str, float]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return names[rng.choice(len(names), p=p / p.sum())]


def sku_for(seed: int, index: int) -> str:
    """`FX-` + 6 digits: unique within a catalog of up to a million, different across seeds."""
    start = int(np.random.SeedSequence(seed).generate_state(1)[0]) % 1_000_000
    return f"FX-{(start + index) % 1_000_000:06d}"


def plan_product(seed: int, index: int, flaw_rate: float) -> ProductPlan:
    """Draw product `index` of the catalog made with `seed` (cheap: nothing is rendered)."""
    image_seed, copy_seed = np.random.SeedSequence(seed, spawn_key=(index,)).spawn(2)
    rng = np.random.default_rng(image_seed)
    category = _pick(rng, CATEGORY_SHARES)
    attrs = {a: _pick(rng, ATTRIBUTE_WEIGHTS[a]) for a in CATEGORY_ATTRIBUTES[category]}
    flaw = FLAWS[rng.integers(len(FLAWS))] if rng.random() < flaw_rate else None
    if flaw == "too_small":
        side = int(rng.integers(SMALL_SIDE[0], SMALL_SIDE[1] + 1))
        size = (side, round(side * rng.uniform(1.2, 1.4)))
    else:
        size = SOURCE_SIZES[rng.integers(len(SOURCE_SIZES))]
    split = "test" if rng.random() < TEST_SHARE else "train"
    copy = int(copy_seed.generate_state(1)[0])
    return ProductPlan(sku_for(seed, index), category, attrs, flaw, size, split, rng, copy)


def demo_product(seed: int, index: int, flaw_rate: float) -> DemoProduct:
    """Product `index` of the catalog made with `seed`, with its photo, copy and ground truth."""
    plan = plan_product(seed, index, flaw_rate)
    product = {"sku": plan.sku, "category": plan.category, **plan.attrs}
    image = render_product(product, plan.rng, plan.size, plan.flaw)
    title, description = write_copy(product, random.Random(plan.copy_seed))
    record = {
        "sku": plan.sku,
        "title": title,
        "description": description,
        "category": plan.category,
        "image": f"images/{plan.sku}.png",
        "split": plan.split,
        **plan.attrs,
    }
    truth = {"sku": plan.sku, "flaw": plan.flaw, "category": plan.category, **plan.attrs}
    return DemoProduct(record, truth, image)


def demo_corpus(n: int, seed: int = 0) -> list[dict]:
    """The catalog's text alone, as `fauxshop pack` writes its corpus: no photo is rendered,
    so a text model can train on many more records than the photos would allow in time."""
    rows = []
    for index in range(n):
        plan = plan_product(seed, index, flaw_rate=0.0)
        product = {"sku": plan.sku, "category": plan.category, **plan.attrs}
        title, description = write_copy(product, random.Random(plan.copy_seed))
        rows.append(
            {
                "sku": plan.sku,
                "title": title,
                "category": plan.category,
                "attributes": plan.attrs,
                "description": description,
                "split": plan.split,
            }
        )
    return rows


def write_demo_catalog(out: Path, n: int, seed: int = 0, flaw_rate: float = 0.08) -> dict:
    """Render `n` products into OUT/products.jsonl, OUT/images/ and OUT/ground_truth.jsonl."""
    if not 0 < n <= 1_000_000:
        raise ValueError(f"demo catalog size must be 1..1000000, got {n}")
    if not 0.0 <= flaw_rate <= 1.0:
        raise ValueError(f"flaw_rate must be within [0, 1], got {flaw_rate}")
    out = Path(out)
    (out / "images").mkdir(parents=True, exist_ok=True)
    counts = {"category": Counter(), "flaw": Counter(), "split": Counter()}
    with (
        atomic_open(out / "products.jsonl", encoding="utf-8") as products,
        atomic_open(out / "ground_truth.jsonl", encoding="utf-8") as truths,
    ):
        for index in progress(range(n), "demo catalog", total=n, unit="img"):
            product = demo_product(seed, index, flaw_rate)
            buffer = io.BytesIO()
            product.image.save(buffer, format="PNG", compress_level=3)
            atomic_write_bytes(out / product.record["image"], buffer.getvalue())
            products.write(json.dumps(product.record, ensure_ascii=False) + "\n")
            truths.write(json.dumps(product.truth, ensure_ascii=False) + "\n")
            counts["category"][product.record["category"]] += 1
            counts["flaw"][product.truth["flaw"] or "none"] += 1
            counts["split"][product.record["split"]] += 1
    return {
        "out": str(out),
        "products": n,
        "seed": seed,
        "flaw_rate": flaw_rate,
        **{f"per_{key}": dict(sorted(c.items())) for key, c in counts.items()},
    }
