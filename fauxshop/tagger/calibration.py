"""Confidence thresholds that make the tagger's claims true often enough, from held-out photos.

A product may name a tag only when the tagger is sure enough of it. How sure is enough is
measured, not guessed: on an archive's held-out real photos, per head and per class, the
lowest confidence at which the tagger's claims (its top class, kept when its probability is
at least the threshold) are right at least `target` of the time. A class whose claims never
reach the target gets no threshold (null): it is never claimed. A class the split never sees
claimed takes its head's threshold.

Generated photos do not draw fine detail (prints, necklines a few pixels wide) as reliably as
real ones show it, and a tagger trusts that detail. `coarsen` > 1 scores the held-out photos
with their finest detail removed (area-downscaled by that factor and back), so a claim is
kept only where the tagger stays right without it.

The thresholds live beside the tagger, `NAME.calibration.json`, written atomically and keyed
by the sha256 of the weights they were measured on: a tagger retrained in place no longer
matches, and loading refuses the stale file rather than apply another model's numbers.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fauxshop.atomic import atomic_open
from fauxshop.digest import file_sha256
from fauxshop.errors import FauxshopError
from fauxshop.markdown import markdown_table
from fauxshop.pixels import coarsen as coarsen_images
from fauxshop.tagger.data import MISSING, read_archive
from fauxshop.tagger.model import Tagger, load_tagger, sidecar_path
from fauxshop.tagger.scoring import score_images

FORMAT = "fauxshop-tagger-calibration/1"
NEVER = math.inf  # the threshold of a class whose claims never reach the target


def calibration_path(tagger: str | Path) -> Path:
    return Path(tagger).with_suffix(".calibration.json")


def lowest_threshold(confidence: np.ndarray, correct: np.ndarray, target: float) -> dict:
    """The lowest threshold t at which the claims {confidence >= t} are right at least
    `target` of the time, with their precision and count (threshold None: no t reaches it)."""
    order = np.argsort(-confidence, kind="stable")
    ranked, right = confidence[order], np.cumsum(correct[order])
    claims = np.arange(1, len(ranked) + 1)
    # a threshold keeps every tie, so only the last of equal confidences is a cut
    cuts = np.flatnonzero(np.append(ranked[1:] != ranked[:-1], True))
    good = cuts[right[cuts] >= target * claims[cuts]]
    if not len(good):
        return {"threshold": None, "precision": None, "claims": 0}
    k = good[-1]
    return {
        "threshold": float(ranked[k]),
        "precision": float(right[k] / claims[k]),
        "claims": int(claims[k]),
    }


def calibrate(
    probs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor],
    heads: dict[str, tuple[str, ...]], target: float,
) -> dict:  # fmt: skip
    """Per head and per claimed class: threshold, precision and coverage (the share of the
    head's labelled photos that get a claim) on photos with these labels (-1: unlabelled)."""
    if not 0 < target <= 1:
        raise FauxshopError(f"calibrate: target precision must be in (0, 1], got {target}")
    out = {}
    for head, classes in heads.items():
        known = labels[head].numpy() != MISSING
        if not known.any():
            continue
        p = probs[head].numpy()[known]
        confidence, top = p.max(axis=1), p.argmax(axis=1)
        correct = top == labels[head].numpy()[known]
        entry = lowest_threshold(confidence, correct, target)
        entry["coverage"] = entry.pop("claims") / len(correct)
        entry["labelled"] = int(known.sum())
        entry["classes"] = {}
        for index, name in enumerate(classes):
            mine = top == index
            if mine.any():
                found = lowest_threshold(confidence[mine], correct[mine], target)
                found["coverage"] = found.pop("claims") / int(mine.sum())
                found["claimed"] = int(mine.sum())
                entry["classes"][name] = found
        out[head] = entry
    return out


@dataclass
class Calibration:
    """A tagger's thresholds: the JSON `calibrate_tagger` writes, read back."""

    weights_sha256: str
    target_precision: float
    heads: dict

    def threshold(self, head: str, cls: str) -> float:
        """The confidence a claim of `cls` on `head` needs (NEVER: not claimable; 0: the head
        was not calibrated, so only the caller's own floor applies)."""
        entry = self.heads.get(head)
        if entry is None:
            return 0.0
        found = entry["classes"].get(cls, entry)["threshold"]
        return NEVER if found is None else found


def measure_calibration(
    tagger: Tagger, archive: str | Path, target: float = 0.9, split: str = "test",
    coarsen: float = 1.0,
) -> dict:  # fmt: skip
    """The thresholds of `tagger` on one split of a packed archive (its photos coarsened by
    `coarsen`), with what they rest on."""
    if coarsen < 1:
        raise FauxshopError(f"calibrate: coarsen must be at least 1, got {coarsen}")
    data = read_archive(archive, heads=tagger.heads).select(split)
    if not len(data):
        raise FauxshopError(f"{archive}: no images in split {split!r} to calibrate on")
    photos = coarsen_images(data.images.permute(0, 2, 3, 1).numpy(), coarsen)
    probs = score_images(tagger, photos)
    return {
        "format": FORMAT,
        "archive": str(archive),
        "archive_sha256": file_sha256(archive),
        "split": split,
        "images": len(data),
        "coarsen": coarsen,
        "target_precision": target,
        "heads": calibrate(probs, data.labels, tagger.heads, target),
    }


def calibrate_tagger(
    tagger_path: str | Path, archive: str | Path, target: float = 0.9, split: str = "test",
    coarsen: float = 1.0,
) -> dict:  # fmt: skip
    """Measure the saved tagger's thresholds and save them beside it, keyed by its weights'
    sha256 (`NAME.calibration.json`); returns what was saved."""
    saved = measure_calibration(load_tagger(tagger_path), archive, target, split, coarsen)
    saved["weights_sha256"] = _weights_sha256(tagger_path)
    with atomic_open(calibration_path(tagger_path), encoding="utf-8") as f:
        json.dump(saved, f, indent=2)
    return saved


def _weights_sha256(tagger_path: str | Path) -> str:
    return json.loads(sidecar_path(tagger_path).read_text(encoding="utf-8"))["weights_sha256"]


def load_calibration(tagger_path: str | Path, weights_sha256: str) -> Calibration | None:
    """The thresholds saved beside the tagger (None: never calibrated); refused when they
    were measured on other weights than `weights_sha256`."""
    path = calibration_path(tagger_path)
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise FauxshopError(f"{path}: not a readable calibration ({e})") from e
    if not isinstance(saved, dict) or saved.get("format") != FORMAT:
        found = saved.get("format") if isinstance(saved, dict) else type(saved).__name__
        raise FauxshopError(f"{path}: format {found!r}, expected {FORMAT!r}")
    if saved.get("weights_sha256") != weights_sha256:
        raise FauxshopError(
            f"{path}: stale calibration, measured on other tagger weights "
            f"({str(saved.get('weights_sha256'))[:12]}, the tagger is {weights_sha256[:12]}); "
            f"run `fauxshop calibrate-tagger {Path(tagger_path).with_suffix('.safetensors')} "
            "ARCHIVE` again"
        )
    if not _well_formed(saved):
        raise FauxshopError(f"{path}: not a calibration (target_precision or heads malformed)")
    return Calibration(saved["weights_sha256"], saved["target_precision"], saved["heads"])


def _well_formed(saved: dict) -> bool:
    """Whether every threshold `Calibration.threshold` reads is there and a number or null."""

    def entry_ok(entry) -> bool:
        found = entry.get("threshold") if isinstance(entry, dict) else "missing"
        return found is None or isinstance(found, int | float) and not isinstance(found, bool)

    target, heads = saved.get("target_precision"), saved.get("heads")
    if not isinstance(target, int | float) or not isinstance(heads, dict):
        return False
    return all(
        entry_ok(entry) and isinstance(entry.get("classes"), dict)
        and all(entry_ok(e) for e in entry["classes"].values())
        for entry in heads.values()
    )  # fmt: skip


def format_calibration(saved: dict) -> str:
    """Per head: threshold, precision and coverage at the target, then the per-class ones."""

    def cell(value):
        return "never" if value is None else value

    rows = [
        {"head": head, "class": cls, "threshold": cell(e["threshold"]),
         "precision": cell(e["precision"]), "coverage": e["coverage"],
         "photos": e.get("claimed", e.get("labelled"))}
        for head, entry in saved["heads"].items()
        for cls, e in [("(any)", entry), *entry["classes"].items()]
    ]  # fmt: skip
    coarsened = f", coarsened x{saved['coarsen']:g}" if saved.get("coarsen", 1) != 1 else ""
    return (
        f"target precision {saved['target_precision']} on {saved['images']} "
        f"{saved['split']} photos of {saved['archive']}{coarsened}\n" + markdown_table(rows)
    )
