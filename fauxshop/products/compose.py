"""Compose products that don't exist: photo → tags → title → description → checks → record.

Each candidate seed goes through five timed stages:
1. generate: the photo from (seed, psi, class) with G's constant noise;
2. tag: the image tagger's top class per head (`checks.tags_from_probs`), and the title;
3. write: the description from the title as context, sampled with the seed;
4. verify: category agreement (fused tagger) and no contradiction (`checks`);
5. novelty: nearest real photo and longest shared word run (`checks`).
A candidate passing every check is accepted. Every candidate, accepted or not, is recorded
with its check results and provenance: the hashes of the four models, the seed, class, psi,
w, noise mode, the context and the sampling parameters. `regenerate` rebuilds the photo and
text from a provenance record and refuses one made with other models. Photos come from
`generate` (fixed-size batches) and text from a one-context `write` call seeded per product,
so neither depends on its neighbours: the same record gives the same bits on the same device.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

import fauxshop
from fauxshop.errors import FauxshopError
from fauxshop.latent.generate import render_ws, seeds_to_ws
from fauxshop.latent.sampling import class_index
from fauxshop.markdown import markdown_table
from fauxshop.products.checks import (
    CHECKS,
    contradicted,
    tags_from_probs,
    text_novelty,
    title_from_tags,
)
from fauxshop.products.config import ComposeConfig
from fauxshop.products.models import ProductModels
from fauxshop.progress import bar
from fauxshop.tagger.data import product_text
from fauxshop.tagger.scoring import image_features, score_images
from fauxshop.tagger.text import fuse
from fauxshop.text.config import SamplingConfig
from fauxshop.text.sample import write

STAGES = ("generate", "tag", "write", "verify", "novelty")
NOISE_MODE = "const"
BATCH = 16  # generate()'s fixed batch: part of what makes a photo reproducible


@dataclass
class Candidate:
    record: dict  # sku, title, description, category, attributes, status, checks, provenance
    image: np.ndarray
    nearest: int  # index into the real catalog


@dataclass
class ComposeResult:
    candidates: list[Candidate]
    seconds: dict[str, float]  # per stage

    @property
    def accepted(self) -> list[Candidate]:
        return [c for c in self.candidates if c.record["status"] == "accepted"]

    def report(self) -> dict[str, Any]:
        """Candidates, pass rate per check, acceptance rate, products/s, seconds per stage."""
        n = len(self.candidates)
        rates = {
            check: sum(bool(c.record["checks"][check]["passed"]) for c in self.candidates) / n
            for check in ("on_category", *CHECKS)
        }
        total = sum(self.seconds.values())
        return {
            "candidates": n,
            "accepted": len(self.accepted),
            "pass_rate": rates,
            "acceptance_rate": len(self.accepted) / n,
            "products_per_s": len(self.accepted) / total if total else None,
            "seconds": self.seconds,
        }


def format_report(report: dict[str, Any]) -> str:
    """Pass rate per check, seconds per stage, and the acceptance rate and speed."""
    checks = [{"check": k, "pass rate": v} for k, v in report["pass_rate"].items()]
    stages = [{"stage": k, "seconds": v} for k, v in report["seconds"].items()]
    return "\n".join([
        markdown_table(checks), markdown_table(stages),
        f"{report['accepted']} accepted of {report['candidates']} candidates "
        f"({report['acceptance_rate']:.0%}), {report['products_per_s']:.2f} products/s",
    ])  # fmt: skip


def _render(models: ProductModels, identity: dict) -> tuple[np.ndarray, torch.Tensor]:
    """The photo and its w, as `generate` makes them (fixed batch, constant noise)."""
    ws = seeds_to_ws(models.G, [identity["seed"]], identity["psi"], identity["class_index"], BATCH)
    return render_ws(models.G, ws, NOISE_MODE, BATCH)[0], ws[0, 0]


def _write(models: ProductModels, context: str, sampling: SamplingConfig) -> str:
    records = write(models.writer, models.tokenizer, [context], sampling, models.writer_format)
    return records[0]["description"]


def _sku(hashes: dict[str, str], identity: dict) -> str:
    key = json.dumps({"models": hashes, **identity}, sort_keys=True)
    return "fake-" + hashlib.sha256(key.encode()).hexdigest()[:12]


def compose_one(models: ProductModels, config: ComposeConfig, seed: int, cls: int | None,
                seconds: dict[str, float]) -> Candidate:  # fmt: skip
    """One candidate through the five stages, timed into `seconds`."""
    t = time.perf_counter()
    identity = {"seed": seed, "psi": config.psi, "class_index": cls}
    image, w = _render(models, identity)
    seconds["generate"] += time.perf_counter() - t

    t = time.perf_counter()
    probs = {k: v[0] for k, v in score_images(models.tagger, image[None]).items()}
    category, attributes, confidence = tags_from_probs(
        probs, models.tagger.heads, config.min_confidence
    )
    title = title_from_tags(category, attributes)
    context = title.lower()
    seconds["tag"] += time.perf_counter() - t

    t = time.perf_counter()
    sampling = config.sampling(seed)
    description = _write(models, context, sampling)
    seconds["write"] += time.perf_counter() - t

    t = time.perf_counter()
    checks: dict[str, dict] = {
        "on_category": {"passed": config.category in (None, category), "category": category}
    }
    if models.text_tagger is None:
        checks["category_agrees"] = {"passed": True, "note": "no text tagger: not checked"}
    else:
        text_probs = models.text_tagger.predict([product_text(title, description)])
        fused = fuse({k: v[None] for k, v in probs.items()}, text_probs)["category"][0]
        fused_category = models.tagger.heads["category"][int(fused.argmax())]
        checks["category_agrees"] = {"passed": fused_category == category, "fused": fused_category}
    against = contradicted(context, description)
    checks["no_contradiction"] = {"passed": not against, "contradicts": against}
    seconds["verify"] += time.perf_counter() - t

    t = time.perf_counter()
    features = image_features(models.tagger, image[None])[0]
    [(nearest, distance)] = models.real.nearest(features)
    checks["image_novel"] = {
        "passed": distance >= config.min_image_distance,
        "nearest_sku": models.real.skus[nearest], "distance": round(distance, 4),
    }  # fmt: skip
    copy, share = text_novelty(description, models.real.descriptions)
    checks["text_novel"] = {
        "passed": not copy and share < config.max_shared_share,
        "exact_copy": copy, "longest_shared_share": round(share, 4),
    }  # fmt: skip
    seconds["novelty"] += time.perf_counter() - t

    provenance = {
        "models": models.hashes,
        **identity,
        "w": w.cpu().tolist(),
        "noise_mode": NOISE_MODE,
        "batch": BATCH,
        "context": context,
        "sampling": asdict(sampling),
        "writer_format": models.writer_format,
        "min_confidence": config.min_confidence,
        "tag_confidence": {k: round(v, 4) for k, v in confidence.items()},
        "device": str(next(models.G.parameters()).device),
        "torch": torch.__version__,
        "fauxshop": fauxshop.__version__,
    }
    passed = all(c["passed"] for c in checks.values())
    record = {
        "sku": _sku(models.hashes, identity),
        "title": title,
        "description": description,
        "category": category,
        "attributes": attributes,
        "status": "accepted" if passed else "rejected",
        "checks": checks,
        "provenance": provenance,
        "nearest_sku": models.real.skus[nearest],
    }
    return Candidate(record, image, nearest)


def compose(models: ProductModels, config: ComposeConfig) -> ComposeResult:
    """Candidates from seed_start on until `n` are accepted or max_candidates are tried.

    A conditional G is sampled with the category's label, or without a category with every
    label in turn (seed modulo the class count), so all classes get their chance."""
    fixed = None
    if models.G.c_dim and config.category:
        fixed = class_index(models.G, config.category, models.label_names)
    seconds = dict.fromkeys(STAGES, 0.0)
    candidates: list[Candidate] = []
    with bar(config.n, "compose products", unit="product") as progress:
        for seed in range(config.seed_start, config.seed_start + config.max_candidates):
            cls = fixed if fixed is not None or not models.G.c_dim else seed % models.G.c_dim
            candidate = compose_one(models, config, seed, cls, seconds)
            candidates.append(candidate)
            if candidate.record["status"] == "accepted":
                progress.update(1)
                if sum(c.record["status"] == "accepted" for c in candidates) == config.n:
                    break
            progress.set_postfix(tried=len(candidates))
    return ComposeResult(candidates, seconds)


def regenerate(models: ProductModels, provenance: dict) -> tuple[np.ndarray, str]:
    """The photo and description a provenance record describes, from the same models."""
    changed = [k for k, v in provenance["models"].items() if models.hashes.get(k) != v]
    if changed:
        raise FauxshopError(
            f"regenerate: made with other models ({', '.join(changed)} differ); load those"
        )
    identity = {k: provenance[k] for k in ("seed", "psi", "class_index")}
    image, _ = _render(models, identity)
    sampling = SamplingConfig(**provenance["sampling"])
    return image, _write(models, provenance["context"], sampling)


def check_regenerated(models: ProductModels, row: dict) -> tuple[str, bool | None, bool]:
    """Rebuild a stored product (a row of `Store.generated()`) from its provenance: the new
    description, whether the photo equals the saved one (None: no saved photo) and the text."""
    image, description = regenerate(models, json.loads(row["provenance"]))
    same_photo = None
    if row["image_path"] and Path(row["image_path"]).is_file():
        with Image.open(row["image_path"]) as saved:
            same_photo = bool(np.array_equal(np.asarray(saved), image.squeeze()))
    return description, same_photo, description == row["description"]
