"""Does synthetic data raise a classifier's accuracy on a rare class? Measured, not assumed.

For each seed, a category classifier (the tagger's CNN, category head only) is trained on the
archive's real training split, and again with N synthetic images of the rare class added,
N = each multiple of the class's real training count. Every model is scored on the archive's
real test split only: rare-class recall, precision and F1, macro-F1 and accuracy. Seeds
change the classifier's initialisation and batch order and the synthetic images drawn, so
the spread over seeds is the noise any gain must beat. Reported per N: mean ± sample std.

Synthetic images come from the generator: a conditional one is sampled with the class's
label; an unconditional one is filtered by a judge tagger (`latent.rare`, method filter).
They are converted to the archive's channels and size, so real and synthetic images reach
the classifier alike.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fauxshop.atomic import atomic_open, atomic_path
from fauxshop.errors import FauxshopError
from fauxshop.image.checkpoint import resolve_snapshot, snapshot_generator
from fauxshop.latent.config import RareConfig
from fauxshop.latent.generate import generate
from fauxshop.latent.rare import rare_samples
from fauxshop.latent.sampling import class_index
from fauxshop.markdown import markdown_table
from fauxshop.study.config import StudyConfig
from fauxshop.tagger.data import TaggerData, read_archive
from fauxshop.tagger.model import load_tagger
from fauxshop.tagger.train import evaluate, fit_tagger

METRICS = ("rare_recall", "rare_precision", "rare_f1", "macro_f1", "accuracy")
SEED_STRIDE = 1_000_000  # generator seeds per study seed: pools never overlap


def category_only(data: TaggerData) -> TaggerData:
    """The same images with the category head alone."""
    return TaggerData(
        data.images, {"category": data.labels["category"]},
        {"category": data.heads["category"]}, data.splits,
    )  # fmt: skip


def to_archive_format(images: np.ndarray, channels: int, size: tuple[int, int]) -> torch.Tensor:
    """N x H x W x C uint8 generated images → N x channels x H' x W' uint8 like the archive's."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float()
    if x.shape[1] != channels:
        x = x.mean(dim=1, keepdim=True).expand(-1, channels, -1, -1)
    if tuple(x.shape[2:]) != tuple(size):
        x = F.interpolate(x, size=size, mode="bilinear", antialias=True, align_corners=False)
    return x.round().clamp(0, 255).to(torch.uint8)


@dataclass
class SyntheticSource:
    """The generator (and, for an unconditional one, the judge) the pools come from, loaded
    once per study and checked before any training: a conditional G must know the class."""

    G: Any
    cls: int | None
    judge: Any

    @classmethod
    def load(cls, config: StudyConfig) -> SyntheticSource:
        snapshot = resolve_snapshot(config.generator)
        G = snapshot_generator(snapshot)
        names = snapshot.meta.get("label_names")
        if G.c_dim:
            if not names or config.category not in names:
                raise FauxshopError(f"{config.generator}: no class {config.category!r} ({names})")
            return cls(G, class_index(G, config.category, names), None)
        if not config.judge:
            raise FauxshopError("augment-study: an unconditional generator needs --judge TAGGER")
        return cls(G, None, load_tagger(config.judge))


def synthetic_pool(
    source: SyntheticSource, config: StudyConfig, count: int, seed: int, like: TaggerData
) -> torch.Tensor:
    """`count` synthetic images of the class in the archive's format (conditional G: sampled
    with its label; unconditional: filtered by the judge)."""
    G, start = source.G, seed * SEED_STRIDE
    if count == 0:
        images = np.zeros((0, *G.img_resolution, G.img_channels), dtype=np.uint8)
    elif source.judge is None:
        images = generate(G, range(start, start + count), config.psi, source.cls)
    else:
        rare = RareConfig(config.category, n=count, psi=config.psi, seed_start=start)
        images = rare_samples(G, source.judge, rare).images
        if len(images) < count:
            raise FauxshopError(f"augment-study: the judge found only {len(images)} of {count}")
    return to_archive_format(images, like.images.shape[1], like.resolution)


def with_synthetic(train: TaggerData, images: torch.Tensor, label: int) -> TaggerData:
    """The real training split plus synthetic images labelled `label`."""
    labels = torch.full((len(images),), label, dtype=torch.long)
    return TaggerData(
        torch.cat([train.images, images]),
        {"category": torch.cat([train.labels["category"], labels])},
        train.heads,
        np.concatenate([train.splits, np.full(len(images), "synthetic")]),
    )


def scores(confusion: np.ndarray, rare: int) -> dict[str, float]:
    """Rare-class recall, precision and F1, macro-F1 and accuracy from a confusion matrix
    (rows: true class, columns: predicted)."""
    tp = np.diag(confusion).astype(float)
    true, predicted = confusion.sum(axis=1), confusion.sum(axis=0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    f1 = np.divide(2 * precision * recall, precision + recall,
                   out=np.zeros_like(tp), where=(precision + recall) > 0)  # fmt: skip
    present = true > 0
    return {
        "rare_recall": float(recall[rare]),
        "rare_precision": float(precision[rare]),
        "rare_f1": float(f1[rare]),
        "macro_f1": float(f1[present].mean()),
        "accuracy": float(tp.sum() / confusion.sum()),
    }


def aggregate(runs: list[dict], multiples: list[int]) -> list[dict]:
    """Per multiple: mean and sample std (ddof 1; 0 for one seed) of every metric."""
    rows = []
    for m in multiples:
        mine = [r for r in runs if r["multiple"] == m]
        row: dict[str, Any] = {"multiple": m, "synthetic": mine[0]["synthetic"], "runs": len(mine)}
        for metric in METRICS:
            values = np.array([r[metric] for r in mine])
            row[metric] = float(values.mean())
            row[f"{metric}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
        rows.append(row)
    return rows


def format_table(results: dict) -> str:
    rows = [
        {"synthetic": f"{r['synthetic']} ({r['multiple']}x)", "runs": r["runs"],
         **{m: f"{r[m]:.3f} ± {r[m + '_std']:.3f}" for m in METRICS}}
        for r in results["aggregate"]
    ]  # fmt: skip
    return markdown_table(rows)


def plot(results: dict, path: Path) -> Path:
    """Rare recall, rare F1 and macro-F1 against the synthetic count, with ±1 std bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = results["aggregate"]
    x = [r["synthetic"] for r in rows]
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for metric in ("rare_recall", "rare_f1", "macro_f1"):
        ax.errorbar(x, [r[metric] for r in rows], yerr=[r[metric + "_std"] for r in rows],
                    marker="o", capsize=4, label=metric.replace("_", " "))  # fmt: skip
    counts = results["counts"]
    ax.set_xlabel(f"synthetic {results['config']['category']} images added "
                  f"(real: {counts['rare_train']})")  # fmt: skip
    ax.set_ylabel("held-out real score")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend()
    ax.set_title(f"{Path(results['config']['archive']).name}: {len(results['runs'])} runs")
    fig.tight_layout()
    with atomic_path(path, keep_suffix=True) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
    return path


def run_study(config: StudyConfig, out: str | Path) -> dict:
    """Every (seed, multiple) run; writes OUT/results.json, table.md and plot.png."""
    out = Path(out)
    data = category_only(read_archive(config.archive))
    names = list(data.heads["category"])
    if config.category not in names:
        raise FauxshopError(f"{config.archive}: no class {config.category!r}; it has {names}")
    rare = names.index(config.category)
    train, test = data.select("train"), data.select("test")
    rare_train = int((train.labels["category"] == rare).sum())
    rare_test = int((test.labels["category"] == rare).sum())
    if rare_train == 0 or rare_test == 0:
        raise FauxshopError(
            f"{config.archive}: {config.category} needs train and test images "
            f"(has {rare_train} and {rare_test})"
        )
    source = SyntheticSource.load(config)
    runs = []
    for seed in config.seed_list:
        pool = synthetic_pool(source, config, max(config.multiple_list) * rare_train, seed, train)
        for m in config.multiple_list:
            start = time.perf_counter()
            mixed = with_synthetic(train, pool[: m * rare_train], rare)
            classifier, _ = fit_tagger(mixed, config.classifier(seed))
            confusion = np.array(
                evaluate(classifier, test)["heads"]["category"]["confusion"]["matrix"]
            )
            seconds = time.perf_counter() - start
            row = {"seed": seed, "multiple": m, "synthetic": m * rare_train}
            runs.append({**row, **scores(confusion, rare), "seconds": seconds})
    results = {
        "config": asdict(config),
        "counts": {
            "train": len(train),
            "rare_train": rare_train,
            "test": len(test),
            "rare_test": rare_test,
        },  # fmt: skip
        "runs": runs,
        "aggregate": aggregate(runs, config.multiple_list),
    }
    out.mkdir(parents=True, exist_ok=True)
    with atomic_open(out / "results.json", encoding="utf-8") as f:
        json.dump(results, f, indent=1)
    with atomic_open(out / "table.md", encoding="utf-8") as f:
        f.write(format_table(results) + "\n")
    plot(results, out / "plot.png")
    return results
