"""Train the tagger on an archive's train split and report on its held-out test split.

The loss is cross-entropy per head over the labelled images only, summed over heads, so a
skirt teaches category, colour, pattern and length but nothing about sleeves. AdamW with a
cosine decay over all steps; batch order, flips and dropout all come from the seed, so the
same seed on the same device gives the same weights. A run folder holds `config.json`,
`log.csv` (one row per epoch), `tagger.safetensors` + `tagger.json` and `report.json`.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from fauxshop.atomic import atomic_open
from fauxshop.errors import FauxshopError
from fauxshop.pixels import from_uint8
from fauxshop.progress import bar
from fauxshop.runtime import configure_torch, seed_everything
from fauxshop.tagger.config import TaggerConfig
from fauxshop.tagger.data import MISSING, TaggerData, read_archive
from fauxshop.tagger.loss import masked_cross_entropy
from fauxshop.tagger.model import Tagger, save_tagger
from fauxshop.tagger.text import (
    TextTagger,
    fit_text_tagger,
    fuse,
    head_accuracy,
    make_encoder,
    save_text_tagger,
)
from fauxshop.training_run import start_run_folder

EVAL_BATCH = 256


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def cosine_lr(step: int, total: int, peak: float) -> float:
    return peak * 0.5 * (1.0 + math.cos(math.pi * min(step, total) / total))


# ----------------------------------------------------------------------------------------------
# Scoring and metrics


@torch.no_grad()
def _predict_all(tagger: Tagger, images: torch.Tensor) -> dict[str, torch.Tensor]:
    """Probabilities per head for uint8 N x C x H x W images, in eval mode, on the CPU."""
    was_training = tagger.training
    tagger.eval()
    device = next(tagger.parameters()).device
    try:
        chunks = [
            tagger.predict(from_uint8(images[i : i + EVAL_BATCH].to(device)))
            for i in range(0, len(images), EVAL_BATCH)
        ]
    finally:
        tagger.train(was_training)
    return {name: torch.cat([c[name] for c in chunks]).cpu() for name in tagger.heads}


def _macro_f1(confusion: np.ndarray) -> float:
    """Mean F1 over classes that occur in the labels or the predictions."""
    tp = np.diag(confusion).astype(float)
    true, pred = confusion.sum(axis=1), confusion.sum(axis=0)
    seen = (true + pred) > 0
    f1 = 2 * tp[seen] / (true[seen] + pred[seen])
    return float(f1.mean()) if seen.any() else 0.0


def evaluate(tagger: Tagger, data: TaggerData) -> dict:
    """Per head: accuracy, macro-F1, support (labelled images) and the majority-class share
    (what always guessing the commonest class would score); the category confusion matrix."""
    probs = _predict_all(tagger, data.images)
    heads = {}
    for name, classes in tagger.heads.items():
        labels = data.labels[name].numpy()
        known = labels != MISSING
        predicted = probs[name].argmax(dim=1).numpy()[known]
        confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
        np.add.at(confusion, (labels[known], predicted), 1)
        support = int(known.sum())
        heads[name] = {
            "accuracy": float(np.trace(confusion) / support) if support else None,
            "macro_f1": _macro_f1(confusion) if support else None,
            "support": support,
            "majority": float(confusion.sum(axis=1).max() / support) if support else None,
        }
        if name == "category":
            heads[name]["confusion"] = {"classes": list(classes), "matrix": confusion.tolist()}
    return {"images": len(data), "heads": heads}


def evaluate_modes(tagger: Tagger, text_tagger: TextTagger, data: TaggerData) -> dict:
    """Accuracy per head reading the photo alone, the text alone, and both fused."""
    image = _predict_all(tagger, data.images)
    text = text_tagger.predict(data.texts or [""] * len(data))
    modes = {"image": image, "text": text, "fused": fuse(image, text)}
    return {mode: head_accuracy(probs, data.labels) for mode, probs in modes.items()}


def evaluate_tagger(tagger: Tagger, archive: str | Path, split: str | None = "test") -> dict:
    """Metrics of `tagger` on one split of an archive (None: every image)."""
    data = read_archive(archive, heads=tagger.heads).select(split)
    if not len(data):
        raise FauxshopError(f"{archive}: no images in split {split!r}")
    return {"archive": str(archive), "split": split, **evaluate(tagger, data)}


def format_report(report: dict) -> str:
    """The held-out table a person reads after training (the JSON has the rest)."""
    lines = [
        f"{report['epochs']} epochs, {report['seconds']:.0f} s, "
        f"{report['train_images_per_second']:.0f} train img/s on {report['train_images']} images"
    ]
    if report["test"]:
        lines.append(f"held out: {report['test']['images']} images")
        lines.append(f"{'head':<10} {'accuracy':>8} {'macro-F1':>8} {'majority':>8} {'support':>7}")
        for name, head in report["test"]["heads"].items():
            if head["support"]:
                lines.append(
                    f"{name:<10} {head['accuracy']:>8.3f} {head['macro_f1']:>8.3f} "
                    f"{head['majority']:>8.3f} {head['support']:>7}"
                )
    if report.get("modes"):
        modes = report["modes"]
        lines.append(f"{'head':<10} " + " ".join(f"{m:>8}" for m in modes) + "  (accuracy by mode)")
        for head in modes["image"]:
            cells = [modes[m].get(head) for m in modes]
            lines.append(
                f"{head:<10} " + " ".join("       -" if c is None else f"{c:>8.3f}" for c in cells)
            )
    if report["unknown_values"]:
        unknown = ", ".join(f"{k} ({n})" for k, n in sorted(report["unknown_values"].items()))
        lines.append(f"values outside the taxonomy, treated as missing: {unknown}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Training


def _optimizer(tagger: Tagger, config: TaggerConfig) -> torch.optim.AdamW:
    """Decay conv and linear weights only: decaying norm scales and biases just hurts."""
    decay = [p for p in tagger.parameters() if p.ndim > 1]
    rest = [p for p in tagger.parameters() if p.ndim <= 1]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest}]
    return torch.optim.AdamW(groups, lr=config.lr, weight_decay=0.0)


def _accuracies(metrics: dict) -> dict[str, float | None]:
    return {name: head["accuracy"] for name, head in metrics["heads"].items()}


def _write_log(path: Path, rows: list[dict]) -> None:
    """The whole per-epoch log, rewritten after every epoch so an interrupted run keeps it."""
    with atomic_open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def fit_tagger(
    train: TaggerData,
    config: TaggerConfig,
    test: TaggerData | None = None,
    on_epoch: Callable[[dict], None] | None = None,
) -> tuple[Tagger, float]:
    """A tagger trained on `train` (images and labels in memory: an archive's split, or real
    plus synthetic images); after each epoch `on_epoch` gets the epoch's row (loss, and test
    accuracies when `test` is given). Returns the tagger in eval mode and the seconds spent
    in training steps."""
    device = resolve_device(config.device)
    configure_torch(device)
    seed_everything(config.seed)
    if not len(train):
        raise FauxshopError("tagger: no training images")
    tagger = Tagger(config, train.heads, config.working_size() or train.resolution).to(device)
    memory_format = torch.channels_last if device.type == "cpu" else torch.contiguous_format
    tagger = tagger.to(memory_format=memory_format)  # channels_last: 2x faster convs on CPU
    optimizer = _optimizer(tagger, config)
    generator = torch.Generator().manual_seed(config.seed)
    total_steps = config.epochs * math.ceil(len(train) / config.batch)
    start, train_seconds, step = time.perf_counter(), 0.0, 0
    with bar(config.epochs * len(train), "train tagger", unit="img") as progress:
        for epoch in range(1, config.epochs + 1):
            tagger.train()
            epoch_start, epoch_loss = time.perf_counter(), 0.0
            for batch in torch.randperm(len(train), generator=generator).split(config.batch):
                images = from_uint8(train.images[batch])
                if config.flip:
                    flip = torch.rand(len(batch), generator=generator) < 0.5
                    images = torch.where(flip[:, None, None, None], images.flip(3), images)
                images = images.to(device).contiguous(memory_format=memory_format)
                labels = {name: train.labels[name][batch].to(device) for name in tagger.heads}
                for group in optimizer.param_groups:
                    group["lr"] = cosine_lr(step, total_steps, config.lr)
                loss = masked_cross_entropy(tagger(images), labels)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                step += 1
                epoch_loss += loss.item() * len(batch)
                progress.update(len(batch))
                progress.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}")
            train_seconds += time.perf_counter() - epoch_start
            row = {"epoch": epoch, "train_loss": round(epoch_loss / len(train), 5)}
            if test is not None and len(test):
                row |= {f"test_{k}": v for k, v in _accuracies(evaluate(tagger, test)).items()}
            row["seconds"] = round(time.perf_counter() - start, 2)
            if on_epoch is not None:
                on_epoch(row)
    return tagger.eval(), train_seconds


def train_tagger(archive: str | Path, out: str | Path, config: TaggerConfig) -> dict:
    """Train on the archive's train split, evaluate on its test split, save into `out`."""
    out = Path(out)
    data = read_archive(archive)
    train, test = data.select("train"), data.select("test")
    if not len(train):
        raise FauxshopError(f"{archive}: no training images (split 'train')")
    start_run_folder(out, {"archive": str(archive), **dataclasses.asdict(config)}, indent=2)
    log_rows: list[dict] = []

    def log(row: dict) -> None:
        log_rows.append(row)
        _write_log(out / "log.csv", log_rows)

    start = time.perf_counter()
    tagger, train_seconds = fit_tagger(train, config, test, log)
    report = {
        "archive": str(archive),
        "epochs": config.epochs,
        "seconds": round(time.perf_counter() - start, 2),
        "train_images_per_second": round(config.epochs * len(train) / train_seconds, 1),
        "train_images": len(train),
        "class_counts": train.class_counts(),
        "unknown_values": dict(data.unknown),
        "test": evaluate(tagger, test) if len(test) else None,
    }
    if config.text != "none" and train.texts is not None:
        text_tagger = fit_text_tagger(
            make_encoder(config.text, train.texts), train.texts, train.labels, train.heads,
            seed=config.seed,
        )  # fmt: skip
        save_text_tagger(text_tagger, out / "tagger.safetensors")
        if len(test):
            report["modes"] = evaluate_modes(tagger, text_tagger, test)
    tagger.report = report
    save_tagger(tagger, out / "tagger.safetensors")
    with atomic_open(out / "report.json", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
    return report
