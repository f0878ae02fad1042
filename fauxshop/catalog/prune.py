"""Prune: the automated rules that keep unusable photos out of training.

The rules are those "This Dress Doesn't Exist" applied to its scraped catalog,
checked in this order (the first failure is the verdict's reason):

    size         the photo's shortest side is below min_side
    non_product  nothing is photographed: a blank placeholder, or a fabric close-up
                 that fills the frame with no backdrop
    background   the product stands in front of clutter instead of a plain backdrop
    composition  the product is not centred in the frame

Every rule works from a few measurements of a small copy of the photo. The
backdrop colour is taken from the photo's border (so white studio shots and
Fashion-MNIST's black ones both work), and a foreground mask is everything that
differs from it. The measurements are stored with each verdict, so a threshold
can be re-tuned by looking at the numbers, not by re-reading the images.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from itertools import islice
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from fauxshop.atomic import atomic_path
from fauxshop.catalog.config import PruneConfig
from fauxshop.progress import progress

RULES: tuple[str, ...] = ("size", "non_product", "background", "composition")
UNREADABLE = "unreadable"
# Which rule should catch each flaw the demo catalog plants.
FLAW_RULES: dict[str, str] = {
    "too_small": "size",
    "off_centre": "composition",
    "busy_background": "background",
    "blank_placeholder": "non_product",
    "fabric_closeup": "non_product",
}


# -- measurements -----------------------------------------------------------------------------
def _small_copy(image: Image.Image, longest: int) -> np.ndarray:
    image = image.convert("RGB")
    scale = longest / max(image.size)
    if scale < 1:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.BOX)
    return np.asarray(image, dtype=np.float32)


def _border(height: int, width: int) -> np.ndarray:
    ring = np.zeros((height, width), dtype=bool)
    band = max(1, round(0.03 * min(height, width)))
    ring[:band], ring[-band:], ring[:, :band], ring[:, -band:] = True, True, True, True
    return ring


def _backdrop_colour(pixels: np.ndarray) -> np.ndarray:
    """The border's most common colour (to 1/16 steps), refined to those pixels' median."""
    bins = (pixels // 16).astype(np.int32)
    keys = bins[:, 0] * 256 + bins[:, 1] * 16 + bins[:, 2]
    mode = np.bincount(keys).argmax()
    return np.median(pixels[keys == mode], axis=0)


def _histogram(pixels: np.ndarray) -> np.ndarray:
    bins = (pixels // 32).astype(np.int32)
    counts = np.bincount(bins[:, 0] * 64 + bins[:, 1] * 8 + bins[:, 2], minlength=512)
    return counts / max(1, counts.sum())


def _main_object(mask: np.ndarray) -> tuple[float, dict[str, float]]:
    """Share of the foreground in its largest piece, and that piece's offsets from the centre."""
    labels, n = ndimage.label(mask)
    if n == 0:
        return 0.0, {"box_dx": 0.0, "box_dy": 0.0, "mass_dx": 0.0, "mass_dy": 0.0}
    sizes = np.bincount(labels.ravel())[1:]
    ys, xs = np.nonzero(labels == int(sizes.argmax()) + 1)
    height, width = mask.shape
    return float(sizes.max() / sizes.sum()), {
        "box_dx": float((xs.min() + xs.max() + 1) / 2 / width - 0.5),
        "box_dy": float((ys.min() + ys.max() + 1) / 2 / height - 0.5),
        "mass_dx": float((xs.mean() + 0.5) / width - 0.5),
        "mass_dy": float((ys.mean() + 0.5) / height - 0.5),
    }


def measure(image: Image.Image, config: PruneConfig) -> dict[str, float]:
    """Named measurements of one photo, each a float the rules compare with a threshold.

    ink: share of pixels unlike the backdrop; foreground: the same with gaps closed and holes
    filled; object_share: how much of that is one piece; plain_border: share of the border that
    is backdrop; centre_border_similarity: colour-histogram overlap of the middle ninth and the
    border (1: the same stuff everywhere); box_d*/mass_d*: the largest piece's box centre and
    centroid minus the image centre, as shares of width and height.
    """
    rgb = _small_copy(image, config.work_side)
    height, width = rgb.shape[:2]
    ring = _border(height, width)
    backdrop = _backdrop_colour(rgb[ring])
    distance = np.sqrt(((rgb - backdrop) ** 2).sum(axis=2))
    ink = distance > config.foreground_distance
    mask = ndimage.binary_fill_holes(ndimage.binary_closing(ink) | ink)
    object_share, offsets = _main_object(mask)
    y0, y1, x0, x1 = height // 3, height - height // 3, width // 3, width - width // 3
    centre = _histogram(rgb[y0:y1, x0:x1].reshape(-1, 3))
    return {
        "ink": float(ink.mean()),
        "foreground": float(mask.mean()),
        "object_share": object_share,
        "plain_border": float((distance[ring] <= config.foreground_distance).mean()),
        "centre_border_similarity": float(np.minimum(centre, _histogram(rgb[ring])).sum()),
        **offsets,
    }


def judge(measurements: dict, width: int, height: int, config: PruneConfig) -> list[str]:
    """The rules a photo fails, in priority order (empty: keep it)."""
    m = measurements
    failed = []
    if min(width, height) < config.min_side:
        failed.append("size")
    plain = m["plain_border"] >= config.plain_border_min
    texture = m["centre_border_similarity"] >= config.texture_similarity_min
    if (
        m["ink"] < config.blank_max_ink
        or (plain and m["object_share"] < config.object_share_min)
        or (not plain and texture)
    ):
        failed.append("non_product")
    if not plain and not texture:
        failed.append("background")
    if (
        max(abs(m["box_dx"]), abs(m["box_dy"])) > config.max_offset
        or max(abs(m["mass_dx"]), abs(m["mass_dy"])) > config.max_centroid_offset
    ):
        failed.append("composition")
    return failed


# -- the pass over the store ------------------------------------------------------------------
def load_ground_truth(path: str | Path) -> dict[str, str | None]:
    """sku → planted flaw (None for a clean photo) from a demo catalog's ground_truth.jsonl."""
    truth = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                truth[row["sku"]] = row.get("flaw")
    return truth


def discover_ground_truth(store) -> dict[str, str | None] | None:
    """Ground truth from a ground_truth.jsonl beside any ingested table, if there is one."""
    truth: dict[str, str | None] = {}
    sources = [r[0] for r in store.db.execute("SELECT DISTINCT source FROM products")]
    for source in sources:
        candidate = Path(source).parent / "ground_truth.jsonl"
        if candidate.is_file():
            truth.update(load_ground_truth(candidate))
    return truth or None


def _score(verdicts: dict[str, str | None], truth: dict[str, str | None]) -> dict[str, dict]:
    """Precision and recall of each rule's verdicts against the planted flaws."""
    table = {}
    scored = [sku for sku in verdicts if sku in truth]
    for rule in RULES:
        predicted = {sku for sku in scored if verdicts[sku] == rule}
        actual = {sku for sku in scored if FLAW_RULES.get(truth[sku] or "") == rule}
        hits = len(predicted & actual)
        table[rule] = {
            "predicted": len(predicted),
            "actual": len(actual),
            "correct": hits,
            "precision": hits / len(predicted) if predicted else None,
            "recall": hits / len(actual) if actual else None,
        }
    return table


def _contact_sheet(paths: list[str], out: Path, thumb: int = 96, columns: int = 8) -> None:
    rows = math.ceil(len(paths) / columns)
    sheet = Image.new("RGB", (columns * thumb, rows * thumb), (255, 255, 255))
    for k, path in enumerate(paths):
        try:
            with Image.open(path) as img:
                img = img.convert("RGB")
                img.thumbnail((thumb, thumb))
        except OSError:
            continue
        x = (k % columns) * thumb + (thumb - img.width) // 2
        y = (k // columns) * thumb + (thumb - img.height) // 2
        sheet.paste(img, (x, y))
    with atomic_path(out) as tmp:
        sheet.save(tmp, format="PNG")


def _verdict(row, config: PruneConfig) -> tuple[str | None, dict]:
    try:
        with Image.open(row["image_path"]) as img:
            width, height = img.size
            measurements = measure(img, config)
    except (OSError, ValueError, TypeError) as exc:
        return UNREADABLE, {"failed": [UNREADABLE], "error": str(exc)[:200]}
    failed = judge(measurements, width, height, config)
    return (failed[0] if failed else None), {**measurements, "failed": failed}


def _batches(items: Iterable, size: int) -> Iterator[list]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _write_contact_sheets(examples: dict[str, list[str]], folder: Path) -> dict[str, str]:
    """One sheet of rejected thumbnails per rule; a rule with no rejects loses its old sheet."""
    sheets = {}
    for rule in RULES:
        path = Path(folder) / f"{rule}.png"
        if examples.get(rule):
            _contact_sheet(examples[rule], path)
            sheets[rule] = str(path)
        else:
            path.unlink(missing_ok=True)
    return sheets


def prune(
    store,
    config: PruneConfig,
    ground_truth: dict[str, str | None] | None = None,
    contact_sheet_dir: Path | None = None,
    sheet_size: int = 64,
) -> dict:
    """Judge every product not rejected at ingest, record kept/pruned, and summarise."""
    rows = list(store.products(status=("ingested", "kept", "pruned")))
    counts: Counter = Counter()
    verdicts: dict[str, str | None] = {}
    examples: dict[str, list[str]] = {}
    judged = progress(rows, "prune", total=len(rows), unit="img")
    with store.recorded_run("prune", asdict(config), lambda: dict(counts)):
        for batch in _batches(judged, config.batch_size):
            with store.transaction():
                for row in batch:
                    reason, measurements = _verdict(row, config)
                    status = "pruned" if reason else "kept"
                    store.set_verdict(row["id"], status, reason, measurements)
                    counts[reason or "kept"] += 1
                    verdicts[row["sku"]] = reason
                    if reason and len(examples.setdefault(reason, [])) < sheet_size:
                        examples[reason].append(row["image_path"])
    summary = {
        "judged": len(rows),
        "kept": counts["kept"],
        "pruned": len(rows) - counts["kept"],
        "per_rule": {rule: counts[rule] for rule in (*RULES, UNREADABLE)},
        "config": asdict(config),
    }
    if ground_truth:
        summary["scores"] = _score(verdicts, ground_truth)
    if contact_sheet_dir is not None:
        summary["contact_sheets"] = _write_contact_sheets(examples, contact_sheet_dir)
    return summary


def format_report(summary: dict) -> str:
    """The counts per rule and, when scored, the precision/recall table, as plain text."""
    lines = [f"judged {summary['judged']}: kept {summary['kept']}, pruned {summary['pruned']}"]
    for rule, n in summary["per_rule"].items():
        lines.append(f"  {rule:<12} {n:>6}")
    scores = summary.get("scores")
    if scores:
        lines.append("rule vs planted flaws:")
        lines.append(f"  {'rule':<12} {'flagged':>7} {'planted':>7} {'precision':>9} {'recall':>6}")
        for rule, s in scores.items():
            p = "-" if s["precision"] is None else f"{s['precision']:.3f}"
            r = "-" if s["recall"] is None else f"{s['recall']:.3f}"
            lines.append(f"  {rule:<12} {s['predicted']:>7} {s['actual']:>7} {p:>9} {r:>6}")
    return "\n".join(lines)
